#!/usr/bin/env bash
# The README's second command: installs what is missing, builds, and runs every test:
# unit, stress, host pipeline, the sanitizer build of the primitives (TSan), every unit
# and host test again under ASan+UBSan, the fuzz targets (corpus and regression replay, then
# GPIOIRQ_FUZZ_SECONDS of libFuzzer a target, default 30), the unit tests built for arm64
# and for armhf and run under qemu-user (labels arm64, armhf; those that need io_uring
# cannot run there), and the real-kernel tests in qemu VMs: x86_64 (label vm) and arm64
# (label vm-arm64), each with 2 vCPUs. Exits non-zero if anything failed.
# docs/TESTING.md has the tiers.
#   scripts/test.sh                 everything
#   scripts/test.sh -L unit         only some ctest labels (passed on to ctest)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
jobs=$(nproc)

if [[ $(id -u) -eq 0 ]]; then
  scripts/install-deps.sh
else
  scripts/install-deps.sh --check || { echo "test.sh: run as root to install the above" >&2; exit 1; }
fi

build=${GPIOIRQ_BUILD_DIR:-$root/build}
tsan=${GPIOIRQ_TSAN_BUILD_DIR:-$root/build-tsan}
asan=${GPIOIRQ_ASAN_BUILD_DIR:-$root/build-asan}
fuzz=${GPIOIRQ_FUZZ_BUILD_DIR:-$root/build-fuzz}
fuzz_seconds=${GPIOIRQ_FUZZ_SECONDS:-30}
arm64=${GPIOIRQ_ARM64_BUILD_DIR:-$root/build-arm64}
armhf=${GPIOIRQ_ARMHF_BUILD_DIR:-$root/build-armhf}
tsan_arm64=${GPIOIRQ_ARM64_TSAN_BUILD_DIR:-$root/build-tsan-arm64}
summary=()
status=0
# A tier with no test at all is an error, unless the arguments chose some labels or names
# (then a tier may hold none of them: -L host has nothing in the TSan build).
no_tests=error
(($#)) && no_tests=ignore

run_ctest() {  # dir, name, ctest args...
  local dir=$1 name=$2 log started=$SECONDS
  shift 2
  log=$(mktemp)
  set +e
  ctest --test-dir "$dir" --output-on-failure --no-tests="$no_tests" "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  set -e
  ((rc == 0)) || status=1
  local line
  line=$(grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" "$log" | tail -1 || true)
  summary+=("$name: ${line:-no summary (ctest exit $rc)} ($((SECONDS - started)) s)")
  local total failed skipped
  total=$(sed -nE 's/.*tests failed out of ([0-9]+).*/\1/p' <<<"$line")
  failed=$(sed -nE 's/.* ([0-9]+) tests failed out of.*/\1/p' <<<"$line")
  skipped=$(grep -cE "\(Skipped\)|\*\*\*Skipped" "$log" || true)
  total_all=$((total_all + ${total:-0}))
  failed_all=$((failed_all + ${failed:-0}))
  skipped_all=$((skipped_all + skipped))
  rm -f "$log"
}
total_all=0 failed_all=0 skipped_all=0

echo "== build ($build)"
# -g1 (line tables, no types or locals): a quarter less compile time than -g, and every
# backtrace keeps its files and lines.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGPIOIRQ_TESTS=ON -DGPIOIRQ_BENCHMARKS=ON \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" \
  -DGPIOIRQ_VM_TESTS=ON >/dev/null  # explicit: scripts/demo.sh may have made this build without tests
cmake --build "$build" -j"$jobs"

echo "== TSan build of the primitives ($tsan)"
cmake -S . -B "$tsan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGPIOIRQ_ONLY_CORE=ON \
  -DGPIOIRQ_SANITIZER=thread -DGPIOIRQ_BENCHMARKS=OFF -DGPIOIRQ_VM_TESTS=OFF >/dev/null
cmake --build "$tsan" -j"$jobs"

started=$SECONDS
echo "== ASan+UBSan build of everything ($asan)"
# -Og -g1: the sanitizers check as much as at -O2 -g (the instrumentation is the same; the
# reports keep file and line), and GCC compiles UBSan's checks at -O2 -g three times as
# slowly (docs/TESTING.md): this was the longest build of the run.
cmake -S . -B "$asan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGPIOIRQ_SANITIZER=address \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-Og -g1 -DNDEBUG" \
  -DGPIOIRQ_BENCHMARKS=OFF -DGPIOIRQ_VM_TESTS=OFF >/dev/null
cmake --build "$asan" -j"$jobs"
summary+=("asan build: $((SECONDS - started)) s")

# The cross builds (cmake/toolchains/): what the tests need and nothing else (no
# benchmarks, fuzz targets, VM tests or man pages), at -O2 without debug info: the
# compiler's time is what these builds cost, and -g adds a third to it (docs/TESTING.md
# has the numbers); -O1 would be cheaper still, but GCC 12 then reports false maybe-uninitialized
# errors (std::optional<double> in lib/kinds/pwm_in, arm64) that -O2, the level of every
# other build, does not. NDEBUG as in the other builds. Each
# knows the native build, whose gpioirqd and gpioirqctl read the files the cross build's
# write and the other way round (tests/cross).
cross_build() {  # build dir, toolchain file, label, VM tests ON/OFF, io_uring tests ON/OFF, cmake args...
  local dir=$1 toolchain=$2 label=$3 vm=$4 io_uring=$5 started=$SECONDS
  shift 5
  echo "== $label build ($dir)"
  # The tests that need io_uring only where a real kernel runs them: the arm64 guest runs
  # the arm64 build's and the armhf build's (vm-arm64:cross_io_uring_tests).
  cmake -S . -B "$dir" -DCMAKE_TOOLCHAIN_FILE="$root/cmake/toolchains/$toolchain.cmake" \
    -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O2 -DNDEBUG" -DCMAKE_C_FLAGS_RELEASE="-O2 -DNDEBUG" \
    -DGPIOIRQ_EXTRA_TEST_LABEL="$label" -DGPIOIRQ_NATIVE_BUILD_DIR="$build" \
    -DGPIOIRQ_BENCHMARKS=OFF -DGPIOIRQ_VM_TESTS="$vm" -DGPIOIRQ_CROSS_IO_URING_TESTS="$io_uring" \
    -DGPIOIRQ_MANPAGES=OFF "$@" >/dev/null
  cmake --build "$dir" -j"$jobs"
  summary+=("$label build: $((SECONDS - started)) s")
}
# The arm64 build also makes the arm64 VM's tests (label vm-arm64: the same scenarios as
# the x86 guest's, on the arm64 kernel under qemu-system-aarch64).
# The armhf build and the arm64 TSan build (the primitives, as build-tsan, with -g for the
# reports) first: the arm64 guest's initramfs takes their tests.
cross_build "$armhf" arm-linux-gnueabihf armhf OFF ON
cross_build "$tsan_arm64" aarch64-linux-gnu arm64-tsan OFF ON -DGPIOIRQ_ONLY_CORE=ON \
  -DGPIOIRQ_SANITIZER=thread -DCMAKE_CXX_FLAGS_RELEASE="-O2 -g -DNDEBUG" -DCMAKE_C_FLAGS_RELEASE="-O2 -g -DNDEBUG"
cross_build "$arm64" aarch64-linux-gnu arm64 ON ON -DGPIOIRQ_ARMHF_BUILD_DIR="$armhf" \
  -DGPIOIRQ_ARM64_TSAN_BUILD_DIR="$tsan_arm64"

started=$SECONDS
echo "== libFuzzer build of the fuzz targets, clang-14 ($fuzz)"
CC=clang-14 CXX=clang++-14 cmake -S . -B "$fuzz" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGPIOIRQ_FUZZ=ON \
  -DGPIOIRQ_FUZZ_SECONDS="$fuzz_seconds" -DGPIOIRQ_BENCHMARKS=OFF -DGPIOIRQ_VM_TESTS=OFF >/dev/null
cmake --build "$fuzz" -j"$jobs" --target fuzzers
summary+=("fuzz build: $((SECONDS - started)) s")

echo "== tests under TSan"
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" run_ctest "$tsan" "tsan" -j"$jobs" "$@"

# Every unit and host test, with the daemon and gpioirqctl they start built with ASan+UBSan
# too: any report ends that process with exit code 23 (no test expects 23), a leak
# included (LeakSanitizer runs at exit). Left out: the vm label (not configured in this
# build: a second real-kernel run would add half an hour and test the kernel, not memory
# safety), bench (no sanitizer build), package (it builds the .deb from the sources with
# Debian's flags, not from this build), and host:systemd_unit / host:systemd_service, which
# check the installed unit file under real systemd (the main tier runs them; the code they
# start is what the other host tests run here).
echo "== tests under ASan+UBSan"
ASAN_OPTIONS="exitcode=23:detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1" \
  UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1" \
  run_ctest "$asan" "asan+ubsan" -j"$jobs" -LE '^(vm|bench|package)$' -E '^host:systemd_' "$@"

# The seed corpora and the regression inputs of every fuzz target, then libFuzzer for
# GPIOIRQ_FUZZ_SECONDS a target (scripts/fuzz.sh runs one target longer).
echo "== fuzz targets (replay, then ${fuzz_seconds}s of libFuzzer each)"
run_ctest "$fuzz" "fuzz" -j"$jobs" -L fuzz "$@"
# The unit tests of the arm64 and armhf builds, each test binary run by qemu-user
# (CMAKE_CROSSCOMPILING_EMULATOR), and tests/cross's decode of the native build's files by
# the cross build's gpioirqctl (through binfmt_misc). Left out:
# - label io_uring: qemu-user (Debian 12's 7.2) has no io_uring
#   (io_uring_setup is ENOSYS), which the event loop, so gpioirqd, needs: the loop, stress
#   and host tests and the cross-architecture daemon runs. tests/CMakeLists.txt gives a
#   cross build's executables that label by what their sources use. They need a real
#   kernel of that architecture: the vm-arm64 tier below.
# - as in the ASan tier: vm (x86 guest), bench and package (not built or not from this
#   build), host:systemd_unit / host:systemd_service (the installed unit under the
#   machine's own systemd; nothing in them depends on the CPU).
# - "i2c device: a missing bus...": it checks that an I2C transfer on a closed device fails
#   with EBADF, but qemu-user does not translate the I2C_RDWR ioctl and answers ENOSYS
#   before it looks at the fd (real I2C, i2c-stub, is in the arm64 VM's scenarios).
# Labels are anchored: -L arm64 alone would also match vm-arm64.
cross_excluded='^(vm|vm-arm64|bench|package|io_uring)$'
cross_excluded_tests='^(host:systemd_|test_devices:i2c device: a missing bus)'
echo "== arm64 tests under qemu-aarch64"
run_ctest "$arm64" "arm64" -j"$jobs" -L '^arm64$' -LE "$cross_excluded" -E "$cross_excluded_tests" "$@"
echo "== armhf tests under qemu-arm"
run_ctest "$armhf" "armhf" -j"$jobs" -L '^armhf$' -LE "$cross_excluded" -E "$cross_excluded_tests" "$@"
# The arm64 real-kernel tier: the same VM scenarios as the x86 guest's (tests/vm), booting
# the arm64 kernel (cross-built and cached like the x86 one) under qemu-system-aarch64
# -M virt with 2 vCPUs, the arm64 build's gpioirqd, gpioirqctl and helpers in its initramfs.
echo "== arm64 real kernel (qemu-system-aarch64)"
run_ctest "$arm64" "vm-arm64" -L '^vm-arm64$' "$@"

echo "== tests"
run_ctest "$build" "main" "$@"

echo
echo "== summary"
printf '%s\n' "${summary[@]}"
passed_all=$((total_all - failed_all - skipped_all))
echo "all: $passed_all passed, $failed_all failed, $skipped_all skipped"
exit $status
