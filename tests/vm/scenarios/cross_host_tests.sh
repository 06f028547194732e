#!/bin/sh
# vm-timeout: 900
# The host pipeline tests (tests/host, test_host) of the arm64 build, and of the armhf build
# when its programs are here, on the arm64 kernel: the real gpioirqd and gpioirqctl of that
# build on `sim` configurations, through the control socket and the log files. qemu-user
# (the arm64 and armhf tiers) has no io_uring, so a daemon cannot run there.
# Left out, by tag, because the guest lacks the program they drive (busybox only):
#   [mqtt]     a mosquitto broker (and its TLS tools)
#   [clients]  util-linux's prlimit, which sets the daemon's fd limits
# Anything else Catch2 skips fails the scenario: a skip here would hide a test not run.
# The checkout's files the tests read (config/, docs/METRICS.md, tests/host/golden/) are in
# the initramfs under /usr/local/share/gpioirq-src (tests/vm/fixture.sh).
. /scenarios/lib.sh
src=/usr/local/share/gpioirq-src
[ -d "$src/config" ] && [ -f "$src/docs/METRICS.md" ] && [ -d "$src/tests/host/golden" ] ||
  fail "the checkout's files are not under $src in the initramfs"
[ -x /usr/local/bin/test_host ] || fail "no test_host in the initramfs"
like_a_board
echo "CPUs: $(nproc), kernel $(uname -m) $(uname -r)"
export GPIOIRQ_TEST_SOURCE_DIR=$src
RUN_CATCH2_SPEC='~[mqtt]~[clients]'
run_set() {  # ARCH DIR: that build's test_host, gpioirqd and gpioirqctl
  for p in test_host gpioirqd gpioirqctl; do
    [ -x "$2/$p" ] || fail "no $1 $p in $2"
  done
  export GPIOIRQ_TEST_GPIOIRQD=$2/gpioirqd GPIOIRQ_TEST_GPIOIRQCTL=$2/gpioirqctl
  run_catch2 "$1" "$2/test_host"
  out="/tmp/$1-test_host.out"
  if grep -E '^test cases:.*skipped' "$out"; then
    grep -B2 -A6 'SKIPPED' "$out" | head -n 40
    RUN_FAILED="$RUN_FAILED $1:test_host(skipped)"
  fi
}
run_set arm64 /usr/local/bin
[ -x /usr/local/armhf/bin/test_host ] && run_set armhf /usr/local/armhf/bin
[ -z "$RUN_FAILED" ] || fail "failed on the arm64 kernel:$RUN_FAILED"
pass "passed on the arm64 kernel, all but [mqtt] and [clients]:$RUN_SUMMARY"
