#!/bin/sh
# N of N edges on several lines of two gpio-sim devices (three gpiochips), lines requested by
# offset and by name, chips by path and by label: every edge seen once, edge types
# alternate, kernel timestamps ordered and inside the run, seqnos contiguous (loss 0).
# Env: EDGES (per line, default 500), RATE (steps/s; each step toggles all lines, default 1000).
. /scenarios/lib.sh
need_bin gpiod_probe edge_train
N=${EDGES:-500}
RATE=${RATE:-1000}

sim_chip simA bank0:8:a0,a1,a2,a3 bank1:4
sim_chip simB bank0:8:-,-,-,b3
A0=$(sim_dev simA bank0)

start_ready probe 10 gpiod_probe --expect "$N" --check-types --timeout-ms 60000 \
  "$A0:0,a1,a2" "simA-bank1:2" "simB-bank0:0,b3"
edge_train -r "$RATE" -n "$N" \
  "$(sim_pull_file simA bank0 0)" "$(sim_pull_file simA bank0 1)" "$(sim_pull_file simA bank0 2)" \
  "$(sim_pull_file simA bank1 2)" "$(sim_pull_file simB bank0 0)" "$(sim_pull_file simB bank0 3)" ||
  fail "edge_train failed"
wait_pid "$READY_PID" 70
cat /tmp/probe.out
check "probe checks pass (exit $WAIT_RC)" [ "$WAIT_RC" = 0 ]
events=$(grep '^probe total' /tmp/probe.out | kv events)
lost=$(grep '^probe total' /tmp/probe.out | kv lost)
check "6 lines x $N edges read" [ "$events" = $((6 * N)) ]
check "no loss" [ "$lost" = 0 ]
pass "$events of $((6 * N)) edges on 6 lines of 3 gpiochips, lost 0, timestamps and seqnos in order"
