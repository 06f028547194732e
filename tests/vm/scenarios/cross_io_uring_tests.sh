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
# gpioirqctl that its test_control starts, and test_host (cross_host_tests runs it).
tests_in() {  # DIR: the test executables in it
  for t in "$1"/test_*; do
    case "${t##*/}" in test_gpioirqctl_bin | test_host) continue ;; esac
    [ -x "$t" ] && echo "$t"
  done
}
[ -n "$(tests_in /usr/local/bin)" ] || fail "no test executables in the initramfs"
need_bin test_gpioirqctl_bin
like_a_board
echo "CPUs: $(nproc), kernel $(uname -m) $(uname -r)"
run_set() {  # ARCH DIR
  # test_control's client tests start gpioirqctl: the one built for them, beside them.
  export GPIOIRQ_TEST_GPIOIRQCTL=$2/test_gpioirqctl_bin
  run_catch2 "$1" $(tests_in "$2")
}
run_set arm64 /usr/local/bin
if [ -d /usr/local/armhf/bin ]; then
  [ -n "$(tests_in /usr/local/armhf/bin)" ] || fail "/usr/local/armhf/bin has no test executables"
  [ -x /usr/local/armhf/bin/test_gpioirqctl_bin ] || fail "no armhf test_gpioirqctl_bin"
  run_set armhf /usr/local/armhf/bin
fi
[ -z "$RUN_FAILED" ] || fail "failed on the arm64 kernel:$RUN_FAILED"
pass "passed on the arm64 kernel:$RUN_SUMMARY"
