// DeadlineQueue: the deadlines of jobs in flight, earliest first.
//
// Each Add returns a handle, and the owner removes the deadline with it when
// the job ends first. So the queue holds the deadlines of jobs still in flight
// and nothing else: its size is bounded by the jobs in flight, however many
// jobs with long deadlines have come and gone. A deadline left behind until
// its time would let a client that sends short jobs with day-long deadlines
// grow berthd without bound, within every limit of protocol.md. The server
// (jobs it runs for its clients), the dispatcher (jobs relayed to workers)
// and a worker's direct endpoint keep their deadlines in one.
//
// Not thread-safe: used on its owner's I/O thread.
#ifndef BERTH_ENGINE_REMOTE_DEADLINE_QUEUE_H_
#define BERTH_ENGINE_REMOTE_DEADLINE_QUEUE_H_

#include <cstdint>
#include <map>
#include <utility>

#include "absl/time/time.h"

namespace berth::remote {

template <typename Key>
class DeadlineQueue {
 public:
  // Names one deadline; the default one names none.
  struct Handle {
    absl::Time when = absl::InfiniteFuture();
    uint64_t seq = 0;  // 0: no deadline
  };

  // Adds `key`'s deadline at `when`.
  Handle Add(absl::Time when, Key key) {
    const Handle h{when, next_seq_++};
    by_time_.emplace(std::make_pair(when, h.seq), std::move(key));
    return h;
  }
  // Removes the deadline `h` names; nothing for none, or one already due.
  void Remove(const Handle& h) {
    if (h.seq != 0) by_time_.erase(std::make_pair(h.when, h.seq));
  }
  // The earliest deadline, or InfiniteFuture when there is none.
  absl::Time Next() const { return by_time_.empty() ? absl::InfiniteFuture() : by_time_.begin()->first.first; }
  // Removes each deadline due at `now`, earliest first, and calls due(key) for
  // it. `due` may Add and Remove.
  template <typename Due>
  void PopDue(absl::Time now, Due&& due) {
    while (!by_time_.empty() && by_time_.begin()->first.first <= now) {
      auto node = by_time_.extract(by_time_.begin());
      due(node.mapped());
    }
  }
  size_t size() const { return by_time_.size(); }

 private:
  std::map<std::pair<absl::Time, uint64_t>, Key> by_time_;
  uint64_t next_seq_ = 1;
};

}  // namespace berth::remote

#endif  // BERTH_ENGINE_REMOTE_DEADLINE_QUEUE_H_
