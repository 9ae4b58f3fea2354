// Job lines: `name arg… KEY=VALUE…` with shell-like quoting.
//
// Words are separated by white space. A word whose first unquoted '=' follows a
// non-empty key goes to the env (split at that '='); the other words are the job
// name then its args, in order. Quoting as in a POSIX shell: '…' is literal,
// "…" keeps everything but \" \\ \$ \` and backslash-newline, and an unquoted
// backslash escapes the next character. So `echo 'a=b'` passes the arg a=b while
// `Ports='["80/tcp"]'` sets Ports.
#ifndef BERTH_ENGINE_JOB_LINE_H_
#define BERTH_ENGINE_JOB_LINE_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/status/statusor.h"
#include "engine/env.h"

namespace berth {

struct Word {
  std::string text;
  // Offset in `text` of the first '=' that was not quoted or escaped, or npos.
  size_t assign_at = std::string::npos;
  // Offset of the word's first character in the line.
  size_t offset = 0;
};

// Splits `line` into words. Errors name the problem and the line:
// `unterminated single quote in '<line>'`, `unterminated double quote in '<line>'`,
// `trailing backslash in '<line>'`.
absl::StatusOr<std::vector<Word>> SplitWords(absl::string_view line);

struct JobLine {
  std::string name;
  std::vector<std::string> args;
  Env env;
};

// No words → `empty command: '<line>'`.
absl::StatusOr<JobLine> ParseJobLine(absl::string_view line);

// Quotes `word` so that SplitWords gives it back unchanged (for printing plans).
std::string QuoteWord(absl::string_view word);

}  // namespace berth

#endif  // BERTH_ENGINE_JOB_LINE_H_
