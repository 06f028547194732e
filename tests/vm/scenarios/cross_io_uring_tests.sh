#!/bin/sh
# vm-timeout: 900
# The arm64 build's own tests that need io_uring, on the arm64 kernel: qemu-user (the
# arm64 tier) has no io_uring, so the event loop, the stress test of the RT→loop hand-over
# (lock-free ring and ThreadSafeFlag between two CPUs of a weakly ordered machine), the
# file sinks, the control socket, every device kind and the event fan-out run here, each
# Catch2 executable whole. Registered for the arm64 guest only, when the arm64 build makes
# these tests (GPIOIRQ_CROSS_IO_URING_TESTS, scripts/test.sh sets it); the x86 build runs
# them natively in its main tier.
. /scenarios/lib.sh
# The executables tests/vm/CMakeLists.txt put in the initramfs (it names them), less the
# gpioirqctl that test_control starts.
TESTS=""
for t in /usr/local/bin/test_*; do
  [ -x "$t" ] && [ "${t##*/}" != test_gpioirqctl_bin ] && TESTS="$TESTS ${t##*/}"
done
[ -n "$TESTS" ] || fail "no test executables in the initramfs"
need_bin test_gpioirqctl_bin
# What a board has and this guest does not: a wall clock (no RTC, no NTP: the sinks' tests
# check that realtime start stamps are after 2020) and the root user and group (the
# control socket's tests look up the process's own group by name).
date -s "2026-12-01 00:00:00" > /dev/null || fail "cannot set the clock"
[ -f /etc/passwd ] || echo "root:x:0:0:root:/root:/bin/sh" > /etc/passwd
[ -f /etc/group ] || echo "root:x:0:" > /etc/group
# test_control's client tests start gpioirqctl: the one built for them, here.
export GPIOIRQ_TEST_GPIOIRQCTL=/usr/local/bin/test_gpioirqctl_bin
echo "CPUs: $(nproc), kernel $(uname -m) $(uname -r)"
failed=""
summary=""
for t in $TESTS; do
  start=$(date +%s)
  cd /tmp || fail "no /tmp"
  if "$t" > "/tmp/$t.out" 2>&1; then
    result=passed
  else
    result="FAILED (exit $?)"
    failed="$failed $t"
    echo "---- $t output (last 60 lines)"
    tail -n 60 "/tmp/$t.out"
  fi
  line=$(grep -E '^(All tests passed|test cases:)' "/tmp/$t.out" | tail -n 1)
  echo "$t: $result in $(($(date +%s) - start)) s: $line"
  summary="$summary $t"
done
[ -z "$failed" ] || fail "failed on the arm64 kernel:$failed"
pass "passed on the arm64 kernel:$summary"
