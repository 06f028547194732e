#!/usr/bin/env bash
# ctest host:systemd_service — the service as installed, run by real systemd as PID 1.
#
# This machine's PID 1 is not systemd, so the test boots one: systemd-nspawn starts the
# host's own systemd (/usr of this machine, read-only, everything else a fresh tmpfs:
# --volatile=yes) in a container, with the build installed (cmake --install, prefix /usr)
# laid over /usr, so the unit and binaries sit exactly where a package puts them. The
# container's /etc/gpioirqd.toml is a sim-backend configuration bound in from here. Then,
# through systemctl and journalctl inside the container:
#   - the presets of a first boot enable the unit and multi-user.target starts it;
#   - `systemctl restart` returns only once the daemon said READY=1 (Type=notify), and
#     the daemon's own status names the PID systemd has as MainPID;
#   - the daemon pets the watchdog (WatchdogTimestamp advances), and one that stops
#     petting it (SIGSTOP) is killed by systemd and restarted (Result=watchdog);
#   - its diagnostics are in the journal under the unit;
#   - `systemctl reload` reloads (status.reloads counts it);
#   - `systemctl stop` ends it cleanly (exit status 0, STOP marker last in the event log);
#   - a broken configuration fails the start with exit 78 and is not restarted over and
#     over (RestartPreventExitStatus=78);
#   - with [mqtt] added (the unit as installed), the service reaches a mosquitto inside the
#     container: status `online`, the button's events, `offline` after the stop; the state
#     file and the spool land in /var/lib/gpioirqd (StateDirectory=), owned by gpioirqd.
# Usage: systemd_service_test.sh SOURCE_DIR BUILD_DIR
# Exit 4 (ctest: skipped, never passed) when this machine cannot run a container at all:
# not root, or systemd-nspawn gives up before a systemd runs inside (under CI=true that is a
# failure). Everything after the container's systemd is up is a real pass or fail. The
# container's start and stop: tests/support/container.sh.
set -uo pipefail
src=$1
build=$2
name=host:systemd_service
stage=$(mktemp -d /tmp/gpioirq-systemd-XXXXXX)
# fail, skip, inside, wait_for, boot_container; the EXIT trap stops the container.
. "$src/tests/support/container.sh"
command -v systemd-nspawn >/dev/null ||
  fail "systemd-nspawn not found (package systemd-container; scripts/install-deps.sh installs it)"
[[ -x /usr/lib/systemd/systemd ]] || fail "no /usr/lib/systemd/systemd to boot (package systemd)"
[[ $(id -u) == 0 ]] || skip "needs root (systemd-nspawn)"
show() { inside systemctl show gpioirqd --value -p "$1"; }
journal_has() { inside journalctl -u gpioirqd --no-pager -o cat | grep -q -i -- "$1"; }
# json_field KEY: a top-level field of the JSON object on stdin.
json_field() { python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }

DESTDIR=$stage/root cmake --install "$build" --prefix /usr >/dev/null || fail "cmake --install failed"
[[ -f $stage/root/usr/lib/systemd/system/gpioirqd.service ]] || fail "the unit was not installed"
config=$stage/gpioirqd.toml
cat >"$config" <<'EOF'
[daemon]
log_dir = "/var/log/gpioirqd"
socket_path = "/run/gpioirqd/control.sock"
rt_priority = 20
loop_priority = 10
flush_interval_ms = 200

[[chip]]
name = "sim0"
backend = "sim"

[[encoder]]
name = "knob"
chip = "sim0"
a = 0
b = 1
sim_rate_hz = 500

[[button]]
name = "start"
chip = "sim0"
line = 2
sim_rate_hz = 2
EOF

boot_container "$stage/nspawn.log" --directory=/ --volatile=yes \
  --overlay-ro="/usr:$stage/root/usr:/usr" --bind-ro="$config:/etc/gpioirqd.toml" \
  --private-network --capability=CAP_IPC_LOCK -- systemd.firstboot=off
echo "container booted ($container_state), systemd PID $leader here; failed units: $(inside systemctl list-units --failed --plain --no-legend | cut -d" " -f1 | tr "\n" " ")"

# A first boot (empty /etc) applies the distribution's presets, as installing a package
# does on Debian: the unit's [Install] section enables it and multi-user.target starts it.
[[ $(show UnitFileState) == enabled ]] || fail "UnitFileState=$(show UnitFileState) after the presets"
[[ $(show ActiveState) == active ]] || fail "not started at boot: ActiveState=$(show ActiveState)"
boot_pid=$(show MainPID)
# Restart: for Type=notify, systemctl returns once the new process said READY=1.
timeout 60 nsenter --target "$leader" --all -- systemctl restart gpioirqd || fail "systemctl restart gpioirqd failed"
[[ $(show ActiveState) == active && $(show SubState) == running ]] || fail "not active/running after restart"
main_pid=$(show MainPID)
[[ $main_pid != "$boot_pid" ]] || fail "MainPID unchanged by the restart"
status=$(inside gpioirqctl --json status) || fail "gpioirqctl status failed inside the container"
daemon_pid=$(json_field pid <<<"$status")
[[ $daemon_pid == "$main_pid" ]] || fail "the daemon says pid $daemon_pid, systemd's MainPID is $main_pid"
echo "started at boot (PID $boot_pid), restarted: MainPID $main_pid, the daemon's status agrees"
# LimitNOFILE=: under the unit the documented 1024 clients fit in the daemon's fd limit.
fds=$(python3 -c 'import json, sys; c = json.load(sys.stdin)["control"]
print(c["client_limit"], c["fd_limit"]["wanted"], c["fd_limit"]["got"])' <<<"$status")
read -r client_limit fds_wanted fds_got <<<"$fds"
[[ $client_limit == 1024 && $fds_got -ge $fds_wanted ]] ||
  fail "under the unit: client_limit $client_limit, fd limit $fds_got (wanted $fds_wanted)"
echo "fd limit under the unit: $fds_got (wanted $fds_wanted), 1024 clients"

# The watchdog (WatchdogSec=10s): pinged every 5 s.
[[ $(show WatchdogUSec) == 10s ]] || fail "WatchdogUSec is $(show WatchdogUSec), the unit says 10s"
first_ping=$(show WatchdogTimestampMonotonic)
pinged_since() { [[ $(show WatchdogTimestampMonotonic) != "$1" ]]; }
wait_for 12 "a watchdog ping after $first_ping" pinged_since "$first_ping"
echo "watchdog pinged"

# Diagnostics in the journal, under the unit.
wait_for 10 "the start-up line in the journal" journal_has 'running: 1 encoders, 1 buttons'
echo "journal has the daemon's start-up line"

# Reload through systemd (ExecReload: SIGHUP).
inside systemctl reload gpioirqd || fail "systemctl reload failed"
reloads_are() { [[ $(inside gpioirqctl --json status | json_field reloads) == "$1" ]]; }
wait_for 10 "status.reloads = 1" reloads_are 1
echo "reloaded"

# A daemon that stops petting the watchdog is killed and restarted.
inside kill -STOP "$main_pid"
restarted() { (($(show NRestarts) >= 1)); }
is_active() { [[ $(show ActiveState) == active ]]; }
wait_for 40 "a restart after the watchdog fired" restarted
wait_for 30 "active again after the restart" is_active
journal_has "Watchdog timeout" || fail "no watchdog timeout in the journal"
new_pid=$(show MainPID)
[[ $new_pid != "$main_pid" ]] || fail "MainPID unchanged after the watchdog restart"
echo "watchdog timeout killed PID $main_pid, restarted as PID $new_pid"

# Clean stop: exit 0, and the event log ends with the STOP marker.
inside systemctl stop gpioirqd || fail "systemctl stop failed"
[[ $(show Result) == success ]] || fail "Result=$(show Result) after stop"
[[ $(show ExecMainStatus) == 0 ]] || fail "exit status $(show ExecMainStatus) after stop"
log=/proc/$leader/root/var/log/gpioirqd/events.csv
[[ -f $log ]] || fail "no event log at /var/log/gpioirqd/events.csv"
last_type=$(tail -n 5 "$log" | cut -d, -f1 | grep -v '^TIME$' | tail -n 1)
[[ $last_type == STOP ]] || fail "the event log's last record is $last_type, not STOP"
echo "stopped cleanly, STOP marker written"

# A broken configuration: the daemon exits 78 before it is ready, the start fails, and
# systemd does not restart it over and over (RestartPreventExitStatus=78).
echo 'this is = = not toml' >"$config"
if timeout 60 nsenter --target "$leader" --all -- systemctl start gpioirqd 2>/dev/null; then
  fail "start with a broken configuration succeeded"
fi
[[ $(show ActiveState) == failed ]] || fail "ActiveState=$(show ActiveState) with a broken config"
[[ $(show ExecMainStatus) == 78 ]] || fail "exit status $(show ExecMainStatus) with a broken config, not 78"
restarts=$(show NRestarts)
sleep 2
[[ $(show NRestarts) == "$restarts" && $(show ActiveState) == failed ]] ||
  fail "restarted after exit 78 (NRestarts $restarts -> $(show NRestarts))"
journal_has "expected" || fail "the configuration error is not in the journal"
echo "broken configuration: start failed with the error in the journal, no restart loop"

# MQTT as a user adds it: [mqtt] in the configuration and nothing changed in the unit. A
# mosquitto runs inside the container (its own network namespace: loopback only, so no
# other test's broker is in the way); the service must reach it, say `online` (retained),
# publish the button's events, and keep its state in /var/lib/gpioirqd as its own user.
inside sh -c 'printf "listener 1883 127.0.0.1\nallow_anonymous true\npersistence false\n" >/run/test-broker.conf'
inside systemd-run --quiet --unit=test-broker -p DynamicUser=yes /usr/sbin/mosquitto -c /run/test-broker.conf ||
  fail "could not start mosquitto inside the container"
wait_for 10 "mosquitto listening on 127.0.0.1:1883" inside bash -c 'exec 3<>/dev/tcp/127.0.0.1/1883'
cat >"$config" <<'EOF'
[daemon]
log_dir = "/var/log/gpioirqd"
socket_path = "/run/gpioirqd/control.sock"
flush_interval_ms = 200
state_dir = "/var/lib/gpioirqd"
state_save_interval_ms = 1000

[[chip]]
name = "sim0"
backend = "sim"

[[counter]]
name = "meter"
chip = "sim0"
line = 0
sim_rate_hz = 50

[[button]]
name = "start"
chip = "sim0"
line = 2
sim_rate_hz = 2

[mqtt]
url = "mqtt://127.0.0.1:1883"
topic_prefix = "gpioirq/test"
EOF
inside systemctl reset-failed gpioirqd
timeout 60 nsenter --target "$leader" --all -- systemctl start gpioirqd || fail "start with [mqtt] failed"
# sub TOPIC: the first message on TOPIC within 10 s (a retained one at once).
sub() { inside mosquitto_sub -h 127.0.0.1 -p 1883 -t "$1" -C 1 -W 10; }
status_topic=$(sub gpioirq/test/status) || fail "nothing on gpioirq/test/status within 10 s"
[[ $status_topic == online ]] || fail "gpioirq/test/status is '$status_topic', not online"
event=$(sub gpioirq/test/start/events) || fail "no event on gpioirq/test/start/events within 10 s"
seq=$(json_field seq <<<"$event") || fail "the event has no seq: $event"
state_dir=$(inside stat -c '%U:%G %a' /var/lib/gpioirqd)
[[ $state_dir == "gpioirqd:gpioirqd 750" ]] || fail "/var/lib/gpioirqd is '$state_dir', not gpioirqd:gpioirqd 750"
saved() { [[ $(inside stat -c %U /var/lib/gpioirqd/state.json) == gpioirqd ]]; }
wait_for 10 "the state file /var/lib/gpioirqd/state.json, owned by gpioirqd" saved
spool=$(inside stat -c %U /var/lib/gpioirqd/mqtt) || fail "no spool directory /var/lib/gpioirqd/mqtt"
[[ $spool == gpioirqd ]] || fail "/var/lib/gpioirqd/mqtt belongs to $spool"
echo "with [mqtt]: status online, an event (seq $seq) on gpioirq/test/start/events; /var/lib/gpioirqd $state_dir with state.json and the spool"
inside systemctl stop gpioirqd || fail "systemctl stop with [mqtt] failed"
[[ $(show Result) == success ]] || fail "Result=$(show Result) after stop with [mqtt]"
status_topic=$(sub gpioirq/test/status)
[[ $status_topic == offline ]] || fail "after the stop gpioirq/test/status is '$status_topic', not offline"
echo "stopped: status offline"
echo "$name passed"
