// Image metadata JSON and image ids; see image.h.
#include "storage/image.h"

#include <sys/random.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "storage/fs_util.h"

namespace berth::storage {

std::string GenerateImageId() {
  static constexpr char kHex[] = "0123456789abcdef";
  while (true) {
    unsigned char raw[32];
    size_t got = 0;
    while (got < sizeof(raw)) {
      ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);
      if (n > 0) got += static_cast<size_t>(n);
    }
    std::string id(64, '0');
    for (size_t i = 0; i < 32; ++i) {
      id[2 * i] = kHex[raw[i] >> 4];
      id[2 * i + 1] = kHex[raw[i] & 0xf];
    }
    bool all_digits = true;
    for (size_t i = 0; i < 12; ++i) {
      if (id[i] > '9') all_digits = false;
    }
    if (!all_digits) return id;
  }
}

std::string FormatRfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E*SZ", t, absl::UTCTimeZone());
}

std::string EncodeImage(const Image& image) {
  nlohmann::json j = image.extra.is_object() ? image.extra
                                             : nlohmann::json::object();
  j["id"] = image.id;
  if (!image.parent.empty()) j["parent"] = image.parent;
  j["created"] = FormatRfc3339(image.created);
  j["comment"] = image.comment;
  j["author"] = image.author;
  j["container"] = image.container;
  if (!image.container_config.is_null()) {
    j["container_config"] = image.container_config;
  }
  if (!image.config.is_null()) j["config"] = image.config;
  j["architecture"] = image.architecture;
  j["os"] = image.os;
  j["berth_version"] = image.berth_version;
  j["Size"] = image.size;
  return j.dump();
}

absl::StatusOr<Image> DecodeImage(absl::string_view text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::DataLossError("image json: not a JSON object");
  }
  Image image;
  auto str = [&](const char* key, std::string* out) -> absl::Status {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return absl::OkStatus();
    if (!it->is_string()) {
      return absl::DataLossError(
          absl::StrCat("image json: \"", key, "\" is not a string"));
    }
    *out = it->get<std::string>();
    return absl::OkStatus();
  };
  std::string created;
  for (auto [key, out] : {std::pair{"id", &image.id},
                          std::pair{"parent", &image.parent},
                          std::pair{"created", &created},
                          std::pair{"comment", &image.comment},
                          std::pair{"author", &image.author},
                          std::pair{"container", &image.container},
                          std::pair{"architecture", &image.architecture},
                          std::pair{"os", &image.os},
                          std::pair{"berth_version", &image.berth_version}}) {
    absl::Status s = str(key, out);
    if (!s.ok()) return s;
  }
  if (!IsHexId(image.id)) {
    return absl::DataLossError(
        absl::StrCat("image json: bad id \"", image.id, "\""));
  }
  if (!image.parent.empty() && !IsHexId(image.parent)) {
    return absl::DataLossError(
        absl::StrCat("image json: bad parent \"", image.parent, "\""));
  }
  if (!created.empty()) {
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, created, &image.created, &err)) {
      return absl::DataLossError(absl::StrCat(
          "image json: bad created time \"", created, "\": ", err));
    }
  }
  if (auto it = j.find("Size"); it != j.end() && !it->is_null()) {
    if (!it->is_number_integer()) {
      return absl::DataLossError("image json: \"Size\" is not an integer");
    }
    image.size = it->get<int64_t>();
  }
  if (auto it = j.find("container_config"); it != j.end()) {
    image.container_config = *it;
  }
  if (auto it = j.find("config"); it != j.end()) image.config = *it;
  for (const char* known :
       {"id", "parent", "created", "comment", "author", "container",
        "container_config", "config", "architecture", "os", "berth_version",
        "Size"}) {
    j.erase(known);
  }
  image.extra = std::move(j);
  return image;
}

}  // namespace berth::storage
