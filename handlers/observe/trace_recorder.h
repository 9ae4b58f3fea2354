// TraceRecorder: spans for the Chrome trace-event format (JSON, opened by
// Perfetto and chrome://tracing), written to a file on demand.
//
// Kinds of span (the event's "cat"):
//   step  a NewDaemon step (daemon/daemon.h), on the track "NewDaemon"
//   hook  a shutdown hook, on the track "shutdown"
//   job   a job: args name the job's trace id (BERTH_TRACE_ID), status, and
//         where it ran ("in-process" or "worker <name>"); in-process jobs on a
//         track per thread, relayed jobs on a track per worker. Jobs that no
//         engine reports (berth's requests) are added as they are, by AddJob.
// Steps and hooks are always kept (there are a few dozen); jobs only while
// recording (berthd --trace FILE, or the `trace` job), at most kMaxJobSpans
// of them (later ones are counted as dropped, in the file's metadata).
//
// The file: {"traceEvents":[...],"displayTimeUnit":"ms","otherData":{...}},
// complete events ("ph":"X") with "ts"/"dur" in microseconds since the
// recorder was made (otherData.origin_unix_us: then, in unix microseconds, so
// that files of several processes line up), plus thread-name metadata events
// for the tracks that hold spans ("NewDaemon" and "shutdown" first); the
// process is named after the producer ("berthd", "berth-worker NAME",
// "berth"). Written atomically (storage/atomic_file.h). Thread-safe.
#ifndef BERTH_HANDLERS_OBSERVE_TRACE_RECORDER_H_
#define BERTH_HANDLERS_OBSERVE_TRACE_RECORDER_H_

#include <atomic>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "engine/observer.h"

namespace berth {

class TraceRecorder : public EngineObserver {
 public:
  static constexpr size_t kMaxJobSpans = 200000;

  // `producer`: who writes the file (process name and otherData.producer).
  explicit TraceRecorder(std::string producer = "berthd") : origin_(absl::Now()), producer_(std::move(producer)) {}

  // Recording jobs into `path` (written by Stop or Write).
  absl::Status Start(std::string path);
  // Writes the file and stops recording jobs; the path written, or an error.
  absl::StatusOr<std::string> Stop();
  // Writes the file without stopping. The error: `trace: ` and what failed,
  // e.g. `trace: create F.tmp-XXXXXX: No such file or directory` for F.
  absl::Status Write();
  bool recording() const;
  std::string path() const;

  // A job span: `where` ran it, on the track `track`.
  struct JobSpan {
    std::string name;
    std::string track;
    absl::Time start;
    absl::Duration duration;
    std::string trace_id;
    int status = 0;
    std::string where;
  };
  // Keeps `span` while recording (as JobEnded's spans, up to kMaxJobSpans).
  void AddJob(JobSpan span);

  void Step(absl::string_view name, absl::Time start, absl::Duration duration, int status);
  void JobEnded(const JobReport& report) override;
  void HookRan(const HookReport& report) override;

 private:
  struct Span {
    std::string name;
    std::string cat;
    std::string track;
    int64_t ts_us;
    int64_t dur_us;
    std::map<std::string, std::string> args;
  };
  void Add(Span span) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::string Render() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int64_t Micros(absl::Time t) const { return absl::ToInt64Microseconds(t - origin_); }

  const absl::Time origin_;
  const std::string producer_;
  mutable absl::Mutex mu_;
  std::string path_ ABSL_GUARDED_BY(mu_);
  bool recording_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<bool> recording_jobs_{false};  // recording_, read without the lock on every job
  std::vector<Span> spans_ ABSL_GUARDED_BY(mu_);
  size_t job_spans_ ABSL_GUARDED_BY(mu_) = 0;
  size_t dropped_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace berth

#endif  // BERTH_HANDLERS_OBSERVE_TRACE_RECORDER_H_
