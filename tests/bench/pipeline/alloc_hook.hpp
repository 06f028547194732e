#pragma once
// Heap allocation counting for the pipeline benchmark: this executable replaces the
// global operator new/delete (alloc_hook.cpp) and counts every allocation by the kind of
// thread that made it. A thread's kind is a thread_local tag: the RT ingest thread tags
// itself through IngestThread::on_rt_thread_ready (so only what it allocates after its
// start-up counts), the loop thread tags itself around Daemon::run().
//
// Only C++ allocations are seen (operator new); malloc called directly from C code is
// not (glibc 2.36 no longer exports __libc_malloc to forward to).

#include <cstdint>

namespace gpioirq::bench {

enum class ThreadKind : int { other = 0, rt = 1, loop = 2 };

struct AllocCount {
  std::uint64_t count = 0;
  std::uint64_t bytes = 0;
};

void set_thread_kind(ThreadKind kind) noexcept;
AllocCount allocations(ThreadKind kind) noexcept;

}  // namespace gpioirq::bench
