#!/bin/sh
# An encoder turned while gpioirqd cannot read (SIGSTOP), so the kernel's event FIFO (1024
# events for the request of both lines) overflows mid-motion; then turned a known amount.
#   PRE steps forward, read; daemon stopped; BURST steps forward (FIFO overflows: the
#   oldest BURST - 1024 events are dropped); SIGCONT; once the daemon has read the 1024
#   kept, FWD steps forward and BACK steps back. Expected:
#   - after the gap the position follows the motion exactly again: it changes by exactly
#     FWD - BACK (the old resync read the levels after every queued edge, left one line
#     inverted and counted forward motion backwards for good);
#   - the loss is said: GAP rows (kernel_fifo) summing to the events lost, `encoders`
#     shows resyncs >= 1 and a position_error_bound, an EVENT position_uncertain row with
#     that bound, and the bound covers the motion lost: |position - true position| <= bound.
# Env: PRE (default 100), BURST (default 3000), FWD (default 200), BACK (default 50).
. /scenarios/lib.sh
need_bin gpioirqd gpioirqctl json_get edge_train
PRE=${PRE:-100}
BURST=${BURST:-3000}
FWD=${FWD:-200}
BACK=${BACK:-50}
FIFO=1024
[ "$BURST" -gt "$FIFO" ] || fail "need BURST > $FIFO"

sim_chip simE bank0:2:enc_a,enc_b
daemon_config encoder-overflow
cat >> "$DAEMON_CONF" <<CONF
[[chip]]
name = "e"
label = "simE-bank0"

[[encoder]]
name = "knob"
chip = "e"
a = "enc_a"
b = "enc_b"
bias = "pull-down"
counts_per_period = 4
CONF
daemon_start
A=$(sim_pull_file simE bank0 0); B=$(sim_pull_file simE bank0 1)
edges_read() {
  gpioirqctl --json status > /tmp/st.json 2>/dev/null || return 1
  [ $(( $(jget /tmp/st.json 'lines[device=knob,role=a].edges') + $(jget /tmp/st.json 'lines[device=knob,role=b].edges') )) = "$1" ]
}
enc() { gpioirqctl --json encoders > /tmp/enc.json 2>/dev/null && jget /tmp/enc.json "encoders[name=knob].$1"; }

edge_train -q -r 2000 -n "$PRE" "$A" "$B" || fail "edge_train (before)"
wait_until 15 "gpioirqd to read the first $PRE edges" edges_read "$PRE"
check "position $(enc position) = $PRE before the overflow" [ "$(enc position)" = "$PRE" ]

daemon_freeze
edge_train -q -r 0 -n "$BURST" "$A" "$B" || fail "edge_train (burst)"
daemon_thaw
wait_until 15 "gpioirqd to read what the FIFO kept" edges_read $((PRE + FIFO))
P0=$(enc position)
BOUND=$(enc position_error_bound)
RESYNCS=$(enc resyncs)
TRUE0=$((PRE + BURST))
OFF=$((TRUE0 - P0)); [ "$OFF" -lt 0 ] && OFF=$((-OFF))
echo "after the overflow: position $P0 (true $TRUE0, off by $OFF), bound $BOUND, resyncs $RESYNCS"
check "resyncs $RESYNCS >= 1 and a bound $BOUND >= the events lost $((BURST - FIFO))" \
  [ "$RESYNCS" -ge 1 -a "$BOUND" -ge $((BURST - FIFO)) ]
check "the bound covers the error: |$TRUE0 - $P0| = $OFF <= $BOUND" [ "$OFF" -le "$BOUND" ]

edge_train -q -r 2000 -n "$FWD" "$A" "$B" || fail "edge_train (forward)"
edge_train -q -R -r 2000 -n "$BACK" "$A" "$B" || fail "edge_train (back)"
wait_until 15 "gpioirqd to read the turns after the gap" edges_read $((PRE + FIFO + FWD + BACK))
P1=$(enc position)
check "after the gap the position follows the motion: $P1 - $P0 = $((P1 - P0)) = $FWD - $BACK" \
  [ $((P1 - P0)) = $((FWD - BACK)) ]
check "no invalid transitions ($(enc invalid)), bound unchanged ($(enc position_error_bound))" \
  [ "$(enc invalid)" = 0 -a "$(enc position_error_bound)" = "$BOUND" ]

daemon_stop
gap_sum=$(awk -F, '$1 == "GAP" && $4 == "knob" && $11 == "kernel_fifo" { n += $15 } END { print n + 0 }' "$DAEMON_EVENTS")
check "GAP rows sum $gap_sum = the events lost $((BURST - FIFO))" [ "$gap_sum" = $((BURST - FIFO)) ]
unc=$(grep '^EVENT' "$DAEMON_EVENTS" | grep ',position_uncertain,' | tail -n1)
echo "uncertain row: $unc"
check "an EVENT position_uncertain row says the bound $BOUND" [ -n "$unc" ]
check "its value is the bound $BOUND" [ "$(echo "$unc" | cut -d, -f12)" = "$BOUND" ]
last=$(grep '^EVENT' "$DAEMON_EVENTS" | grep ',position,' | tail -n1)
check "the last position row says $P1" [ "$(echo "$last" | cut -d, -f12)" = "$P1" ]
pass "encoder through a kernel FIFO overflow: position off by $OFF <= bound $BOUND, then exactly +$((FWD - BACK)) for $FWD forward $BACK back"
