// TickClock: a cheap monotonic clock for timing jobs (engine/observer.h).
//
// On x86-64 it reads the time-stamp counter (about 12 ns here, where
// absl::Now() costs about 100 ns and steady_clock about 30 ns), converted to
// time with a rate measured once against steady_clock over 1 ms, the first
// time Calibrate is called (Engine::AddObserver calls it). Elsewhere, and
// before calibration, ticks are steady_clock nanoseconds. Thread-safe.
#ifndef BERTH_ENGINE_TICK_CLOCK_H_
#define BERTH_ENGINE_TICK_CLOCK_H_

#include <atomic>
#include <chrono>
#include <cstdint>

#include "absl/time/time.h"

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace berth {

class TickClock {
 public:
  static uint64_t Now() {
#if defined(__x86_64__)
    if (ns_per_tick_.load(std::memory_order_relaxed) > 0) return __rdtsc();
#endif
    return static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  }
  // The time between two readings of Now (the later second).
  static absl::Duration Between(uint64_t from, uint64_t to) {
    const double rate = ns_per_tick_.load(std::memory_order_relaxed);
    const double ns = static_cast<double>(to - from) * (rate > 0 ? rate : 1.0);
    return absl::Nanoseconds(static_cast<int64_t>(ns));
  }
  // Measures the counter's rate once; later calls return at once. Readings
  // taken before it and after it must not be compared.
  static void Calibrate();

 private:
  static std::atomic<double> ns_per_tick_;  // 0 until calibrated (or not x86-64)
};

}  // namespace berth

#endif  // BERTH_ENGINE_TICK_CLOCK_H_
