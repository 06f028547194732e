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
like_a_board
# The tinyconfig kernel has no madvise (CONFIG_ADVISE_SYSCALLS); TSan would stop at its
# first MADV_DONTDUMP of the shadow, which only keeps core dumps small.
export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1 use_madv_dontdump=0"
echo "CPUs: $(nproc), kernel $(uname -m) $(uname -r)"
run_catch2 tsan $TESTS
# A TSan report that did not stop its program (halt_on_error should) fails it too.
for out in /tmp/tsan-test_*.out; do
  grep -q "WARNING: ThreadSanitizer" "$out" || continue
  grep -A30 "WARNING: ThreadSanitizer" "$out" | head -n 60
  RUN_FAILED="$RUN_FAILED ${out#/tmp/}"
done
[ -z "$RUN_FAILED" ] || fail "under TSan on the arm64 kernel:$RUN_FAILED"
pass "no ThreadSanitizer report on the arm64 kernel:$RUN_SUMMARY"
