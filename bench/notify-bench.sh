#!/bin/bash
# bench/notify-bench.sh - builds build/notify-bench and runs the standard set:
# notification sending through the daemon's notifier and HTTP client against
# the bare HTTP client, in the same run (see notify-bench.c). No services
# needed: the sink is inside the program, on 127.0.0.1.
#
#   bench/notify-bench.sh                  # the whole set, report on stdout
#   bench/notify-bench.sh --out bench/results/DATE-notify.md
#   bench/notify-bench.sh --quick          # short runs, to check it works
#
# A run that did not finish cleanly (the unlimited 20000 burst does not on a
# machine with 20000 descriptors: see the report) is reported, not fatal.
set -u
cd "$(dirname "$0")/.." || exit 1
out='' quick=''
while [ $# -gt 0 ]; do
    case $1 in
    --out) out=$2; shift 2 ;;
    --quick) quick=1; shift ;;
    *) echo "usage: bench/notify-bench.sh [--out FILE] [--quick]" >&2; exit 2 ;;
    esac
done
make -j8 all >/dev/null || exit 1
bin=build/notify-bench

if [ -n "$quick" ]; then
    runs=("-n 2000" "-n 5000 -c 64 -r 2" "-p 1000 -d 2" "-p 5000 -d 2")
else
    runs=("-n 20000"                # all at once, as the daemon would: no limit
          "-n 9000 -r 3"            # the largest unlimited burst the descriptors hold here
          "-n 20000 -c 64 -r 5"     # connections reused: the client's ceiling
          "-p 1000 -d 10 -r 3"      # a realistic load
          "-p 5000 -d 10 -r 3"
          "-n 9000 -R 1000")        # the provider's `rate` key
fi

report() {
    echo "# Notification sending: notifier against bare httpc"
    echo
    local dirty=''
    git diff --quiet HEAD -- daemon/httpc.c daemon/notifier.c lib 2>/dev/null ||
        dirty=' with uncommitted changes to daemon/httpc.c, daemon/notifier.c or lib/'
    echo "Script: \`bench/notify-bench.sh${quick:+ --quick}\`; $(date -u +%Y-%m-%d)," \
         "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$dirty."
    echo "Load on the machine before the first run: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo
    for args in "${runs[@]}"; do
        # shellcheck disable=SC2086  # the arguments are meant to split
        $bin $args -C "$bin $args" 2>/dev/null
        rc=$?
        [ $rc -ne 0 ] && echo && echo "(exit status $rc: not every request finished as sent)"
        echo
    done
}

if [ -n "$out" ]; then
    report | tee "$out"
else
    report
fi
