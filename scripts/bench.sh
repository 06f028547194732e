#!/usr/bin/env bash
# Benchmarks (not tests: nothing here passes or fails on a number).
#   scripts/bench.sh primitives [benchmark args...]
#       Builds bench_primitives (Release, in build-bench/ or $GPIOIRQ_BENCH_BUILD_DIR) and
#       prints ONE markdown table: ring throughput (SpscRing vs boost::lockfree::spsc_queue
#       vs moodycamel::ReaderWriterQueue, batch 1 and 64) and wake latency (ThreadSafeFlag +
#       io_uring vs eventfd + epoll vs futex at 1k/10k/100k events/s), medians of 5
#       interleaved repetitions, ratios against the peer in the same run, and the machine.
#       Extra args go to Google Benchmark, e.g. --benchmark_filter=ring. Takes ~2 minutes.
#       Google Benchmark's own per-run report goes to stderr (2>/dev/null to hide it).
#   scripts/bench.sh pipeline
#       Not yet available (exit 2).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; }

case ${1:-} in
  primitives)
    shift
    build=${GPIOIRQ_BENCH_BUILD_DIR:-$root/build-bench}
    echo "bench.sh: building bench_primitives (Release) in $build" >&2
    # Only lib/core and lib/loop are needed: GPIOIRQ_ONLY_CORE keeps the build small.
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DGPIOIRQ_ONLY_CORE=ON \
      -DGPIOIRQ_BENCHMARKS=ON -DGPIOIRQ_SANITIZER= -DGPIOIRQ_VM_TESTS=OFF >/dev/null
    cmake --build "$build" --target bench_primitives -j"$(nproc)" >&2
    bin=$build/tests/bench/bench_primitives
    echo "bench.sh: running $bin (about 2 minutes)" >&2
    table=$("$bin" "$@")
    cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | sed -n 1p)
    echo "## gpioirq primitives benchmark"
    echo
    echo "Machine: $(nproc) CPUs, ${cpu:-unknown CPU}, Linux $(uname -r) ($(uname -m)), load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "Date: $(date -u +%Y-%m-%dT%H:%MZ), commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo
    echo "$table"
    ;;
  pipeline)
    shift
    exec "$root/scripts/bench-pipeline.sh" "$@"
    ;;
  -h | --help | help)
    usage
    ;;
  *)
    usage
    exit 1
    ;;
esac
