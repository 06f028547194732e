#!/usr/bin/env bash
# MQTT benchmark (issue #13, "Proven"): many gpioirqd on the sim backend publishing to one
# mosquitto, against the same daemons with MQTT off. Not a test: it prints ONE markdown
# report for docs/PERFORMANCE.md.
#   scripts/bench-mqtt.sh [--daemons N] [--seconds S] [--counter-hz R] [--button-hz R]
#                         [--build DIR] [--dir DIR] [--keep]
# Defaults: 50 daemons, 60 s per phase, each daemon with one counter at 50 pulses/s and one
# button at 2 presses/s; gpioirqd and gpioirqctl from build/ (--build: any build directory
# of this project; nothing is built here). Needs mosquitto and mosquitto_sub (the Debian
# packages mosquitto, mosquitto-clients), python3.
#
# Phase "on": a mosquitto on a free loopback port with its own configuration in a temporary
# directory, a consumer (mosquitto_sub, QoS 1, subscribed before the daemons start, every
# message printed with its receive time), then N daemons, each with its own configuration,
# socket, log directory, state directory, client id and topic prefix (bench/dNN). After a
# 3 s warm-up the daemons' CPU time (utime + stime of /proc/PID/stat) is read, again after
# S seconds, then every daemon's `status`; then they are stopped (SIGTERM) and the consumer
# a second later. Phase "off": the same daemons without [mqtt].
#
# Reported: messages/s received (in the measured window), publish->receive latency
# (consumer receive wall time minus the payload's "time", the sink's wall clock when it
# made the message, in ms: the figures are up to 1 ms high), per topic kind too, the
# daemons' CPU with MQTT on vs off and their ratio, and loss: each events topic's seq
# contiguous after removing QoS 1 duplicates, its events received plus those left in the
# spool at the stop (made during the stop: delivered at the next start) equal to the
# button's occurrence rows (click, double click, long press) in that daemon's event log,
# and every daemon's status without a loss (log gaps/lost, kernel_lost, ring_dropped, mqtt
# dropped/spool_dropped all 0).
# Progress goes to stderr.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
case ${1:-} in -h | --help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac

daemons=50
seconds=60
counter_hz=50
button_hz=2
build=$root/build
base=${TMPDIR:-/tmp}
keep=0
while (($#)); do
  case $1 in
    --daemons) daemons=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --counter-hz) counter_hz=$2; shift 2 ;;
    --button-hz) button_hz=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --dir) base=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "bench-mqtt.sh: unknown option $1 (--help)" >&2; exit 2 ;;
  esac
done
gpioirqd=$build/daemon/gpioirqd
gpioirqctl=$build/daemon/gpioirqctl
[[ -x $gpioirqctl ]] || gpioirqctl=$(find "$build" -name gpioirqctl -type f -perm -u+x | sed -n 1p)
for exe in "$gpioirqd" "$gpioirqctl"; do
  [[ -x $exe ]] || { echo "bench-mqtt.sh: $exe not built (cmake --build $build --target gpioirqd gpioirqctl)" >&2; exit 2; }
done
for tool in mosquitto mosquitto_sub python3 stdbuf; do
  command -v "$tool" >/dev/null || { echo "bench-mqtt.sh: $tool not found" >&2; exit 2; }
done

work=$(mktemp -d "$base/gpioirq-bench-mqtt-XXXXXX")
pids=()
broker_pid=
consumer_pid=
cleanup() {
  for pid in "${pids[@]}" $consumer_pid $broker_pid; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ((keep)) && echo "bench-mqtt.sh: files kept in $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
say() { echo "bench-mqtt.sh: $*" >&2; }
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
now_ns() { date +%s%N; }
# cpu_ticks PID...: utime + stime (fields 14 and 15 of /proc/PID/stat, after the comm).
cpu_ticks() { for pid in "$@"; do sed -E 's/^.*\) //' "/proc/$pid/stat" | awk '{print $12 + $13}'; done; }

# write_config DIR I MQTT_PORT (empty: no [mqtt])
write_config() {
  local dir=$1 i=$2 port=$3
  mkdir -p "$dir/logs" "$dir/state"
  cat >"$dir/gpioirqd.toml" <<EOF
[daemon]
log_dir = "$dir/logs"
socket_path = "$dir/ctl.sock"
state_dir = "$dir/state"
rt_priority = 0
loop_priority = 0
mlock = false
flush_interval_ms = 1000
ring_capacity = 4096

[[chip]]
name = "sim0"
backend = "sim"

[[counter]]
name = "meter"
chip = "sim0"
line = 0
sim_rate_hz = $counter_hz

[[button]]
name = "start"
chip = "sim0"
line = 1
sim_rate_hz = $button_hz
EOF
  if [[ -n $port ]]; then
    cat >>"$dir/gpioirqd.toml" <<EOF

[mqtt]
url = "mqtt://127.0.0.1:$port"
client_id = "bench-d$i"
topic_prefix = "bench/d$i"
EOF
  fi
}

# run_phase NAME PORT: starts the daemons, measures, stops them. Leaves
# $work/NAME/{cpu.txt,window.txt,status-*.json}.
run_phase() {
  local phase=$1 port=$2 dir i
  mkdir -p "$work/$phase"
  pids=()
  for ((i = 1; i <= daemons; i++)); do
    dir=$work/$phase/d$i
    write_config "$dir" "$i" "$port"
    "$gpioirqd" -c "$dir/gpioirqd.toml" >"$dir/daemon.log" 2>&1 &
    pids+=($!)
  done
  for ((i = 1; i <= daemons; i++)); do
    dir=$work/$phase/d$i
    for _ in $(seq 100); do
      "$gpioirqctl" -s "$dir/ctl.sock" --json status >/dev/null 2>&1 && break
      kill -0 "${pids[$((i - 1))]}" 2>/dev/null || { cat "$dir/daemon.log" >&2; say "daemon d$i ($phase) exited"; exit 1; }
      sleep 0.1
    done
  done
  say "$phase: $daemons daemons up; warm-up 3 s, then $seconds s measured"
  sleep 3
  local t0 t1
  t0=$(now_ns)
  cpu_ticks "${pids[@]}" >"$work/$phase/cpu0.txt"
  [[ -n $broker_pid ]] && cpu_ticks "$broker_pid" "$consumer_pid" >"$work/$phase/aux0.txt"
  sleep "$seconds"
  t1=$(now_ns)
  cpu_ticks "${pids[@]}" >"$work/$phase/cpu1.txt"
  [[ -n $broker_pid ]] && cpu_ticks "$broker_pid" "$consumer_pid" >"$work/$phase/aux1.txt"
  echo "$t0 $t1" >"$work/$phase/window.txt"
  for ((i = 1; i <= daemons; i++)); do
    "$gpioirqctl" -s "$work/$phase/d$i/ctl.sock" --json status >"$work/$phase/status-$i.json" ||
      say "status of d$i ($phase) failed"
  done
  kill -TERM "${pids[@]}"
  for pid in "${pids[@]}"; do wait "$pid" || say "a daemon ($phase) exited with $?"; done
  pids=()
  say "$phase: stopped"
}

# --- phase on: broker, consumer, daemons with [mqtt] -------------------------------------
port=$(free_port)
mkdir -p "$work/broker"
cat >"$work/broker/mosquitto.conf" <<EOF
listener $port 127.0.0.1
allow_anonymous true
persistence false
# The consumer must never be the one who loses: no cap on its queue.
max_queued_messages 0
log_dest file $work/broker/mosquitto.log
EOF
mosquitto -c "$work/broker/mosquitto.conf" &
broker_pid=$!
for _ in $(seq 50); do
  python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2)' "$port" 2>/dev/null && break
  sleep 0.1
done
stdbuf -oL mosquitto_sub -h 127.0.0.1 -p "$port" -i bench-consumer -q 1 -t 'bench/#' -F '%U %t %p' \
  >"$work/received.txt" 2>"$work/consumer.log" &
consumer_pid=$!
sleep 0.5
run_phase on "$port"
sleep 1
kill -TERM "$consumer_pid"
wait "$consumer_pid" 2>/dev/null || true
consumer_pid=
kill -TERM "$broker_pid"
wait "$broker_pid" 2>/dev/null || true
broker_pid=

# --- phase off: the same daemons, no [mqtt] ----------------------------------------------
run_phase off ""

# --- the report --------------------------------------------------------------------------
cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | sed -n 1p)
echo "## MQTT benchmark: $daemons daemons, one broker"
echo
echo "Machine: $(nproc) CPUs, ${cpu:-unknown CPU}, Linux $(uname -r) ($(uname -m)), $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2/1048576}' /proc/meminfo); $(mosquitto -h 2>/dev/null | sed -n 1p | sed 's/ is an.*//')"
echo "Load average after: $(cut -d' ' -f1-3 /proc/loadavg) (other work shares these CPUs)"
echo "Date: $(date -u +%Y-%m-%dT%H:%MZ), commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet 2>/dev/null || echo ' (with uncommitted changes)'), build: $(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$build/CMakeCache.txt" 2>/dev/null)"
echo "Load per daemon: a counter at $counter_hz pulses/s, a button at $button_hz presses/s (sim backend); $seconds s measured per phase"
echo
python3 - "$work" "$daemons" "$(getconf CLK_TCK)" <<'EOF'
import datetime, json, statistics, sys
from collections import defaultdict
from pathlib import Path

work, daemons, hz = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])

def ticks(path):
    return [int(x) for x in path.read_text().split()]

def pct(values, p):
    values = sorted(values)
    if not values:
        return float("nan")
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]

def cpu_percent(phase, seconds):
    before, after = ticks(work / phase / "cpu0.txt"), ticks(work / phase / "cpu1.txt")
    return [(a - b) / hz / seconds * 100 for a, b in zip(after, before)]

t0, t1 = (int(x) for x in (work / "on" / "window.txt").read_text().split())
window_s = (t1 - t0) / 1e9
off_t0, off_t1 = (int(x) for x in (work / "off" / "window.txt").read_text().split())
off_s = (off_t1 - off_t0) / 1e9

in_window = 0
by_kind = defaultdict(int)
publish_latency_ms = []
latency_by_kind = defaultdict(list)
seqs = defaultdict(list)
events_of = defaultdict(int)
bad_lines = 0
for line in (work / "received.txt").read_text(errors="replace").splitlines():
    try:
        recv, topic, payload = line.split(" ", 2)
        recv_ns = int(recv.replace(".", ""))
    except ValueError:
        bad_lines += 1
        continue
    kind = topic.split("/")[-1]
    if t0 <= recv_ns <= t1:
        in_window += 1
        by_kind[kind] += 1
    if kind in ("status",):
        continue
    try:
        msg = json.loads(payload)
    except ValueError:
        bad_lines += 1
        continue
    if t0 <= recv_ns <= t1 and "time" in msg:
        sent = datetime.datetime.fromisoformat(msg["time"].replace("Z", "+00:00"))
        sent_ns = round(sent.timestamp() * 1000) * 1_000_000
        publish_latency_ms.append((recv_ns - sent_ns) / 1e6)
        latency_by_kind[kind].append((recv_ns - sent_ns) / 1e6)
    if kind == "events" and "seq" in msg:
        seqs[topic].append(int(msg["seq"]))

problems = []
if bad_lines:
    problems.append(f"{bad_lines} received lines not understood")
duplicates = 0
unique_events = {}
for topic, got in sorted(seqs.items()):
    unique = sorted(set(got))
    duplicates += len(got) - len(unique)
    unique_events[topic] = len(unique)
    holes = unique[-1] - unique[0] + 1 - len(unique)
    if unique[0] != 1 or holes:
        problems.append(f"{topic}: seq {unique[0]}..{unique[-1]}, {holes} missing")

# The daemons' own accounts: the event log's rows of the button, and no loss anywhere.
lost_fields = defaultdict(int)
for phase in ("on", "off"):
    for i in range(1, daemons + 1):
        try:
            status = json.loads((work / phase / f"status-{i}.json").read_text())
        except (OSError, ValueError):
            problems.append(f"{phase} d{i}: no status")
            continue
        log = status.get("log", {})
        for key in ("gaps", "lost", "cut_bytes"):
            lost_fields[f"log.{key}"] += int(log.get(key, 0))
        lines = status.get("lines", [])
        for line in lines.values() if isinstance(lines, dict) else lines:
            lost_fields["kernel_lost"] += int(line.get("kernel_lost", 0))
            lost_fields["ring_dropped"] += int(line.get("ring_dropped", 0))
        if phase == "on":
            mqtt = status.get("mqtt")
            if not mqtt:
                problems.append(f"on d{i}: no mqtt in status")
                continue
            for key in ("dropped", "spool_dropped"):
                lost_fields[f"mqtt.{key}"] += int(mqtt.get(key, 0))
            if mqtt.get("state") != "connected":
                problems.append(f"on d{i}: mqtt state {mqtt.get('state')} ({mqtt.get('last_error')})")
for key, value in sorted(lost_fields.items()):
    if value:
        problems.append(f"status {key} = {value} (summed over the daemons)")

# What each daemon's spool still holds after its stop (docs/MQTT.md: records
# u32 length | u32 CRC | body; body 1 = entry: u64 id, u64 seq, u8 qos, u8 retain,
# u16 topic length, topic, payload; body 2 = trim mark: every entry up to u64 id is gone).
# An event made during the stop, after the client disconnected (a button's pending long
# press), waits there for the next start: not lost, counted apart.
import struct
def spool_left(path):
    left, data, at = {}, path.read_bytes() if path.exists() else b"", 8
    while at + 8 <= len(data):
        length, = struct.unpack_from("<I", data, at)
        body = data[at + 8:at + 8 + length]
        at += 8 + length
        if body[:1] == b"\x01":
            ident, seq, _qos, _retain, topic_len = struct.unpack_from("<QQBBH", body, 1)
            left[ident] = (body[21:21 + topic_len].decode(), seq)
        elif body[:1] == b"\x02":
            upto, = struct.unpack_from("<Q", body, 1)
            left = {k: v for k, v in left.items() if k > upto}
    return list(left.values())

logged_total = received_total = spooled_total = 0
for i in range(1, daemons + 1):
    rows = 0
    for path in sorted((work / "on" / f"d{i}" / "logs").glob("events*.csv")):
        for row in path.read_text().splitlines():
            fields = row.split(",")
            # press and release are the button's state (its state topic), not events.
            if (len(fields) > 10 and fields[0] in ("EVENT", "GAP") and fields[3] == "start"
                    and fields[10] not in ("press", "release")):
                rows += 1
    topic = f"bench/d{i}/start/events"
    got = unique_events.get(topic, 0)
    waiting = sorted(seq for t, seq in spool_left(work / "on" / f"d{i}" / "state" / "mqtt" / "spool.dat") if t == topic)
    logged_total += rows
    received_total += got
    spooled_total += len(waiting)
    if got + len(waiting) != rows:
        problems.append(f"{topic}: {got} events received + {len(waiting)} in the spool, {rows} in the event log")
    if waiting and waiting != list(range(got + 1, got + 1 + len(waiting))):
        problems.append(f"{topic}: the spool holds seq {waiting}, not the ones after the {got} received")

on_cpu, off_cpu = cpu_percent("on", window_s), cpu_percent("off", off_s)
aux = ""
if (work / "on" / "aux0.txt").exists():
    a0, a1 = ticks(work / "on" / "aux0.txt"), ticks(work / "on" / "aux1.txt")
    broker, consumer = ((y - x) / hz / window_s * 100 for x, y in zip(a0, a1))
    aux = f"; mosquitto {broker:.1f} %, the consumer (mosquitto_sub) {consumer:.1f} %"
ratio = sum(on_cpu) / sum(off_cpu) if sum(off_cpu) else float("nan")

print("| | MQTT on | MQTT off |")
print("|---|---|---|")
print(f"| messages/s received (all topics) | {in_window / window_s:.0f} | |")
print("| of which | " + ", ".join(f"{k} {v / window_s:.1f}/s" for k, v in sorted(by_kind.items())) + " | |")
print(f"| publish->receive latency p50 / p99 / max (ms) | {pct(publish_latency_ms, 50):.1f} / {pct(publish_latency_ms, 99):.1f} / {max(publish_latency_ms, default=float('nan')):.1f} ({len(publish_latency_ms)} messages) | |")
for kind, values in sorted(latency_by_kind.items()):
    print(f"| of which {kind} p50 / p99 / max (ms) | {pct(values, 50):.1f} / {pct(values, 99):.1f} / {max(values):.1f} ({len(values)}) | |")
print(f"| daemon CPU, median per daemon (% of one CPU) | {statistics.median(on_cpu):.2f} | {statistics.median(off_cpu):.2f} |")
print(f"| daemon CPU, all {daemons} daemons (% of one CPU) | {sum(on_cpu):.1f} | {sum(off_cpu):.1f} |")
print(f"| CPU ratio MQTT on / off (all daemons) | **{ratio:.2f}** | 1 |")
print(f"| button events (click, double click, long press): in the event logs / received (unique) / left in the spool at the stop / QoS 1 duplicates | {logged_total} / {received_total} / {spooled_total} / {duplicates} | |")
print(f"| loss | {'**none**' if not problems else '**' + str(len(problems)) + ' problems**'} | |")
print()
print(f"Measured window {window_s:.1f} s (on), {off_s:.1f} s (off){aux}.")
if problems:
    print()
    print("Problems:")
    for p in problems[:40]:
        print(f"- {p}")
EOF
