#!/usr/bin/env bash
# End-to-end pipeline benchmark (issue 4, "Speed and memory"), on the sim backend.
#   scripts/bench-pipeline.sh [bench_pipeline options...]
# Builds bench_pipeline (Release) in build-bench-pipeline/ (or $GPIOIRQ_BENCH_PIPELINE_BUILD_DIR)
# and prints ONE markdown report: the highest edge rate carried without loss through
# RT thread -> ring -> loop -> decoders -> event log (log_edges true and false), CPU per
# edge on each thread, RSS of the demo config, idle CPU over 10 s, heap allocations on the
# RT thread. Medians of 3 runs; each trial runs in its own child process. About 6 minutes
# (about 10 with --loop-fifo 70, which repeats the rate search with the loop thread at
# SCHED_FIFO 70, as `chrt -f 70 gpioirqd` would run it).
# Needs root for the real-time treatment the demo config asks for (SCHED_FIFO, mlockall);
# without it the daemon runs on and the table says what was refused.
# Options (bench_pipeline --help): --runs N, --seconds S (per rate trial), --idle-seconds S,
# --demo-seconds S, --start-rate R, --max-rate R, --dir DIR (temporary logs, default /tmp),
# --json-out FILE (every trial's raw figures). Progress goes to stderr.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
case ${1:-} in -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac

build=${GPIOIRQ_BENCH_PIPELINE_BUILD_DIR:-$root/build-bench-pipeline}
echo "bench-pipeline.sh: building bench_pipeline (Release) in $build" >&2
# -Wno-restrict: GCC 12 at -O3 reports a false -Wrestrict inside std::string's operator+
# (GCC bug 105651), e.g. in lib/config/loader.cpp; warnings are errors in this project.
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DGPIOIRQ_BENCHMARKS=ON -DGPIOIRQ_SANITIZER= \
  -DGPIOIRQ_ONLY_CORE=OFF -DGPIOIRQ_VM_TESTS=OFF -DCMAKE_CXX_FLAGS=-Wno-restrict >/dev/null
cmake --build "$build" --target bench_pipeline -j"$(nproc)" >&2
bin=$build/tests/bench/pipeline/bench_pipeline

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
start=$(date -u +%Y-%m-%dT%H:%MZ)
report=$("$bin" "$@")
cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | sed -n 1p)
mhz=$(sed -n 's/^cpu MHz[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | sed -n 1p)
echo "## gpioirq pipeline benchmark"
echo
echo "Machine: $(nproc) CPUs, ${cpu:-unknown CPU}${mhz:+ (${mhz%.*} MHz)}, Linux $(uname -r) ($(uname -m)), $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2/1048576}' /proc/meminfo)"
echo "Load average before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg) (other work shares these CPUs)"
echo "Date: $start, commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
echo "Running as: $(id -un); RT throttling: sched_rt_runtime_us=$(cat /proc/sys/kernel/sched_rt_runtime_us 2>/dev/null || echo ?)"
echo
echo "$report"
