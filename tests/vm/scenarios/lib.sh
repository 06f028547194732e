# Shell helpers for VM scenarios (busybox sh). Source it first:  . /scenarios/lib.sh
# A scenario is /scenarios/<name>.sh; it ends with pass/fail/skip (or exit 0/1/77), and its
# console output is shown by run-scenario.py. Not itself a scenario (no ctest test).

GPIO_SIM_CFG=/sys/kernel/config/gpio-sim

# ---- results -------------------------------------------------------------------------
pass() { echo "$*" > "${GPIOIRQ_RESULT_FILE:-/tmp/gpioirq-result-detail}"; exit 0; }
fail() {
  echo "FAIL: $*"
  echo "$*" > "${GPIOIRQ_RESULT_FILE:-/tmp/gpioirq-result-detail}"
  # A scenario may set FAIL_HOOK to a command that shows more (the daemon helpers do).
  if [ -n "${FAIL_HOOK:-}" ]; then _h="$FAIL_HOOK"; FAIL_HOOK=""; $_h; fi
  exit 1
}
skip() { echo "SKIP: $*"; echo "$*" > "${GPIOIRQ_RESULT_FILE:-/tmp/gpioirq-result-detail}"; exit 77; }

# check "what the user expects" test-expression...   e.g.  check "value is 1" [ "$v" = 1 ]
check() {
  _what="$1"; shift
  if "$@"; then echo "ok: $_what"; else fail "$_what"; fi
}

# need_bin NAME...: skip the scenario when a binary is not in the initramfs (`which`: the
# injectors below are also shell functions).
need_bin() {
  for _b in "$@"; do
    which "$_b" >/dev/null 2>&1 || skip "$_b is not in the initramfs"
  done
}

# ---- a build's Catch2 test programs, whole ----------------------------------------------
# like_a_board: what a board has and this guest does not: a wall clock (no RTC, no NTP:
# realtime stamps are checked to be after 2020) and root's user and group names (the
# control socket's tests look up the process's own group by name).
like_a_board() {
  date -s "2026-12-01 00:00:00" > /dev/null || fail "cannot set the clock"
  [ -f /etc/passwd ] || echo "root:x:0:0:root:/root:/bin/sh" > /etc/passwd
  [ -f /etc/group ] || echo "root:x:0:" > /etc/group
}

# run_catch2 TAG PROGRAM...: runs each Catch2 executable whole, from /tmp, its output in
# /tmp/TAG-NAME.out; prints a line per program (passed or FAILED, seconds, Catch2's
# summary) and a failed one's last 300 lines. Adds " TAG:NAME" to RUN_SUMMARY for each
# program and to RUN_FAILED for each that failed; the caller fails on RUN_FAILED.
# RUN_CATCH2_SPEC, when set, is the Catch2 test spec each program is given (one argument).
RUN_SUMMARY=""
RUN_FAILED=""
RUN_CATCH2_SPEC=""
run_catch2() {
  _tag=$1; shift
  for _t in "$@"; do
    _name="${_t##*/}"
    _out="/tmp/$_tag-$_name.out"
    _start=$(date +%s)
    cd /tmp || fail "no /tmp"
    if "$_t" ${RUN_CATCH2_SPEC:+"$RUN_CATCH2_SPEC"} > "$_out" 2>&1; then
      _result=passed
    else
      _result="FAILED (exit $?)"
      RUN_FAILED="$RUN_FAILED $_tag:$_name"
      echo "---- $_tag $_name output (last 300 lines)"
      tail -n 300 "$_out"
    fi
    _line=$(grep -E '^(All tests passed|test cases:)' "$_out" | tail -n 1)
    echo "$_tag $_name: $_result in $(($(date +%s) - _start)) s: $_line"
    RUN_SUMMARY="$RUN_SUMMARY $_tag:$_name"
  done
}

# ---- CPUs ----------------------------------------------------------------------------
# The guests have 2 vCPUs (qemu -smp 2), like a small board. The injectors (edge_train,
# pwm_train) run on INJECT_CPU (default 0) and the daemon's RT thread on RT_CPU (default 1,
# daemon_config's `cpu`). An injector beside the RT thread, or unpinned, is held off its
# vCPU and gpio-sim's IRQ thread with it: the kernel then merges edges into one event before
# any reader sees them (docs/RELIABILITY.md), and a scenario could not tell how many it sent.
VM_CPUS=$(nproc)
INJECT_CPU=${INJECT_CPU-0}  # empty: unpinned
RT_CPU=${RT_CPU:-1}

# The gpio-sim IRQ threads (irq/N-… of an irq_sim IRQ) go with the injector: its write
# raises the IRQ on its own CPU and the thread (SCHED_FIFO 50) can run there before the
# injector's next write. Left free, the kernel wakes the thread on the CPU it last ran on,
# where it may wait (for the RT thread, or for a vCPU a loaded host is not running): on a
# busy build machine 200 edges at 2000/s were read as 2 without this, 200 with it.
# pin_sim_irq_threads HEXMASK
pin_sim_irq_threads() {
  for _c in /proc/[0-9]*/comm; do
    read -r _comm < "$_c" 2>/dev/null || continue
    case "$_comm" in irq/*-*) ;; *) continue ;; esac
    _irq=${_comm#irq/}
    _irq=${_irq%%-*}
    [ "$(cat /sys/kernel/irq/"$_irq"/chip_name 2>/dev/null)" = irq_sim ] || continue
    _p=${_c#/proc/}
    taskset -p "$1" "${_p%/comm}" > /dev/null 2>&1
  done
}

# inject CMD...: CMD and the gpio-sim IRQ threads pinned to INJECT_CPU (all free when it is
# empty or not in this guest).
inject() {
  if [ -n "$INJECT_CPU" ] && [ "$INJECT_CPU" -lt "$VM_CPUS" ]; then
    _mask=$(printf '%x' $((1 << INJECT_CPU)))
    pin_sim_irq_threads "$_mask"
    taskset "$_mask" "$@"
  else
    pin_sim_irq_threads "$(printf '%x' $(((1 << VM_CPUS) - 1)))"
    command "$@"
  fi
}
edge_train() { inject edge_train "$@"; }
# on_reader_cpu CMD...: a reader that is no RT thread (gpiomon) on RT_CPU, off the
# injector's CPU where the SCHED_FIFO IRQ threads would keep it from reading.
on_reader_cpu() {
  if [ "$VM_CPUS" -gt 1 ] && [ "$RT_CPU" -lt "$VM_CPUS" ]; then
    taskset "$(printf '%x' $((1 << RT_CPU)))" "$@"
  else
    "$@"
  fi
}
pwm_train() { inject pwm_train "$@"; }

# kv KEY < text: prints the value of the first KEY=value word.
kv() { sed -n "s/.*[[:space:]]$1=\([^[:space:]]*\).*/\1/p" | head -n1; }

# emit_file NAME PATH: sends PATH back to the host (decoded into the run's out dir as NAME).
emit_file() {
  echo "@@GPIOIRQ-FILE $1"
  base64 < "$2"
  echo "@@GPIOIRQ-FILE-END $1"
}

# ---- gpio-sim ------------------------------------------------------------------------
# sim_chip CHIP BANK:NUM_LINES[:NAME0,NAME1,...]...
#   Creates a live gpio-sim device CHIP with the given banks (one gpiochip each). Names are
#   given to lines 0, 1, ... in order ("-" leaves a line unnamed). Each bank's label is
#   CHIP-BANK, so consumers can find the chip by label too.
sim_chip() {
  _chip="$1"; shift
  mkdir "$GPIO_SIM_CFG/$_chip" || fail "cannot create gpio-sim chip $_chip"
  for _spec in "$@"; do
    _bank="${_spec%%:*}"; _rest="${_spec#*:}"
    _num="${_rest%%:*}"; _names=""
    [ "$_rest" != "$_num" ] && _names="${_rest#*:}"
    _b="$GPIO_SIM_CFG/$_chip/$_bank"
    mkdir "$_b" && echo "$_num" > "$_b/num_lines" && echo "$_chip-$_bank" > "$_b/label" ||
      fail "cannot configure bank $_chip/$_bank"
    _i=0
    for _n in $(echo "$_names" | tr ',' ' '); do
      if [ "$_n" != "-" ]; then
        mkdir "$_b/line$_i" && echo "$_n" > "$_b/line$_i/name" || fail "cannot name $_chip/$_bank line $_i"
      fi
      _i=$((_i + 1))
    done
  done
  echo 1 > "$GPIO_SIM_CFG/$_chip/live" || fail "cannot bring gpio-sim chip $_chip live"
}

# sim_dev CHIP BANK: prints /dev/gpiochipN of a bank.
sim_dev() { echo "/dev/$(cat "$GPIO_SIM_CFG/$1/$2/chip_name")"; }

# sim_line_dir CHIP BANK LINE: the sysfs directory holding the line's `pull` and `value`.
sim_line_dir() {
  echo "/sys/devices/platform/$(cat "$GPIO_SIM_CFG/$1/dev_name")/$(cat "$GPIO_SIM_CFG/$1/$2/chip_name")/sim_gpio$3"
}

# sim_pull_file CHIP BANK LINE: path of the line's sysfs `pull` (for edge_train).
sim_pull_file() { echo "$(sim_line_dir "$1" "$2" "$3")/pull"; }

# sim_pull CHIP BANK LINE up|down: what an external pull resistor would do to the line.
sim_pull() { echo "pull-$4" > "$(sim_pull_file "$1" "$2" "$3")"; }

# sim_get_pull CHIP BANK LINE: prints pull-up or pull-down (changed by consumers' bias too).
sim_get_pull() { cat "$(sim_pull_file "$1" "$2" "$3")"; }

# sim_value CHIP BANK LINE: prints the physical level gpio-sim reports (0/1).
sim_value() { cat "$(sim_line_dir "$1" "$2" "$3")/value"; }

# sim_remove CHIP: takes the device down and removes its configfs tree.
sim_remove() {
  echo 0 > "$GPIO_SIM_CFG/$1/live"
  for _b in "$GPIO_SIM_CFG/$1"/*/; do
    [ -d "$_b" ] || continue
    for _l in "$_b"line*/; do [ -d "$_l" ] && rmdir "$_l"; done
    rmdir "$_b"
  done
  rmdir "$GPIO_SIM_CFG/$1"
}

# ---- i2c-stub ------------------------------------------------------------------------
# i2c_stub_load ADDR[,ADDR...]: loads i2c-stub (a module: it cannot be built in) with chips at
# those addresses and sets I2C_BUS to the N of its /dev/i2c-N. (Not in $(...): fail must
# end the scenario, not a subshell.)
i2c_stub_load() {
  [ -f /lib/modules/i2c-stub.ko ] || skip "i2c-stub.ko is not in the initramfs"
  insmod /lib/modules/i2c-stub.ko chip_addr="$1" || fail "insmod i2c-stub chip_addr=$1"
  for _a in /sys/bus/i2c/devices/i2c-*; do
    if grep -q "SMBus stub driver" "$_a/name" 2>/dev/null; then
      I2C_BUS="${_a##*/i2c-}"
      return 0
    fi
  done
  fail "i2c-stub loaded but no adapter named 'SMBus stub driver'"
}

# ---- background processes with a ready handshake --------------------------------------
# start_ready NAME TIMEOUT_S CMD...: runs CMD in the background with "--ready-fifo F" appended,
# output to /tmp/NAME.out, and returns once CMD wrote to F (fails after TIMEOUT_S).
# The PID is in $READY_PID.
start_ready() {
  _name="$1"; _t="$2"; shift 2
  rm -f "/tmp/$_name.ready"
  mkfifo "/tmp/$_name.ready"
  "$@" --ready-fifo "/tmp/$_name.ready" > "/tmp/$_name.out" 2>&1 &
  READY_PID=$!
  if ! timeout "$_t" head -n1 "/tmp/$_name.ready" > /dev/null; then
    cat "/tmp/$_name.out"
    fail "$_name did not become ready within $_t s"
  fi
}

# wait_pid PID TIMEOUT_S: waits for a background job of this shell and sets WAIT_RC to its
# exit status (124: killed after TIMEOUT_S). Not in $(...): only this shell can wait for it.
wait_pid() {
  _pid="$1"; _t="$2"
  ( sleep "$_t"; kill "$_pid" 2>/dev/null ) &
  _watch=$!
  wait "$_pid"; _rc=$?
  kill "$_watch" 2>/dev/null
  wait "$_watch" 2>/dev/null
  [ "$_rc" -ge 128 ] && _rc=124
  WAIT_RC=$_rc
}

# ---- waiting on a condition -------------------------------------------------------------
# wait_until TIMEOUT_S WHAT CMD...: runs CMD every 50 ms until it succeeds; fails the
# scenario with WHAT after TIMEOUT_S. For states that have no event to wait on (a daemon
# that has read all the edges, a socket that answers).
wait_until() {
  _t="$1"; _what="$2"; shift 2
  _end=$(( $(cut -d. -f1 /proc/uptime) + _t ))
  until "$@"; do
    [ "$(cut -d. -f1 /proc/uptime)" -ge "$_end" ] && fail "timed out after $_t s waiting for: $_what"
    sleep 0.05
  done
}

# poll_until TIMEOUT_S CMD...: like wait_until, but returns 1 on timeout instead of failing.
poll_until() {
  _t="$1"; shift
  _end=$(( $(cut -d. -f1 /proc/uptime) + _t ))
  until "$@"; do
    [ "$(cut -d. -f1 /proc/uptime)" -ge "$_end" ] && return 1
    sleep 0.05
  done
}

# ---- gpioirqd ---------------------------------------------------------------------------
# daemon_config NAME [DAEMON_KEY=VALUE...]: a fresh directory /tmp/gpioirqd-NAME for one
# daemon (DAEMON_DIR), its config file DAEMON_CONF beginning with a [daemon] table as a real
# install has it (RT priority 80, mlock, CSV event log, edges logged) plus the given keys,
# logs in DAEMON_LOGS, the socket exported as GPIOIRQ_SOCKET (gpioirqctl's default), and on a
# guest with 2 CPUs or more the RT thread on RT_CPU (`cpu = -1` leaves it to the daemon).
# Append [[chip]] and device tables to DAEMON_CONF afterwards.
daemon_config() {
  DAEMON_DIR="/tmp/gpioirqd-$1"; shift
  DAEMON_CONF="$DAEMON_DIR/gpioirqd.toml"
  DAEMON_LOGS="$DAEMON_DIR/logs"
  DAEMON_EVENTS="$DAEMON_LOGS/events.csv"
  export GPIOIRQ_SOCKET="$DAEMON_DIR/control.sock"
  rm -rf "$DAEMON_DIR"
  mkdir -p "$DAEMON_DIR" || fail "cannot make $DAEMON_DIR"
  {
    echo "[daemon]"
    echo "log_dir = \"$DAEMON_LOGS\""
    echo "socket_path = \"$GPIOIRQ_SOCKET\""
    _defaults='rt_priority = 80|mlock = true|event_log_format = "csv"|log_edges = true'
    [ "$VM_CPUS" -ge 2 ] && _defaults="$_defaults|cpu = $RT_CPU"
    _ifs=$IFS; IFS='|'
    for _kv in $_defaults; do
      IFS=$_ifs
      # a key given by the caller replaces the default
      case " $* " in *" ${_kv%% *}="*|*" ${_kv%% *} ="*) ;; *) echo "$_kv" ;; esac
      IFS='|'
    done
    IFS=$_ifs
    for _kv in "$@"; do echo "$_kv"; done
    echo
  } > "$DAEMON_CONF"
}

# daemon_start [TIMEOUT_S]: checks DAEMON_CONF (gpioirqd --check-config), starts gpioirqd
# on it in the background (output in $DAEMON_DIR/daemon.out) and returns once its control
# socket answers `status` (fails if it exits first or does not answer within TIMEOUT_S,
# default 15). The daemon's PID is in DAEMON_PID.
daemon_start() {
  gpioirqd --check-config "$DAEMON_CONF" || { cat -n "$DAEMON_CONF"; fail "gpioirqd refuses the config"; }
  gpioirqd -c "$DAEMON_CONF" > "$DAEMON_DIR/daemon.out" 2>&1 &
  DAEMON_PID=$!
  FAIL_HOOK=_daemon_dump
  wait_until "${1:-15}" "gpioirqd to answer on $GPIOIRQ_SOCKET" _daemon_up
  echo "gpioirqd running (pid $DAEMON_PID)"
}
_daemon_up() {
  if ! kill -0 "$DAEMON_PID" 2>/dev/null; then
    cat "$DAEMON_DIR/daemon.out"
    fail "gpioirqd exited during start-up"
  fi
  gpioirqctl --timeout 2 --json status > /dev/null 2>&1
}

# On failure: what the daemon said and its status.
_daemon_dump() {
  echo "---- gpioirqd output"
  cat "$DAEMON_DIR/daemon.out"
  if kill -0 "$DAEMON_PID" 2>/dev/null; then
    echo "---- gpioirqctl status"
    gpioirqctl --json status
    for _c in encoders buttons counters imu; do gpioirqctl --json "$_c"; done
  fi
  echo "---- event log: last 20 rows"
  tail -n 20 "$DAEMON_EVENTS" 2>/dev/null
}

# daemon_stop [TIMEOUT_S]: SIGTERM, waits for the exit (which flushes the log files) and
# checks the exit status is 0. Prints the daemon's output.
daemon_stop() {
  kill -TERM "$DAEMON_PID" 2>/dev/null
  wait_pid "$DAEMON_PID" "${1:-20}"
  sed 's/^/gpioirqd: /' "$DAEMON_DIR/daemon.out"
  check "gpioirqd exits 0 on SIGTERM (got $WAIT_RC)" [ "$WAIT_RC" = 0 ]
}

# daemon_freeze: SIGSTOP the daemon and wait until every one of its threads is stopped, so
# that nothing reads the kernel's FIFOs until daemon_thaw (SIGCONT).
daemon_freeze() {
  kill -STOP "$DAEMON_PID"
  wait_until 10 "every gpioirqd thread to stop" _daemon_all_stopped
  echo "gpioirqd stopped ($(ls /proc/"$DAEMON_PID"/task | wc -l) threads)"
}
_daemon_all_stopped() {
  for _s in /proc/"$DAEMON_PID"/task/*/stat; do
    [ "$(sed 's/.*) //' "$_s" | cut -d' ' -f1)" = T ] || return 1
  done
}
daemon_thaw() { kill -CONT "$DAEMON_PID"; }

# ctl_json FILE CMD...: `gpioirqctl --json CMD...` into FILE (fails on an error).
ctl_json() {
  _f="$1"; shift
  gpioirqctl --json "$@" > "$_f" || { cat "$_f"; fail "gpioirqctl $* failed"; }
}

# jget FILE PATH: one value from a JSON file (tools/json_get syntax, e.g.
# 'lines[device=knob,role=a].edges'); empty if it is not there.
jget() { json_get -f "$1" "$2" 2>/dev/null; }

# line_stat DEVICE ROLE FIELD: a per-line figure from a fresh `gpioirqctl status`
# (edges, kernel_lost, ring_dropped, offset, chip).
line_stat() {
  gpioirqctl --json status > "$DAEMON_DIR/.status.json" 2>/dev/null || return 1
  jget "$DAEMON_DIR/.status.json" "lines[device=$1,role=$2].$3"
}

# line_edges_are DEVICE ROLE N: true once status shows N edges read on that line.
line_edges_are() { [ "$(line_stat "$1" "$2" edges)" = "$3" ]; }

# edge_summary DEVICE [ROLE]: one line of key=value facts about the EDGE rows of a line in
# the CSV event log DAEMON_EVENTS:
#   rows first_seq last_seq seq_breaks (line_seqno not +1) missing (seqnos skipped in all)
#   ranges (the skipped ranges as FROM-TO;... with FROM the last seqno seen before and TO the
#   first one after, as GAP rows give them) ts_back (timestamp went backwards) same_type
#   (edge type repeated) first_edge chip offset ts_min ts_max
edge_summary() {
  awk -F, -v d="$1" -v r="${2:-}" '
    $1 == "EDGE" && $4 == d && (r == "" || $5 == r) {
      n++
      if (n == 1) { first = $9; first_edge = $8; tmin = $2 }
      else {
        if ($9 != prev + 1) { breaks++; missing += $9 - prev - 1; ranges = ranges (ranges == "" ? "" : ";") prev "-" $9 }
        if ($2 < pts) back++
        if ($8 == pedge) same++
      }
      prev = $9; pts = $2; pedge = $8; chip = $6; off = $7
      if ($2 > tmax) tmax = $2
    }
    END {
      printf "edges rows=%d first_seq=%s last_seq=%s seq_breaks=%d missing=%d ranges=%s ts_back=%d same_type=%d first_edge=%s chip=%s offset=%s ts_min=%s ts_max=%s\n",
        n, first, prev, breaks, missing, (ranges == "" ? "-" : ranges), back, same, first_edge, chip, off, tmin, tmax
    }' "$DAEMON_EVENTS"
}

# marker_ts TYPE: ts_ns of the first START/STOP/... row of the event log.
marker_ts() { awk -F, -v t="$1" '$1 == t { print $2; exit }' "$DAEMON_EVENTS"; }

# log_rows TYPE [DEVICE [KIND]]: number of rows of that type (and device, kind) in the log.
log_rows() {
  awk -F, -v t="$1" -v d="${2:-}" -v k="${3:-}" '
    $1 == t && (d == "" || $4 == d) && (k == "" || $11 == k) { n++ } END { print n + 0 }' "$DAEMON_EVENTS"
}
