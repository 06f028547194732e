#!/bin/sh
# The kernel's edge FIFO overflows under the real gpioirqd, and every lost edge is reported:
# two counters, each its own line request (event_buffer_size 1024, the kernel's maximum).
# PRE edges on both lines are read; then the daemon is stopped (SIGSTOP: its RT thread cannot
# read) while BURST edges hit line "burst" and CALM (<= 1024) edges hit line "calm"; SIGCONT;
# then POST edges more on both. Expected:
#   burst: exactly the 1024 newest edges of the burst are read, the rest are lost: GAP rows
#          (reason kernel_fifo, unit line_seqno) sum to BURST - 1024 = injected - EDGE rows =
#          status kernel_lost = `counters` lost, and their from/to are exactly the seqnos
#          around the hole in the EDGE rows' line_seqno;
#   calm:  all CALM edges kept (the FIFO is 1024 deep, not the default 16), no GAP.
# Env: BURST (default 3000), CALM (default 1000), PRE/POST (default 100).
. /scenarios/lib.sh
need_bin gpioirqd gpioirqctl json_get edge_train
BURST=${BURST:-3000}
CALM=${CALM:-1000}
PRE=${PRE:-100}
POST=${POST:-100}
FIFO=1024
[ "$BURST" -gt "$FIFO" ] && [ "$CALM" -le "$FIFO" ] || fail "need BURST > $FIFO >= CALM"

sim_chip simF bank0:2:burst_in,calm_in
daemon_config fifo
cat >> "$DAEMON_CONF" <<EOF
[[chip]]
name = "f"
label = "simF-bank0"

[[counter]]
name = "burst"
chip = "f"
line = "burst_in"
edge = "both"
bias = "pull-down"

[[counter]]
name = "calm"
chip = "f"
line = "calm_in"
edge = "both"
bias = "pull-down"
EOF
daemon_start
BURST_PULL=$(sim_pull_file simF bank0 0)
CALM_PULL=$(sim_pull_file simF bank0 1)
both_read() { line_edges_are burst line "$1" && line_edges_are calm line "$2"; }

edge_train -r 2000 -n "$PRE" "$BURST_PULL" "$CALM_PULL" || fail "edge_train (before)"
wait_until 15 "gpioirqd to read the first $PRE edges" both_read "$PRE" "$PRE"

daemon_freeze
edge_train -r 0 -n "$BURST" "$BURST_PULL" || fail "edge_train (burst)"
edge_train -r 0 -n "$CALM" "$CALM_PULL" || fail "edge_train (calm)"
daemon_thaw
wait_until 15 "gpioirqd to read what the FIFOs kept" both_read $((PRE + FIFO)) $((PRE + CALM))

edge_train -r 2000 -n "$POST" "$BURST_PULL" "$CALM_PULL" || fail "edge_train (after)"
B_EDGES=$((PRE + FIFO + POST))
C_EDGES=$((PRE + CALM + POST))
wait_until 15 "gpioirqd to read the last $POST edges" both_read "$B_EDGES" "$C_EDGES"
LOST=$((BURST - FIFO))

ctl_json /tmp/status.json status
ctl_json /tmp/counters.json counters
st() { jget /tmp/status.json "lines[device=$1].$2"; }
check "burst: status edges $(st burst edges) = $B_EDGES, kernel_lost $(st burst kernel_lost) = $LOST, ring_dropped 0" \
  [ "$(st burst edges)" = "$B_EDGES" -a "$(st burst kernel_lost)" = "$LOST" -a "$(st burst ring_dropped)" = 0 ]
check "calm: status edges $(st calm edges) = $C_EDGES, kernel_lost 0, ring_dropped 0" \
  [ "$(st calm edges)" = "$C_EDGES" -a "$(st calm kernel_lost)" = 0 -a "$(st calm ring_dropped)" = 0 ]
check "counters: burst lost $LOST, counted $B_EDGES" \
  [ "$(jget /tmp/counters.json 'counters[name=burst].lost')" = "$LOST" -a \
    "$(jget /tmp/counters.json 'counters[name=burst].count')" = "$B_EDGES" ]
check "counters: calm lost 0, counted $C_EDGES" \
  [ "$(jget /tmp/counters.json 'counters[name=calm].lost')" = 0 -a \
    "$(jget /tmp/counters.json 'counters[name=calm].count')" = "$C_EDGES" ]

daemon_stop
INJECTED=$((PRE + BURST + POST))
s=$(edge_summary burst)
echo "burst: $s"
grep '^GAP' "$DAEMON_EVENTS"
rows=$(echo "$s" | kv rows)
gap_sum=$(awk -F, '$1 == "GAP" && $4 == "burst" { n += $15 } END { print n + 0 }' "$DAEMON_EVENTS")
gap_ranges=$(awk -F, '$1 == "GAP" && $4 == "burst" { r = r (r == "" ? "" : ";") $16 "-" $17 } END { print (r == "" ? "-" : r) }' "$DAEMON_EVENTS")
check "burst: $rows EDGE rows = $B_EDGES" [ "$rows" = "$B_EDGES" ]
check "burst: GAP lost sum $gap_sum = injected $INJECTED - logged $rows = status kernel_lost" \
  [ "$gap_sum" = $((INJECTED - rows)) -a "$gap_sum" = "$LOST" ]
check "burst: GAP rows are kernel_fifo in line_seqno" \
  [ "$(awk -F, '$1 == "GAP" && $4 == "burst" && !($11 == "kernel_fifo" && $14 == "line_seqno")' "$DAEMON_EVENTS" | wc -l)" = 0 ]
check "burst: GAP from-to ($gap_ranges) = the hole in the EDGE seqnos ($(echo "$s" | kv ranges))" \
  [ "$gap_ranges" = "$(echo "$s" | kv ranges)" -a "$gap_ranges" = "$PRE-$((PRE + LOST + 1))" ]
check "burst: EDGE seqnos run 1..$INJECTED, $LOST missing" \
  [ "$(echo "$s" | kv first_seq)" = 1 -a "$(echo "$s" | kv last_seq)" = "$INJECTED" -a "$(echo "$s" | kv missing)" = "$LOST" ]
c=$(edge_summary calm)
echo "calm: $c"
check "calm: $C_EDGES EDGE rows, seqnos contiguous, no GAP" \
  [ "$(echo "$c" | kv rows)" = "$C_EDGES" -a "$(echo "$c" | kv seq_breaks)" = 0 -a "$(log_rows GAP calm)" = 0 ]
pass "FIFO overflow with the reader stopped: burst $BURST -> $FIFO read, GAP $gap_sum (seqnos $gap_ranges) = injected - read = kernel_lost; calm $CALM of $CALM"
