#!/usr/bin/python3
"""bench/registry.py - a registry of N devices for the benchmarks, as JSON
for `anxinctl import` (the shape of tests/integration/harness.py's
sample_registry).

    bench/registry.py DEVICES OUT.json [DEVICE_PREFIX]

Devices are PREFIX000001 ... PREFIX<DEVICES> (default prefix "D-"), the ids
build/anxin-load publishes for, spread over DEVICES/2.5 elders: every elder
has an SOS button and a water meter, every other one a wearable too (2-3
devices each). Contacts have made-up numbers in the +86 199 range; nothing
here is a real person.
"""
import json
import sys


def registry(devices, prefix="D-"):
    elders = (devices * 2 + 4) // 5            # 2.5 devices per elder, rounded up
    kinds = {}                                 # elder -> [(device number, kind)]
    k = 0
    for kind, count in (("sos_button", elders), ("water_meter", elders),
                        ("wearable", elders)):
        for e in range(1, count + 1):
            if k == devices:
                break
            k += 1
            kinds.setdefault(e, []).append((k, kind))
    out = []
    for e in range(1, elders + 1):
        out.append({
            "id": "BE%07d" % e, "name": "压测%d" % e, "birth_year": 1940, "consent": True,
            "categories": ["living_alone"], "township": "城关镇", "village": "东关村",
            "contacts": [
                {"name": "家属%d" % e, "phone": "+86199%08d" % e, "role": "family",
                 "priority": 1, "channels": ["sms"]},
                {"name": "邻居%d" % e, "phone": "+86198%08d" % e, "role": "neighbor",
                 "priority": 2, "channels": ["sms"]}],
            "devices": [{"id": "%s%06d" % (prefix, n), "kind": kind, "heartbeat_s": 3600}
                        for n, kind in kinds.get(e, [])]})
    return {"elders": out}


if __name__ == "__main__":
    n = int(sys.argv[1])
    with open(sys.argv[2], "w") as f:
        json.dump(registry(n, sys.argv[3] if len(sys.argv) > 3 else "D-"), f,
                  ensure_ascii=False)
