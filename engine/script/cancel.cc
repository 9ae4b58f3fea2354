#include "engine/script/cancel.h"

#include <utility>

namespace berth {

void ScriptCancel::Cancel() {
  absl::MutexLock lock(&mu_);
  if (cancelled_) return;
  cancelled_ = true;
  for (auto& [id, fn] : callbacks_) fn();
}

bool ScriptCancel::cancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

int64_t ScriptCancel::AddCallback(std::function<void()> fn) {
  absl::MutexLock lock(&mu_);
  const int64_t id = next_id_++;
  if (cancelled_) {
    fn();
  } else {
    callbacks_.emplace(id, std::move(fn));
  }
  return id;
}

void ScriptCancel::RemoveCallback(int64_t id) {
  absl::MutexLock lock(&mu_);
  callbacks_.erase(id);
}

}  // namespace berth
