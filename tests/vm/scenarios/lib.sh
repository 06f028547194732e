# Shell helpers for VM scenarios (busybox sh). Source it first:  . /scenarios/lib.sh
# A scenario is /scenarios/<name>.sh; it ends with pass/fail/skip (or exit 0/1/77), and its
# console output is shown by run-scenario.py. Not itself a scenario (no ctest test).

GPIO_SIM_CFG=/sys/kernel/config/gpio-sim

# ---- results -------------------------------------------------------------------------
pass() { echo "$*" > "${GPIOIRQ_RESULT_FILE:-/tmp/gpioirq-result-detail}"; exit 0; }
fail() { echo "FAIL: $*"; echo "$*" > "${GPIOIRQ_RESULT_FILE:-/tmp/gpioirq-result-detail}"; exit 1; }
skip() { echo "SKIP: $*"; echo "$*" > "${GPIOIRQ_RESULT_FILE:-/tmp/gpioirq-result-detail}"; exit 77; }

# check "what the user expects" test-expression...   e.g.  check "value is 1" [ "$v" = 1 ]
check() {
  _what="$1"; shift
  if "$@"; then echo "ok: $_what"; else fail "$_what"; fi
}

# need_bin NAME...: skip the scenario when a binary is not in the initramfs.
need_bin() {
  for _b in "$@"; do
    command -v "$_b" >/dev/null 2>&1 || skip "$_b is not in the initramfs"
  done
}

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
