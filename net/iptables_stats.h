// IptablesStats: what this process's libiptc batches wrote, for metrics —
// rule changes committed (appends, inserts, deletes), commits and failed
// commits, and commit latency in buckets.
//
// Process-wide (one set of counters per process, like the tables they count):
// with --remote-handlers network, the worker's process counts, not berthd's.
// Relaxed atomics; a snapshot may mix counts of a commit in progress.
#ifndef BERTH_NET_IPTABLES_STATS_H_
#define BERTH_NET_IPTABLES_STATS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/time/time.h"

namespace berth::net {

class IptablesStats {
 public:
  static constexpr size_t kBuckets = 10;
  // Upper bounds of the latency buckets, in seconds.
  static const std::vector<double>& Bounds();
  static IptablesStats& Process();

  struct Snapshot {
    uint64_t rules_written = 0;
    uint64_t commits = 0;
    uint64_t commit_errors = 0;
    std::vector<uint64_t> cumulative;  // per bound of Bounds()
    double commit_seconds = 0;
  };

  // A commit of `rules` rule changes that took `latency`.
  void Commit(uint64_t rules, absl::Duration latency, bool ok);
  Snapshot Read() const;

 private:
  std::atomic<uint64_t> rules_{0};
  std::atomic<uint64_t> commits_{0};
  std::atomic<uint64_t> errors_{0};
  std::atomic<uint64_t> nanos_{0};
  std::array<std::atomic<uint64_t>, kBuckets + 1> buckets_{};
};

}  // namespace berth::net

#endif  // BERTH_NET_IPTABLES_STATS_H_
