// EventLog: what happened in berthd, for the `events` job — Docker's event
// shape plus berth's `type`, one JSON object per line:
//   {"type":"container","status":"start","id":"<id>","from":"<image>",
//    "time":1700000000,"timeNano":1700000000123456789}
// (`from` only where there is one; `attributes` where an event says more).
//
// A bounded ring keeps the last `capacity` events (kDefaultCapacity: 1024) for
// `since` replays; older events are gone. Followers get every event published
// after they subscribed, in order; a follower that falls more than `capacity`
// events behind is ended (Next returns kFellBehind) rather than holding
// memory without bound. Close ends every follower (berthd closes the log when
// it starts shutting down, so that followers do not hold the shutdown up).
// Thread-safe.
#ifndef BERTH_HANDLERS_OBSERVE_EVENT_LOG_H_
#define BERTH_HANDLERS_OBSERVE_EVENT_LOG_H_

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace berth {

struct Event {
  std::string type;    // container, image, worker, network, daemon
  std::string status;  // create, start, die, ...
  std::string id;
  std::string from;
  absl::Time time;
  std::map<std::string, std::string> attributes;
  uint64_t seq = 0;  // publication order, from 1 (not in the JSON)

  // The JSON line (with its newline).
  std::string ToJsonLine() const;
};

class EventLog {
 public:
  static constexpr size_t kDefaultCapacity = 1024;

  // The log berthd's handlers publish to: one per process.
  static EventLog& Process();

  explicit EventLog(size_t capacity = kDefaultCapacity) : capacity_(capacity) {}
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  // Stamps `e` with the time now and records it.
  void Publish(Event e);
  void Publish(std::string type, std::string status, std::string id, std::string from = "",
               std::map<std::string, std::string> attributes = {});

  // Events with since <= time <= until, oldest first.
  std::vector<Event> Between(absl::Time since, absl::Time until) const;

  class Follower;
  // A follower of events published from now on.
  std::shared_ptr<Follower> Follow();
  // Ends every follower, now and later.
  void Close();

 private:
  friend class Follower;
  const size_t capacity_;
  mutable absl::Mutex mu_;
  std::deque<Event> ring_ ABSL_GUARDED_BY(mu_);
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 1;
  std::vector<std::weak_ptr<Follower>> followers_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

class EventLog::Follower {
 public:
  enum class Result { kEvent, kTimeout, kClosed, kFellBehind };
  // Waits up to `timeout` for the next event.
  Result Next(absl::Duration timeout, Event* out);

 private:
  friend class EventLog;
  explicit Follower(size_t capacity) : capacity_(capacity) {}
  void Push(const Event& e);
  void End();
  const size_t capacity_;
  absl::Mutex mu_;
  std::deque<Event> queue_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool behind_ ABSL_GUARDED_BY(mu_) = false;

 public:
  // For std::make_shared only.
  static std::shared_ptr<Follower> Make(size_t capacity) { return std::shared_ptr<Follower>(new Follower(capacity)); }
};

}  // namespace berth

#endif  // BERTH_HANDLERS_OBSERVE_EVENT_LOG_H_
