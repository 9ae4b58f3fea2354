#include "engine/runtime.h"

#include "absl/synchronization/mutex.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

namespace berth {

void ConfigureProductionRuntime() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // Logs go to stderr: stdout carries job output.
  auto logger = spdlog::stderr_color_mt("berth");
  spdlog::set_default_logger(logger);
}

}  // namespace berth
