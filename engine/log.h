// Logging support: lets spdlog (fmt) format absl::string_view and absl::Status.
// Debian's abseil has its own string_view type, which fmt does not know.
#ifndef BERTH_ENGINE_LOG_H_
#define BERTH_ENGINE_LOG_H_

#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "spdlog/spdlog.h"

template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<std::string_view> {
  template <typename Context>
  auto format(absl::string_view s, Context& ctx) const {
    return fmt::formatter<std::string_view>::format(std::string_view(s.data(), s.size()), ctx);
  }
};

template <>
struct fmt::formatter<absl::Status> : fmt::formatter<std::string_view> {
  template <typename Context>
  auto format(const absl::Status& s, Context& ctx) const {
    std::string text = s.ToString();
    return fmt::formatter<std::string_view>::format(std::string_view(text), ctx);
  }
};

#endif  // BERTH_ENGINE_LOG_H_
