#pragma once
// A spin-wait hint for busy loops (the event loop's spin before sleeping, the benchmarks):
// lets the other hyperthread run and saves power while polling a cache line.

namespace gpioirq::core {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  asm volatile("yield");
#endif
}

}  // namespace gpioirq::core
