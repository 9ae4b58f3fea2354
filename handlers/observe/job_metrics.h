// JobMetrics: the engine's figures for Prometheus — jobs started and ended by
// name and status, job durations by name (in-process and on workers apart),
// shutdown hook durations, workers lost — kept as an EngineObserver.
//
// Cost per job, when added: the engine's two clock reads, a lookup of the
// job's counters — a per-thread cache of the last handler seen, else a
// lock-free lookup of the name in a table published by atomic pointer (a name
// is inserted once, under a mutex, the first time it is seen) — and three
// relaxed atomic increments plus one add. No allocation and no lock after a
// name's first job.
//
// Names are bounded: a job without a handler is counted as `(not found)` (its
// name came from a client and is not trusted), and after kMaxNames distinct
// names the rest are counted as `(other)`, so a client cannot grow the table
// or the page without limit.
#ifndef BERTH_HANDLERS_OBSERVE_JOB_METRICS_H_
#define BERTH_HANDLERS_OBSERVE_JOB_METRICS_H_

#include <array>
#include <iterator>
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "engine/observer.h"
#include "handlers/observe/prom_writer.h"

namespace berth {

class JobMetrics : public EngineObserver {
 public:
  static constexpr size_t kMaxNames = 512;
  // Upper bounds of the duration buckets, in seconds.
  static const std::vector<double>& Buckets();

  JobMetrics() = default;
  JobMetrics(const JobMetrics&) = delete;
  JobMetrics& operator=(const JobMetrics&) = delete;

  void JobStarted(const JobReport& report) override;
  void JobEnded(const JobReport& report) override;
  void HookRan(const HookReport& report) override;
  void WorkerChanged(const WorkerReport& report) override;
  void FrameBytes(bool in, size_t bytes) override;
  void FrameRefused(absl::string_view kind) override;

  // The families berth_jobs_started_total, berth_jobs_ended_total,
  // berth_job_duration_seconds, berth_shutdown_hook_duration_seconds,
  // berth_workers_lost_total, berth_workers_seen_total, berth_frames_total,
  // berth_frame_bytes_total, berth_frames_refused_total.
  void WriteTo(PromWriter& out) const;

  // For tests: ended jobs of `name` with `status`.
  uint64_t Ended(absl::string_view name, int status) const;

 private:
  static constexpr size_t kStatusSlots = 8;  // 0 1 124 126 127 130, other
  static constexpr size_t kBuckets = 17;
  struct Histogram {
    // The last holds durations above every bound; the count is their sum.
    std::array<std::atomic<uint64_t>, kBuckets + 1> buckets{};
    std::atomic<uint64_t> sum_ns{0};
    void Add(absl::Duration d);
  };
  struct alignas(64) NameStats {
    std::atomic<uint64_t> started{0};
    std::array<std::atomic<uint64_t>, kStatusSlots> ended{};
    Histogram local;
    Histogram remote;
  };
  using Table = absl::flat_hash_map<std::string, NameStats*>;

  static size_t StatusSlot(int status);
  NameStats* Find(const JobReport& r);
  NameStats* FindName(absl::string_view name, bool found);
  NameStats* Insert(absl::string_view name);
  void WriteHistogram(PromWriter& out, const std::string& name, const char* where, const Histogram& h) const;

  static std::atomic<uint64_t> next_serial_;
  const uint64_t serial_ = next_serial_.fetch_add(1);
  std::atomic<const Table*> table_{nullptr};
  // The server's frames: [0] received, [1] sent.
  std::array<std::atomic<uint64_t>, 2> frames_{};
  std::array<std::atomic<uint64_t>, 2> frame_bytes_{};
  static constexpr const char* kRefusedKinds[] = {"bad_frame", "id_in_use", "not_allowed", "names_refused", "other"};
  std::array<std::atomic<uint64_t>, std::size(kRefusedKinds)> refused_{};
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<const Table>> tables_ ABSL_GUARDED_BY(mu_);  // every table published
  std::vector<std::unique_ptr<NameStats>> stats_ ABSL_GUARDED_BY(mu_);
  struct HookTiming {
    double seconds = 0;
    bool finished = true;
  };
  std::map<std::string, HookTiming> hooks_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, uint64_t> workers_lost_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, uint64_t> workers_seen_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth

#endif  // BERTH_HANDLERS_OBSERVE_JOB_METRICS_H_
