#!/usr/bin/env bash
# Fuzzes one target of tests/fuzz/ for longer than scripts/test.sh does (60 s a target).
#   scripts/fuzz.sh                         list the targets
#   scripts/fuzz.sh TARGET [SECONDS] [-- LIBFUZZER_ARGS...]
#                                           fuzz TARGET for SECONDS (default 600)
# Builds with clang-14 and libFuzzer in build-fuzz/ (GPIOIRQ_FUZZ_BUILD_DIR). New inputs
# are kept in build-fuzz/tests/fuzz/work/TARGET/corpus and reused by the next run; a crash
# is written there as crash-* (docs/TESTING.md says how it becomes a regression test).
# Example, both cores: scripts/fuzz.sh fuzz_config 3600 -- -jobs=2 -workers=2
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${GPIOIRQ_FUZZ_BUILD_DIR:-$root/build-fuzz}
targets=$(sed -nE 's/^gpioirq_add_fuzzer\(([a-z_0-9]+) .*/\1/p' tests/fuzz/CMakeLists.txt)

if (($# == 0)); then
  echo "usage: scripts/fuzz.sh TARGET [SECONDS] [-- LIBFUZZER_ARGS...]; targets:"
  printf '  %s\n' $targets
  exit 2
fi
target=$1
seconds=600
shift
if (($#)) && [[ $1 != -- ]]; then
  seconds=$1
  shift
fi
[[ ${1:-} == -- ]] && shift
grep -qx "$target" <<<"$targets" || { echo "fuzz.sh: no target $target (one of: $targets)" >&2; exit 2; }

command -v clang++-14 >/dev/null && [[ -n $(ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a 2>/dev/null) ]] || {
  echo "fuzz.sh: needs clang-14 and libfuzzer-14-dev (scripts/install-deps.sh installs them)" >&2
  exit 1
}
CC=clang-14 CXX=clang++-14 cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGPIOIRQ_FUZZ=ON \
  -DGPIOIRQ_BENCHMARKS=OFF -DGPIOIRQ_VM_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target "$target"
exec bash tests/fuzz/run_fuzzer.sh fuzz libfuzzer "$build/tests/fuzz/$target" "$root/tests/fuzz" \
  "$target" "$seconds" "$build/tests/fuzz/work" "$@"
