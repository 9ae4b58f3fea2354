#include "engine/job_help.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace berth {

absl::string_view StdinUseName(StdinUse use) {
  switch (use) {
    case StdinUse::kNone:
      return "none";
    case StdinUse::kOptional:
      return "optional";
    case StdinUse::kRequired:
      return "required";
  }
  return "none";
}

std::string HelpText(const JobHelp& help) {
  std::string out = absl::StrCat("Usage: ", help.name, help.usage.empty() ? "" : " ", help.usage, "\n");
  if (!help.summary.empty()) absl::StrAppend(&out, "\n", help.summary, "\n");
  if (!help.env.empty()) {
    size_t width = 0;
    for (const auto& [key, meaning] : help.env) width = std::max(width, key.size());
    absl::StrAppend(&out, "\nEnv (berth job -e KEY=VALUE):\n");
    for (const auto& [key, meaning] : help.env) {
      absl::StrAppend(&out, "  ", key, std::string(width - key.size() + 2, ' '), meaning, "\n");
    }
  }
  switch (help.stdin_use) {
    case StdinUse::kNone:
      break;
    case StdinUse::kOptional:
      absl::StrAppend(&out, "\nStdin: read when given (not from a terminal)\n");
      break;
    case StdinUse::kRequired:
      absl::StrAppend(&out, "\nStdin: read to its end; redirect a file or a pipe into it\n");
      break;
  }
  return out;
}

Env HelpEnv(const JobHelp& help) {
  Env out;
  (void)out.Set("Name", help.name);
  (void)out.Set("Usage", help.usage);
  (void)out.Set("Summary", help.summary);
  Env env;
  for (const auto& [key, meaning] : help.env) (void)env.Set(key, meaning);
  (void)out.SetSubEnv("Env", env);
  (void)out.Set("Stdin", std::string(StdinUseName(help.stdin_use)));
  return out;
}

}  // namespace berth
