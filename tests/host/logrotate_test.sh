#!/usr/bin/env bash
# ctest host:logrotate — the shipped config/gpioirqd.logrotate, run by the real logrotate
# against a running gpioirqd (sim chip): after `logrotate -f` the rotated event log and IMU
# file end where the new ones begin, and no edge is lost or doubled across the two files.
# The snippet is used as shipped except for its paths (/var/log/gpioirqd -> a scratch dir)
# and the postrotate command (no systemd here: `kill -USR1 PID`, what `systemctl kill -s
# USR1` does). Usage: logrotate_test.sh SOURCE_DIR BUILD_DIR; exit 4 (skip) without logrotate.
set -uo pipefail
src=$1
build=$2
command -v logrotate >/dev/null || { echo "logrotate not installed: skipped"; exit 4; }
fail() { echo "host:logrotate FAILED: $*"; [[ -f ${dir:-}/gpioirqd.err ]] && cat "$dir/gpioirqd.err"; exit 1; }
dir=$(mktemp -d)
pid=
trap '[[ -n $pid ]] && kill -9 "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
ctl() { "$build/daemon/gpioirqctl" --socket "$dir/ctl.sock" "$@"; }

cat >"$dir/gpioirqd.toml" <<EOF
[daemon]
log_dir = "logs"
socket_path = "ctl.sock"
rt_priority = 0
mlock = false
flush_interval_ms = 100

[[chip]]
name = "sim0"
backend = "sim"
sim_num_lines = 8

[[encoder]]
name = "knob"
chip = "sim0"
a = 0
b = 1
sim_rate_hz = 400

[[imu]]
name = "imu0"
i2c_bus = "sim"
trigger = "timer"
rate_hz = 200
format = "extended"
EOF
"$build/daemon/gpioirqd" -c "$dir/gpioirqd.toml" >"$dir/gpioirqd.out" 2>"$dir/gpioirqd.err" &
pid=$!
for _ in $(seq 100); do ctl status >/dev/null 2>&1 && break; sleep 0.1; done
ctl status >/dev/null || fail "gpioirqd did not answer"
logs=$dir/logs

# The shipped snippet, pointed at the scratch log_dir and this daemon.
grep -q 'postrotate' "$src/config/gpioirqd.logrotate" || fail "the snippet has no postrotate"
grep -q 'copytruncate' <(grep -v '^ *#' "$src/config/gpioirqd.logrotate") && fail "the snippet uses copytruncate"
sed -e "s|/var/log/gpioirqd|$logs|g" \
    -e "s|systemctl kill -s USR1 gpioirqd.service|kill -USR1 $pid|" \
    "$src/config/gpioirqd.logrotate" >"$dir/logrotate.conf"
grep -q "kill -USR1 $pid" "$dir/logrotate.conf" || fail "the snippet's postrotate is not 'systemctl kill -s USR1 gpioirqd.service'"

sleep 1
logrotate -f -s "$dir/logrotate.state" "$dir/logrotate.conf" || fail "logrotate failed"
old_log=$(ls "$logs"/events.csv-* 2>/dev/null | head -1)
old_imu=$(ls "$logs"/imu0.imu-* 2>/dev/null | head -1)
[[ -n $old_log && -n $old_imu ]] || fail "logrotate did not rotate: $(ls "$logs")"
for _ in $(seq 50); do [[ -s $logs/events.csv && -s $logs/imu0.imu ]] && break; sleep 0.1; done
[[ -s $logs/events.csv && -s $logs/imu0.imu ]] || fail "no new files after the rotation: $(ls "$logs")"
sleep 1
kill -TERM "$pid"
wait "$pid" || fail "gpioirqd exited $?"
pid=

grep -q '^REOPEN,.*,reopened '"$logs"'/events.csv (SIGUSR1)$' "$logs/events.csv" ||
  fail "no REOPEN marker for the event log in the new file"
grep -q '^REOPEN' "$old_log" && fail "a REOPEN marker in the rotated file"
# Every edge of each line once, in order, from line_seqno 1 through both files.
bad=$(cat "$old_log" "$logs/events.csv" | awk -F, '
  $1 == "EDGE" { key = $4 "/" $5; if ($9 != last[key] + 1) print key ": " last[key] " -> " $9; last[key] = $9; n[key]++ }
  END { for (k in n) if (n[k] < 10) print k ": only " n[k] " edges" }')
[[ -z $bad ]] || fail "edges missing or doubled across the rotation: $bad"
edges_old=$(grep -c '^EDGE' "$old_log")
edges_new=$(grep -c '^EDGE' "$logs/events.csv")
[[ $edges_old -gt 0 && $edges_new -gt 0 ]] || fail "edges: $edges_old in the rotated file, $edges_new in the new one"
# The IMU files decode on their own; the counter carries on from one into the other.
last_old=$("$build/daemon/gpioirqctl" decode "$old_imu" 2>/dev/null | grep -E '^[0-9]' | tail -1 | cut -d, -f1)
first_new=$("$build/daemon/gpioirqctl" decode "$logs/imu0.imu" 2>/dev/null | grep -E '^[0-9]' | head -1 | cut -d, -f1)
[[ -n $last_old && -n $first_new && $first_new -eq $((last_old + 1)) ]] ||
  fail "IMU frame counter: rotated file ends at '$last_old', the new one starts at '$first_new'"
echo "host:logrotate passed: $edges_old + $edges_new edges, IMU counter $last_old -> $first_new"
