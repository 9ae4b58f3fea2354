#include "net/iptables_stats.h"

namespace berth::net {

const std::vector<double>& IptablesStats::Bounds() {
  static const std::vector<double> kBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1};
  return kBounds;
}

IptablesStats& IptablesStats::Process() {
  static IptablesStats* stats = new IptablesStats();  // process-wide, never destroyed
  return *stats;
}

void IptablesStats::Commit(uint64_t rules, absl::Duration latency, bool ok) {
  commits_.fetch_add(1, std::memory_order_relaxed);
  if (!ok) {
    errors_.fetch_add(1, std::memory_order_relaxed);
  } else {
    rules_.fetch_add(rules, std::memory_order_relaxed);
  }
  const double s = absl::ToDoubleSeconds(latency);
  size_t i = 0;
  while (i < Bounds().size() && s > Bounds()[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  nanos_.fetch_add(static_cast<uint64_t>(absl::ToInt64Nanoseconds(latency)), std::memory_order_relaxed);
}

IptablesStats::Snapshot IptablesStats::Read() const {
  Snapshot s;
  s.rules_written = rules_.load(std::memory_order_relaxed);
  s.commits = commits_.load(std::memory_order_relaxed);
  s.commit_errors = errors_.load(std::memory_order_relaxed);
  uint64_t running = 0;
  for (size_t i = 0; i < Bounds().size(); ++i) s.cumulative.push_back(running += buckets_[i].load(std::memory_order_relaxed));
  s.commit_seconds = nanos_.load(std::memory_order_relaxed) / 1e9;
  return s;
}

}  // namespace berth::net
