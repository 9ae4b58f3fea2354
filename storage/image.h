// Image metadata as berth stores it in <root>/graph/<id>/json, and image id
// generation. The JSON object (keys as the Docker 1.x image format, so
// tools that know that format read it):
//   {"id": "<64 hex>", "parent": "<64 hex>" (omitted for a base image),
//    "created": "<RFC 3339, UTC, nanoseconds>", "comment": "...",
//    "author": "...", "container": "<id>", "container_config": {...},
//    "config": {...}, "architecture": "amd64", "os": "linux",
//    "berth_version": "0.1.0", "Size": <layer bytes>}
// Unknown keys are kept as they are when read and written back.
#ifndef BERTH_STORAGE_IMAGE_H_
#define BERTH_STORAGE_IMAGE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "nlohmann/json.hpp"

namespace berth::storage {

struct Image {
  std::string id;
  std::string parent;  // "" for a base image
  absl::Time created = absl::UnixEpoch();
  std::string comment;
  std::string author;
  std::string container;
  nlohmann::json container_config;  // null when absent
  nlohmann::json config;            // null when absent
  std::string architecture;
  std::string os;
  std::string berth_version;
  int64_t size = 0;
  nlohmann::json extra = nlohmann::json::object();  // keys berth does not know
};

// 64 random hex characters from the kernel's CSPRNG. Like the reference,
// ids whose 12-character short form is all digits are drawn again, so a
// short id never reads as a number.
std::string GenerateImageId();

std::string EncodeImage(const Image& image);
// Parses and validates (id and parent must be 64 hex, created RFC 3339).
absl::StatusOr<Image> DecodeImage(absl::string_view json);

// RFC 3339 with nanoseconds in UTC, e.g. "2024-05-01T10:00:00.123456789Z".
std::string FormatRfc3339(absl::Time t);

}  // namespace berth::storage

#endif  // BERTH_STORAGE_IMAGE_H_
