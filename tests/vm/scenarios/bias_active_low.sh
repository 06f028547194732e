#!/bin/sh
# Bias and active-low as a user sees them on gpio-sim. gpio-sim has no pins: a consumer's
# pull-up/pull-down bias becomes the simulated line's pull (sysfs `pull` then reads it back)
# and so its level; active-low inverts what the consumer reads and the edge types it gets,
# while the physical level (sysfs `value`) is unchanged.
. /scenarios/lib.sh
need_bin gpiod_probe
sim_chip simC bank0:4:btn0,btn1,btn2,btn3
dev=$(sim_dev simC bank0)

value_of() { grep "^probe value .* offset=$1 " /tmp/values.out | kv value; }

check "idle sim lines are pulled down" [ "$(sim_value simC bank0 0)" = 0 ]

# line 0: pull-up bias -> reads 1, and gpio-sim's pull follows the bias.
gpiod_probe --print-values "$dev:btn0:pull-up" > /tmp/values.out || { cat /tmp/values.out; fail "request btn0"; }
check "pull-up bias reads 1" [ "$(value_of 0)" = 1 ]
check "sim pull follows pull-up bias" [ "$(sim_get_pull simC bank0 0)" = pull-up ]
check "physical level is 1" [ "$(sim_value simC bank0 0)" = 1 ]

# line 1: externally pulled up, pull-down bias wins -> reads 0.
sim_pull simC bank0 1 up
gpiod_probe --print-values "$dev:1:pull-down" > /tmp/values.out || fail "request line 1"
check "pull-down bias reads 0" [ "$(value_of 1)" = 0 ]
check "sim pull follows pull-down bias" [ "$(sim_get_pull simC bank0 1)" = pull-down ]

# line 2: active-low, bias as-is, externally low -> reads 1 (active); physical stays 0.
gpiod_probe --print-values "$dev:2:active-low,as-is" > /tmp/values.out || fail "request line 2"
check "active-low line at physical 0 reads 1" [ "$(value_of 2)" = 1 ]
check "physical level unchanged by active-low" [ "$(sim_value simC bank0 2)" = 0 ]

# line 3: active-low with pull-up bias -> physical 1, reads 0.
gpiod_probe --print-values "$dev:3:active-low,pull-up" > /tmp/values.out || fail "request line 3"
check "active-low + pull-up reads 0" [ "$(value_of 3)" = 0 ]
check "active-low + pull-up is physically 1" [ "$(sim_value simC bank0 3)" = 1 ]

# Edges on an active-low line: physical rise -> falling event, physical fall -> rising.
start_ready probe 10 gpiod_probe --expect 2 --check-types --dump-events --timeout-ms 10000 "$dev:2:active-low"
sim_pull simC bank0 2 up
sim_pull simC bank0 2 down
wait_pid "$READY_PID" 15
cat /tmp/probe.out
check "active-low edge probe passes" [ "$WAIT_RC" = 0 ]
check "physical rise is a falling event" [ "$(grep '^probe event .* seq=1 ' /tmp/probe.out | kv type)" = falling ]
check "physical fall is a rising event" [ "$(grep '^probe event .* seq=2 ' /tmp/probe.out | kv type)" = rising ]

# Same edges on an active-high line for contrast.
start_ready probe 10 gpiod_probe --expect 2 --check-types --dump-events --timeout-ms 10000 "$dev:2"
sim_pull simC bank0 2 up
sim_pull simC bank0 2 down
wait_pid "$READY_PID" 15
cat /tmp/probe.out
check "active-high edge probe passes" [ "$WAIT_RC" = 0 ]
check "physical rise is a rising event" [ "$(grep '^probe event .* seq=1 ' /tmp/probe.out | kv type)" = rising ]
pass "bias sets the level, active-low inverts values and edge types"
