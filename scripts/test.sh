#!/usr/bin/env bash
# Runs every test: unit tests (normal and sanitizer builds), then the
# integration tests against throwaway PostgreSQL and Mosquitto under run/test,
# once with the normal build and once with the ASan+UBSan build.
# Prints "N passed, N failed" last; exits non-zero if anything failed.
#
#   ANXIN_BUILD=build-asan scripts/test.sh     integration tests against that build only
#   scripts/test.sh test_alarm_path            only that integration module
set -u
cd "$(dirname "$0")/.."
root=$(pwd)
if [ -n "${ANXIN_BUILD:-}" ]; then
    builds=$ANXIN_BUILD
else
    builds="build"
    [ -x build-asan/anxind ] && builds="build build-asan"
fi
run=${ANXIN_RUN:-$root/run/test}
pg_port=${ANXIN_PG_PORT:-55432}
mq_port=${ANXIN_MQ_PORT:-18883}

total_pass=0; total_fail=0
add_counts() {   # parse "...: N passed, M failed" from the last line of $1
    local line p f
    line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$1" | tail -1)
    p=$(grep -oE '[0-9]+ passed' <<<"$line" | grep -oE '[0-9]+')
    f=$(grep -oE '[0-9]+ failed' <<<"$line" | grep -oE '[0-9]+')
    if [ -z "$line" ]; then p=0; f=1; fi
    total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
}

mkdir -p "$run"
log=$(mktemp)
for b in build build-asan; do
    [ -d "$b/tests" ] || continue
    scripts/run-unit.sh "$b" | tee "$log"
    add_counts "$log"
done

# The default rules' own tests (conf/rules.d/tests), as an operator runs them.
for b in build build-asan; do
    [ -x "$b/anxinctl" ] || continue
    echo "== rule tests with $b"
    "$b/anxinctl" -q test-rules --rules conf/rules.d conf/rules.d/tests/*.test 2>&1 | tee "$log"
    add_counts "$log"
done

# A short fuzzing run of the rule parser (the long ones are done by hand:
# build-fuzz/rule_parse_fuzz -dict=fuzz/rule_parse.dict CORPUS); any crash fails.
if [ -x build-fuzz/rule_parse_fuzz ]; then
    echo "== fuzzing the rule parser for ${ANXIN_FUZZ_SECONDS:-20} s"
    corpus="$run/fuzz-corpus"
    rm -rf "$corpus"; mkdir -p "$corpus"; cp fuzz/corpus/rule_parse/* "$corpus"/
    if build-fuzz/rule_parse_fuzz -max_total_time="${ANXIN_FUZZ_SECONDS:-20}" \
            -dict=fuzz/rule_parse.dict -artifact_prefix="$run/" "$corpus" >"$run/fuzz.log" 2>&1; then
        echo "fuzz: $(grep -oE 'Done [0-9]+ runs' "$run/fuzz.log" | tail -1); 1 passed, 0 failed" | tee "$log"
    else
        tail -30 "$run/fuzz.log"
        echo "fuzz: crash (see $run/fuzz.log); 0 passed, 1 failed" | tee "$log"
    fi
    add_counts "$log"
fi

cleanup() {
    scripts/services.sh mq-stop "$run" >/dev/null 2>&1
    scripts/services.sh pg-stop "$run" >/dev/null 2>&1
    pkill -f "$run/daemons/" 2>/dev/null || true
}
trap cleanup EXIT
cleanup
rm -rf "$run/daemons" "$run/mq"
scripts/services.sh pg-start "$run" "$pg_port" || { echo "0 passed, 1 failed"; exit 1; }
scripts/services.sh mq-start "$run" "$mq_port" 2>/dev/null || { echo "0 passed, 1 failed"; exit 1; }

for build in $builds; do
    echo "== integration tests against $build"
    rm -rf "$run/daemons"
    ANXIN_RUN=$run ANXIN_BUILD=$build ANXIN_PG_PORT=$pg_port ANXIN_MQ_PORT=$mq_port \
        /usr/bin/python3 tests/integration/run.py "$@" 2>&1 | tee "$log"
    add_counts "$log"
done
rm -f "$log"

echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
