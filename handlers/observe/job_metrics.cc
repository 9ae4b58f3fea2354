#include "handlers/observe/job_metrics.h"

#include <algorithm>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "engine/status.h"

namespace berth {
namespace {

constexpr char kOther[] = "(other)";

}  // namespace

void JobMetrics::Attach(Engine& engine) {
  if (engine_ != nullptr) return;
  engine_ = &engine;
  engine.CountJobs();
  engine.AddObserver(this, ObserverScope::kNotInProcessJobs);
}

JobCounts* JobMetrics::Find(const JobReport& r) {
  const absl::string_view name = r.found ? r.name : Engine::kNotFoundName;
  if (const Table* t = table_.load(std::memory_order_acquire)) {
    auto it = t->find(name);
    if (it != t->end()) return it->second;
  }
  return Insert(name);
}

JobCounts* JobMetrics::Insert(absl::string_view name) {
  absl::MutexLock lock(&mu_);
  const Table* now = table_.load(std::memory_order_acquire);
  if (now != nullptr) {
    if (auto it = now->find(name); it != now->end()) return it->second;
    if (now->size() >= kMaxNames) {
      if (auto it = now->find(kOther); it != now->end()) return it->second;
      name = kOther;
    }
  }
  auto fresh = std::make_unique<Table>(now != nullptr ? *now : Table());
  counts_.push_back(std::make_unique<JobCounts>());
  JobCounts* counts = counts_.back().get();
  fresh->emplace(name, counts);
  table_.store(fresh.get(), std::memory_order_release);
  tables_.push_back(std::move(fresh));
  return counts;
}

void JobMetrics::JobStarted(const JobReport& r) {
  if (r.relayed) Find(r)->Started();
}

void JobMetrics::JobEnded(const JobReport& r) {
  if (r.relayed) Find(r)->Ended(r.status, r.duration);
}

void JobMetrics::HookRan(const HookReport& r) {
  absl::MutexLock lock(&mu_);
  hooks_[std::string(r.name)] = HookTiming{absl::ToDoubleSeconds(r.duration), r.finished};
}

void JobMetrics::WorkerChanged(const WorkerReport& r) {
  absl::MutexLock lock(&mu_);
  if (r.kind == WorkerReport::Kind::kHello) ++workers_seen_[std::string(r.name)];
  if (r.kind == WorkerReport::Kind::kLost && r.reason != "it left") ++workers_lost_[std::string(r.name)];
}

void JobMetrics::FrameBytes(bool in, size_t bytes) {
  frames_[in ? 0 : 1].fetch_add(1, std::memory_order_relaxed);
  frame_bytes_[in ? 0 : 1].fetch_add(bytes, std::memory_order_relaxed);
}

void JobMetrics::StreamBytes(StreamKind stream, bool in, size_t bytes) {
  stream_bytes_[static_cast<size_t>(stream)][in ? 0 : 1].fetch_add(bytes, std::memory_order_relaxed);
}

void JobMetrics::ConnectionChanged(ConnectionKind kind, bool opened) {
  const size_t k = kind == ConnectionKind::kWorker ? 1 : 0;
  connections_open_[k].fetch_add(opened ? 1 : -1, std::memory_order_relaxed);
  if (opened) connections_opened_[k].fetch_add(1, std::memory_order_relaxed);
}

void JobMetrics::FrameRefused(absl::string_view kind) {
  size_t i = 0;
  while (i + 1 < std::size(kRefusedKinds) && kind != kRefusedKinds[i]) ++i;
  refused_[i].fetch_add(1, std::memory_order_relaxed);
}

std::map<std::string, JobMetrics::Both> JobMetrics::Totals() const {
  std::map<std::string, Both> out;
  if (engine_ != nullptr) {
    engine_->ForEachJobCounts([&](const std::string& name, const JobCounts& c) { out[name][0] = c.Sum(); });
  }
  if (const Table* t = table_.load(std::memory_order_acquire)) {
    for (const auto& [name, counts] : *t) out[name][1] = counts->Sum();
  }
  return out;
}

uint64_t JobMetrics::Ended(absl::string_view name, int status) const {
  const std::map<std::string, Both> all = Totals();
  auto it = all.find(std::string(name));
  if (it == all.end()) return 0;
  const size_t slot = JobCounts::StatusSlot(status);
  return it->second[0].ended[slot] + it->second[1].ended[slot];
}

void JobMetrics::WriteHistogram(PromWriter& out, const std::string& name, const char* where,
                                const JobCounts::Totals& t) const {
  std::vector<uint64_t> cumulative;
  uint64_t running = 0;
  for (size_t i = 0; i < JobCounts::kBuckets; ++i) cumulative.push_back(running += t.buckets[i]);
  const uint64_t count = running + t.buckets[JobCounts::kBuckets];
  if (count == 0) return;
  out.Histogram("berth_job_duration_seconds", {{"job", name}, {"where", where}}, JobCounts::BucketBoundsSeconds(),
                cumulative, count, static_cast<double>(t.sum_ns) / 1e9);
}

void JobMetrics::WriteTo(PromWriter& out) const {
  const std::map<std::string, Both> sorted = Totals();
  out.Family("berth_jobs_started_total", "counter", "Jobs started, by job name.");
  for (const auto& [name, s] : sorted) {
    if (s[0].started + s[1].started == 0) continue;
    out.Sample("berth_jobs_started_total", {{"job", name}}, s[0].started + s[1].started);
  }
  out.Family("berth_jobs_ended_total", "counter", "Jobs ended, by job name and status (other: any other status).");
  for (const auto& [name, s] : sorted) {
    for (size_t i = 0; i < JobCounts::kStatusSlots; ++i) {
      const uint64_t n = s[0].ended[i] + s[1].ended[i];
      if (n == 0) continue;
      std::string status = i < std::size(JobCounts::kStatuses) ? absl::StrCat(JobCounts::kStatuses[i]) : "other";
      out.Sample("berth_jobs_ended_total", {{"job", name}, {"status", status}}, n);
    }
  }
  out.Family("berth_job_duration_seconds", "histogram",
             "Job run time by job name; where=in-process or where=worker (relayed to a worker).");
  for (const auto& [name, s] : sorted) {
    WriteHistogram(out, name, "in-process", s[0]);
    WriteHistogram(out, name, "worker", s[1]);
  }
  out.Family("berth_frames_total", "counter", "Frames berthd's server received (in) and sent (out).");
  out.Family("berth_frame_bytes_total", "counter",
             "Bytes of those frames: job requests, stream chunks (stdin, stdout, stderr), credits, ends.");
  for (int i = 0; i < 2; ++i) {
    const PromLabels dir = {{"direction", i == 0 ? "in" : "out"}};
    out.Sample("berth_frames_total", dir, frames_[i].load(std::memory_order_relaxed));
    out.Sample("berth_frame_bytes_total", dir, frame_bytes_[i].load(std::memory_order_relaxed));
  }
  out.Family("berth_stream_bytes_total", "counter",
             "Job data berthd's server received (in) and sent (out), by stream: stdin, stdout, stderr.");
  static constexpr const char* kStreams[] = {"stdin", "stdout", "stderr"};
  for (size_t s = 0; s < std::size(kStreams); ++s) {
    for (int i = 0; i < 2; ++i) {
      out.Sample("berth_stream_bytes_total", {{"stream", kStreams[s]}, {"direction", i == 0 ? "in" : "out"}},
                 stream_bytes_[s][i].load(std::memory_order_relaxed));
    }
  }
  static constexpr const char* kKinds[] = {"client", "worker"};
  out.Family("berth_connections_open", "gauge", "Connections to berthd's server now, by kind: client or worker.");
  for (size_t k = 0; k < 2; ++k) {
    out.Sample("berth_connections_open", {{"kind", kKinds[k]}}, connections_open_[k].load(std::memory_order_relaxed));
  }
  out.Family("berth_connections_opened_total", "counter", "Connections to berthd's server opened, by kind.");
  for (size_t k = 0; k < 2; ++k) {
    out.Sample("berth_connections_opened_total", {{"kind", kKinds[k]}},
               connections_opened_[k].load(std::memory_order_relaxed));
  }
  out.Family("berth_frames_refused_total", "counter", "Frames refused with an ERROR, by its kind.");
  for (size_t i = 0; i < std::size(kRefusedKinds); ++i) {
    out.Sample("berth_frames_refused_total", {{"kind", kRefusedKinds[i]}}, refused_[i].load(std::memory_order_relaxed));
  }
  absl::MutexLock lock(&mu_);
  out.Family("berth_shutdown_hook_duration_seconds", "gauge", "How long each shutdown hook took.");
  out.Family("berth_shutdown_hook_overran", "gauge", "1 if the shutdown hook overran its budget and was abandoned.");
  for (const auto& [name, h] : hooks_) {
    out.Sample("berth_shutdown_hook_duration_seconds", {{"hook", name}}, h.seconds);
    out.Sample("berth_shutdown_hook_overran", {{"hook", name}}, h.finished ? 0 : 1);
  }
  out.Family("berth_workers_seen_total", "counter", "Worker registrations (HELLO), by worker name.");
  for (const auto& [name, n] : workers_seen_) out.Sample("berth_workers_seen_total", {{"worker", name}}, n);
  out.Family("berth_workers_lost_total", "counter",
             "Workers lost (silent, disconnected or registered again; not a clean leave), by worker name.");
  for (const auto& [name, n] : workers_lost_) out.Sample("berth_workers_lost_total", {{"worker", name}}, n);
}

}  // namespace berth
