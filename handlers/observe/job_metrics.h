// JobMetrics: the engine's figures for Prometheus — jobs started and ended by
// name and status, job durations by name (in-process and on workers apart),
// shutdown hook durations, workers lost — kept as an EngineObserver.
//
// Cost per job, when added: the engine's two clock reads; the job's counters
// found by one load from the handler's slot (JobReport::cache; else a
// lock-free lookup of the name in a table published by atomic pointer — a
// name is inserted once, under a mutex, the first time it is seen); and four
// counter updates, each a relaxed load and store of counters that this
// thread alone writes (its ThreadSlot, thread_slot.h), which a scrape adds
// up. No lock-prefixed instruction, no lock and no allocation after a name's
// first job on a thread.
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
#include "handlers/observe/thread_slot.h"

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
  void StreamBytes(StreamKind stream, bool in, size_t bytes) override;
  void ConnectionChanged(ConnectionKind kind, bool opened) override;

  // The families berth_jobs_started_total, berth_jobs_ended_total,
  // berth_job_duration_seconds, berth_shutdown_hook_duration_seconds,
  // berth_workers_lost_total, berth_workers_seen_total, berth_frames_total,
  // berth_frame_bytes_total, berth_stream_bytes_total, berth_frames_refused_total,
  // berth_connections_open, berth_connections_opened_total.
  void WriteTo(PromWriter& out) const;

  // For tests: ended jobs of `name` with `status`.
  uint64_t Ended(absl::string_view name, int status) const;

 private:
  static constexpr size_t kStatusSlots = 8;  // 0 1 124 126 127 130, other
  static constexpr size_t kBuckets = 17;
  // Bucket counts ([kBuckets]: above every bound) and the sum, in ns.
  template <typename T>
  struct HistogramOf {
    std::array<T, kBuckets + 1> buckets{};
    T sum_ns{};
  };
  // A name's counts: where (in-process [0], relayed [1]).
  template <typename T>
  struct CountsOf {
    T started{};
    std::array<T, kStatusSlots> ended{};
    std::array<HistogramOf<T>, 2> where{};
  };
  // One thread slot's counts of one name.
  struct alignas(64) Cells : CountsOf<std::atomic<uint64_t>> {};
  using Totals = CountsOf<uint64_t>;
  struct NameStats {
    std::array<std::atomic<Cells*>, kThreadSlots + 1> cells{};  // made on a slot's first job
  };
  using Table = absl::flat_hash_map<std::string, NameStats*>;

  static size_t StatusSlot(int status);
  NameStats* Find(const JobReport& r);
  NameStats* FindName(absl::string_view name, bool found);
  NameStats* Insert(absl::string_view name);
  Cells& CellsOf(NameStats& stats, size_t slot);
  static Totals Sum(const NameStats& stats);
  void WriteHistogram(PromWriter& out, const std::string& name, const char* where,
                      const HistogramOf<uint64_t>& h) const;

  std::atomic<const Table*> table_{nullptr};
  // The server's frames: [0] received, [1] sent.
  std::array<std::atomic<uint64_t>, 2> frames_{};
  std::array<std::atomic<uint64_t>, 2> frame_bytes_{};
  // Job data by stream (stdin, stdout, stderr), then [0] in, [1] out.
  std::array<std::array<std::atomic<uint64_t>, 2>, 3> stream_bytes_{};
  // Connections by kind ([0] client, [1] worker): open now, opened ever.
  std::array<std::atomic<int64_t>, 2> connections_open_{};
  std::array<std::atomic<uint64_t>, 2> connections_opened_{};
  static constexpr const char* kRefusedKinds[] = {"bad_frame", "id_in_use", "not_allowed", "names_refused", "other"};
  std::array<std::atomic<uint64_t>, std::size(kRefusedKinds)> refused_{};
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<const Table>> tables_ ABSL_GUARDED_BY(mu_);  // every table published
  std::vector<std::unique_ptr<NameStats>> stats_ ABSL_GUARDED_BY(mu_);
  std::vector<std::unique_ptr<Cells>> cells_ ABSL_GUARDED_BY(mu_);
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
