// The streaming container jobs: `logs` (from the json-file log, optionally
// following it until the container stops) and `attach` (live output, and the
// job's stdin into a container created with OpenStdin).
#ifndef BERTH_HANDLERS_CONTAINERS_CONTAINER_LOGS_H_
#define BERTH_HANDLERS_CONTAINERS_CONTAINER_LOGS_H_

#include "absl/status/statusor.h"
#include "engine/job.h"
#include "handlers/containers/runtime.h"

namespace berth {

struct LogsRequest {
  bool follow = false;     // keep writing new entries until the container stops
  int tail = -1;           // the last N entries; -1 = all
  bool timestamps = false;  // each line prefixed by its RFC 3339 time and a space
};

// env follow, tail ("all" or N ≥ 0), timestamps. `tail: want a number or
// 'all', got 'x'`.
absl::StatusOr<LogsRequest> ParseLogsRequest(const Env& env);

// Writes the log of container `id` to the job's stdout and stderr, each entry
// to the stream it came from. Works on a stopped container and after berthd
// restarts (the file outlives both).
absl::Status StreamLogs(ContainerRuntime& rt, const std::string& id, const LogsRequest& request, Job& job);

// Passes the running container's output to the job as it comes, and, when the
// container was created with OpenStdin, the job's stdin to the container
// (closing the container's stdin at the job's end of input). Returns when the
// container has stopped, or when the job is cancelled or its deadline passes
// (the container goes on). `Container /web is not running` otherwise.
absl::Status AttachContainer(ContainerRuntime& rt, const std::string& id, Job& job);

}  // namespace berth

#endif  // BERTH_HANDLERS_CONTAINERS_CONTAINER_LOGS_H_
