#!/usr/bin/env bash
# The demo: a throwaway PostgreSQL and broker under run/demo, the sample
# registry, anxind with the console SMS provider, and a device simulator that
# sends ordinary telemetry and then an SOS. Shows what people would see.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
run=$root/run/demo
pg_port=${ANXIN_DEMO_PG_PORT:-55433}
mq_port=${ANXIN_DEMO_MQ_PORT:-18884}
http_port=${ANXIN_DEMO_HTTP_PORT:-18080}
build=${ANXIN_BUILD:-build}
db="host=127.0.0.1 port=$pg_port user=postgres dbname=anxin"
ctl() { "$build/anxinctl" --db "$db" --sql-dir sql "$@"; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

anxind_pid=
cleanup() {
    [ -n "$anxind_pid" ] && kill -TERM "$anxind_pid" 2>/dev/null && wait "$anxind_pid" 2>/dev/null
    scripts/services.sh mq-stop "$run" >/dev/null 2>&1 || true
    scripts/services.sh pg-stop "$run" >/dev/null 2>&1 || true
}
trap cleanup EXIT

scripts/services.sh mq-stop "$run" >/dev/null 2>&1 || true
scripts/services.sh pg-stop "$run" >/dev/null 2>&1 || true
rm -rf "$run"
mkdir -p "$run"

say "1. Throwaway PostgreSQL (port $pg_port) and Mosquitto (port $mq_port) under run/demo"
scripts/services.sh pg-start "$run" "$pg_port"
scripts/services.sh mq-start "$run" "$mq_port" 2>/dev/null
echo "started"

say "2. Schema and the county's registry (conf/examples/registry.json)"
ctl migrate
ctl import conf/examples/registry.json

cat >"$run/anxind.conf" <<EOF
# Demo configuration written by scripts/demo.sh; see conf/anxind.conf for every key.
[anxind]
node = demo
[mqtt]
url = tcp://127.0.0.1:$mq_port
client_id = anxind-demo
[database]
conninfo = host=127.0.0.1 port=$pg_port user=postgres dbname=anxin
[http]
listen = 127.0.0.1:$http_port
console_dir = $root/console
[journal]
dir = $run/journal
[paths]
rules = $root/conf/rules.d
templates = $root/conf/templates
[provider "console"]
type = console
output = $run/messages.txt
[channel "sms"]
providers = console
EOF
"$build/anxind" -c "$run/anxind.conf" -t

say "3. anxind starts (log: run/demo/anxind.log)"
"$build/anxind" -c "$run/anxind.conf" >"$run/anxind.log" 2>&1 &
anxind_pid=$!
for _ in $(seq 1 100); do
    curl -sf "http://127.0.0.1:$http_port/readyz" >/dev/null 2>&1 && break
    kill -0 "$anxind_pid" 2>/dev/null || { cat "$run/anxind.log"; exit 1; }
    sleep 0.1
done
curl -s "http://127.0.0.1:$http_port/readyz"

say "4. Devices report as usual, then 王秀英 (E0001) presses her SOS button"
/usr/bin/python3 tools/anxin-sim.py --port "$mq_port" --registry conf/examples/registry.json \
    --rounds 3 --sos SOS-0001

for _ in $(seq 1 100); do
    [ "$(ctl -q alerts 2>/dev/null | grep -c ' sos ')" -ge 1 ] && \
        [ "$(grep -c '短信' "$run/messages.txt" 2>/dev/null)" -ge 2 ] && break
    sleep 0.1
done
sleep 0.5

say "5. The messages that went out (console SMS provider: run/demo/messages.txt)"
cat "$run/messages.txt"

say "6. What the call center sees: anxinctl alerts"
ctl alerts

id=$(ctl alerts | awk '$8 == "sos" {print $1; exit}')
say "7. The handling record: anxinctl record $id"
ctl record "$id"

say "8. What anxind said (run/demo/anxind.log)"
grep -E "alert|notification|ready|connected" "$run/anxind.log" | sed 's/^/  /'

say "9. Health and metrics: http://127.0.0.1:$http_port/metrics"
curl -s "http://127.0.0.1:$http_port/metrics" | grep -E '^anxin_(messages_received|messages_processed|alerts_opened|notifications_sent)'

say "10. The call-center desk: a token, the API, acknowledging, the audit trail"
token=$(ctl token create --role operator --name 值班员-演示 2>/dev/null)
api() { curl -s -H "Authorization: Bearer $token" "$@"; }
for _ in $(seq 1 50); do    # anxind reloads its tokens when one is created
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" \
        "http://127.0.0.1:$http_port/api/v1/alerts")" = 200 ] && break
    sleep 0.1
done
echo "GET /api/v1/alerts?state=live:"
api "http://127.0.0.1:$http_port/api/v1/alerts?state=live" | /usr/bin/python3 -c '
import json, sys
for a in json.load(sys.stdin):
    print("  #%s %s %s (%s) state=%s, notified: %s" % (a["id"], a["title"], a["elder_name"],
          a["village"], a["state"], ", ".join(n["contact"] + "/" + n["channel"] for n in a["notified"])))'
echo "POST /api/v1/alerts/$id/ack:"
api -d '{"note":"已电话联系，网格员上门"}' "http://127.0.0.1:$http_port/api/v1/alerts/$id/ack"
echo "audit_log:"
psql -h 127.0.0.1 -p "$pg_port" -U postgres -d anxin -AtqX -F ' | ' \
    -c "SELECT to_char(at AT TIME ZONE INTERVAL '+08:00', 'HH24:MI:SS'), actor, action, coalesce(target, ''), outcome FROM audit_log ORDER BY id" | sed 's/^/  /'

say "11. Response times this month: anxinctl report response"
ctl report response || true

if [ -n "${ANXIN_DEMO_KEEP:-}" ]; then
    say "anxind keeps running: open http://127.0.0.1:$http_port/console/ and log in with"
    echo "  $token"
    echo "(Ctrl-C ends the demo)"
    wait "$anxind_pid" || true
fi

kill -TERM "$anxind_pid"
wait "$anxind_pid" || true
anxind_pid=
echo
echo "Demo done. Everything it made is under run/demo (removed on the next run)."
echo "ANXIN_DEMO_KEEP=1 make demo keeps anxind running to try the web console."
