// JobMetrics: the engine's figures for Prometheus — jobs started and ended by
// name and status, job durations by name (in-process and on workers apart),
// shutdown hook durations, workers seen and lost, the server's frames, stream
// bytes and connections.
//
// Jobs run in-process are counted by the engine itself (Engine::CountJobs,
// engine/job_counts.h: a few nanoseconds a job, no observer call); Attach
// turns that on and adds this as an observer of everything else. Jobs relayed
// to workers come as the server's reports, counted per name in JobCounts of
// this object's own: found by a lock-free lookup in a table published by
// atomic pointer (a name is inserted once, under a mutex, the first time it
// is seen).
//
// Names are bounded: a job without a handler is counted as `(not found)` (its
// name came from a client and is not trusted); relayed names beyond kMaxNames
// distinct ones are counted as `(other)`, so no peer can grow the table or the
// page without limit. In-process names are the engine's registered names.
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
#include "engine/engine.h"
#include "engine/job_counts.h"
#include "engine/observer.h"
#include "handlers/observe/prom_writer.h"

namespace berth {

class JobMetrics : public EngineObserver {
 public:
  static constexpr size_t kMaxNames = 512;

  JobMetrics() = default;
  JobMetrics(const JobMetrics&) = delete;
  JobMetrics& operator=(const JobMetrics&) = delete;

  // Counts `engine`'s jobs from now on (once; the engine must outlive this).
  void Attach(Engine& engine);

  // Reports of relayed jobs (in-process ones are the engine's to count).
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

  // For tests: ended jobs of `name` with `status`, in-process and relayed.
  uint64_t Ended(absl::string_view name, int status) const;

 private:
  using Table = absl::flat_hash_map<std::string, JobCounts*>;
  // A name's jobs: [0] in-process, [1] relayed.
  using Both = std::array<JobCounts::Totals, 2>;

  JobCounts* Find(const JobReport& r);
  JobCounts* Insert(absl::string_view name);
  // Every name's totals, sorted by name.
  std::map<std::string, Both> Totals() const;
  void WriteHistogram(PromWriter& out, const std::string& name, const char* where,
                      const JobCounts::Totals& t) const;

  Engine* engine_ = nullptr;
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
  std::vector<std::unique_ptr<JobCounts>> counts_ ABSL_GUARDED_BY(mu_);
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
