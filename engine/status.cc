#include "engine/status.h"

namespace berth {

absl::Status StatusFromJobStatus(int status, absl::string_view message) {
  switch (status) {
    case kStatusOk:
      return absl::OkStatus();
    case kStatusNotFound:
      return absl::NotFoundError(message);
    case kStatusDeadlineExceeded:
      return absl::DeadlineExceededError(message);
    case kStatusUnavailable:
      return absl::UnavailableError(message);
    case kStatusCancelled:
      return absl::CancelledError(message);
    default:
      return absl::UnknownError(message);
  }
}

int JobStatusFromStatus(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kOk:
      return kStatusOk;
    case absl::StatusCode::kDeadlineExceeded:
      return kStatusDeadlineExceeded;
    case absl::StatusCode::kUnavailable:
      return kStatusUnavailable;
    case absl::StatusCode::kCancelled:
      return kStatusCancelled;
    default:
      return kStatusErr;
  }
}

}  // namespace berth
