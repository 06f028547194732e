#!/usr/bin/env bash
# The README's second command: installs what is missing, builds, and runs every test:
# unit, stress, host pipeline, the sanitizer build of the primitives (TSan), and the
# real-kernel tests in a qemu VM (label vm). Exits non-zero if anything failed.
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
summary=()
status=0

run_ctest() {  # dir, name, ctest args...
  local dir=$1 name=$2 log
  shift 2
  log=$(mktemp)
  set +e
  ctest --test-dir "$dir" --output-on-failure --no-tests=error "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  set -e
  ((rc == 0)) || status=1
  local line
  line=$(grep -E "tests passed, [0-9]+ tests failed out of [0-9]+" "$log" | tail -1 || true)
  summary+=("$name: ${line:-no summary (ctest exit $rc)}")
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
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$jobs"

echo "== TSan build of the primitives ($tsan)"
cmake -S . -B "$tsan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGPIOIRQ_ONLY_CORE=ON \
  -DGPIOIRQ_SANITIZER=thread -DGPIOIRQ_BENCHMARKS=OFF -DGPIOIRQ_VM_TESTS=OFF >/dev/null
cmake --build "$tsan" -j"$jobs"

echo "== tests under TSan"
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" run_ctest "$tsan" "tsan" -j"$jobs" "$@"
echo "== tests"
run_ctest "$build" "main" "$@"

echo
echo "== summary"
printf '%s\n' "${summary[@]}"
passed_all=$((total_all - failed_all - skipped_all))
echo "all: $passed_all passed, $failed_all failed, $skipped_all skipped"
exit $status
