// Shared GraphDriver helpers; see graph_driver.h.
#include "storage/graph_driver.h"

#include "absl/strings/str_cat.h"

namespace berth::storage {

absl::Status ValidateLayerId(absl::string_view id) {
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9');
  };
  bool ok = !id.empty() && id.size() <= 255 && alnum(id[0]);
  for (size_t i = 1; ok && i < id.size(); ++i) {
    ok = alnum(id[i]) || id[i] == '_' || id[i] == '.' || id[i] == '-';
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid layer id \"", id,
        "\": use [A-Za-z0-9][A-Za-z0-9_.-]*, at most 255 characters"));
  }
  return absl::OkStatus();
}

}  // namespace berth::storage
