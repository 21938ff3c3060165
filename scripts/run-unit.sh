#!/usr/bin/env bash
# Runs every cmocka unit-test binary under BUILD/tests and totals the results.
# Prints "unit: N passed, N failed" last; exit status 1 if anything failed.
set -u
build=${1:-build}
passed=0; failed=0
for t in "$build"/tests/test_*; do
    [ -x "$t" ] || continue
    out=$("$t" 2>&1); rc=$?
    p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
    f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
    p=${p:-0}; f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi   # crashed before cmocka's summary
    passed=$((passed + p)); failed=$((failed + f))
    if [ "$f" -ne 0 ]; then printf '%s\n' "$out"; echo "FAIL $(basename "$t")"; else echo "ok   $(basename "$t") ($p)"; fi
done
echo "unit ($build): $passed passed, $failed failed"
[ "$failed" -eq 0 ]
