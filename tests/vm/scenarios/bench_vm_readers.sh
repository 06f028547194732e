#!/bin/sh
# vm-timeout: 300
# vm-test-env: TRIALS=1
# The three readers side by side (issue 14 item 6; docs/VM-BENCH.md): at the same injected
# edge rates, on one gpio-sim line each, in the same VM run:
#   gpioirqd     as installed (RT thread SCHED_FIFO 80, mlock), one counter on both edges
#                with log_edges = true: it decodes every edge and logs it to the CSV event log.
#   gpiomon      Debian's (libgpiod 2.1.3), as a user runs it, printing to a file on tmpfs;
#                under the LD_PRELOAD shim read_latency.so (tools/read_latency.c), which
#                stamps each event right after gpiomon's read(2) and counts line_seqno gaps.
#   bare_reader  tools/bare_reader.c: libgpiod v2, blocking reads only, SCHED_FIFO 80 and
#                mlock like gpioirqd's RT thread, the same kernel event FIFO (1024).
# For each: (a) CPU time per edge read (the process CPU clock, every thread: before/after
# the trial for gpioirqd, which runs throughout (tools/proc_cputime.c); from the first read
# to the exit for the other two); (b) the latency from the edge's kernel timestamp
# (CLOCK_MONOTONIC) to where the program has it: gpioirqd at loop dispatch (its `latency`
# histogram), gpiomon and bare_reader right after read(2); p50/p99/max; (c) losses: what the
# reader reported, what the kernel FIFO dropped (line_seqno gaps) and edges never seen at all.
# With 2 CPUs the injector (edge_train) runs on CPU 0 and every reader on CPU 1.
# Rates (edges/s, 0 = as fast as edge_train writes), TRIALS interleaved trials per rate,
# medians printed. A benchmark, not a test: it passes when everything was measured; the
# goals (gpioirqd CPU/edge <= gpiomon's, gpioirqd p99 <= 1.5x bare_reader's) are reported.
# Env: RATES (default "1000 5000 20000 0"), TRIALS (3), COUNT (edges per trial; default
# 1000 at up to 1000/s, 2500 up to 5000/s, else 5000). As a ctest test (scripts/test.sh)
# it makes one trial per rate, to keep the test run short: the tables of docs/VM-BENCH.md
# come from the three of a run by hand (scripts/vm-run.sh -B build bench_vm_readers).
. /scenarios/lib.sh
need_bin gpioirqd gpioirqctl gpiomon json_get edge_train bare_reader proc_cputime
SHIM=/usr/local/bin/read_latency.so
[ -f "$SHIM" ] || skip "read_latency.so is not in the initramfs"
RATES=${RATES:-1000 5000 20000 0}
TRIALS=${TRIALS:-3}
RT_PRIO=80

sim_chip simB bank0:3:mon_in,bare_in,irq_in
DEV=$(sim_dev simB bank0)
MON_PULL=$(sim_pull_file simB bank0 0)
BARE_PULL=$(sim_pull_file simB bank0 1)
IRQ_PULL=$(sim_pull_file simB bank0 2)

NCPU=$(grep -c ^processor /proc/cpuinfo)
if [ "$NCPU" -ge 2 ]; then
  # Everything this shell starts from now on (the readers) runs on CPU 1; the injector is
  # started on CPU 0 explicitly.
  taskset -p 2 $$ > /dev/null || fail "cannot pin the scenario shell to CPU 1"
  INJECT="taskset 1"
  DAEMON_CPU="cpu = 1"
  placement="injector on CPU 0, readers on CPU 1"
else
  INJECT=""
  DAEMON_CPU="cpu = -1"
  placement="1 CPU: injector, kernel IRQ thread and reader share CPU 0"
fi
# The guest's clock source differs from boot to boot under TCG (docs/VM-BENCH.md). On a
# jiffies clock every timestamp, and the scheduler's CPU clock too, moves in 1 ms steps:
# then the figures below are that coarse, and the scenario says so.
CS=/sys/devices/system/clocksource/clocksource0
clocksource=$(cat $CS/current_clocksource)
case "$clocksource" in
  *jiffies*)
    if grep -qw tsc $CS/available_clocksource; then
      echo tsc > $CS/current_clocksource && clocksource=$(cat $CS/current_clocksource)
    fi ;;
esac
case "$clocksource" in
  *jiffies*) coarse=" (clock source $clocksource: latencies and CPU times in 1 ms steps)" ;;
  *) coarse="" ;;
esac
echo "vm: $NCPU CPU(s), clocksource $clocksource (available: $(cat $CS/available_clocksource)), $placement"

count_for() {
  if [ -n "${COUNT:-}" ]; then echo "$COUNT"
  elif [ "$1" != 0 ] && [ "$1" -le 1000 ]; then echo 1000
  elif [ "$1" != 0 ] && [ "$1" -le 5000 ]; then echo 2500
  else echo 5000; fi
}

# train RATE N PULL: N edges; sets ACHIEVED (edges/s edge_train measured).
train() {
  out=$($INJECT edge_train -r "$1" -n "$2" "$3") || fail "edge_train -r $1 -n $2"
  ACHIEVED=$(echo " $out" | kv rate | cut -d. -f1)
}

RESULTS=/tmp/bench.results
: > "$RESULTS"
# record READER RATE achieved injected read lost_reported lost_fifo unseen cpu_ns p50 p99 max
record() {
  _per_edge=$(awk -v c="$9" -v n="$5" 'BEGIN { if (n > 0) printf "%d", c / n; else print -1 }')
  echo "$1 $2 $3 $4 $5 $6 $7 $8 $9 $_per_edge ${10} ${11} ${12}" >> "$RESULTS"
  echo "bench reader=$1 rate=$2 achieved=$3 injected=$4 read=$5 lost_reported=$6 lost_kernel_fifo=$7 unseen=$8 cpu_ns=$9 cpu_per_edge_ns=$_per_edge p50_ns=${10} p99_ns=${11} max_ns=${12}"
}

# ---- gpioirqd: one daemon for every trial ------------------------------------------------
daemon_config bench_readers "$DAEMON_CPU"
cat >> "$DAEMON_CONF" <<EOF
[[chip]]
name = "b"
path = "$DEV"

[[counter]]
name = "pulses"
chip = "b"
line = "irq_in"
edge = "both"
EOF
daemon_start
# Where the daemon's threads and the kernel's gpio IRQ threads run (for the record).
for t in /proc/"$DAEMON_PID"/task/* /proc/[0-9]*; do
  comm=$(cat "$t/comm" 2>/dev/null) || continue
  case "$t:$comm" in
    /proc/"$DAEMON_PID"/task/*|*:irq/*gpio*|*:irq/*sim*)
      echo "thread $comm: cpus $(sed -n 's/^Cpus_allowed_list:[[:space:]]*//p' "$t/status"), policy $(cut -d' ' -f41 "$t/stat") prio $(cut -d' ' -f18 "$t/stat")" ;;
  esac
done

# What the daemon costs with no edge at all (its timers: flushes, time pairs), included in
# each of its trials as in any real run.
c0=$(echo " $(proc_cputime "$DAEMON_PID")" | kv cpu_ns)
sleep 2
c1=$(echo " $(proc_cputime "$DAEMON_PID")" | kv cpu_ns)
echo "gpioirqd idle: $(((c1 - c0) / 2000)) us CPU per second"

irq_status() {
  ctl_json /tmp/st.json status
  json_get -f /tmp/st.json 'lines[device=pulses].edges' 'lines[device=pulses].kernel_lost' \
    'lines[device=pulses].ring_dropped' > /tmp/st.vals || fail "status has no line counts for pulses"
  { read -r IRQ_EDGES; read -r IRQ_KLOST; read -r IRQ_RDROP; } < /tmp/st.vals
}
irq_trial() { # RATE N
  gpioirqctl reset pulses > /dev/null || fail "gpioirqctl reset pulses"
  irq_status
  e0=$IRQ_EDGES; k0=$IRQ_KLOST; r0=$IRQ_RDROP
  c0=$(echo " $(proc_cputime "$DAEMON_PID")" | kv cpu_ns)
  train "$1" "$2" "$IRQ_PULL"
  # The CPU clock is read before each status request, so the trial's CPU holds no status
  # request but those of rounds that found edges still on their way.
  # Done when every edge is accounted for, or when a round brought nothing new (edges the
  # kernel merged never come).
  rounds=0; before=-1
  while :; do
    sleep 0.3
    c1=$(echo " $(proc_cputime "$DAEMON_PID")" | kv cpu_ns)
    irq_status
    rounds=$((rounds + 1))
    accounted=$((IRQ_EDGES - e0 + IRQ_KLOST - k0 + IRQ_RDROP - r0))
    [ "$accounted" -ge "$2" ] || [ "$accounted" = "$before" ] || [ "$rounds" -ge 10 ] && break
    before=$accounted
  done
  ctl_json /tmp/lat.json latency pulses
  json_get -f /tmp/lat.json 'latency[name=pulses].p50_ns' 'latency[name=pulses].p99_ns' \
    'latency[name=pulses].max_ns' > /tmp/lat.vals || fail "gpioirqctl latency has no row for pulses"
  { read -r p50; read -r p99; read -r max; } < /tmp/lat.vals
  got=$((IRQ_EDGES - e0)); lost=$((IRQ_KLOST - k0 + IRQ_RDROP - r0))
  # The daemon counts every kernel FIFO loss (kernel_lost) from the line_seqno gaps itself.
  record gpioirqd "$1" "$ACHIEVED" "$2" "$got" "$lost" $((IRQ_KLOST - k0)) $(($2 - got - lost)) \
    $((c1 - c0)) "$p50" "$p99" "$max"
}

mon_trial() { # RATE N
  rm -f /tmp/mon.out /tmp/mon.lat
  LD_PRELOAD=$SHIM READ_LATENCY_OUT=/tmp/mon.lat READ_LATENCY_MAX=$(($2 * 2)) \
    gpiomon --banner -c "$DEV" -n "$2" --idle-timeout 1s 0 > /tmp/mon.out 2> /tmp/mon.err &
  mon=$!
  mon_ready() { [ -s /tmp/mon.out ] || ! kill -0 "$mon" 2> /dev/null; }
  wait_until 10 "gpiomon banner" mon_ready
  kill -0 "$mon" 2> /dev/null || { cat /tmp/mon.err; fail "gpiomon exited at start"; }
  train "$1" "$2" "$MON_PULL"
  wait_pid "$mon" 30
  [ "$WAIT_RC" = 0 ] || { cat /tmp/mon.err; fail "gpiomon exit status $WAIT_RC"; }
  [ -s /tmp/mon.lat ] || fail "the read_latency shim wrote no result under gpiomon"
  lat=" $(cat /tmp/mon.lat)"
  printed=$(($(wc -l < /tmp/mon.out) - 1)) # minus the banner
  fifo=$(echo "$lat" | kv lost)
  check "the shim saw every event gpiomon printed ($(echo "$lat" | kv events) = $printed)" \
    [ "$(echo "$lat" | kv events)" = "$printed" ]
  # gpiomon reports no loss at all: what it lost is silent (lost_reported 0).
  record gpiomon "$1" "$ACHIEVED" "$2" "$printed" 0 "$fifo" $(($2 - printed - fifo)) \
    "$(echo "$lat" | kv cpu_ns)" "$(echo "$lat" | kv p50_ns)" "$(echo "$lat" | kv p99_ns)" "$(echo "$lat" | kv max_ns)"
}

bare_trial() { # RATE N
  rm -f /tmp/bare.out
  bare_reader -c "$DEV" -l 1 -n "$2" -p "$RT_PRIO" -m > /tmp/bare.out 2>&1 &
  bare=$!
  bare_ready() { [ -s /tmp/bare.out ] || ! kill -0 "$bare" 2> /dev/null; }
  wait_until 10 "bare_reader ready" bare_ready
  kill -0 "$bare" 2> /dev/null || { cat /tmp/bare.out; fail "bare_reader exited at start"; }
  train "$1" "$2" "$BARE_PULL"
  # It ends by itself at N edges read or lost; a loss at the very end shows no gap: then
  # SIGTERM ends it.
  bare_done() { ! kill -0 "$bare" 2> /dev/null; }
  poll_until 1 bare_done || kill -TERM "$bare" 2> /dev/null
  wait_pid "$bare" 10
  [ "$WAIT_RC" = 0 ] || { cat /tmp/bare.out; fail "bare_reader exit status $WAIT_RC"; }
  res=" $(grep 'events=' /tmp/bare.out)"
  [ "$res" != " " ] || { cat /tmp/bare.out; fail "bare_reader printed no result"; }
  got=$(echo "$res" | kv events); lost=$(echo "$res" | kv lost)
  record bare_reader "$1" "$ACHIEVED" "$2" "$got" "$lost" "$lost" $(($2 - got - lost)) \
    "$(echo "$res" | kv cpu_ns)" "$(echo "$res" | kv p50_ns)" "$(echo "$res" | kv p99_ns)" "$(echo "$res" | kv max_ns)"
}

# Interleaved (gpioirqd, gpiomon, bare_reader, then again), so that a change in the host's
# load falls on all three alike.
for rate in $RATES; do
  n=$(count_for "$rate")
  t=1
  while [ "$t" -le "$TRIALS" ]; do
    irq_trial "$rate" "$n"
    mon_trial "$rate" "$n"
    bare_trial "$rate" "$n"
    t=$((t + 1))
  done
done
# Where gpioirqd's CPU went over the whole run: utime + stime per live thread (10 ms ticks
# are fine over a minute); the rest is threads that have ended (io_uring workers come and go).
ticks_ms() { awk '{ sub(/.*\) /, ""); printf "%d", ($12 + $13) * 10 }' "$1"; }
split="total $(ticks_ms /proc/"$DAEMON_PID"/stat) ms"
live=0
for t in /proc/"$DAEMON_PID"/task/*; do
  ms=$(ticks_ms "$t/stat"); live=$((live + ms))
  split="$split, $(cat "$t/comm") $ms ms"
done
echo "gpioirqd CPU over the run: $split, ended threads $(($(ticks_ms /proc/"$DAEMON_PID"/stat) - live)) ms"
daemon_stop
es=$(edge_summary pulses)
echo "gpioirqd event log: $es"
total=$(awk '$1 == "gpioirqd" { n += $5 } END { print n + 0 }' "$RESULTS")
check "gpioirqd logged every edge it read ($(echo " $es" | kv rows) = $total)" [ "$(echo " $es" | kv rows)" = "$total" ]

# ---- medians per reader and rate, and the goals --------------------------------------------
# Columns of RESULTS: reader rate achieved injected read lost_reported lost_fifo unseen cpu_ns
# cpu_per_edge p50 p99 max.
median() { # READER RATE COLUMN
  awk -v r="$1" -v q="$2" -v c="$3" '$1 == r && $2 == q { print $c }' "$RESULTS" | sort -n |
    awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%d\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
sum() { awk -v r="$1" -v q="$2" -v c="$3" '$1 == r && $2 == q { n += $c } END { print n + 0 }' "$RESULTS"; }
us() { awk -v v="$1" 'BEGIN { if (v == "-" || v < 0) print "-"; else printf "%.1f", v / 1000 }'; }

echo "| rate asked | reader | achieved/s | CPU/edge µs | p50 µs | p99 µs | max µs | read | reported lost | FIFO lost | never seen |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
goals=""
for rate in $RATES; do
  for reader in gpioirqd gpiomon bare_reader; do
    echo "| $( [ "$rate" = 0 ] && echo fastest || echo "$rate") | $reader | $(median $reader "$rate" 3) |" \
      "$(us "$(median $reader "$rate" 10)") | $(us "$(median $reader "$rate" 11)") |" \
      "$(us "$(median $reader "$rate" 12)") | $(us "$(median $reader "$rate" 13)") |" \
      "$(sum $reader "$rate" 5)/$(sum $reader "$rate" 4) | $(sum $reader "$rate" 6) | $(sum $reader "$rate" 7) |" \
      "$(sum $reader "$rate" 8) |"
  done
  cpu_ratio=$(awk -v a="$(median gpioirqd "$rate" 10)" -v b="$(median gpiomon "$rate" 10)" \
    'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
  p99_ratio=$(awk -v a="$(median gpioirqd "$rate" 12)" -v b="$(median bare_reader "$rate" 12)" \
    'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
  echo "goals at rate $rate: gpioirqd/gpiomon CPU per edge $cpu_ratio (goal <= 1.0)," \
    "gpioirqd/bare_reader p99 $p99_ratio (goal <= 1.5)"
  goals="$goals rate $rate: cpu $cpu_ratio p99 $p99_ratio;"
done
pass "measured ($placement$coarse):$goals"
