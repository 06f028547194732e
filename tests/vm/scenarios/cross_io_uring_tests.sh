#!/bin/sh
# vm-timeout: 1200
# The arm64 build's own tests that need io_uring, on the arm64 kernel: qemu-user (the
# arm64 tier) has no io_uring, so the event loop, the stress test of the RT→loop hand-over
# (lock-free ring and ThreadSafeFlag between two CPUs of a weakly ordered machine), the
# file sinks, the control socket, every device kind and the event fan-out run here, each
# Catch2 executable whole. Registered for the arm64 guest only, when the arm64 build makes
# these tests (GPIOIRQ_CROSS_IO_URING_TESTS, scripts/test.sh sets it); the x86 build runs
# them natively in its main tier.
. /scenarios/lib.sh
# The executables tests/vm/CMakeLists.txt put in the initramfs (it names them): the arm64
# build's in /usr/local/bin and, when scripts/test.sh made the armhf build's too, those in
# /usr/local/armhf/bin: 32-bit ARM programs (32-bit time_t and long) on this kernel's
# CONFIG_COMPAT, the one real kernel the armhf io_uring code meets. Each set less the
# gpioirqctl that its test_control starts.
tests_in() {  # DIR: the test executables in it
  for t in "$1"/test_*; do
    [ -x "$t" ] && [ "${t##*/}" != test_gpioirqctl_bin ] && echo "$t"
  done
}
[ -n "$(tests_in /usr/local/bin)" ] || fail "no test executables in the initramfs"
need_bin test_gpioirqctl_bin
# What a board has and this guest does not: a wall clock (no RTC, no NTP: the sinks' tests
# check that realtime start stamps are after 2020) and the root user and group (the
# control socket's tests look up the process's own group by name).
date -s "2026-12-01 00:00:00" > /dev/null || fail "cannot set the clock"
[ -f /etc/passwd ] || echo "root:x:0:0:root:/root:/bin/sh" > /etc/passwd
[ -f /etc/group ] || echo "root:x:0:" > /etc/group
echo "CPUs: $(nproc), kernel $(uname -m) $(uname -r)"
failed=""
summary=""
run_set() {  # ARCH DIR
  arch=$1 dir=$2
  # test_control's client tests start gpioirqctl: the one built for them, beside them.
  export GPIOIRQ_TEST_GPIOIRQCTL=$dir/test_gpioirqctl_bin
  for t in $(tests_in "$dir"); do
    name="${t##*/}"
    start=$(date +%s)
    cd /tmp || fail "no /tmp"
    if "$t" > "/tmp/$arch-$name.out" 2>&1; then
      result=passed
    else
      result="FAILED (exit $?)"
      failed="$failed $arch:$name"
      echo "---- $arch $name output (last 60 lines)"
      tail -n 60 "/tmp/$arch-$name.out"
    fi
    line=$(grep -E '^(All tests passed|test cases:)' "/tmp/$arch-$name.out" | tail -n 1)
    echo "$arch $name: $result in $(($(date +%s) - start)) s: $line"
    summary="$summary $arch:$name"
  done
}
run_set arm64 /usr/local/bin
if [ -d /usr/local/armhf/bin ]; then
  [ -n "$(tests_in /usr/local/armhf/bin)" ] || fail "/usr/local/armhf/bin has no test executables"
  [ -x /usr/local/armhf/bin/test_gpioirqctl_bin ] || fail "no armhf test_gpioirqctl_bin"
  run_set armhf /usr/local/armhf/bin
fi
[ -z "$failed" ] || fail "failed on the arm64 kernel:$failed"
pass "passed on the arm64 kernel:$summary"
