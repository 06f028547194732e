#!/bin/sh
# GPIO chips that come and go under a running gpioirqd (a USB GPIO expander unplugged and
# plugged back; an overlay loaded late):
#   - chip simC is missing at start: the daemon starts anyway, its counter "late" is down
#     with the reason; simC is created: "late" comes up within the retry interval and counts;
#   - chip simB is removed mid-stream (gpio-sim live = 0): its counter "gone" goes down (a
#     DOWN row, status devices_down with the reason), the daemon stays idle (no RT thread
#     spinning on the dead fd: its CPU time barely moves) and answers, and counter "stay" on
#     simA keeps counting exactly; simB is re-created with the same label: "gone" comes up
#     (an UP row) and counts on from where it was (the count survives the outage).
# Env: N (edges per burst, default 200).
. /scenarios/lib.sh
need_bin gpioirqd gpioirqctl json_get edge_train
N=${N:-200}

sim_chip simA bank0:1:stay_in
sim_chip simB bank0:1:gone_in
# The RT thread pinned (RT_CPU, away from the injector; CPU 0 on a one-CPU guest).
[ "$VM_CPUS" -ge 2 ] || RT_CPU=0
daemon_config hotplug "cpu = $RT_CPU"
cat >> "$DAEMON_CONF" <<CONF
[[chip]]
name = "a"
label = "simA-bank0"

[[chip]]
name = "b"
label = "simB-bank0"

[[chip]]
name = "c"
label = "simC-bank0"

[[counter]]
name = "stay"
chip = "a"
line = "stay_in"
edge = "both"
bias = "pull-down"
clock = "realtime"

[[counter]]
name = "gone"
chip = "b"
line = "gone_in"
edge = "both"
bias = "pull-down"

[[counter]]
name = "late"
chip = "c"
line = "late_in"
edge = "both"
bias = "pull-down"
CONF
daemon_start

count_of() {
  gpioirqctl --json counters > /tmp/cnt.json 2>/dev/null || return 1
  jget /tmp/cnt.json "counters[name=$1].count"
}
count_is() { [ "$(count_of "$1")" = "$2" ]; }
down_names() {
  gpioirqctl --json status > /tmp/st.json 2>/dev/null || return 1
  for _n in stay gone late; do
    [ -n "$(jget /tmp/st.json "devices_down[name=$_n].reason")" ] && printf '%s ' "$_n"
  done
  echo
}
down_is() { [ "$(down_names)" = "$1" ]; }
cpu_ticks() { awk '{ print $14 + $15 }' /proc/"$DAEMON_PID"/stat; }

# 0. What the kernel granted the RT thread, from /proc: SCHED_FIFO 80 (daemon_config),
#    pinned to RT_CPU.
rt_task=""
for _t in /proc/"$DAEMON_PID"/task/*; do
  [ "$(cat "$_t/comm")" = gpioirqd-rt ] && rt_task=$_t
done
check "a thread named gpioirqd-rt exists" [ -n "$rt_task" ]
rt_stat=$(sed 's/.*) //' "$rt_task/stat")
check "gpioirqd-rt is SCHED_FIFO (policy $(echo "$rt_stat" | cut -d' ' -f39)) at 80 ($(echo "$rt_stat" | cut -d' ' -f38))" \
  [ "$(echo "$rt_stat" | cut -d' ' -f39)" = 1 -a "$(echo "$rt_stat" | cut -d' ' -f38)" = 80 ]
check "gpioirqd-rt is pinned to CPU $RT_CPU ($(grep Cpus_allowed_list "$rt_task/status"))" \
  grep -q "^Cpus_allowed_list:[[:space:]]*$RT_CPU\$" "$rt_task/status"

# 1. Missing at start.
check "at start only 'late' is down: [$(down_names)]" down_is "late "
echo "late: $(jget /tmp/st.json 'devices_down[name=late].reason')"
reason_names() { jget /tmp/st.json "devices_down[name=$1].reason" | grep -q "$2"; }
check "its reason names the missing chip" reason_names late simC-bank0
STAY=$(sim_pull_file simA bank0 0)
GONE=$(sim_pull_file simB bank0 0)
edge_train -r 2000 -n "$N" "$STAY" "$GONE" || fail "edge_train (both chips)"
poll_until 15 count_is stay "$N" || fail "stay counted $(count_of stay), not $N"
poll_until 15 count_is gone "$N" || fail "gone counted $(count_of gone), not $N"

# clock = "realtime" on a real line request: the kernel stamps stay's edges in wall-clock
# time (ns since 1970, within a minute of the guest's clock), gone's in CLOCK_MONOTONIC.
NOW_S=$(date +%s)
poll_until 10 grep -q '^EDGE,[0-9]*,,stay,' "$DAEMON_EVENTS" || fail "no EDGE row for stay in the log yet"
STAY_TS=$(grep '^EDGE,[0-9]*,,stay,' "$DAEMON_EVENTS" | tail -n1 | cut -d, -f2)
GONE_TS=$(grep '^EDGE,[0-9]*,,gone,' "$DAEMON_EVENTS" | tail -n1 | cut -d, -f2)
UP_S=$(cut -d. -f1 /proc/uptime)
echo "stay (realtime) ts $STAY_TS, gone (monotonic) ts $GONE_TS, date $NOW_S, uptime $UP_S"
check "stay's edge timestamps are CLOCK_REALTIME: $((STAY_TS / 1000000000)) s within 60 s of $NOW_S" \
  [ $((STAY_TS / 1000000000 - NOW_S)) -le 60 -a $((NOW_S - STAY_TS / 1000000000)) -le 60 ]
check "gone's edge timestamps are CLOCK_MONOTONIC: $((GONE_TS / 1000000000)) s <= uptime $UP_S" \
  [ $((GONE_TS / 1000000000)) -le "$UP_S" ]

sim_chip simC bank0:1:late_in
wait_until 10 "'late' to come up once simC exists" down_is ""
LATE=$(sim_pull_file simC bank0 0)
edge_train -r 2000 -n "$N" "$LATE" || fail "edge_train (late)"
poll_until 15 count_is late "$N" || fail "late counted $(count_of late), not $N"
echo "late is up and counted $N"

# 2. Removed mid-stream.
sim_remove simB
wait_until 10 "'gone' to go down after its chip was removed" down_is "gone "
echo "gone: $(jget /tmp/st.json 'devices_down[name=gone].reason')"
check "its reason names the removed chip's device" reason_names gone /dev/gpiochip
T0=$(cpu_ticks)
edge_train -r 1000 -n "$N" "$STAY" || fail "edge_train (stay while gone is down)"
sleep 2
T1=$(cpu_ticks)
HZ_TICKS=100  # USER_HZ: /proc/PID/stat counts in 1/100 s on Linux
echo "daemon CPU while one chip is gone: $((T1 - T0)) ticks over ~$((N / 1000 + 2)) s (CLK_TCK $HZ_TICKS)"
check "the daemon stays near idle with a chip gone: $((T1 - T0)) ticks < 1/3 of the elapsed time" \
  [ $((T1 - T0)) -lt $(( HZ_TICKS * (N / 1000 + 2) / 3 )) ]
poll_until 15 count_is stay $((2 * N)) || fail "stay counted $(count_of stay), not $((2 * N)), while gone was down"
check "the socket answers while a chip is gone" gpioirqctl --timeout 2 status

sim_chip simB bank0:1:gone_in
wait_until 10 "'gone' to come up again once simB is back" down_is ""
GONE=$(sim_pull_file simB bank0 0)
edge_train -r 2000 -n "$N" "$GONE" || fail "edge_train (gone is back)"
poll_until 15 count_is gone $((2 * N)) || fail "gone counted $(count_of gone), not $((2 * N)) after its chip came back"
ctl_json /tmp/st.json status
check "device_outages = 2 (late at start, gone once): $(jget /tmp/st.json device_outages)" \
  [ "$(jget /tmp/st.json device_outages)" = 2 ]
check "the new request's line counts from 1: gone edges $(jget /tmp/st.json 'lines[device=gone].edges') = $N" \
  [ "$(jget /tmp/st.json 'lines[device=gone].edges')" = "$N" ]

daemon_stop
grep -E '^(DOWN|UP),' "$DAEMON_EVENTS"
check "DOWN rows for late and gone" [ "$(grep -c '^DOWN,' "$DAEMON_EVENTS")" = 2 ]
check "UP rows for late and gone" [ "$(grep -c '^UP,' "$DAEMON_EVENTS")" = 2 ]
check "a DOWN row names gone" grep -q '^DOWN,.*gone: ' "$DAEMON_EVENTS"
pass "chips missing at start and removed mid-stream: down with a reason, idle, the rest counted exactly, up again on return with counts kept"
