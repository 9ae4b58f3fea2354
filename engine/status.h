// Job status codes and their mapping to absl::Status.
//
// A job ends with an integer status, as a process does; the CLI exits with it.
// 0, 1 and 127 are the reference codes; 124, 126 and 130 are berth's, needed once
// jobs cross process boundaries (deadlines, lost workers, cancellation).
#ifndef BERTH_ENGINE_STATUS_H_
#define BERTH_ENGINE_STATUS_H_

#include <string_view>

#include "absl/strings/string_view.h"
#include "absl/status/status.h"

namespace berth {

inline constexpr int kStatusOk = 0;
inline constexpr int kStatusErr = 1;
inline constexpr int kStatusDeadlineExceeded = 124;
inline constexpr int kStatusUnavailable = 126;
inline constexpr int kStatusNotFound = 127;
inline constexpr int kStatusCancelled = 130;

// The absl::Status a job with `status` and error text `message` returns from Run.
absl::Status StatusFromJobStatus(int status, absl::string_view message);

// The job status that best represents `status`: OK → 0, DeadlineExceeded → 124,
// Unavailable → 126, Cancelled → 130, anything else → 1. NotFound is 1 too: a
// missing file, image or container is an ordinary failure with its message;
// 127 means only "no handler for this job name", which Job::Run sets itself.
int JobStatusFromStatus(const absl::Status& status);

}  // namespace berth

#endif  // BERTH_ENGINE_STATUS_H_
