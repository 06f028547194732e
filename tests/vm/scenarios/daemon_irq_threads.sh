#!/bin/sh
# gpioirqd names each line's kernel IRQ and its irq/N- thread as the real kernel has them,
# and keeps its RT thread off the CPU that thread is held to.
#   - two gpio-sim chips, a counter on line 0 of each (two IRQs with the same action
#     "gpioirqd" and hwirq 0): status gives each line a different IRQ whose
#     /sys/kernel/irq/N says actions gpioirqd, hwirq 0; its irq_thread is the comm of that
#     pid in /proc (and in ps), SCHED_FIFO 50 as /proc/PID/stat says; edges injected on one
#     chip only raise that line's IRQ count in /proc/interrupts (the right IRQ per chip);
#   - `cpu` not set, the IRQ threads may run on both CPUs: the RT thread is not pinned;
#     after `taskset -p 1` on both IRQ threads and a reload, the RT thread is on CPU 1 (not
#     the IRQ threads' CPU 0), by status and by /proc; the lines still read;
#   - a second daemon with `cpu = 0` forced onto the IRQ threads' CPU: the daemon log warns
#     and status rt.irq_cpu_risk names the lines.
# vm-timeout: 180
. /scenarios/lib.sh
need_bin gpioirqd gpioirqctl json_get edge_train taskset
N=200
check "the guest has 2 CPUs online ($(cat /sys/devices/system/cpu/online))" [ "$VM_CPUS" -ge 2 ]

sim_chip simA bank0:2
sim_chip simB bank0:2
conf_devices() {
  cat >> "$DAEMON_CONF" <<EOF
[[chip]]
name = "a"
label = "simA-bank0"

[[chip]]
name = "b"
label = "simB-bank0"

[[counter]]
name = "ca"
chip = "a"
line = 0
edge = "both"

[[counter]]
name = "cb"
chip = "b"
line = 0
edge = "both"
EOF
}
daemon_config irq "cpu = -1"
conf_devices
daemon_start
ctl_json /tmp/s1.json status

# irq_count IRQ: the IRQ's count in /proc/interrupts, summed over the CPUs.
irq_count() {
  awk -v irq="$1:" -v ncpu="$VM_CPUS" '$1 == irq { n = 0; for (i = 2; i <= ncpu + 1; i++) n += $i; print n }' /proc/interrupts
}

for d in ca cb; do
  irq=$(jget /tmp/s1.json "lines[device=$d].irq")
  thread=$(jget /tmp/s1.json "lines[device=$d].irq_thread")
  pid=$(jget /tmp/s1.json "lines[device=$d].irq_thread_pid")
  echo "$d: irq $irq ($(jget /tmp/s1.json "lines[device=$d].irq_chip")), thread $thread pid $pid," \
    "$(jget /tmp/s1.json "lines[device=$d].irq_thread_policy") $(jget /tmp/s1.json "lines[device=$d].irq_thread_priority")," \
    "allowed CPUs $(jget /tmp/s1.json "lines[device=$d].irq_thread_cpus"), last on CPU $(jget /tmp/s1.json "lines[device=$d].irq_thread_last_cpu")," \
    "effective affinity '$(jget /tmp/s1.json "lines[device=$d].irq_effective_affinity")'"
  check "$d: status names an IRQ ($irq)" [ -n "$irq" -a "$irq" != null ]
  check "$d: /sys/kernel/irq/$irq: actions gpioirqd, hwirq 0" \
    [ "$(cat /sys/kernel/irq/"$irq"/actions)" = gpioirqd -a "$(cat /sys/kernel/irq/"$irq"/hwirq)" = 0 ]
  check "$d: irq_thread '$thread' is the comm of pid $pid in /proc ($(cat /proc/"$pid"/comm))" \
    [ -n "$pid" -a "$(cat /proc/"$pid"/comm)" = "$thread" ]
  check "$d: the thread is irq/$irq-…" [ "${thread#irq/"$irq"-}" != "$thread" ]
  check "$d: ps shows that thread" sh -c "ps -o pid,comm | grep -q '^ *$pid .*irq/$irq-'"
  pstat=$(sed 's/.*) //' /proc/"$pid"/stat)
  check "$d: SCHED_FIFO 50 in status and in /proc/$pid/stat (policy $(echo "$pstat" | cut -d' ' -f39), priority $(echo "$pstat" | cut -d' ' -f38))" \
    [ "$(jget /tmp/s1.json "lines[device=$d].irq_thread_policy")" = fifo -a "$(jget /tmp/s1.json "lines[device=$d].irq_thread_priority")" = 50 \
      -a "$(echo "$pstat" | cut -d' ' -f39)" = 1 -a "$(echo "$pstat" | cut -d' ' -f38)" = 50 ]
  case $d in
    ca) IRQ_ca=$irq PID_ca=$pid ;;
    cb) IRQ_cb=$irq PID_cb=$pid ;;
  esac
done
check "the two lines have different IRQs ($IRQ_ca, $IRQ_cb)" [ "$IRQ_ca" != "$IRQ_cb" ]

# The right IRQ for each chip: edges on simA raise ca's IRQ count only.
a0=$(irq_count "$IRQ_ca"); b0=$(irq_count "$IRQ_cb")
edge_train -r 2000 -n "$N" "$(sim_pull_file simA bank0 0)" > /dev/null || fail "edge_train simA"
wait_until 20 "ca to read $N edges" line_edges_are ca line "$N"
a1=$(irq_count "$IRQ_ca"); b1=$(irq_count "$IRQ_cb")
check "edges on simA: IRQ $IRQ_ca (ca) counted $((a1 - a0)) >= $N, IRQ $IRQ_cb (cb) $((b1 - b0))" \
  [ $((a1 - a0)) -ge "$N" -a $((b1 - b0)) = 0 ]

# Placement: the IRQ threads may run anywhere, so the RT thread is not pinned.
check "rt.cpu -1 while the IRQ threads may run on every CPU ($(jget /tmp/s1.json rt.placement))" \
  [ "$(jget /tmp/s1.json rt.cpu)" = -1 -a "$(jget /tmp/s1.json rt.irq_cpus)" = "" ]

# Hold both IRQ threads to CPU 0 (what a board's IRQ affinity does) and reload.
taskset -p 1 "$PID_ca" > /dev/null || fail "taskset -p 1 on ca's IRQ thread"
taskset -p 1 "$PID_cb" > /dev/null || fail "taskset -p 1 on cb's IRQ thread"
gpioirqctl reload > /dev/null || fail "gpioirqctl reload"
ctl_json /tmp/s2.json status
echo "after taskset: rt.cpu $(jget /tmp/s2.json rt.cpu), placement '$(jget /tmp/s2.json rt.placement)', irq_cpus '$(jget /tmp/s2.json rt.irq_cpus)'"
check "status: the IRQ threads are held to CPU 0 (ca allowed $(jget /tmp/s2.json 'lines[device=ca].irq_thread_cpus'))" \
  [ "$(jget /tmp/s2.json rt.irq_cpus)" = 0 -a "$(jget /tmp/s2.json 'lines[device=ca].irq_thread_cpus')" = 0 ]
check "status: the RT thread is on CPU 1, off the IRQ threads' CPU" [ "$(jget /tmp/s2.json rt.cpu)" = 1 ]
rt_task=""
for _t in /proc/"$DAEMON_PID"/task/*; do
  [ "$(cat "$_t/comm")" = gpioirqd-rt ] && rt_task=$_t
done
check "/proc: gpioirqd-rt may run on CPU 1 only ($(grep Cpus_allowed_list "$rt_task/status"))" \
  grep -q '^Cpus_allowed_list:[[:space:]]*1$' "$rt_task/status"
edge_train -r 2000 -n "$N" "$(sim_pull_file simB bank0 0)" > /dev/null || fail "edge_train simB"
# The line still reads with the RT thread moved (how many of the N is vm:inject_exact's
# question: on a loaded host the kernel merges some before any reader).
cb_reads() { [ "$(line_stat cb line edges)" -gt 0 ]; }
wait_until 20 "cb to read edges after the move" cb_reads
echo "cb read $(line_stat cb line edges) of $N edges after the move"
check "no kernel FIFO loss on either line" [ "$(line_stat ca line kernel_lost)" = 0 -a "$(line_stat cb line kernel_lost)" = 0 ]
daemon_stop

# Forced onto the IRQ threads' CPU: a warning and a status field.
daemon_config irq_forced "cpu = 0"
conf_devices
daemon_start
ctl_json /tmp/s3.json status
for d in ca cb; do
  taskset -p 1 "$(jget /tmp/s3.json "lines[device=$d].irq_thread_pid")" > /dev/null || fail "taskset -p 1 ($d)"
done
gpioirqctl reload > /dev/null || fail "gpioirqctl reload"
ctl_json /tmp/s4.json status
risk=$(jget /tmp/s4.json rt.irq_cpu_risk)
echo "irq_cpu_risk: $risk"
check "status rt.irq_cpu_risk names both lines" [ -n "$(echo "$risk" | grep ca/line | grep cb/line)" ]
check "rt.cpu stays 0 as configured" [ "$(jget /tmp/s4.json rt.cpu)" = 0 ]
check "the daemon log warns that daemon.cpu = 0 holds the IRQ threads" grep -q 'daemon.cpu = 0 is where the IRQ threads' "$DAEMON_DIR/daemon.out"
daemon_stop
pass "IRQs and irq/N- threads as the kernel has them; RT thread kept off their CPU; forced: warned"
