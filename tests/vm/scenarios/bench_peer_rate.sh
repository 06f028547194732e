#!/bin/sh
# vm-timeout: 170
# vm-test-env: COUNT=2000
# Peer baseline (issue 3 item 6): the highest edge rate each of Debian's gpiomon (libgpiod
# 2.1.3, the library gpioirqd uses) and gpioirqd take without loss, in the same VM, on the
# same edge train: COUNT edges on one gpio-sim line at rising rates (edges/s), stopping at
# the first rate with a loss. A rate of 0 means "as fast as edge_train can write".
#   gpiomon:  its defaults, as a user runs it (kernel event buffer 16 events, the kernel's
#             default for one line; output to a file on tmpfs); loss = fewer lines than edges.
#             --banner (start handshake), -n COUNT and --idle-timeout 1s (to end a trial)
#             do not change how it reads.
#   gpioirqd: a counter on both edges with log_edges = true (decoding and logging every
#             edge to the CSV event log), RT priority 80, mlock, event_buffer_size 1024;
#             loss = kernel_lost + ring_dropped > 0, or edges read < injected.
# Prints one "bench" line per trial and the result; passes when both were measured (the
# ratio and the goal gpioirqd >= 1.0x gpiomon are reported, not asserted: docs/VM-BENCH.md).
# Env: COUNT (default 5000), RATES (default "1000 1500 2000 3000 5000 10000 0"). As a ctest
# test (scripts/test.sh) COUNT is 2000, to keep the test run short; docs/VM-BENCH.md's
# figures are from runs by hand (scripts/vm-run.sh -B build bench_peer_rate).
. /scenarios/lib.sh
need_bin gpioirqd gpioirqctl gpiomon json_get edge_train
COUNT=${COUNT:-5000}
RATES=${RATES:-1000 1500 2000 3000 5000 10000 0}

sim_chip simP bank0:2:mon_in,irq_in
DEV=$(sim_dev simP bank0)
MON_PULL=$(sim_pull_file simP bank0 0)
IRQ_PULL=$(sim_pull_file simP bank0 1)
echo "vm: $(grep -c ^processor /proc/cpuinfo) CPU(s), clocksource $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"

# train RATE PULL: COUNT edges; sets ACHIEVED (edges/s edge_train measured).
train() {
  out=$(edge_train -r "$1" -n "$COUNT" "$2") || fail "edge_train -r $1"
  ACHIEVED=$(echo " $out" | kv rate | cut -d. -f1)
}

# series TRIAL: runs TRIAL RATE over RATES up to the first loss; if even the first rate
# loses, tries LOW_RATE. Sets BEST_NOM (highest nominal rate without loss, -1 none; 0 is
# "fastest" and ranks above all), BEST_ACH (its achieved rate) and FIRST_LOSS.
LOW_RATE=${LOW_RATE:-500}
rank() { if [ "$1" = 0 ]; then echo 1000000000; else echo "$1"; fi; }
series() {
  BEST_NOM=-1; BEST_ACH=0; FIRST_LOSS=""
  for rate in $RATES; do
    $1 "$rate"
    if [ "$OK" = 1 ]; then
      BEST_NOM=$rate; [ "$ACHIEVED" -gt "$BEST_ACH" ] && BEST_ACH=$ACHIEVED
    else
      FIRST_LOSS="$LOSS"
      break
    fi
  done
  if [ "$BEST_NOM" = -1 ] && [ -n "$LOW_RATE" ]; then
    $1 "$LOW_RATE"
    [ "$OK" = 1 ] && { BEST_NOM=$LOW_RATE; BEST_ACH=$ACHIEVED; }
  fi
}

# ---- gpiomon ------------------------------------------------------------------------
mon_trial() {
  rm -f /tmp/mon.out
  gpiomon --banner -c "$DEV" -n "$COUNT" --idle-timeout 1s 0 > /tmp/mon.out 2>/tmp/mon.err &
  mon=$!
  mon_ready() { [ -s /tmp/mon.out ] || ! kill -0 "$mon" 2>/dev/null; }
  wait_until 10 "gpiomon banner" mon_ready
  kill -0 "$mon" 2>/dev/null || { cat /tmp/mon.err; fail "gpiomon exited at start"; }
  train "$1" "$MON_PULL"
  wait_pid "$mon" 30
  seen=$(( $(wc -l < /tmp/mon.out) - 1 ))   # minus the banner
  OK=0; [ "$seen" = "$COUNT" ] && [ "$WAIT_RC" = 0 ] && OK=1
  LOSS="$1 (achieved $ACHIEVED/s: $seen of $COUNT)"
  echo "bench tool=gpiomon rate=$1 achieved=$ACHIEVED injected=$COUNT seen=$seen ok=$OK"
}
series mon_trial
MON_NOM=$BEST_NOM; MON_MAX_ACH=$BEST_ACH; MON_FAIL=$FIRST_LOSS
head -n 3 /tmp/mon.out

# ---- gpioirqd -----------------------------------------------------------------------
daemon_config bench
cat >> "$DAEMON_CONF" <<EOF
[[chip]]
name = "p"
path = "$DEV"

[[counter]]
name = "pulses"
chip = "p"
line = "irq_in"
edge = "both"
EOF
daemon_start
read_all() {
  gpioirqctl --json status > /tmp/st.json 2>/dev/null || return 1
  e=$(jget /tmp/st.json 'lines[device=pulses].edges'); k=$(jget /tmp/st.json 'lines[device=pulses].kernel_lost')
  [ $((e + k)) -ge "$1" ]
}
injected=0
irq_trial() {
  train "$1" "$IRQ_PULL"
  injected=$((injected + COUNT))
  poll_until 10 read_all "$injected"
  ctl_json /tmp/st.json status
  edges=$(jget /tmp/st.json 'lines[device=pulses].edges')
  klost=$(jget /tmp/st.json 'lines[device=pulses].kernel_lost')
  rdrop=$(jget /tmp/st.json 'lines[device=pulses].ring_dropped')
  OK=0; [ "$edges" = "$injected" ] && [ "$klost" = 0 ] && [ "$rdrop" = 0 ] && OK=1
  LOSS="$1 (achieved $ACHIEVED/s: edges $edges of $injected, kernel_lost $klost, ring_dropped $rdrop)"
  echo "bench tool=gpioirqd rate=$1 achieved=$ACHIEVED injected=$injected edges=$edges kernel_lost=$klost ring_dropped=$rdrop ok=$OK"
  # A loss is not made up for later: count the next trials from what was read.
  injected=$((edges + klost))
}
series irq_trial
IRQ_NOM=$BEST_NOM; IRQ_MAX_ACH=$BEST_ACH; IRQ_FAIL=$FIRST_LOSS
daemon_stop
# What the event log says about the losses, if any: seqno gaps are losses the daemon saw
# (kernel FIFO); a repeated edge type with contiguous seqnos is an edge the kernel merged
# before giving it a seqno (no reader can see or count that one).
es=$(edge_summary pulses)
echo "gpioirqd event log: $es"
check "gpioirqd logged every edge it read ($(echo "$es" | kv rows) = $edges)" [ "$(echo "$es" | kv rows)" = "$edges" ]
merged=$(echo "$es" | kv same_type)

# Report the highest achieved rate (what the line really saw) of the trials without loss.
[ -n "$MON_FAIL" ] && echo "gpiomon lost edges at $MON_FAIL"
[ -n "$IRQ_FAIL" ] && echo "gpioirqd lost edges at $IRQ_FAIL ($merged edges merged in the kernel)"
# The goal, gpioirqd >= 1.0x gpiomon, is reported, not asserted (docs/VM-BENCH.md): the VM
# has one CPU, and gpioirqd's RT thread (SCHED_FIFO 80) preempts the writer at every edge,
# so beside gpioirqd edge_train reaches only a few thousand edges/s. A gpioirqd without any
# loss therefore has a lower bound, not a maximum, and then the ratio is a lower bound too.
fmt() { if [ "$1" = -1 ]; then echo "below $LOW_RATE/s (lost at $LOW_RATE)"; else echo "$2/s"; fi; }
ratio=$(awk -v a="$IRQ_MAX_ACH" -v b="$MON_MAX_ACH" -v low="$LOW_RATE" 'BEGIN {
  if (b == 0 && a == 0) print "n/a"; else if (b == 0) printf "%.2f", a / low; else printf "%.2f", a / b }')
if [ -z "$IRQ_FAIL" ]; then
  irq="gpioirqd max >= $IRQ_MAX_ACH/s (no loss at any rate: the writer could go no faster beside it)"
  ratio=">= $ratio"
else
  irq="gpioirqd max $(fmt "$IRQ_NOM" "$IRQ_MAX_ACH")"
fi
[ "$MON_NOM" = -1 ] && ratio="> ${ratio#>= }"
if [ "$IRQ_MAX_ACH" -ge "$MON_MAX_ACH" ]; then goal="goal >= 1.0 met"
elif [ -z "$IRQ_FAIL" ]; then goal="goal not shown in this run: the lower bound is below gpiomon's max"
else goal="goal >= 1.0 NOT met in this run"; fi
pass "gpiomon max $(fmt "$MON_NOM" "$MON_MAX_ACH"), $irq, ratio $ratio ($goal)"
