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
// The bounds of the duration buckets in ns (Buckets() in seconds).
constexpr int64_t kBoundsNs[] = {10'000,      25'000,      50'000,      100'000,     250'000,       500'000,
                                 1'000'000,   2'500'000,   5'000'000,   10'000'000,  25'000'000,    50'000'000,
                                 100'000'000, 250'000'000, 500'000'000, 1'000'000'000, 2'500'000'000};

}  // namespace

const std::vector<double>& JobMetrics::Buckets() {
  static_assert(std::size(kBoundsNs) == kBuckets);
  static const std::vector<double> kBounds = [] {
    std::vector<double> out;
    for (int64_t ns : kBoundsNs) out.push_back(static_cast<double>(ns) / 1e9);
    return out;
  }();
  return kBounds;
}

size_t JobMetrics::StatusSlot(int status) {
  for (size_t i = 0; i < std::size(kSlotStatuses); ++i) {
    if (kSlotStatuses[i] == status) return i;
  }
  return std::size(kSlotStatuses);
}

JobMetrics::NameStats* JobMetrics::Find(const JobReport& r) {
  // The handler's slot holds its name's counters once resolved: one load.
  if (r.cache != nullptr) {
    if (const void* known = r.cache->load(std::memory_order_acquire)) {
      return static_cast<NameStats*>(const_cast<void*>(known));
    }
  }
  NameStats* stats = FindName(r.name, r.found);
  if (r.cache != nullptr) r.cache->store(stats, std::memory_order_release);
  return stats;
}

JobMetrics::Cells& JobMetrics::CellsOf(NameStats& stats, size_t slot) {
  if (Cells* c = stats.cells[slot].load(std::memory_order_acquire)) return *c;
  absl::MutexLock lock(&mu_);
  if (Cells* c = stats.cells[slot].load(std::memory_order_acquire)) return *c;  // the shared slot's, made meanwhile
  cells_.push_back(std::make_unique<Cells>());
  stats.cells[slot].store(cells_.back().get(), std::memory_order_release);
  return *cells_.back();
}

JobMetrics::Totals JobMetrics::Sum(const NameStats& stats) {
  Totals t;
  auto add = [](uint64_t& to, const std::atomic<uint64_t>& from) { to += from.load(std::memory_order_relaxed); };
  for (const std::atomic<Cells*>& slot : stats.cells) {
    const Cells* c = slot.load(std::memory_order_acquire);
    if (c == nullptr) continue;
    add(t.started, c->started);
    for (size_t i = 0; i < kStatusSlots; ++i) add(t.ended[i], c->ended[i]);
    for (size_t w = 0; w < 2; ++w) {
      for (size_t i = 0; i <= kBuckets; ++i) add(t.where[w].buckets[i], c->where[w].buckets[i]);
      add(t.where[w].sum_ns, c->where[w].sum_ns);
    }
  }
  return t;
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
  const size_t slot = MyThreadSlot();
  AddToSlot(CellsOf(*Find(r), slot).started, 1, slot);
}

void JobMetrics::JobEnded(const JobReport& r) {
  const size_t slot = MyThreadSlot();
  Cells& c = CellsOf(*Find(r), slot);
  AddToSlot(c.ended[StatusSlot(r.status)], 1, slot);
  const int64_t ns = absl::ToInt64Nanoseconds(r.duration);
  size_t i = 0;
  while (i < kBuckets && ns > kBoundsNs[i]) ++i;
  HistogramOf<std::atomic<uint64_t>>& h = c.where[r.relayed ? 1 : 0];
  AddToSlot(h.buckets[i], 1, slot);
  AddToSlot(h.sum_ns, static_cast<uint64_t>(std::max<int64_t>(ns, 0)), slot);
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

uint64_t JobMetrics::Ended(absl::string_view name, int status) const {
  const Table* t = table_.load(std::memory_order_acquire);
  if (t == nullptr) return 0;
  auto it = t->find(name);
  return it == t->end() ? 0 : Sum(*it->second).ended[StatusSlot(status)];
}

void JobMetrics::WriteHistogram(PromWriter& out, const std::string& name, const char* where,
                                const HistogramOf<uint64_t>& h) const {
  std::vector<uint64_t> cumulative;
  uint64_t running = 0;
  for (size_t i = 0; i < kBuckets; ++i) cumulative.push_back(running += h.buckets[i]);
  const uint64_t count = running + h.buckets[kBuckets];
  if (count == 0) return;
  out.Histogram("berth_job_duration_seconds", {{"job", name}, {"where", where}}, Buckets(), cumulative, count,
                static_cast<double>(h.sum_ns) / 1e9);
}

void JobMetrics::WriteTo(PromWriter& out) const {
  const Table* t = table_.load(std::memory_order_acquire);
  std::map<std::string, Totals> sorted;
  if (t != nullptr) {
    for (const auto& [name, stats] : *t) sorted.emplace(name, Sum(*stats));
  }
  out.Family("berth_jobs_started_total", "counter", "Jobs started, by job name.");
  for (const auto& [name, s] : sorted) {
    out.Sample("berth_jobs_started_total", {{"job", name}}, s.started);
  }
  out.Family("berth_jobs_ended_total", "counter", "Jobs ended, by job name and status (other: any other status).");
  for (const auto& [name, s] : sorted) {
    for (size_t i = 0; i < kStatusSlots; ++i) {
      const uint64_t n = s.ended[i];
      if (n == 0) continue;
      std::string status = i < std::size(kSlotStatuses) ? absl::StrCat(kSlotStatuses[i]) : "other";
      out.Sample("berth_jobs_ended_total", {{"job", name}, {"status", status}}, n);
    }
  }
  out.Family("berth_job_duration_seconds", "histogram",
             "Job run time by job name; where=in-process or where=worker (relayed to a worker).");
  for (const auto& [name, s] : sorted) {
    WriteHistogram(out, name, "in-process", s.where[0]);
    WriteHistogram(out, name, "worker", s.where[1]);
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
