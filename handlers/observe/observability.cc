#include "handlers/observe/observability.h"

#include <algorithm>
#include <cctype>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "engine/table.h"

namespace berth {
namespace {

constexpr const char* kFilterKeys[] = {"type", "event", "id", "from"};

absl::StatusOr<absl::Time> ParseWhen(absl::string_view key, absl::string_view value, absl::Time now) {
  double seconds = 0;
  if (!value.empty() && std::isdigit(static_cast<unsigned char>(value[0])) && absl::SimpleAtod(value, &seconds)) {
    return absl::FromUnixNanos(static_cast<int64_t>(seconds * 1e9));
  }
  absl::Time t;
  if (absl::ParseTime(absl::RFC3339_full, value, &t, nullptr)) return t;
  absl::Duration d;
  if (absl::ParseDuration(value, &d) && d >= absl::ZeroDuration()) return now - d;
  return absl::InvalidArgumentError(absl::StrCat("events: bad ", key, " '", value,
                                                 "': want unix seconds, an RFC 3339 time or a duration such as 10m"));
}

}  // namespace

bool EventQuery::Matches(const Event& e) const {
  for (const auto& [key, values] : filter) {
    const std::string& field = key == "type" ? e.type : key == "event" ? e.status : key == "id" ? e.id : e.from;
    bool any = false;
    for (const std::string& v : values) any |= key == "id" ? absl::StartsWith(field, v) : field == v;
    if (!any) return false;
  }
  return true;
}

absl::StatusOr<EventQuery> ParseEventQuery(const Env& env, absl::Time now) {
  EventQuery q;
  if (std::string since = env.Get("since"); !since.empty()) {
    absl::StatusOr<absl::Time> t = ParseWhen("since", since, now);
    if (!t.ok()) return t.status();
    q.since = *t;
    q.replay = true;
  }
  if (std::string until = env.Get("until"); !until.empty()) {
    absl::StatusOr<absl::Time> t = ParseWhen("until", until, now);
    if (!t.ok()) return t.status();
    q.until = *t;
  }
  for (const std::string& f : env.GetList("filter")) {
    size_t eq = f.find('=');
    std::string key = f.substr(0, eq);
    bool known = false;
    for (const char* k : kFilterKeys) known |= key == k;
    if (eq == std::string::npos || !known || eq + 1 == f.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("events: bad filter '", f, "': want KEY=VALUE with KEY one of type, event, id, from"));
    }
    q.filter[key].push_back(f.substr(eq + 1));
  }
  return q;
}

// Worker arrivals, drains and losses as events.
class Observability::WorkerEvents : public EngineObserver {
 public:
  explicit WorkerEvents(EventLog& log) : log_(log) {}
  void WorkerChanged(const WorkerReport& r) override {
    const char* status = r.kind == WorkerReport::Kind::kHello   ? "hello"
                         : r.kind == WorkerReport::Kind::kDrain ? "drain"
                                                                : "lost";
    std::map<std::string, std::string> attributes = {{"capacity", absl::StrCat(r.capacity)},
                                                     {"inFlight", absl::StrCat(r.in_flight)}};
    if (!r.reason.empty()) attributes["reason"] = std::string(r.reason);
    log_.Publish("worker", status, std::string(r.name), "", std::move(attributes));
  }

 private:
  EventLog& log_;
};

Observability::Observability(EventLog& events)
    : events_(events), worker_events_(std::make_unique<WorkerEvents>(events)) {}

Observability::~Observability() = default;

void Observability::Attach(Engine& engine) {
  if (engine_ != nullptr) return;
  engine_ = &engine;
  jobs_.Attach(engine);
  engine.AddObserver(&trace_, ObserverScope::kNotInProcessJobs);
  engine.AddObserver(worker_events_.get(), ObserverScope::kNotInProcessJobs);
}

absl::Status Observability::StartTrace(std::string path) {
  if (engine_ != nullptr) engine_->ObserveInProcessJobs(&trace_);
  return trace_.Start(std::move(path));
}

void Observability::AddCollector(Collector collector) {
  absl::MutexLock lock(&mu_);
  collectors_.push_back(std::move(collector));
}

void Observability::CollectWorkers(PromWriter& out) {
  if (engine_ == nullptr || !engine_->HasHandler("workers")) return;
  std::unique_ptr<Job> job = engine_->NewJob("workers");
  std::shared_ptr<Table> rows = job->Stdout().AddTable();
  if (!job->Run().ok()) return;
  out.Family("berth_jobs_in_flight", "gauge", "Jobs running now: in-process for clients, or on each worker.");
  out.Family("berth_jobs_queued", "gauge", "Clients' in-process jobs waiting for a job thread.");
  out.Family("berth_worker_capacity", "gauge", "Jobs a worker takes at once (the in-process row: --job-threads).");
  out.Family("berth_worker_jobs_completed_total", "counter", "Jobs a worker has ended, by worker.");
  out.Family("berth_worker_jobs_failed_total", "counter", "Jobs a worker has ended with a non-zero status.");
  out.Family("berth_worker_draining", "gauge", "1 while a worker drains (takes no new jobs).");
  for (const Env& row : rows->data()) {
    const bool pool = row.Get("Identity").empty();
    PromLabels labels = {{"worker", row.Get("Name")}, {"identity", row.Get("Identity")}};
    out.Sample("berth_jobs_in_flight", labels, static_cast<double>(row.GetInt64("InFlight")));
    out.Sample("berth_worker_capacity", labels, static_cast<double>(row.GetInt64("Capacity")));
    if (pool) {
      out.Sample("berth_jobs_queued", labels, static_cast<double>(row.GetInt64("Queued")));
      continue;
    }
    out.Sample("berth_worker_jobs_completed_total", labels, static_cast<double>(row.GetInt64("Completed")));
    out.Sample("berth_worker_jobs_failed_total", labels, static_cast<double>(row.GetInt64("Failed")));
    out.Sample("berth_worker_draining", labels, row.GetBool("Draining") ? 1 : 0);
  }
}

std::string Observability::MetricsText() {
  PromWriter out;
  jobs_.WriteTo(out);
  CollectWorkers(out);
  std::vector<Collector> collectors;
  {
    absl::MutexLock lock(&mu_);
    collectors = collectors_;
  }
  for (const Collector& c : collectors) c(out);
  return out.Take();
}

int Observability::EventsJob(Job& job) {
  if (!job.args().empty()) return job.Errorf("events: takes no arguments, got '%s' (use since=, until=, filter=)",
                                             job.args()[0]);
  absl::StatusOr<EventQuery> q = ParseEventQuery(job.env(), absl::Now());
  if (!q.ok()) return job.Error(q.status());
  // Follow first, then replay: nothing published in between is missed, and
  // what both see is sent once (by sequence number).
  std::shared_ptr<EventLog::Follower> follower = events_.Follow();
  uint64_t last = 0;
  if (q->replay) {
    for (const Event& e : events_.Between(q->since, q->until)) {
      last = e.seq;
      if (!q->Matches(e)) continue;
      if (!job.Stdout().Write(e.ToJsonLine()).ok()) return kStatusOk;
    }
  }
  while (!job.cancelled() && absl::Now() <= q->until) {
    Event e;
    const absl::Duration wait = std::min(absl::Milliseconds(200), q->until - absl::Now());
    EventLog::Follower::Result r = follower->Next(std::max(wait, absl::ZeroDuration()), &e);
    if (r == EventLog::Follower::Result::kClosed) break;
    if (r == EventLog::Follower::Result::kFellBehind) {
      return job.Errorf("events: this reader fell more than %d events behind; run events again with since=",
                        static_cast<int>(EventLog::kDefaultCapacity));
    }
    if (r != EventLog::Follower::Result::kEvent || e.seq <= last || e.time > q->until || !q->Matches(e)) continue;
    if (!job.Stdout().Write(e.ToJsonLine()).ok()) break;
  }
  return job.cancelled() ? kStatusCancelled : kStatusOk;
}

int Observability::TraceJob(Job& job) {
  const std::vector<std::string>& a = job.args();
  const std::string verb = a.empty() ? "" : a[0];
  if (verb == "start" && a.size() == 2) {
    if (absl::Status s = StartTrace(a[1]); !s.ok()) return job.Error(s);
    return job.Printf("recording into %s\n", a[1]).ok() ? kStatusOk : kStatusErr;
  }
  if (verb == "stop" && a.size() == 1) {
    absl::StatusOr<std::string> path = trace_.Stop();
    if (!path.ok()) return job.Error(path.status());
    return job.Printf("wrote %s\n", *path).ok() ? kStatusOk : kStatusErr;
  }
  if (a.empty()) {
    std::string line = trace_.recording() ? absl::StrCat("recording into ", trace_.path(), "\n") : "not recording\n";
    return job.Stdout().Write(line).ok() ? kStatusOk : kStatusErr;
  }
  return job.Error("trace: usage: trace start FILE | trace stop | trace");
}

std::vector<JobHelp> ObserveHelp() {
  return {
      JobHelp("metrics", "", "berthd's metrics as a Prometheus text page (what GET /metrics serves)"),
      JobHelp("events", "",
              "events as JSON lines (container, image, worker, network, daemon); follows until cancelled",
              {{"since", "replay from this time (unix seconds, RFC 3339, or a duration before now such as 10m)"},
               {"until", "stop at this time (same forms); in the past: replay and end"},
               {"filter", "KEY=VALUE or a JSON array of them; KEY one of type, event, id, from"}}),
      JobHelp("trace", "[start FILE | stop]",
              "start: record jobs into FILE (Chrome trace JSON); stop: write it; no args: say whether recording"),
  };
}

HandlerGroup Observability::Group() {
  HandlerGroup g;
  g.name = "observe";
  g.help = ObserveHelp();
  g.jobs = JobNames(g.help);
  g.install = [this](Engine& eng) {
    absl::Status s = eng.Register("metrics", [this](Job& job) {
      if (!job.args().empty()) return job.Errorf("metrics: takes no arguments, got '%s'", job.args()[0]);
      return job.Error(job.Stdout().Write(MetricsText()));
    });
    if (s.ok()) s = eng.Register("events", [this](Job& job) { return EventsJob(job); });
    if (s.ok()) s = eng.Register("trace", [this](Job& job) { return TraceJob(job); });
    return s;
  };
  return g;
}

}  // namespace berth
