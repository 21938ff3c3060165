#!/usr/bin/python3
"""anxin-sim - a small device simulator for the demo and for trying rules.

Publishes ordinary telemetry for the devices of a registry file (water
meters, wearables, SOS buttons as heartbeats), then, if asked, an SOS press,
sent to the alarm topic (anxind's alarm lane) as an SOS button should; one
seq counter per device across both topics. MQTT QoS 1, one message at a
time, each confirmed by the broker.

  anxin-sim.py --registry conf/examples/registry.json --rounds 3 --sos SOS-0001
"""
import argparse
import json
import random
import sys
import time

import paho.mqtt.client as mqtt


def metrics_for(kind, rnd):
    if kind == "water_meter":
        return {"water.flow_l": round(rnd.uniform(0, 12), 1)}
    if kind == "wearable":
        return {"hr.bpm": rnd.randint(62, 88), "spo2.pct": rnd.randint(95, 99),
                "battery.pct": rnd.randint(40, 100)}
    if kind == "bathroom_sensor":
        return {"room.bathroom": False}
    if kind == "door_sensor":
        return {"door.open": False}
    return {"battery.pct": rnd.randint(60, 100)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1883)
    ap.add_argument("--prefix", default="anxin/v1", help="topic prefix before the device id")
    ap.add_argument("--registry", required=True, help="registry JSON (devices to simulate)")
    ap.add_argument("--rounds", type=int, default=2, help="ordinary messages per device")
    ap.add_argument("--interval", type=float, default=0.2, help="seconds between rounds")
    ap.add_argument("--sos", metavar="DEVICE", help="press SOS on this device at the end")
    ap.add_argument("--sos-topic", choices=("alarm", "telemetry"), default="alarm",
                    help="where the SOS goes: <prefix>/<device>/alarm (default) or .../telemetry")
    args = ap.parse_args()

    with open(args.registry, encoding="utf-8") as f:
        reg = json.load(f)
    devices = [(d["id"], d["kind"]) for e in reg["elders"] for d in e.get("devices", [])]
    rnd = random.Random(7)

    c = mqtt.Client(client_id="anxin-sim-%d" % random.randint(0, 1 << 30),
                    protocol=mqtt.MQTTv311)
    try:
        c.connect(args.host, args.port)
    except OSError as e:
        sys.exit("anxin-sim: cannot reach the broker at %s:%d: %s" % (args.host, args.port, e))
    c.loop_start()
    seq = {}

    def send(dev, body, topic="telemetry"):
        seq[dev] = seq.get(dev, 0) + 1
        body = dict(body, ts=int(time.time() * 1000), seq=seq[dev])
        info = c.publish("%s/%s/%s" % (args.prefix, dev, topic), json.dumps(body), qos=1)
        info.wait_for_publish(10)
        if not info.is_published():
            sys.exit("anxin-sim: the broker did not confirm a message")

    sent = 0
    for _ in range(args.rounds):
        for dev, kind in devices:
            send(dev, {"metrics": metrics_for(kind, rnd)})
            sent += 1
        time.sleep(args.interval)
    print("anxin-sim: %d ordinary messages from %d devices" % (sent, len(devices)))
    if args.sos:
        send(args.sos, {"events": ["sos"]}, args.sos_topic)
        print("anxin-sim: SOS pressed on %s (sent to its %s topic)" % (args.sos, args.sos_topic))
    c.loop_stop()
    c.disconnect()


if __name__ == "__main__":
    main()
