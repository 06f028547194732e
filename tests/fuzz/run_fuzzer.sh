#!/usr/bin/env bash
# Runs one fuzz target (tests/fuzz/CMakeLists.txt registers these as ctest tests; scripts/fuzz.sh
# uses it for longer runs).
#   run_fuzzer.sh replay ENGINE BINARY FUZZ_DIR TARGET
#       every input of FUZZ_DIR/corpus/TARGET and FUZZ_DIR/regressions/TARGET, once
#   run_fuzzer.sh fuzz libfuzzer BINARY FUZZ_DIR TARGET SECONDS WORK_DIR [LIBFUZZER_ARGS...]
#       libFuzzer for SECONDS, starting from those inputs; new inputs go to
#       WORK_DIR/TARGET/corpus, a crash to WORK_DIR/TARGET/ (printed with what to do)
# ENGINE: libfuzzer (a binary linked with -fsanitize=fuzzer) or replay (replay_main.cpp).
set -euo pipefail
mode=$1 engine=$2 binary=$3 fuzz_dir=$4 target=$5
shift 5

inputs=() dirs=()
for dir in "$fuzz_dir/corpus/$target" "$fuzz_dir/regressions/$target"; do
  [[ -d $dir ]] || continue
  dirs+=("$dir")
  while IFS= read -r -d '' f; do inputs+=("$f"); done < <(find "$dir" -type f -print0 | sort -z)
done
((${#inputs[@]})) || { echo "run_fuzzer: no inputs for $target under $fuzz_dir" >&2; exit 1; }

# Every sanitizer report fails the run (libFuzzer sets its own options for the fuzz mode).
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

case $mode in
replay)
  echo "run_fuzzer: $target: replaying ${#inputs[@]} inputs"
  # Both engines run each file named once (libFuzzer: "Running: FILE") and fail on the
  # first input that crashes or fails a property.
  exec "$binary" "${inputs[@]}"
  ;;
fuzz)
  [[ $engine == libfuzzer ]] || { echo "run_fuzzer: fuzzing needs a GPIOIRQ_FUZZ=ON build" >&2; exit 2; }
  seconds=$1 work=$2
  shift 2
  out=$work/$target
  mkdir -p "$out/corpus"
  echo "run_fuzzer: $target: fuzzing for ${seconds}s from ${#inputs[@]} inputs (new ones in $out/corpus)"
  set +e
  # libFuzzer adds new inputs to the first directory only: the source tree stays as it is.
  "$binary" -max_total_time="$seconds" -timeout=25 -rss_limit_mb=2560 -print_final_stats=1 \
    -artifact_prefix="$out/" "$@" "$out/corpus" "${dirs[@]}"
  rc=$?
  set -e
  if ((rc != 0)); then
    echo "run_fuzzer: $target FOUND A FAILURE: the input is the crash-*/leak-*/timeout-* file above in $out/" >&2
    echo "run_fuzzer: keep it as a regression: cp $out/crash-... $fuzz_dir/regressions/$target/<what-it-is>" >&2
  fi
  exit $rc
  ;;
*)
  echo "run_fuzzer: unknown mode $mode" >&2
  exit 2
  ;;
esac
