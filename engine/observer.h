// EngineObserver: what an Engine tells those who watch it — jobs started and
// ended, shutdown hooks run, workers arriving, draining and lost.
//
// Metrics, events and traces (handlers/observe/) listen here; the engine knows
// nothing of them. Contract:
// - With no observer told of in-process jobs, a job costs one relaxed atomic
//   load more than without this interface: no clock read, no lock, no
//   allocation. With such observers, two TickClock readings
//   (engine/tick_clock.h) and the calls. Observers that only want counts of
//   in-process jobs take them from the engine instead (Engine::CountJobs,
//   engine/job_counts.h) and are added with ObserverScope::kNotInProcessJobs.
// - With observers, each is called on the thread that ran the job (for jobs
//   relayed to workers: the server's I/O thread), so a callback must be short,
//   must not block and must not run jobs. Callbacks may run concurrently.
// - Observers are added, never removed, and must outlive every job of the
//   engine (berthd adds them at start and keeps them until exit).
// - Jobs whose handler relays them to a worker (HandlerOptions::relayed) are
//   reported once, by the server that relays them, with `worker` set.
#ifndef BERTH_ENGINE_OBSERVER_H_
#define BERTH_ENGINE_OBSERVER_H_

#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/env.h"

namespace berth {

// One job that starts (status and duration not yet set) or ended. Views are
// valid during the callback only. The job started `duration` before the
// JobEnded call (an observer that wants wall time reads the clock then).
struct JobReport {
  absl::string_view name;
  // BERTH_TRACE_ID of the job, or "" — looked up only by observers that ask.
  absl::string_view TraceId() const { return env != nullptr ? env->GetView("BERTH_TRACE_ID") : trace_id; }
  const Env* env = nullptr;    // the job's env (in-process jobs), or null
  absl::string_view trace_id;  // used when env is null (relayed jobs)
  // Identifies the handler while the job runs (in-process jobs; null for
  // relayed ones and names without a handler): a key for caches.
  const void* handler = nullptr;
  absl::string_view worker;    // the worker that ran it; "" for in-process
  bool relayed = false;        // relayed to a worker (`worker` is known at the end)
  int status = 0;
  bool found = true;  // false: no handler (status 127); `name` is untrusted then
  absl::Duration duration;
};

struct WorkerReport {
  enum class Kind { kHello, kDrain, kLost };
  Kind kind = Kind::kHello;
  absl::string_view name;
  absl::string_view reason;  // kLost: why
  uint32_t capacity = 0;
  size_t in_flight = 0;
};

struct HookReport {
  absl::string_view name;
  absl::Time start;
  absl::Duration duration;
  bool finished = true;  // false: overran the budget and was abandoned
};

// Who is at the other end of a connection to the server: a client (berth, a
// program) or a worker (its first frame was HELLO).
enum class ConnectionKind { kClient, kWorker };
// The stream a chunk of job data belongs to.
enum class StreamKind { kStdin, kStdout, kStderr };

class EngineObserver {
 public:
  virtual ~EngineObserver() = default;
  // On the thread about to run the job (for a relayed job: the server's).
  virtual void JobStarted(const JobReport& report) { (void)report; }
  virtual void JobEnded(const JobReport& report) { (void)report; }
  virtual void HookRan(const HookReport& report) { (void)report; }
  virtual void WorkerChanged(const WorkerReport& report) { (void)report; }
  // The server received (in) or sent one frame of `bytes` bytes, on its I/O
  // thread: called per frame, so it must cost nanoseconds.
  virtual void FrameBytes(bool in, size_t bytes) { (void)in, (void)bytes; }
  // `bytes` of a job's `stream` that the server received (in) or sent, from or
  // to a client or a worker, on its I/O thread: per chunk, so nanoseconds.
  virtual void StreamBytes(StreamKind stream, bool in, size_t bytes) { (void)stream, (void)in, (void)bytes; }
  // A connection to the server opened (counted once its first frame says
  // whose it is) or closed, on the server's I/O thread.
  virtual void ConnectionChanged(ConnectionKind kind, bool opened) { (void)kind, (void)opened; }
  // The server refused a frame with an ERROR of `kind` (docs/protocol.md:
  // bad_frame, id_in_use, not_allowed, names_refused).
  virtual void FrameRefused(absl::string_view kind) { (void)kind; }
};

// What an observer is told of (Engine::AddObserver).
enum class ObserverScope {
  kAll,
  // All but JobStarted/JobEnded of jobs run in-process, which then cost
  // nothing for it (the engine counts those itself: Engine::CountJobs).
  kNotInProcessJobs,
};

// The observers of an engine at one moment (immutable once published).
using ObserverList = std::vector<EngineObserver*>;

}  // namespace berth

#endif  // BERTH_ENGINE_OBSERVER_H_
