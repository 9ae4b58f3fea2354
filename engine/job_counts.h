// JobCounts: the jobs of one name — how many started, how many ended with each
// status, and how long they ran (a histogram) — kept so cheaply that counting
// every job costs a few nanoseconds.
//
// The engine keeps one per job name for the jobs it runs in-process
// (Engine::CountJobs), updated by Job::Run itself, not through an observer;
// JobMetrics (handlers/observe/) keeps one per name for jobs relayed to
// workers, whose times the server measures (Started/Ended).
//
// Counters are per thread slot (thread_slot.h): the running thread alone
// writes its cells, with a relaxed load and store each — no lock-prefixed
// instruction, no lock and no allocation after a thread's first job of the
// name. Sum adds the slots up; a reader sees each counter's latest value.
//
// Timing (Begin/End). Reading the clock twice costs about as much as the rest
// of counting together (two time-stamp counter reads, ~25–35 ns on the build
// VM), so a job is timed unless its name's jobs are fast:
// - every job is timed while the last job of the name timed on this thread
//   took 10 µs (the first bucket's bound) or more;
// - once one took less, the next 15 jobs on this thread are not timed, and the
//   16th is. A job not timed counts in the bucket of the last one timed and
//   adds that one's time to the sum.
// So the count is every job; for a name whose jobs take over 10 µs (anything
// that touches the kernel) the histogram is exact; for faster ones it is
// drawn from one job in 16, where a rare slow run among fast ones is seen at
// one in 16 of its rate. Timing then costs a job under 0.5%, or ~2 ns a job
// spread over the fast ones.
#ifndef BERTH_ENGINE_JOB_COUNTS_H_
#define BERTH_ENGINE_JOB_COUNTS_H_

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/thread_slot.h"
#include "engine/tick_clock.h"

namespace berth {

class JobCounts {
  struct Cells;

 public:
  // Statuses counted apart, in this order; any other counts as "other" (the
  // last slot).
  static constexpr int kStatuses[] = {0, 1, 124, 126, 127, 130};
  static constexpr size_t kStatusSlots = std::size(kStatuses) + 1;
  // The histogram's bucket bounds in ns: 10 µs … 2.5 s (a last bucket above).
  static constexpr int64_t kBoundsNs[] = {
      10'000,     25'000,      50'000,      100'000,     250'000,     500'000,       1'000'000,    2'500'000,   5'000'000,
      10'000'000, 25'000'000,  50'000'000,  100'000'000, 250'000'000, 500'000'000, 1'000'000'000, 2'500'000'000};
  static constexpr size_t kBuckets = std::size(kBoundsNs);
  // Jobs timed, once a name's jobs are fast: one in kSampleEvery.
  static constexpr uint32_t kSampleEvery = 16;

  // The bounds in seconds (Prometheus' `le`).
  static const std::vector<double>& BucketBoundsSeconds();
  // The slot of `status` in Totals::ended.
  static size_t StatusSlot(int status) {
    for (size_t i = 0; i < std::size(kStatuses); ++i) {
      if (kStatuses[i] == status) return i;
    }
    return std::size(kStatuses);
  }

  struct Totals {
    uint64_t started = 0;
    std::array<uint64_t, kStatusSlots> ended{};
    std::array<uint64_t, kBuckets + 1> buckets{};  // [kBuckets]: above every bound
    uint64_t sum_ns = 0;
    uint64_t Count() const;
  };

  JobCounts() = default;
  JobCounts(const JobCounts&) = delete;
  JobCounts& operator=(const JobCounts&) = delete;

  // A job run on this thread between Begin and End, timed as the file
  // comment says.
  struct Run {
    Cells* cells;
    size_t slot;
    uint64_t start;  // TickClock reading, or 0: not timed
  };
  Run Begin() {
    const size_t slot = MyThreadSlot();
    Cells& c = CellsOf(slot);
    AddToSlot(c.started, 1, slot);
    uint64_t start = 0;
    const uint32_t skip = c.skip.load(std::memory_order_relaxed);
    if (skip == 0 || slot == kSharedSlot) {
      start = TickClock::Now() | 1;  // never 0; one tick is nothing
    } else {
      c.skip.store(skip - 1, std::memory_order_relaxed);
    }
    return Run{&c, slot, start};
  }
  void End(const Run& run, int status) {
    Cells& c = *run.cells;
    size_t bucket;
    uint64_t ns;
    if (run.start != 0) {
      ns = static_cast<uint64_t>(absl::ToInt64Nanoseconds(TickClock::Between(run.start, TickClock::Now())));
      bucket = BucketOf(static_cast<int64_t>(ns));
      c.skip.store(bucket == 0 ? kSampleEvery - 1 : 0, std::memory_order_relaxed);
      c.last_bucket.store(static_cast<uint32_t>(bucket), std::memory_order_relaxed);
      c.last_ns.store(ns, std::memory_order_relaxed);
    } else {
      bucket = c.last_bucket.load(std::memory_order_relaxed);
      ns = c.last_ns.load(std::memory_order_relaxed);
    }
    Count(c, run.slot, status, bucket, ns);
  }

  // A job timed by the caller (a relayed job; thread-safe the same way).
  void Started();
  void Ended(int status, absl::Duration took);

  Totals Sum() const;

 private:
  struct alignas(64) Cells {
    std::atomic<uint64_t> started{0};
    std::array<std::atomic<uint64_t>, kStatusSlots> ended{};
    std::array<std::atomic<uint64_t>, kBuckets + 1> buckets{};
    std::atomic<uint64_t> sum_ns{0};
    // This thread's timing state (Begin/End): untimed jobs still to go, and
    // the last timed job's bucket and time.
    std::atomic<uint32_t> skip{0};
    std::atomic<uint32_t> last_bucket{0};
    std::atomic<uint64_t> last_ns{0};
  };
  Cells& CellsOf(size_t slot) {
    if (Cells* c = cells_[slot].load(std::memory_order_acquire)) return *c;
    return MakeCells(slot);
  }
  Cells& MakeCells(size_t slot);
  // Counts one ended job of `ns` in bucket `bucket`.
  static void Count(Cells& c, size_t slot, int status, size_t bucket, uint64_t ns);
  static size_t BucketOf(int64_t ns) {
    size_t i = 0;
    while (i < kBuckets && ns > kBoundsNs[i]) ++i;
    return i;
  }

  std::array<std::atomic<Cells*>, kThreadSlots + 1> cells_{};  // made on a slot's first job
  absl::Mutex mu_;
  std::vector<std::unique_ptr<Cells>> owned_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth

#endif  // BERTH_ENGINE_JOB_COUNTS_H_
