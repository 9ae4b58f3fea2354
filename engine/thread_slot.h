// ThreadSlot: a number in [0, kThreadSlots) that one live thread holds alone,
// for counters that each thread writes alone (a relaxed load and store, no
// lock-prefixed instruction) and readers add up — what JobCounts (job_counts.h) counts with.
//
// A thread takes its slot the first time it asks and gives it back when it
// exits; a later thread may take it again (the counts a slot holds are sums,
// so they carry on). While kThreadSlots threads hold one, others get
// kSharedSlot, whose counters must be updated with atomic read-modify-writes.
// Process-wide; thread-safe. The first call on a thread takes a lock, later
// ones read one thread-local int.
#ifndef BERTH_ENGINE_THREAD_SLOT_H_
#define BERTH_ENGINE_THREAD_SLOT_H_

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace berth {

inline constexpr size_t kThreadSlots = 64;
inline constexpr size_t kSharedSlot = kThreadSlots;

namespace thread_slot_internal {
inline thread_local int slot = -1;  // -1: not asked yet
size_t Take();
}  // namespace thread_slot_internal

inline size_t MyThreadSlot() {
  const int s = thread_slot_internal::slot;
  return s >= 0 ? static_cast<size_t>(s) : thread_slot_internal::Take();
}

// Adds `n` to a counter of slot `slot`: a plain load and store for a slot
// held alone, an atomic addition for the shared one.
inline void AddToSlot(std::atomic<uint64_t>& counter, uint64_t n, size_t slot) {
  if (slot != kSharedSlot) {
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  } else {
    counter.fetch_add(n, std::memory_order_relaxed);
  }
}

}  // namespace berth

#endif  // BERTH_ENGINE_THREAD_SLOT_H_
