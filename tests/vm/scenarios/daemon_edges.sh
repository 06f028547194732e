#!/bin/sh
# The real gpioirqd sees N of N edges on five lines of two gpio-sim chips: chips by path and
# by label, lines by offset and by name; counters on both edges, on rising edges only and
# active-low, a pull-up biased active-low button. Status: per line edges = injected,
# kernel_lost 0, ring_dropped 0. Event log: EDGE rows per line = edges, line_seqno 1..N
# contiguous, kernel timestamps non-decreasing and inside START..STOP, edge types alternating
# (inverted on active-low lines), chip and offset as configured/resolved; no GAP rows.
# Bias and active-low: the button's pull-up becomes the line's pull, it reads released.
# Env: EDGES (per line, even, default 500), RATE (steps/s, each step toggles all 5 lines,
# default 1000).
. /scenarios/lib.sh
need_bin gpioirqd gpioirqctl json_get edge_train
N=${EDGES:-500}
RATE=${RATE:-1000}
[ $((N % 2)) = 0 ] || fail "EDGES must be even"
HALF=$((N / 2))

sim_chip simA bank0:8:a0,a1,a2,a3
sim_chip simB bank0:4:-,-,-,b3
daemon_config edges
cat >> "$DAEMON_CONF" <<EOF
[[chip]]
name = "ca"
path = "$(sim_dev simA bank0)"

[[chip]]
name = "cb"
label = "simB-bank0"

[[counter]]
name = "c_off"
chip = "ca"
line = 0
edge = "both"
bias = "pull-down"

[[counter]]
name = "c_name"
chip = "ca"
line = "a1"
edge = "both"

[[counter]]
name = "c_rise"
chip = "ca"
line = "a2"
edge = "rising"

[[counter]]
name = "c_low"
chip = "cb"
line = 0
edge = "both"
bias = "pull-down"
active_low = true

[[button]]
name = "btn"
chip = "cb"
line = "b3"
bias = "pull-up"
active_low = true
debounce_ms = 20
EOF
daemon_start

# Bias and active-low before any edge.
check "button bias pull-up became the line's pull" [ "$(sim_get_pull simB bank0 3)" = pull-up ]
check "button line is physically high" [ "$(sim_value simB bank0 3)" = 1 ]
ctl_json /tmp/buttons0.json buttons
check "active-low button on a high line reads released" [ "$(jget /tmp/buttons0.json 'buttons[name=btn].level')" = false ]
check "c_off bias pull-down became the line's pull" [ "$(sim_get_pull simA bank0 0)" = pull-down ]

edge_train -r "$RATE" -n "$N" \
  "$(sim_pull_file simA bank0 0)" "$(sim_pull_file simA bank0 1)" "$(sim_pull_file simA bank0 2)" \
  "$(sim_pull_file simB bank0 0)" "$(sim_pull_file simB bank0 3)" || fail "edge_train failed"

# device role expected-edges
EXPECT="c_off:line:$N c_name:line:$N c_rise:line:$HALF c_low:line:$N btn:line:$N"
all_read() {
  for _e in $EXPECT; do
    line_edges_are "${_e%%:*}" line "${_e##*:}" || return 1
  done
}
wait_until 20 "gpioirqd to read every injected edge" all_read

ctl_json /tmp/status.json status
ctl_json /tmp/counters.json counters
ctl_json /tmp/buttons.json buttons
for _e in $EXPECT; do
  d=${_e%%:*}; want=${_e##*:}
  for f in edges kernel_lost ring_dropped; do
    eval "$f=\$(jget /tmp/status.json 'lines[device=$d,role=line].$f')"
  done
  check "status $d: edges $edges = $want, kernel_lost $kernel_lost = 0, ring_dropped $ring_dropped = 0" \
    [ "$edges" = "$want" -a "$kernel_lost" = 0 -a "$ring_dropped" = 0 ]
done
for d in c_off c_name c_low; do
  check "counter $d counted $N edges" [ "$(jget /tmp/counters.json "counters[name=$d].count")" = "$N" ]
done
check "counter c_rise counted $HALF rising edges" [ "$(jget /tmp/counters.json 'counters[name=c_rise].count')" = "$HALF" ]
check "status: resolved offsets (a1 -> 1, a2 -> 2, b3 -> 3)" \
  [ "$(jget /tmp/status.json 'lines[device=c_name].offset')" = 1 -a "$(jget /tmp/status.json 'lines[device=c_rise].offset')" = 2 -a "$(jget /tmp/status.json 'lines[device=btn].offset')" = 3 ]
check "RT priority 80 granted" [ "$(jget /tmp/status.json rt.priority)" = 80 ]
# N toggles 1 ms apart never hold for debounce_ms: one rejected burst, no press.
check "button after the train: released, no press, one glitch" \
  [ "$(jget /tmp/buttons.json 'buttons[name=btn].level')" = false -a "$(jget /tmp/buttons.json 'buttons[name=btn].press')" = 0 -a "$(jget /tmp/buttons.json 'buttons[name=btn].glitches')" = 1 ]

daemon_stop
start_ts=$(marker_ts START)
stop_ts=$(marker_ts STOP)
check "event log has START and STOP" [ -n "$start_ts" -a -n "$stop_ts" ]
check "no GAP rows" [ "$(log_rows GAP)" = 0 ]

# device expected-rows first-edge chip offset
for spec in "c_off $N rising ca 0" "c_name $N rising ca 1" "c_rise $HALF rising ca 2" \
            "c_low $N falling cb 0" "btn $N rising cb 3"; do
  set -- $spec
  s=$(edge_summary "$1")
  echo "$1: $s"
  check "$1: $2 EDGE rows" [ "$(echo "$s" | kv rows)" = "$2" ]
  check "$1: line_seqno 1..$2 contiguous" [ "$(echo "$s" | kv first_seq)" = 1 -a "$(echo "$s" | kv last_seq)" = "$2" -a "$(echo "$s" | kv seq_breaks)" = 0 ]
  check "$1: kernel timestamps non-decreasing" [ "$(echo "$s" | kv ts_back)" = 0 ]
  check "$1: timestamps inside the run" [ "$(echo "$s" | kv ts_min)" -gt "$start_ts" -a "$(echo "$s" | kv ts_max)" -lt "$stop_ts" ]
  if [ "$1" = c_rise ]; then
    check "$1: only rising edges" [ "$(echo "$s" | kv same_type)" = $(($2 - 1)) ]
  else
    check "$1: edge types alternate" [ "$(echo "$s" | kv same_type)" = 0 ]
  fi
  check "$1: first edge $3 (active-low inverts)" [ "$(echo "$s" | kv first_edge)" = "$3" ]
  check "$1: chip $4 offset $5" [ "$(echo "$s" | kv chip)" = "$4" -a "$(echo "$s" | kv offset)" = "$5" ]
done
pass "5 lines on 2 chips: $((4 * N + HALF)) of $((4 * N + HALF)) edges read and logged, seqnos contiguous, lost 0"
