// What a container's restart policy decides when its process exits, as
// Docker 1.2 defined the policies:
//   "" or "no"       never restarted;
//   "always"         restarted whatever its exit code;
//   "on-failure[:N]" restarted when it exits non-zero, at most N times in a
//                    row (0: no limit); an exit 0 ends it and resets the count.
// A stop or kill by a user (or berthd's shutdown) is never restarted.
//
// Back-off: the first restart waits 100 ms, each next one twice the one
// before (at most one minute); a process that ran 10 s or longer starts the
// doubling again from 100 ms.
//
// At berthd's start (restore), a container the previous berthd left running
// (it ended with berthd) is started again if its policy is `always` or
// `on-failure`; a container a user stopped is started again only by
// `always`, as Docker 1.2 did.
//
// Not thread-safe: one tracker belongs to one container's waiter.
#ifndef BERTH_HANDLERS_CONTAINERS_RESTART_POLICY_H_
#define BERTH_HANDLERS_CONTAINERS_RESTART_POLICY_H_

#include "absl/time/time.h"
#include "handlers/containers/record.h"

namespace berth {

inline constexpr absl::Duration kRestartFirstDelay = absl::Milliseconds(100);
inline constexpr absl::Duration kRestartMaxDelay = absl::Minutes(1);
inline constexpr absl::Duration kRestartResetAfter = absl::Seconds(10);

struct RestartDecision {
  bool restart = false;
  absl::Duration delay;  // before the restart
};

class RestartTracker {
 public:
  explicit RestartTracker(RestartPolicy policy) : policy_(std::move(policy)) {}

  // `ran_for`: how long the process that exited ran; `by_user`: it was
  // stopped or killed by a user or by the shutdown.
  RestartDecision OnExit(int exit_code, absl::Duration ran_for, bool by_user);

 private:
  RestartPolicy policy_;
  absl::Duration last_delay_ = absl::ZeroDuration();
  int failures_ = 0;  // non-zero exits in a row
};

// Whether restore starts a container again; `was_running`: the previous
// berthd ended while it ran.
bool RestartAtRestore(const RestartPolicy& policy, bool was_running);

}  // namespace berth

#endif  // BERTH_HANDLERS_CONTAINERS_RESTART_POLICY_H_
