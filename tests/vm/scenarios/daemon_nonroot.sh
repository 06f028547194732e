#!/bin/sh
# gpioirqd as the packaged service runs it on a board, on the real kernel and a real GPIO
# chip: its own user (uid 4000, group gpioirqd 4000), not root, no capability left; the chip
# through group gpio (4242, mode 0660, what 60-gpioirqd.rules sets); real time and locked
# memory through RLIMIT_RTPRIO 99 and RLIMIT_MEMLOCK unlimited alone (the unit's
# LimitRTPRIO=/LimitMEMLOCK= without its capabilities). A second chip is left as plain
# Debian leaves it (root only, 0600): its device is down with the kernel's reason, the
# other works. Checks: N of N edges counted and logged, lost 0; /proc: uid 4000, CapEff 0,
# the RT thread SCHED_FIFO 80, VmLck > 0; the daemon's status agrees; the socket and the log
# files belong to the socket group (0660, 0640); a member of the group may use gpioirqctl,
# another user is refused (exit 4).
# Env: EDGES (even, default 1000), RATE (edges/s, default 1000).
. /scenarios/lib.sh
need_bin gpioirqd gpioirqctl json_get edge_train run_as
N=${EDGES:-1000}
RATE=${RATE:-1000}
USER_ID=4000
GPIO_GID=4242

[ -f /etc/passwd ] || echo "root:x:0:0:root:/root:/bin/sh" > /etc/passwd
[ -f /etc/group ] || echo "root:x:0:" > /etc/group
echo "gpioirqd:x:$USER_ID:$USER_ID:gpioirqd:/nonexistent:/bin/false" >> /etc/passwd
echo "gpioirqd:x:$USER_ID:" >> /etc/group
echo "gpio:x:$GPIO_GID:gpioirqd" >> /etc/group

sim_chip simA bank0:4:n0,n1,n2,n3
sim_chip simB bank0:2:m0,m1
dev_a=$(sim_dev simA bank0)
dev_b=$(sim_dev simB bank0)
chgrp "$GPIO_GID" "$dev_a" && chmod 0660 "$dev_a" || fail "cannot give $dev_a to group gpio"
chmod 0600 "$dev_b" || fail "cannot chmod $dev_b"
echo "devices: $(ls -ln "$dev_a" "$dev_b" | awk '{print $1, $3, $4, $NF}' | tr '\n' ';')"

daemon_config nonroot 'socket_group = "gpioirqd"' "rt_priority = 80" "mlock = true"
cat >> "$DAEMON_CONF" <<EOF
[[chip]]
name = "a"
path = "$dev_a"

[[chip]]
name = "b"
path = "$dev_b"

[[counter]]
name = "meter"
chip = "a"
line = "n0"
edge = "both"
bias = "pull-down"

[[counter]]
name = "locked"
chip = "b"
line = "m0"
EOF
# The service's directories are its own (RuntimeDirectory=, LogsDirectory=).
chown "$USER_ID:$USER_ID" "$DAEMON_DIR" || fail "cannot chown $DAEMON_DIR"
gpioirqd --check-config "$DAEMON_CONF" || { cat -n "$DAEMON_CONF"; fail "gpioirqd refuses the config"; }
run_as "$USER_ID" "$USER_ID" "$GPIO_GID" 99 inf gpioirqd -c "$DAEMON_CONF" > "$DAEMON_DIR/daemon.out" 2>&1 &
DAEMON_PID=$!
FAIL_HOOK=_daemon_dump
wait_until 15 "gpioirqd (as uid $USER_ID) to answer on $GPIOIRQ_SOCKET" _daemon_up
sed 's/^/gpioirqd: /' "$DAEMON_DIR/daemon.out"

# Who it runs as, what it holds.
proc_field() { awk -v k="$1:" '$1 == k { $1 = ""; print substr($0, 2) }' "/proc/$DAEMON_PID/status"; }
check "runs as uid $USER_ID (Uid: $(proc_field Uid))" [ "$(proc_field Uid)" = "$USER_ID $USER_ID $USER_ID $USER_ID" ]
check "no capability (CapEff $(proc_field CapEff), CapPrm $(proc_field CapPrm))" \
  [ "$(proc_field CapEff)" = 0000000000000000 -a "$(proc_field CapPrm)" = 0000000000000000 ]
check "in group gpio (Groups: $(proc_field Groups))" sh -c "echo ' $(proc_field Groups) ' | grep -q ' $GPIO_GID '"
rt_tid=""
for t in /proc/"$DAEMON_PID"/task/*; do
  [ "$(cat "$t/comm")" = gpioirqd-rt ] && rt_tid=${t##*/}
done
check "a thread named gpioirqd-rt" [ -n "$rt_tid" ]
# stat after "(comm) ": field 3 is the first; rt_priority is field 40, policy 41.
rt_stat=$(sed 's/.*) //' "/proc/$DAEMON_PID/task/$rt_tid/stat")
rt_prio=$(echo "$rt_stat" | cut -d' ' -f38)
rt_policy=$(echo "$rt_stat" | cut -d' ' -f39)
check "the RT thread is SCHED_FIFO (policy $rt_policy) at priority 80 ($rt_prio)" [ "$rt_policy" = 1 -a "$rt_prio" = 80 ]
vmlck=$(proc_field VmLck | awk '{print $1}')
check "memory locked (VmLck $vmlck kB)" [ "${vmlck:-0}" -gt 0 ]
ctl_json /tmp/status.json status
check "status: rt.priority 80, mlocked" [ "$(jget /tmp/status.json rt.priority)" = 80 -a "$(jget /tmp/status.json rt.mlocked)" = true ]
reason=$(jget /tmp/status.json 'devices_down[name=locked].reason')
echo "locked: $reason"
check "the device on the root-only chip is down: permission denied" sh -c "echo '$reason' | grep -qi 'permission denied'"
check "the device on the gpio chip is up" [ -z "$(jget /tmp/status.json 'devices_down[name=meter].reason')" ]

edge_train -r "$RATE" -n "$N" "$(sim_pull_file simA bank0 0)" || fail "edge_train failed"
wait_until 20 "gpioirqd to read all $N edges" line_edges_are meter line "$N"
ctl_json /tmp/status.json status
ctl_json /tmp/counters.json counters
check "meter: $N edges, kernel_lost 0, ring_dropped 0" \
  [ "$(jget /tmp/status.json 'lines[device=meter,role=line].edges')" = "$N" -a \
    "$(jget /tmp/status.json 'lines[device=meter,role=line].kernel_lost')" = 0 -a \
    "$(jget /tmp/status.json 'lines[device=meter,role=line].ring_dropped')" = 0 ]
check "meter counted $N" [ "$(jget /tmp/counters.json 'counters[name=meter].count')" = "$N" ]

# The socket group: a member uses gpioirqctl (reset too), another user is refused.
echo "socket: $(ls -ln "$GPIOIRQ_SOCKET" | awk '{print $1, $3, $4}')"
check "the socket is 0660, user and group gpioirqd" \
  [ "$(ls -ln "$GPIOIRQ_SOCKET" | awk '{print $1, $3, $4}')" = "srw-rw---- $USER_ID $USER_ID" ]
run_as 5001 5001 "$USER_ID" 0 0 gpioirqctl reset meter > /tmp/member.out 2>&1
rc=$?
check "a member of group gpioirqd may reset (exit $rc: $(cat /tmp/member.out))" [ "$rc" = 0 ]
run_as 5002 5002 - 0 0 gpioirqctl status > /tmp/other.out 2>&1
rc=$?
check "another user is refused by the socket (exit $rc: $(cat /tmp/other.out))" [ "$rc" = 4 ]

daemon_stop
echo "logs: $(ls -lna "$DAEMON_LOGS" | awk 'NR > 1 {print $1, $3, $4, $NF}' | tr '\n' ';')"
check "events.csv is the daemon's, group gpioirqd, 0640" \
  [ "$(ls -ln "$DAEMON_EVENTS" | awk '{print $1, $3, $4}')" = "-rw-r----- $USER_ID $USER_ID" ]
s=$(edge_summary meter)
echo "meter: $s"
check "meter: $N EDGE rows, line_seqno 1..$N contiguous" \
  [ "$(echo "$s" | kv rows)" = "$N" -a "$(echo "$s" | kv first_seq)" = 1 -a "$(echo "$s" | kv seq_breaks)" = 0 ]
check "no GAP rows" [ "$(log_rows GAP)" = 0 ]
pass "as uid $USER_ID without capabilities: SCHED_FIFO 80 and mlockall through rlimits, $N of $N edges through group gpio, the root-only chip refused with its reason"
