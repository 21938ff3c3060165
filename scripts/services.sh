#!/usr/bin/env bash
# Throwaway PostgreSQL and Mosquitto servers under a run folder, for tests,
# the demo and benchmarks. Loopback only; nothing outside RUN is touched.
#
#   services.sh pg-start RUN PORT      initdb (once) and start PostgreSQL, create database "anxin"
#   services.sh pg-stop RUN
#   services.sh mq-start RUN PORT      start Mosquitto (persistence on, unlimited queue)
#   services.sh mq-stop RUN            SIGTERM, wait until it has saved its state
#   services.sh mq-kill RUN            SIGKILL (no state saved)
#   services.sh kannel-start RUN PORT [MO_URL]
#                                      Kannel bearerbox + fakesmsc (the fake SMS centre) +
#                                      smsbox: admin PORT, smsbox PORT+1, fake SMSC PORT+2,
#                                      sendsms PORT+3 (user anxin, password sendpw); incoming
#                                      SMS go to MO_URL. Received messages: RUN/kannel/fakesmsc.log
#   services.sh kannel-mo RUN FROM TO TEXT   a reply from a phone, through fakesmsc
#   services.sh kannel-stop RUN
#
# Works as root (PostgreSQL then runs as the postgres user) and as a normal user.
set -euo pipefail

cmd=${1:?usage: services.sh pg-start|pg-stop|mq-start|mq-stop|mq-kill RUN [PORT]}
run=${2:?run folder missing}
mkdir -p "$run"
run=$(cd "$run" && pwd)

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}

as_pg() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

die() { echo "services: $*" >&2; exit 1; }

pg_start() {
    local port=$1
    if [ ! -s "$run/pg/data/PG_VERSION" ]; then
        install -d -m 755 "$run/pg"
        [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$run/pg"
        as_pg "$PGBIN/initdb" -D "$run/pg/data" -U postgres --auth=trust -E UTF8 \
            --locale=C.UTF-8 --no-sync >"$run/pg/initdb.log" 2>&1 ||
            die "initdb failed: see $run/pg/initdb.log"
    fi
    # Already running (a test restarting it twice): nothing to do.
    if as_pg "$PGBIN/pg_ctl" -D "$run/pg/data" status >/dev/null 2>&1; then
        echo "$port" >"$run/pg/port"
        return 0
    fi
    # fsync and friends off: a throwaway server for tests, never production.
    as_pg "$PGBIN/pg_ctl" -D "$run/pg/data" -l "$run/pg/server.log" -w -t 30 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $run/pg -c fsync=off \
            -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        start >/dev/null || die "PostgreSQL did not start: see $run/pg/server.log"
    if ! psql -h 127.0.0.1 -p "$port" -U postgres -Atqc \
            "SELECT 1 FROM pg_database WHERE datname = 'anxin'" postgres | grep -q 1; then
        psql -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE anxin" postgres >/dev/null
    fi
    echo "$port" >"$run/pg/port"
}

pg_stop() {
    [ -f "$run/pg/data/postmaster.pid" ] || return 0
    as_pg "$PGBIN/pg_ctl" -D "$run/pg/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
}

mq_start() {
    local port=$1
    install -d -m 755 "$run/mq"
    cat >"$run/mq/mosquitto.conf" <<EOF
per_listener_settings true
$( [ "$(id -u)" -eq 0 ] && echo "user root" )
pid_file $run/mq/mosquitto.pid
persistence true
persistence_location $run/mq/
autosave_interval 1
log_dest file $run/mq/mosquitto.log
log_type error
log_type warning
log_type notice
max_queued_messages 0
set_tcp_nodelay true
listener $port 127.0.0.1
allow_anonymous true
EOF
    rm -f "$run/mq/mosquitto.pid"
    mosquitto -c "$run/mq/mosquitto.conf" -d || die "mosquitto did not start: see $run/mq/mosquitto.log"
    local i
    for i in $(seq 1 100); do
        if mosquitto_sub -h 127.0.0.1 -p "$port" -t '$SYS/broker/version' -C 1 -W 1 >/dev/null 2>&1; then
            echo "$port" >"$run/mq/port"
            return 0
        fi
        sleep 0.1
    done
    die "mosquitto not answering on 127.0.0.1:$port: see $run/mq/mosquitto.log"
}

mq_pid() { cat "$run/mq/mosquitto.pid" 2>/dev/null || true; }

mq_stop() {
    local sig=${1:-TERM} pid i
    pid=$(mq_pid)
    [ -n "$pid" ] || return 0
    kill -"$sig" "$pid" 2>/dev/null || { rm -f "$run/mq/mosquitto.pid"; return 0; }
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    rm -f "$run/mq/mosquitto.pid"
}

kannel_start() {
    local port=$1 mo=${2:-http://127.0.0.1:9/} k=$run/kannel i
    local fake=/usr/lib/kannel/test/fakesmsc
    command -v bearerbox >/dev/null || die "bearerbox not installed (apt-get install kannel)"
    [ -x $fake ] || die "$fake not installed (apt-get install kannel-extras)"
    kannel_stop
    install -d -m 755 "$k"
    echo "$port" >"$k/port"
    cat >"$k/kannel.conf" <<EOF
group = core
admin-port = $port
admin-interface = 127.0.0.1
admin-password = adminpw
status-password = adminpw
smsbox-port = $((port + 1))
smsbox-interface = 127.0.0.1
box-allow-ip = 127.0.0.1
log-file = "$k/bearerbox.log"
log-level = 1
dlr-storage = internal

group = smsc
smsc = fake
smsc-id = fake
port = $((port + 2))
connect-allow-ip = 127.0.0.1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = $((port + 1))
sendsms-port = $((port + 3))
sendsms-interface = 127.0.0.1
log-file = "$k/smsbox.log"
log-level = 1

group = sendsms-user
username = anxin
password = sendpw
concatenation = true
max-messages = 10
default-sender = 10655

group = sms-service
keyword = default
catch-all = true
get-url = "$mo"
accept-x-kannel-headers = true
concatenation = true
max-messages = 3
omit-empty = true
EOF
    bearerbox "$k/kannel.conf" >"$k/bearerbox.out" 2>&1 &
    echo $! >"$k/bearerbox.pid"
    for i in $(seq 1 100); do
        curl -sf "http://127.0.0.1:$port/status.txt?password=adminpw" >/dev/null 2>&1 && break
        sleep 0.1
    done
    curl -sf "http://127.0.0.1:$port/status.txt?password=adminpw" >/dev/null 2>&1 ||
        die "bearerbox did not start: see $k/bearerbox.log"
    # fakesmsc in its interactive mode reads the messages phones send (one
    # "FROM TO text BODY" a line) from a FIFO; a sleeping writer keeps the
    # FIFO open between replies. It prints every message it receives.
    rm -f "$k/mo.fifo"
    mkfifo "$k/mo.fifo"
    sleep 86400 >"$k/mo.fifo" 2>/dev/null </dev/null &
    echo $! >"$k/fifo-holder.pid"
    $fake -H 127.0.0.1 -r $((port + 2)) <"$k/mo.fifo" >"$k/fakesmsc.log" 2>&1 &
    echo $! >"$k/fakesmsc.pid"
    smsbox "$k/kannel.conf" >"$k/smsbox.out" 2>&1 &
    echo $! >"$k/smsbox.pid"
    for i in $(seq 1 150); do
        if curl -sf "http://127.0.0.1:$port/status.txt?password=adminpw" 2>/dev/null |
                grep -q 'fake.*online' &&
           curl -s -o /dev/null "http://127.0.0.1:$((port + 3))/" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    die "Kannel not ready on 127.0.0.1:$port: see $k/bearerbox.log and $k/smsbox.log"
}

# A reply typed on a phone, handed to the fake SMS centre.
kannel_mo() {
    local k=$run/kannel
    [ -p "$k/mo.fifo" ] || die "Kannel is not running under $run"
    printf '%s %s text %s\n' "$1" "$2" "$3" >"$k/mo.fifo"
}

kannel_stop() {
    local k=$run/kannel port p i
    [ -f "$k/port" ] || return 0
    port=$(cat "$k/port")
    curl -sf "http://127.0.0.1:$port/shutdown?password=adminpw" >/dev/null 2>&1 || true
    for p in smsbox fakesmsc bearerbox fifo-holder; do
        [ -f "$k/$p.pid" ] || continue
        for i in $(seq 1 50); do
            kill -0 "$(cat "$k/$p.pid")" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$(cat "$k/$p.pid")" 2>/dev/null || true
        rm -f "$k/$p.pid"
    done
}

case "$cmd" in
    pg-start) pg_start "${3:?port missing}" ;;
    pg-stop) pg_stop ;;
    mq-start) mq_start "${3:?port missing}" ;;
    mq-stop) mq_stop TERM ;;
    mq-kill) mq_stop KILL ;;
    kannel-start) kannel_start "${3:?port missing}" "${4:-}" ;;
    kannel-mo) kannel_mo "${3:?from missing}" "${4:?to missing}" "${5:?text missing}" ;;
    kannel-stop) kannel_stop ;;
    *) die "unknown command $cmd" ;;
esac
