#!/bin/sh
# A PWM input (kind pwm_in) on a real gpio-sim line: an RC-servo-like train of 150 pulses,
# period 20 ms, high times cycling 1000/1500/2000 us (3 s, ~100 edges/s: far below what TCG
# sustains), written by pwm_train through the line's sysfs `pull`.
#   servo   measure = "high", high_trim_us = 1500, scale = 0.18, unit "deg" (-90..+90),
#           window_ms = 1000, timeout_ms = 200
# Checked:
#   - before the train the idle line is reported stuck_low (no edge since start: its level);
#   - every edge read (300), none lost; 149 cycles (150 rising edges); the first cycle ends
#     the outage (one `signal` row); after the train the line is stuck_low again;
#   - every pwm / pwm_high / pwm_value row, and the final `devices` window, equal a replay of
#     the logged EDGE rows written here in awk, independent of the daemon's code: cycles
#     (rising, falling, rising with consecutive line_seqnos), windows closed by the first
#     cycle ending window_ms after the window opened, the last one by the stuck time;
#     duty, frequency and high times exactly (the same double divisions), the scaled value
#     to 1e-12 relative;
#   - against what was asked: pwm_train records its clock around each write. Each cycle's
#     high time as the kernel stamped it is within BOUND_NS of the high time pwm_train
#     wrote, their means within MEAN_BOUND_NS, and the mean kernel high time is not shorter
#     than the requested 1500 us by more than MEAN_BOUND_NS (pwm_train ends a pulse no
#     sooner than asked; it can only be late). How much longer it is depends on how late
#     the host lets pwm_train run: printed, not checked.
# What TCG allows, measured (docs/VM-TESTS.md: 11 runs of this pwm_train and 4 of earlier
# versions, on a loaded 2-core host): gpio-sim raises its interrupt through an irq_work and
# gpiolib-cdev stamps the edge in that hard IRQ, so a timestamp trails its write by
# 0.02-0.7 ms, once 4.7 ms (the vCPU away): per cycle the kernel's high time differed from
# the written one by at most 4.54 ms (2.04 ms with this version), the means by at most
# 98 us (the fall's stamp trails less than the rise's, which follows a sleep). In some boots
# the guest's CLOCK_MONOTONIC advances in 1 ms steps (the kernel's stamps and pwm_train's
# readings alike), so pwm_train cannot end a pulse before the next step; and on a busy host
# the vCPU running pwm_train is away for milliseconds (its writes up to 7.3 ms late): its
# mean high time was 1.56-2.83 ms for 1.5 ms requested, never less. Bounds: 3 x the worst
# seen, per cycle and for the means.
# vm-timeout: 120
. /scenarios/lib.sh
need_bin gpioirqd gpioirqctl json_get pwm_train

BOUND_NS=14000000      # see above and docs/VM-TESTS.md
MEAN_BOUND_NS=300000

sim_chip simP bank0:1:pwm_in
sim_pull simP bank0 0 down
daemon_config pwm
cat >> "$DAEMON_CONF" <<EOF
[[chip]]
name = "p"
label = "simP-bank0"

[[pwm_in]]
name = "servo"
chip = "p"
line = "pwm_in"
measure = "high"
high_trim_us = 1500
scale = 0.18
unit = "deg"
window_ms = 1000
timeout_ms = 200
EOF
daemon_start

# devices_field PATH: one member of servo's object in a fresh `devices` reply.
devices_field() {
  gpioirqctl --json devices > "$DAEMON_DIR/.devices.json" 2>/dev/null || return 1
  jget "$DAEMON_DIR/.devices.json" "devices.pwm_in[name=servo].$1"
}
state_is() { [ "$(devices_field state)" = "$1" ]; }
wait_until 10 "the idle line to be reported stuck_low" state_is stuck_low

pwm_train -p 20000 -h 1000,1500,2000 -n 150 -o /tmp/writes.txt "$(sim_pull_file simP bank0 0)" > /tmp/train.out ||
  fail "pwm_train"
cat /tmp/train.out
wait_until 10 "300 edges read on servo" line_edges_are servo line 300
wait_until 10 "servo stuck_low after the train" state_is stuck_low
ctl_json /tmp/devices.json devices
ctl_json /tmp/status.json status
jget /tmp/devices.json 'devices.pwm_in[name=servo]'
daemon_stop

dev() { jget /tmp/devices.json "devices.pwm_in[name=servo].$1"; }
check "300 edges read, none lost in the kernel or the ring" \
  [ "$(jget /tmp/status.json 'lines[device=servo].edges')" = 300 -a \
    "$(jget /tmp/status.json 'lines[device=servo].kernel_lost')" = 0 -a \
    "$(jget /tmp/status.json 'lines[device=servo].ring_dropped')" = 0 -a "$(dev lost)" = 0 ]
check "149 cycles, none invalid (got $(dev cycles), invalid $(dev invalid))" \
  [ "$(dev cycles)" = 149 -a "$(dev invalid)" = 0 -a "$(dev out_of_range)" = 0 ]
check "stuck_low twice (idle before, silent after), one signal" \
  [ "$(log_rows EVENT servo stuck_low)" = 2 -a "$(log_rows EVENT servo signal)" = 1 -a \
    "$(log_rows EVENT servo stuck_high)" = 0 ]
S=$(edge_summary servo line)
echo "$S"
check "EDGE rows: 300, consecutive seqnos, alternating types, rising first" \
  [ "$(echo "$S" | kv rows)" = 300 -a "$(echo "$S" | kv seq_breaks)" = 0 -a "$(echo "$S" | kv ts_back)" = 0 -a \
    "$(echo "$S" | kv same_type)" = 0 -a "$(echo "$S" | kv first_edge)" = rising ]

# The replay: cycles and windows from the EDGE rows, compared with the EVENT rows.
awk -F, -v d=servo -v W=1000000000 -v trim=1500000 -v scale=0.18 '
  function close_window(ts) {
    nw++; wts[nw] = ts; wn[nw] = n
    wduty[nw] = sh / sp; whz[nw] = n * 1e9 / sp
    whmin[nw] = hmin / 1000; whmax[nw] = hmax / 1000
    wval[nw] = scale * ((sh - n * trim) / (n * 1000))
    n = 0; sh = 0; sp = 0
  }
  $4 != d { next }
  $1 == "EDGE" {
    ts = $2 + 0; rising = ($8 == "rising"); seq = $9 + 0
    doubtful = 0
    if (known && seq != last_seq + 1) phase = 0
    else if (known && rising == last_level) { phase = 0; doubtful = 1 }
    if (!doubtful) {
      if (phase == 0) { if (rising) { r1 = ts; phase = 1; if (!open) { open = 1; from = ts } } }
      else if (phase == 1) { if (!rising) { f = ts; phase = 2 } }
      else if (rising) {
        high = f - r1; period = ts - r1; cycles++
        if (n == 0 || high < hmin) hmin = high
        if (n == 0 || high > hmax) hmax = high
        n++; sh += high; sp += period
        if (ts - from >= W) { close_window(ts); from = ts }
        r1 = ts; phase = 1
      }
    }
    known = 1; last_seq = seq; last_level = rising
  }
  $1 == "EVENT" && $11 == "pwm" { np++; pts[np] = $2; pv[np] = $12 + 0; pv2[np] = $13 + 0 }
  $1 == "EVENT" && $11 == "pwm_high" { nh++; hv[nh] = $12 + 0; hv2[nh] = $13 + 0 }
  $1 == "EVENT" && $11 == "pwm_value" { nv++; vv[nv] = $12 + 0; vv2[nv] = $13 + 0; vunit[nv] = $14 }
  $1 == "EVENT" && $11 == "stuck_low" { stuck_ts = $2 }
  END {
    if (n > 0) close_window(stuck_ts)  # the window the silence after the train closed
    bad = 0
    if (np != nw || nh != nw || nv != nw) { print "rows: pwm " np ", pwm_high " nh ", pwm_value " nv ", replayed windows " nw; bad++ }
    for (k = 1; k <= nw && k <= np; k++) {
      rel = (vv[k] - wval[k]) / wval[k]; if (rel < 0) rel = -rel
      ok = (pts[k] == wts[k] && pv[k] == wduty[k] && pv2[k] == whz[k] && hv[k] == whmin[k] && hv2[k] == whmax[k] &&
            rel <= 1e-12 && vv2[k] == wn[k] && vunit[k] == "deg")
      printf "window %d: ts %s cycles %d duty %.17g Hz %.17g high %s..%s us value %.17g deg: %s\n",
        k, wts[k], wn[k], wduty[k], whz[k], whmin[k], whmax[k], wval[k], ok ? "rows equal" : "MISMATCH"
      if (!ok) {
        printf "  rows: ts %s duty %.17g Hz %.17g high %.17g..%.17g value %.17g cycles %s unit %s\n",
          pts[k], pv[k], pv2[k], hv[k], hv2[k], vv[k], vv2[k], vunit[k]
        bad++
      }
    }
    printf "replay cycles=%d windows=%d mismatches=%d last_duty=%.17g last_hz=%.17g last_hmin=%.17g last_hmax=%.17g last_cycles=%d\n",
      cycles, nw, bad, wduty[nw], whz[nw], whmin[nw], whmax[nw], wn[nw]
  }' "$DAEMON_EVENTS" > /tmp/replay.txt
cat /tmp/replay.txt
R=$(tail -n1 /tmp/replay.txt)
check "the replay finds the same 149 cycles" [ "$(echo "$R" | kv cycles)" = 149 ]
check "3 s of train at 1 s windows: at least 3 windows replayed ($(echo "$R" | kv windows))" \
  [ "$(echo "$R" | kv windows)" -ge 3 ]
check "every pwm, pwm_high and pwm_value row equals the replay of the EDGE rows" \
  [ "$(echo "$R" | kv mismatches)" = 0 ]
same_number() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a != "" && b != "" && a + 0 == b + 0) }'; }
window_is_replayed() {
  same_number "$(dev window.duty.mean)" "$(echo "$R" | kv last_duty)" &&
    same_number "$(dev window.frequency_hz.mean)" "$(echo "$R" | kv last_hz)" &&
    same_number "$(dev window.high_us.min)" "$(echo "$R" | kv last_hmin)" &&
    same_number "$(dev window.high_us.max)" "$(echo "$R" | kv last_hmax)" &&
    same_number "$(dev window.cycles)" "$(echo "$R" | kv last_cycles)"
}
check "devices' window is the last replayed window (duty $(dev window.duty.mean), $(dev window.frequency_hz.mean) Hz)" \
  window_is_replayed

# Against the request: the kernel's high times vs pwm_train's writes (the k-th write is the
# k-th EDGE row: every edge was read, in order), and the mean vs 1500 us.
awk -F, -v d=servo -v bound="$BOUND_NS" '
  NR == FNR { wb[NR] = $1; nw = NR; next }
  $1 == "EDGE" && $4 == d { k++; ts[k] = $2 + 0 }
  END {
    if (k != nw) { print "writes " nw " edges " k; exit 1 }
    worst = 0; over = 0
    for (i = 1; i + 1 <= k; i += 2) {
      kernel = ts[i + 1] - ts[i]; written = wb[i + 1] - wb[i]
      dev = kernel - written; sdev += dev; if (dev < 0) dev = -dev
      if (dev > worst) worst = dev
      if (dev > bound) over++
      sum += kernel; wsum += written; c++
    }
    for (i = 1; i <= k; i++) { lag = ts[i] - wb[i]; if (lag > max_lag) max_lag = lag; if (lag < min_lag || i == 1) min_lag = lag }
    printf "request pulses=%d max_dev_ns=%d over_bound=%d mean_high_us=%.3f mean_written_us=%.3f mean_dev_ns=%.0f lag_ns=%d..%d\n",
      c, worst, over, sum / c / 1000, wsum / c / 1000, sdev / c, min_lag, max_lag
  }' /tmp/writes.txt "$DAEMON_EVENTS" > /tmp/request.txt || { cat /tmp/request.txt; fail "writes and EDGE rows do not pair up"; }
cat /tmp/request.txt
emit_file events.csv "$DAEMON_EVENTS"
emit_file writes.txt /tmp/writes.txt
Q=$(cat /tmp/request.txt)
check "each high time within $BOUND_NS ns of the written one (worst $(echo "$Q" | kv max_dev_ns) ns)" \
  [ "$(echo "$Q" | kv over_bound)" = 0 -a "$(echo "$Q" | kv pulses)" = 150 ]
check "mean high time within $MEAN_BOUND_NS ns of the written mean ($(echo "$Q" | kv mean_dev_ns) ns)" \
  awk -v d="$(echo "$Q" | kv mean_dev_ns)" -v b="$MEAN_BOUND_NS" 'BEGIN { exit !(d != "" && d <= b && -d <= b) }'
check "mean high time $(echo "$Q" | kv mean_high_us) us (written $(echo "$Q" | kv mean_written_us) us): not shorter than the requested 1500 us by more than $MEAN_BOUND_NS ns" \
  awk -v m="$(echo "$Q" | kv mean_high_us)" -v b="$MEAN_BOUND_NS" 'BEGIN { exit !(m != "" && m >= 1500 - b / 1000) }'
pass "servo: 300 edges, 149 cycles, $(echo "$R" | kv windows) windows equal to the EDGE replay, stuck_low before and after, high times within $(echo "$Q" | kv max_dev_ns) ns of the writes (bound $BOUND_NS), means $(echo "$Q" | kv mean_dev_ns) ns apart, mean $(echo "$Q" | kv mean_high_us) us for 1500 requested"
