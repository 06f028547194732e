#!/bin/sh
# vm-timeout: 900
# The TSan tier on arm64 (issue #14): lib/core's and lib/loop's tests built with
# -fsanitize=thread for arm64 (scripts/test.sh, build-tsan-arm64), run on the arm64 kernel
# with 2 vCPUs: the lock-free ring, RingIO, the ThreadSafeFlag and the RT→loop hand-over
# (test_stress) between two CPUs of a weakly ordered machine. qemu-user cannot run them (a
# TSan program never reaches main there, docs/TESTING.md). Each Catch2 executable whole,
# halting on the first report. Registered only when the TSan build's tests are in the
# initramfs (/usr/local/tsan/bin).
. /scenarios/lib.sh
dir=/usr/local/tsan/bin
TESTS=""
for t in "$dir"/test_*; do
  [ -x "$t" ] && TESTS="$TESTS $t"
done
[ -n "$TESTS" ] || fail "no TSan test executables in $dir"
# Each is the TSan build's (it needs libtsan), not a plain one that could report nothing.
for t in $TESTS; do
  grep -q libtsan.so "$t" || fail "$t does not use libtsan: not a TSan build"
done
# The tinyconfig kernel has no madvise (CONFIG_ADVISE_SYSCALLS); TSan would stop at its
# first MADV_DONTDUMP of the shadow, which only keeps core dumps small.
# A wall clock (no RTC here) and root's name, as in cross_io_uring_tests.
date -s "2026-12-01 00:00:00" > /dev/null || fail "cannot set the clock"
[ -f /etc/passwd ] || echo "root:x:0:0:root:/root:/bin/sh" > /etc/passwd
[ -f /etc/group ] || echo "root:x:0:" > /etc/group
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 use_madv_dontdump=0"
echo "CPUs: $(nproc), kernel $(uname -m) $(uname -r)"
failed=""
summary=""
for t in $TESTS; do
  name="${t##*/}"
  start=$(date +%s)
  cd /tmp || fail "no /tmp"
  if "$t" > "/tmp/tsan-$name.out" 2>&1; then
    result=passed
  else
    result="FAILED (exit $?)"
    failed="$failed $name"
    echo "---- $name output (last 80 lines)"
    tail -n 80 "/tmp/tsan-$name.out"
  fi
  # A TSan report that did not stop the program (it should, halt_on_error) still fails it.
  if grep -q "WARNING: ThreadSanitizer" "/tmp/tsan-$name.out" && [ "$result" = passed ]; then
    result="FAILED (a ThreadSanitizer report)"
    failed="$failed $name"
    grep -A30 "WARNING: ThreadSanitizer" "/tmp/tsan-$name.out" | head -n 60
  fi
  line=$(grep -E '^(All tests passed|test cases:)' "/tmp/tsan-$name.out" | tail -n 1)
  echo "tsan $name: $result in $(($(date +%s) - start)) s: $line"
  summary="$summary $name"
done
[ -z "$failed" ] || fail "under TSan on the arm64 kernel:$failed"
pass "no ThreadSanitizer report on the arm64 kernel:$summary"
