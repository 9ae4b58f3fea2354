#include "engine/runtime.h"

#include "absl/synchronization/mutex.h"

namespace berth {

void ConfigureProductionRuntime() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

}  // namespace berth
