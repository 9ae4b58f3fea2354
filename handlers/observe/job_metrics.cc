#include "handlers/observe/job_metrics.h"

#include <algorithm>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "engine/status.h"

namespace berth {
namespace {

constexpr int kSlotStatuses[] = {kStatusOk, kStatusErr, kStatusDeadlineExceeded, kStatusUnavailable,
                                 kStatusNotFound, kStatusCancelled};
constexpr char kNotFound[] = "(not found)";
constexpr char kOther[] = "(other)";

}  // namespace

std::atomic<uint64_t> JobMetrics::next_serial_{1};

const std::vector<double>& JobMetrics::Buckets() {
  static const std::vector<double> kBounds = {0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
                                              0.001,   0.0025,   0.005,   0.01,   0.025,   0.05,
                                              0.1,     0.25,     0.5,     1,      2.5};
  return kBounds;
}

void JobMetrics::Histogram::Add(absl::Duration d) {
  const double s = absl::ToDoubleSeconds(d);
  const std::vector<double>& bounds = Buckets();
  size_t i = 0;
  while (i < bounds.size() && s > bounds[i]) ++i;
  buckets[i].fetch_add(1, std::memory_order_relaxed);
  sum_ns.fetch_add(static_cast<uint64_t>(absl::ToInt64Nanoseconds(d)), std::memory_order_relaxed);
}

size_t JobMetrics::StatusSlot(int status) {
  for (size_t i = 0; i < std::size(kSlotStatuses); ++i) {
    if (kSlotStatuses[i] == status) return i;
  }
  return std::size(kSlotStatuses);
}

JobMetrics::NameStats* JobMetrics::Find(const JobReport& r) {
  // The last handler this thread saw, for this JobMetrics: a pointer and a
  // name compare, no hashing. The name guards against a handler freed and
  // another allocated at its address.
  // `owner` is this JobMetrics' serial number, not its address, which a
  // later one could reuse.
  struct Last {
    uint64_t owner = 0;
    const void* handler = nullptr;
    std::string name;
    NameStats* stats = nullptr;
  };
  thread_local Last last;
  if (r.handler != nullptr && last.handler == r.handler && last.owner == serial_ && last.name == r.name) {
    return last.stats;
  }
  NameStats* stats = FindName(r.name, r.found);
  if (r.handler != nullptr) {
    last.owner = serial_;
    last.handler = r.handler;
    last.name.assign(r.name.data(), r.name.size());
    last.stats = stats;
  }
  return stats;
}

JobMetrics::NameStats* JobMetrics::FindName(absl::string_view name, bool found) {
  if (!found) name = kNotFound;
  if (const Table* t = table_.load(std::memory_order_acquire)) {
    auto it = t->find(name);
    if (it != t->end()) return it->second;
  }
  return Insert(name);
}

JobMetrics::NameStats* JobMetrics::Insert(absl::string_view name) {
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
  stats_.push_back(std::make_unique<NameStats>());
  NameStats* stats = stats_.back().get();
  fresh->emplace(name, stats);
  table_.store(fresh.get(), std::memory_order_release);
  tables_.push_back(std::move(fresh));
  return stats;
}

void JobMetrics::JobStarted(const JobReport& r) {
  Find(r)->started.fetch_add(1, std::memory_order_relaxed);
}

void JobMetrics::JobEnded(const JobReport& r) {
  NameStats* s = Find(r);
  s->ended[StatusSlot(r.status)].fetch_add(1, std::memory_order_relaxed);
  (r.relayed ? s->remote : s->local).Add(r.duration);
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

void JobMetrics::FrameRefused(absl::string_view kind) {
  size_t i = 0;
  while (i + 1 < std::size(kRefusedKinds) && kind != kRefusedKinds[i]) ++i;
  refused_[i].fetch_add(1, std::memory_order_relaxed);
}

uint64_t JobMetrics::Ended(absl::string_view name, int status) const {
  const Table* t = table_.load(std::memory_order_acquire);
  if (t == nullptr) return 0;
  auto it = t->find(name);
  return it == t->end() ? 0 : it->second->ended[StatusSlot(status)].load(std::memory_order_relaxed);
}

void JobMetrics::WriteHistogram(PromWriter& out, const std::string& name, const char* where,
                                const Histogram& h) const {
  std::vector<uint64_t> cumulative;
  uint64_t running = 0;
  for (size_t i = 0; i < kBuckets; ++i) cumulative.push_back(running += h.buckets[i].load(std::memory_order_relaxed));
  const uint64_t count = running + h.buckets[kBuckets].load(std::memory_order_relaxed);
  if (count == 0) return;
  out.Histogram("berth_job_duration_seconds", {{"job", name}, {"where", where}}, Buckets(), cumulative, count,
                h.sum_ns.load(std::memory_order_relaxed) / 1e9);
}

void JobMetrics::WriteTo(PromWriter& out) const {
  const Table* t = table_.load(std::memory_order_acquire);
  std::map<std::string, const NameStats*> sorted;
  if (t != nullptr) {
    for (const auto& [name, stats] : *t) sorted.emplace(name, stats);
  }
  out.Family("berth_jobs_started_total", "counter", "Jobs started, by job name.");
  for (const auto& [name, s] : sorted) {
    out.Sample("berth_jobs_started_total", {{"job", name}}, s->started.load(std::memory_order_relaxed));
  }
  out.Family("berth_jobs_ended_total", "counter", "Jobs ended, by job name and status (other: any other status).");
  for (const auto& [name, s] : sorted) {
    for (size_t i = 0; i < kStatusSlots; ++i) {
      uint64_t n = s->ended[i].load(std::memory_order_relaxed);
      if (n == 0) continue;
      std::string status = i < std::size(kSlotStatuses) ? absl::StrCat(kSlotStatuses[i]) : "other";
      out.Sample("berth_jobs_ended_total", {{"job", name}, {"status", status}}, n);
    }
  }
  out.Family("berth_job_duration_seconds", "histogram",
             "Job run time by job name; where=in-process or where=worker (relayed to a worker).");
  for (const auto& [name, s] : sorted) {
    WriteHistogram(out, name, "in-process", s->local);
    WriteHistogram(out, name, "worker", s->remote);
  }
  out.Family("berth_frames_total", "counter", "Frames berthd's server received (in) and sent (out).");
  out.Family("berth_frame_bytes_total", "counter",
             "Bytes of those frames: job requests, stream chunks (stdin, stdout, stderr), credits, ends.");
  for (int i = 0; i < 2; ++i) {
    const PromLabels dir = {{"direction", i == 0 ? "in" : "out"}};
    out.Sample("berth_frames_total", dir, frames_[i].load(std::memory_order_relaxed));
    out.Sample("berth_frame_bytes_total", dir, frame_bytes_[i].load(std::memory_order_relaxed));
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
