#!/usr/bin/env bash
# ctest host:demo — the README's first command, run as CI would run it (no terminal):
# scripts/demo.sh with this build's binaries must exit 0 having shown the status, the
# files and decoded IMU frames. Usage: demo_test.sh SOURCE_DIR BUILD_DIR
set -uo pipefail
src=$1
build=$2
out=$(GPIOIRQ_BUILD_DIR=$build GPIOIRQ_DEMO_PREBUILT=1 bash "$src/scripts/demo.sh" 3 </dev/null 2>&1)
rc=$?
echo "$out"
fail() { echo "host:demo FAILED: $*"; exit 1; }
[[ $rc -eq 0 ]] || fail "scripts/demo.sh exited $rc"
for want in "== gpioirqctl status" "loop_priority: 70" "== files in /tmp/gpioirqd-demo" \
            "counter,ts_ns,ax,ay,az" "demo done: logs in /tmp/gpioirqd-demo"; do
  grep -qF -- "$want" <<<"$out" || fail "the output lacks: $want"
done
# Every stream of the demo made edges and nothing was lost on any line.
# The table's columns are found by their header names (kernel_lost, ring_dropped).
lost=$(awk '/^lines:/ {in_lines = 1; header = 1; next} in_lines && /^[a-z_]+:/ {in_lines = 0}
            in_lines && header { for (i = 1; i <= NF; i++) col[$i] = i; header = 0; next }
            in_lines && $1 == "sim0" && ($(col["kernel_lost"]) != 0 || $(col["ring_dropped"]) != 0) {print}' <<<"$out")
grep -q "kernel_lost.*ring_dropped" <<<"$out" || fail "no lines table with kernel_lost and ring_dropped columns"
[[ -z $lost ]] || fail "lines with losses: $lost"
echo "host:demo passed"
