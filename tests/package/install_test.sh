#!/usr/bin/env bash
# ctest package:install — the Debian package, installed as a user installs it, on a clean
# Debian 12 booted with systemd.
#
#   1. scripts/package.sh builds gpioirqd_<version>_<arch>.deb (dpkg-buildpackage) and
#      lints it (lintian: no errors); the .deb holds what the package must hold.
#   2. mmdebstrap makes a clean Debian 12 root (minbase + systemd, from Debian's archive,
#      bookworm-backports among the sources as docs/INSTALL.md says), systemd-nspawn boots
#      it, and inside `apt-get install ./gpioirqd_….deb` resolves the dependencies from the
#      archive and installs it.
#   3. Inside, through systemctl and the daemon's own socket:
#      - the service is enabled and active, its main process runs as user gpioirqd;
#      - `systemd-analyze security` puts its exposure at 2.0 or below;
#      - a member of group gpioirqd runs `gpioirqctl status`, `reset` and reads and
#        decodes the log files; another user is refused by the socket and the files;
#      - a configuration with a `sim` chip and devices is applied by `systemctl reload`;
#        then /proc shows the RT thread SCHED_FIFO at the configured priority and the
#        daemon's memory locked, and the daemon says so too;
#      - /var/lib/gpioirqd (StateDirectory=) is the daemon's, mode 0750;
#      - `apt-get remove` keeps the configuration, the logs and the state, `apt-get purge`
#        removes them (the user stays, as Debian policy has it).
# Usage: install_test.sh SOURCE_DIR BUILD_DIR
# Exit 4 (ctest: skipped, never passed) only where no container can run here (not root, or
# systemd-nspawn cannot start one); under CI=true that is a failure, as for the VM tests.
set -uo pipefail
src=$1
build=$2
name=package:install
max_exposure=2.0
stage=$(mktemp -d /var/tmp/gpioirq-package-XXXXXX)
root=$stage/root
# fail, skip, inside, wait_for, boot_container; the EXIT trap stops the container.
. "$src/tests/support/container.sh"
[[ $(id -u) == 0 ]] || skip "needs root (mmdebstrap, systemd-nspawn)"
for tool in mmdebstrap systemd-nspawn dpkg-buildpackage lintian; do
  command -v "$tool" >/dev/null || fail "$tool not found (scripts/install-deps.sh installs it)"
done

# as USER COMMAND...: COMMAND inside, as USER (runuser: util-linux, in every Debian).
as() {
  local user=$1
  shift
  inside runuser -u "$user" -- "$@"
}
show() { inside systemctl show gpioirqd --value -p "$1"; }
# json KEY.PATH: a field of the JSON object on stdin (python3 runs here, not inside).
json() {
  python3 -c 'import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v[int(k)] if isinstance(v, list) else v[k]
print(json.dumps(v) if isinstance(v, (dict, list, bool)) else v)' "$1"
}

# --- 1. the package ---------------------------------------------------------------------
started=$SECONDS
deb=$(GPIOIRQ_PACKAGE_DIR=$build/package "$src/scripts/package.sh" | tee "$stage/package.log" | tail -1)
[[ ${PIPESTATUS[0]} == 0 && -f $deb ]] || { cat "$stage/package.log"; fail "scripts/package.sh failed"; }
grep -E '^(E|W): ' "$stage/package.log" | sed 's/^/   lintian /'
echo "built and linted $(basename "$deb") in $((SECONDS - started)) s"
contents=$(dpkg-deb --contents "$deb" | awk '{print $6}' | sed 's|^\./|/|')
for path in /usr/sbin/gpioirqd /usr/bin/gpioirqctl /lib/systemd/system/gpioirqd.service \
  /usr/lib/sysusers.d/gpioirqd.conf /lib/udev/rules.d/60-gpioirqd.rules /etc/gpioirqd.toml \
  /etc/logrotate.d/gpioirqd /usr/share/man/man8/gpioirqd.8.gz /usr/share/man/man1/gpioirqctl.1.gz \
  /usr/share/man/man5/gpioirqd.toml.5.gz /usr/share/bash-completion/completions/gpioirqctl \
  /usr/share/doc/gpioirqd/examples/gpioirqd.toml /usr/share/doc/gpioirqd/copyright; do
  grep -qxF "$path" <<<"$contents" || fail "the package lacks $path"
done
conffiles=$(dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./conffiles)
for conffile in /etc/gpioirqd.toml /etc/logrotate.d/gpioirqd; do
  grep -qxF "$conffile" <<<"$conffiles" || fail "$conffile is not a conffile"
done
depends=$(dpkg-deb --field "$deb" Depends)
for lib in libgpiod3 liburing2 libspdlog1.10 libsystemd0 systemd; do
  grep -q "\b$lib\b" <<<"$depends" || fail "Depends lacks $lib: $depends"
done
echo "the .deb holds the binaries, unit, sysusers, udev rules, conffiles, man pages, completion"

# --- 2. a clean Debian 12, booted, and the package installed -----------------------------
# The archive this machine's apt uses (docs/INSTALL.md: Debian 12 needs bookworm-backports
# for libgpiod 2.1).
mirror=http://deb.debian.org/debian
if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
  mirror=$(awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
fi
security=${mirror%/debian}/debian-security
started=$SECONDS
# Check-Valid-Until off: a frozen mirror (a snapshot, as on the machines this runs on) has
# Release files past their Valid-Until date; apt on this machine is set the same way.
mmdebstrap --quiet --variant=minbase --include=systemd,systemd-sysv,dbus \
  --aptopt='Acquire::Check-Valid-Until "false"' bookworm "$root" \
  "deb $mirror bookworm main" "deb $mirror bookworm-updates main" \
  "deb $security bookworm-security main" "deb $mirror bookworm-backports main" \
  >"$stage/mmdebstrap.log" 2>&1 || { tail -20 "$stage/mmdebstrap.log"; fail "mmdebstrap failed"; }
echo "clean Debian 12 root made by mmdebstrap in $((SECONDS - started)) s ($(du -sh "$root" | cut -f1))"
cp "$deb" "$root/root/"

# The host's network (apt inside must reach the archive), so no --private-network.
# CAP_IPC_LOCK: the unit hands it to the service (with CAP_SYS_NICE), which the container's
# systemd can do only if it has it, as PID 1 of a real system does; nspawn leaves it out of
# a container's capabilities by default.
boot_container "$stage/nspawn.log" --directory="$root" --capability=CAP_IPC_LOCK
echo "container booted ($container_state)"

started=$SECONDS
inside env DEBIAN_FRONTEND=noninteractive apt-get update -qq >"$stage/apt.log" 2>&1 ||
  { tail -20 "$stage/apt.log"; fail "apt-get update failed inside"; }
inside env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "/root/$(basename "$deb")" \
  >>"$stage/apt.log" 2>&1 || { tail -30 "$stage/apt.log"; fail "apt-get install ./$(basename "$deb") failed"; }
pulled=$(sed -nE 's/^Setting up ([^ ]+) .*/\1/p' "$stage/apt.log" | tr '\n' ' ')
echo "apt-get install ./$(basename "$deb") in $((SECONDS - started)) s; set up: $pulled"

# --- 3. the service as installed ---------------------------------------------------------
[[ $(inside systemctl is-enabled gpioirqd) == enabled ]] || fail "not enabled by the install"
wait_for 20 "gpioirqd active after the install" bash -c "[[ \$(nsenter --target $leader --all -- systemctl is-active gpioirqd) == active ]]"
main_pid=$(show MainPID)
uid=$(inside getent passwd gpioirqd | cut -d: -f3)
[[ -n $uid ]] || fail "no user gpioirqd"
proc_uid=$(inside awk '/^Uid:/ {print $2}' "/proc/$main_pid/status")
[[ $proc_uid == "$uid" ]] || fail "the daemon runs as uid $proc_uid, not gpioirqd ($uid)"
for group in gpio i2c; do
  inside getent group "$group" | grep -E "[:,]gpioirqd(,|$)" >/dev/null || fail "gpioirqd is not in group $group"
done
# Capabilities: CAP_IPC_LOCK (bit 14) and CAP_SYS_NICE (bit 23), nothing else, and not
# more to be had (bounding set).
for cap in CapEff CapPrm CapBnd; do
  value=$(inside awk -v c="$cap:" '$1 == c {print $2}' "/proc/$main_pid/status")
  [[ $((16#$value)) == $(((1 << 14) | (1 << 23))) ]] ||
    fail "$cap of the daemon is $value, not CAP_IPC_LOCK + CAP_SYS_NICE (0000000000804000)"
done
echo "enabled and active, MainPID $main_pid runs as gpioirqd (uid $uid) with CAP_SYS_NICE + CAP_IPC_LOCK only; groups gpio and i2c made"
# The state directory (StateDirectory=: the state file and the MQTT spool), the daemon's own.
state_dir=$(inside stat -c '%U:%G %a' /var/lib/gpioirqd 2>&1)
[[ $state_dir == "gpioirqd:gpioirqd 750" ]] || fail "/var/lib/gpioirqd is '$state_dir', not gpioirqd:gpioirqd 750"
echo "/var/lib/gpioirqd: $state_dir"

exposure_line=$(inside systemd-analyze security gpioirqd.service --no-pager 2>&1 | grep 'Overall exposure level')
exposure=$(sed -nE 's/.*gpioirqd.service: ([0-9.]+).*/\1/p' <<<"$exposure_line")
[[ -n $exposure ]] || fail "no exposure in systemd-analyze security's output: $exposure_line"
python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) <= float(sys.argv[2]) else 1)" "$exposure" "$max_exposure" ||
  fail "exposure $exposure is above $max_exposure: $(inside systemd-analyze security gpioirqd.service --no-pager | grep '✗')"
echo "systemd-analyze security: $exposure_line"

inside useradd --create-home --groups gpioirqd alice || fail "useradd alice"
inside useradd --create-home bob || fail "useradd bob"
status=$(as alice gpioirqctl --json status) || fail "gpioirqctl status as alice (group gpioirqd) failed"
[[ $(json pid <<<"$status") == "$main_pid" ]] || fail "status names pid $(json pid <<<"$status"), systemd $main_pid"
bob_out=$(as bob gpioirqctl status 2>&1)
bob_rc=$?
[[ $bob_rc == 4 ]] || fail "bob (not in group gpioirqd) got exit $bob_rc from gpioirqctl status: $bob_out"
echo "gpioirqctl status: works for alice (group gpioirqd); bob is refused (exit 4: $bob_out)"

# The shipped configuration has no devices: a simulated chip and devices added to it, by
# reload. ([daemon] stays as shipped: its settings take effect at a restart only.)
rt_priority=$(sed -nE 's/^rt_priority *= *([0-9]+).*/\1/p' "$root/etc/gpioirqd.toml")
[[ -n $rt_priority ]] || fail "no rt_priority in the shipped /etc/gpioirqd.toml"
cat >>"$root/etc/gpioirqd.toml" <<'EOF'

[[chip]]
name = "sim0"
backend = "sim"

[[encoder]]
name = "knob"
chip = "sim0"
a = 0
b = 1
sim_rate_hz = 500

[[counter]]
name = "meter"
chip = "sim0"
line = 2
sim_rate_hz = 50

[[imu]]
name = "imu0"
i2c_bus = "sim"
trigger = "timer"
rate_hz = 100
EOF
inside gpioirqd --check-config /etc/gpioirqd.toml >/dev/null || fail "the test's configuration does not check"
inside systemctl reload gpioirqd || fail "systemctl reload gpioirqd failed"
wait_for 10 "the reloaded configuration's encoder in status" \
  bash -c "nsenter --target $leader --all -- runuser -u alice -- gpioirqctl --json encoders | grep knob >/dev/null"
status=$(as alice gpioirqctl --json status) || fail "status after reload"
[[ $(json reloads <<<"$status") -ge 1 ]] || fail "status.reloads is $(json reloads <<<"$status") after systemctl reload"
[[ $(show MainPID) == "$main_pid" ]] || fail "the reload restarted the daemon (MainPID $(show MainPID))"
echo "systemctl reload applied the sim configuration (encoder, counter, IMU) without a restart"

# Real time, as /proc shows it: the RT thread's policy (1 = SCHED_FIFO) and priority
# (fields 41 and 40 of stat), and locked memory.
rt_tid=
for task in $(inside ls "/proc/$main_pid/task"); do
  [[ $(inside cat "/proc/$main_pid/task/$task/comm") == gpioirqd-rt ]] && rt_tid=$task
done
[[ -n $rt_tid ]] || fail "no thread named gpioirqd-rt in the daemon"
read -r rt_prio rt_policy < <(inside cat "/proc/$main_pid/task/$rt_tid/stat" |
  sed -E 's/^.*\) //' | awk '{print $(40-2), $(41-2)}')
[[ $rt_policy == 1 && $rt_prio == "$rt_priority" ]] ||
  fail "the RT thread has policy $rt_policy priority $rt_prio, not SCHED_FIFO (1) at $rt_priority"
vmlck=$(inside awk '/^VmLck:/ {print $2}' "/proc/$main_pid/status")
((vmlck > 0)) || fail "VmLck is $vmlck kB: mlockall did not take"
rt=$(json rt <<<"$status")
[[ $(json rt.priority <<<"$status") == "$rt_priority" && $(json rt.mlocked <<<"$status") == true ]] ||
  fail "the daemon's status says rt $rt"
echo "RT thread $rt_tid: SCHED_FIFO priority $rt_prio; VmLck $vmlck kB; status.rt $rt"

# The socket group's rights: reset (state-changing), and the log files.
as alice gpioirqctl reset meter >/dev/null || fail "gpioirqctl reset as alice (group gpioirqd) refused"
wait_for 10 "the IMU's file" inside test -s /var/log/gpioirqd/imu0.imu
as alice head -c 200 /var/log/gpioirqd/events.csv >/dev/null || fail "alice cannot read events.csv"
decode_out=$(as alice gpioirqctl decode /var/log/gpioirqd/imu0.imu 2>&1 | head -3)
[[ -n $decode_out && $decode_out != *ermission* ]] || fail "alice cannot decode imu0.imu: $decode_out"
as bob head -c 1 /var/log/gpioirqd/events.csv >/dev/null 2>&1 && fail "bob can read the event log"
ls_logs=$(inside ls -ld /var/log/gpioirqd /var/log/gpioirqd/events.csv)
echo "alice resets and decodes; bob reads nothing:"
sed 's/^/   /' <<<"$ls_logs"

# The package's logrotate snippet, run by the real logrotate (a Recommends, installed by
# apt) against the running non-root service: the file moved away, the daemon told, a new
# file begun with a REOPEN row, still readable by the socket group.
inside logrotate --force /etc/logrotate.d/gpioirqd >"$stage/logrotate.log" 2>&1 ||
  { cat "$stage/logrotate.log"; fail "logrotate --force /etc/logrotate.d/gpioirqd failed"; }
rotated=$(inside sh -c 'ls /var/log/gpioirqd/events.csv-*' 2>/dev/null | head -1)
[[ -n $rotated ]] || fail "logrotate left no events.csv-DATE: $(inside ls /var/log/gpioirqd)"
wait_for 10 "a REOPEN row in the new events.csv after logrotate" \
  inside grep -q '^REOPEN,' /var/log/gpioirqd/events.csv
as alice head -c 1 /var/log/gpioirqd/events.csv >/dev/null || fail "alice cannot read the new events.csv"
echo "logrotate: events.csv moved to $(basename "$rotated"), the daemon began a new one (REOPEN)"

# --- remove keeps the configuration and the logs; purge removes them --------------------
inside env DEBIAN_FRONTEND=noninteractive apt-get remove -y -q gpioirqd >>"$stage/apt.log" 2>&1 || fail "apt-get remove failed"
[[ $(inside systemctl is-active gpioirqd) != active ]] || fail "still active after remove"
inside test -e /usr/sbin/gpioirqd && fail "/usr/sbin/gpioirqd left after remove"
inside test -f /etc/gpioirqd.toml || fail "remove took /etc/gpioirqd.toml"
inside test -f /var/log/gpioirqd/events.csv || fail "remove took the logs"
inside test -d /var/lib/gpioirqd || fail "remove took the state directory /var/lib/gpioirqd"
inside env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q gpioirqd >>"$stage/apt.log" 2>&1 || fail "apt-get purge failed"
for path in /etc/gpioirqd.toml /etc/logrotate.d/gpioirqd /var/log/gpioirqd /var/lib/gpioirqd \
  /lib/systemd/system/gpioirqd.service; do
  inside test -e "$path" && fail "$path left after purge"
done
inside getent passwd gpioirqd >/dev/null || fail "purge removed the user gpioirqd (policy keeps it)"
echo "remove kept /etc/gpioirqd.toml, /var/log/gpioirqd and /var/lib/gpioirqd; purge removed them; the user stays"
echo "$name: passed"
