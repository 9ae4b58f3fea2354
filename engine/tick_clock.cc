#include "engine/tick_clock.h"

#include <mutex>

namespace berth {

std::atomic<double> TickClock::ns_per_tick_{0};

void TickClock::Calibrate() {
#if defined(__x86_64__)
  static std::once_flag once;
  std::call_once(once, [] {
    using Clock = std::chrono::steady_clock;
    const Clock::time_point t0 = Clock::now();
    const uint64_t c0 = __rdtsc();
    Clock::time_point t1 = t0;
    while (t1 - t0 < std::chrono::milliseconds(1)) t1 = Clock::now();
    const uint64_t c1 = __rdtsc();
    if (c1 <= c0) return;  // no usable counter: stay on steady_clock
    const double ns = std::chrono::duration<double, std::nano>(t1 - t0).count();
    ns_per_tick_.store(ns / static_cast<double>(c1 - c0), std::memory_order_relaxed);
  });
#endif
}

}  // namespace berth
