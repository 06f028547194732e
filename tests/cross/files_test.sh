#!/usr/bin/env bash
# ctest cross:files_* (issue #14): the files one architecture's gpioirqd writes are read by
# another architecture's build. armhf has a 32-bit long and, on Debian 12, a 32-bit time_t,
# so a size or timestamp that took the platform's width would write a different file there.
# The writer gpioirqd (on the sim backend) writes every file kind of docs/FILE-FORMATS.md
# and the state and spool files of its state_dir; then, on the same directories:
#   - both builds' `gpioirqctl decode` print the same text for each IMU file (extended and
#     seed frames), with frames in it;
#   - the reader gpioirqd starts on the writer's event log (it reads the last run's records
#     to carry on after it), state.json (its RESTORE records carry the writer's saved
#     pulses and position) and MQTT spool (the broker is unreachable: the reader keeps every
#     byte the writer spooled, a record it could not read would be cut off, and counts them);
#   - the writer's own gpioirqctl talks to the reader daemon over the control socket.
# The cross build's programs run through binfmt_misc (qemu-user). qemu-user has no io_uring,
# so a cross build's gpioirqd runs only on a real kernel of its architecture; with READER_GPIOIRQD
# "-" only the reader's gpioirqctl reads (decode), which runs under qemu-user too.
# With --written-in TAR the writer ran elsewhere: the arm64 guest's armhf gpioirqd
# (vm-arm64:armhf_files, the one real kernel a 32-bit ARM gpioirqd meets here) left its
# log/ and state/ in TAR, with written/: its own decode of each IMU file (and its exit
# status), its state.json and spool as it left them. The reader's checks are then the
# same, and the reader's own gpioirqctl talks to the reader daemon.
# Usage: files_test.sh WRITER_GPIOIRQD WRITER_GPIOIRQCTL READER_GPIOIRQD|- READER_GPIOIRQCTL
#        files_test.sh --written-in TAR READER_GPIOIRQD READER_GPIOIRQCTL
set -euo pipefail
if [[ ${1:-} == --written-in ]]; then
  written_tar=$2 writer_daemon="" writer_ctl=$4 reader_daemon=$3 reader_ctl=$4
  [[ -s $written_tar ]] || { echo "cross files FAILED: no files from the writer: $written_tar" >&2; exit 1; }
else
  written_tar="" writer_daemon=$1 writer_ctl=$2 reader_daemon=$3 reader_ctl=$4
fi

dir=$(mktemp -d /tmp/gpioirq-cross-files.XXXXXX)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "cross files FAILED: $*" >&2; exit 1; }

sed "s|@DIR@|$dir|g" "$(dirname "${BASH_SOURCE[0]}")/files.toml" >"$dir/gpioirqd.toml"

status_json() {  # ctl: the daemon's status as JSON, once it answers
  local _
  for _ in $(seq 300); do
    GPIOIRQ_SOCKET=$dir/control.sock "$1" --json status 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

if [[ -n $written_tar ]]; then
  echo "== writer: elsewhere, its files from $written_tar"
  tar -xf "$written_tar" -C "$dir" log state written || fail "cannot unpack $written_tar"
else
  echo "== writer: $writer_daemon"
  "$writer_daemon" -c "$dir/gpioirqd.toml" --run-seconds 4 &
  pids+=($!)
  status_json "$writer_ctl" >/dev/null || fail "the writer daemon did not answer on its socket"
  wait "${pids[-1]}" || fail "the writer daemon exited $?"
  mkdir "$dir/written"
  [[ -s $dir/state/mqtt/spool.dat ]] && cp "$dir/state/mqtt/spool.dat" "$dir/written/spool.dat"
  [[ -s $dir/state/state.json ]] && cp "$dir/state/state.json" "$dir/written/state.json"
  # Exit 6: frames missing (overruns on a loaded machine, each in the event log too), the
  # file still whole: the reader must then decode it alike, exit status included.
  for f in imu0.imu imu1.imu; do
    [[ -s $dir/log/$f ]] || continue
    rc=0
    "$writer_ctl" decode "$dir/log/$f" >"$dir/written/$f.csv" || rc=$?
    ((rc == 0 || rc == 6)) || fail "the writer's decode of $f failed (exit $rc)"
    echo "$rc" >"$dir/written/$f.status"
  done
fi

for f in events.csv imu0.imu imu1.imu; do
  [[ -s $dir/log/$f ]] || fail "the writer wrote no $f"
done
[[ -s $dir/written/state.json ]] || fail "the writer wrote no state.json"
[[ -s $dir/written/spool.dat ]] || fail "the writer spooled nothing (state/mqtt/spool.dat)"

# The IMU files: header fields (incl. the 64-bit start times) and every frame decode the
# same with either build.
for f in imu0.imu imu1.imu; do
  [[ -s $dir/written/$f.csv ]] || fail "the writer's decode of $f is empty"
  [[ -s $dir/written/$f.status ]] || fail "the writer's decode of $f left no exit status"
  rc=0
  "$reader_ctl" decode "$dir/log/$f" >"$dir/$f.reader.csv" || rc=$?
  [[ $rc == "$(cat "$dir/written/$f.status")" ]] ||
    fail "the reader's decode of $f exited $rc, the writer's $(cat "$dir/written/$f.status")"
  diff -u "$dir/written/$f.csv" "$dir/$f.reader.csv" >&2 || fail "$f decodes differently on the two builds"
  frames=$(grep -cv '^#' "$dir/$f.reader.csv" || true)
  ((frames > 10)) || fail "$f has $((frames - 1)) frames"
  grep -q "start_monotonic_ns=[1-9]" "$dir/$f.reader.csv" || fail "$f: no start time in its header"
  echo "$f: $((frames - 1)) frames, decoded the same by both builds"
done
# The event log's timestamps are 64-bit nanoseconds on both: every EDGE row's ts_ns is
# past 2^32 (a CLOCK_MONOTONIC of more than 4.3 s in ns) on a machine up that long (the
# guest's armhf_files scenario waits until it is).
if [[ -n $written_tar ]] || awk '{exit !($1 > 5)}' /proc/uptime; then
  awk -F, '$1 == "EDGE" && $2 + 0 < 4294967296 {bad++} END {exit bad > 0}' "$dir/log/events.csv" ||
    fail "EDGE rows with a ts_ns below 2^32 in events.csv"
fi

if [[ $reader_daemon == - ]]; then
  echo "cross files passed (the reader's gpioirqctl decode only)"
  exit 0
fi

# The saved totals, as the writer wrote them.
read -r pulses position < <(python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))["devices"]
print(d["flow"]["state"]["pulses"], d["knob"]["state"]["position"])' "$dir/written/state.json")
((pulses > 100)) || fail "the writer saved only $pulses pulses"
spooled_bytes=$(stat -c %s "$dir/written/spool.dat")

echo "== reader: $reader_daemon"
"$reader_daemon" -c "$dir/gpioirqd.toml" --run-seconds 3 &
pids+=($!)
status=$(status_json "$writer_ctl") || fail "the reader daemon did not answer the writer's gpioirqctl"
wait "${pids[-1]}" || fail "the reader daemon exited $?"

# The reader kept the writer's spool whole (a record it could not read would have been cut
# off there) and counts at least the writer's entries.
cmp -n "$spooled_bytes" "$dir/written/spool.dat" "$dir/state/mqtt/spool.dat" ||
  fail "the reader did not keep the writer's $spooled_bytes spool bytes"
spooled=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["mqtt"]["spooled"])' "$status")
((spooled > 0)) || fail "the reader's status shows $spooled spooled messages"

# Two runs in one event log: the reader's START after the writer's STOP, and its RESTORE
# records carry the writer's saved figures.
[[ $(grep -c '^START,' "$dir/log/events.csv") == 2 ]] || fail "events.csv does not hold both runs' START"
grep -q "^RESTORE,.*flow: total .*($pulses pulses) restored" "$dir/log/events.csv" ||
  fail "no RESTORE of flow's $pulses pulses: $(grep '^RESTORE,' "$dir/log/events.csv" || true)"
grep -q "^RESTORE,.*knob: position $position restored" "$dir/log/events.csv" ||
  fail "no RESTORE of knob's position $position: $(grep '^RESTORE,' "$dir/log/events.csv" || true)"
grep -q '^STOP,' "$dir/log/events.csv" || fail "no STOP in events.csv"
echo "state: flow $pulses pulses and knob position $position restored; spool: $spooled_bytes bytes kept, $spooled spooled"
echo "cross files passed"
