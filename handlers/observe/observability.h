// Observability: berthd's metrics, events and traces, and the jobs that show
// them (docs/observability.md):
//   metrics          the Prometheus text page (what GET /metrics serves)
//   events           events as JSON lines; env since, until, filter
//   trace start FILE | trace stop | trace
//                    record jobs into a Chrome trace file, write it, or say
//                    whether recording and where
// Attach adds the engine observers (job metrics, the trace recorder, worker
// events); collectors add figures that live elsewhere (images, containers,
// network) at every scrape. Collectors run on the scraping thread and must be
// thread-safe.
#ifndef BERTH_HANDLERS_OBSERVE_OBSERVABILITY_H_
#define BERTH_HANDLERS_OBSERVE_OBSERVABILITY_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/engine.h"
#include "handlers/group.h"
#include "handlers/observe/event_log.h"
#include "handlers/observe/job_metrics.h"
#include "handlers/observe/prom_writer.h"
#include "handlers/observe/trace_recorder.h"

namespace berth {

// The parsed env of an `events` job.
struct EventQuery {
  absl::Time since = absl::InfinitePast();
  absl::Time until = absl::InfiniteFuture();
  bool replay = false;  // since was given
  // key -> accepted values; keys: type, event, id, from. Values of one key are
  // alternatives; keys must all match.
  std::map<std::string, std::vector<std::string>> filter;
  bool Matches(const Event& e) const;
};
// `since`/`until`: unix seconds (fractions allowed), an RFC 3339 time, or a
// duration before now (`10m`, `1h30m`); `filter`: KEY=VALUE, or a JSON array
// of them. Errors name the key and the value:
//   `events: bad since '<v>': want unix seconds, an RFC 3339 time or a duration such as 10m`
//   `events: bad filter '<f>': want KEY=VALUE with KEY one of type, event, id, from`
absl::StatusOr<EventQuery> ParseEventQuery(const Env& env, absl::Time now);

// The `help` of the jobs metrics, events and trace.
std::vector<JobHelp> ObserveHelp();

class Observability {
 public:
  using Collector = std::function<void(PromWriter&)>;

  explicit Observability(EventLog& events = EventLog::Process());
  ~Observability();
  Observability(const Observability&) = delete;
  Observability& operator=(const Observability&) = delete;

  // Adds the observers to `engine` (once); the `workers` job feeds the worker
  // and pool figures at each scrape. In-process jobs are counted by the
  // engine (JobMetrics::Attach) and cost no observer call until a trace
  // records them (StartTrace).
  void Attach(Engine& engine);
  // Records jobs into the trace file `path` (TraceRecorder::Start), the
  // attached engine's in-process jobs among them from now on.
  absl::Status StartTrace(std::string path);
  void AddCollector(Collector collector);

  // The whole page.
  std::string MetricsText();

  // The jobs: metrics, events, trace (their help: ObserveHelp).
  HandlerGroup Group();

  JobMetrics& job_metrics() { return jobs_; }
  TraceRecorder& trace() { return trace_; }
  EventLog& events() { return events_; }

 private:
  class WorkerEvents;
  void CollectWorkers(PromWriter& out);
  int EventsJob(Job& job);
  int TraceJob(Job& job);

  EventLog& events_;
  JobMetrics jobs_;
  TraceRecorder trace_;
  std::unique_ptr<WorkerEvents> worker_events_;
  Engine* engine_ = nullptr;
  absl::Mutex mu_;
  std::vector<Collector> collectors_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth

#endif  // BERTH_HANDLERS_OBSERVE_OBSERVABILITY_H_
