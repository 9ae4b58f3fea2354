// Restart policies; see restart_policy.h.
#include "handlers/containers/restart_policy.h"

#include <algorithm>

namespace berth {

RestartDecision RestartTracker::OnExit(int exit_code, absl::Duration ran_for, bool by_user) {
  if (exit_code == 0) {
    failures_ = 0;
  } else {
    ++failures_;
  }
  RestartDecision d;
  if (by_user) return d;
  if (policy_.name == "always") {
    d.restart = true;
  } else if (policy_.name == "on-failure") {
    d.restart = exit_code != 0 && (policy_.maximum_retry_count == 0 || failures_ <= policy_.maximum_retry_count);
  }
  if (!d.restart) return d;
  if (ran_for >= kRestartResetAfter || last_delay_ == absl::ZeroDuration()) {
    d.delay = kRestartFirstDelay;
  } else {
    d.delay = std::min(last_delay_ * 2, kRestartMaxDelay);
  }
  last_delay_ = d.delay;
  return d;
}

bool RestartAtRestore(const RestartPolicy& policy, bool was_running) {
  if (policy.name == "always") return true;
  return policy.name == "on-failure" && was_running;
}

}  // namespace berth
