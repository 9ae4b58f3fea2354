#include "engine/job_line.h"

#include "absl/strings/str_cat.h"

namespace berth {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

absl::StatusOr<std::vector<Word>> SplitWords(absl::string_view line) {
  std::vector<Word> words;
  size_t i = 0;
  const size_t n = line.size();
  while (true) {
    while (i < n && IsBlank(line[i])) ++i;
    if (i >= n) break;
    Word w;
    w.offset = i;
    while (i < n && !IsBlank(line[i])) {
      char c = line[i];
      if (c == '\'') {
        size_t close = line.find('\'', i + 1);
        if (close == absl::string_view::npos) {
          return absl::InvalidArgumentError(absl::StrCat("unterminated single quote in '", line, "'"));
        }
        absl::StrAppend(&w.text, line.substr(i + 1, close - i - 1));
        i = close + 1;
      } else if (c == '"') {
        ++i;
        bool closed = false;
        while (i < n) {
          char d = line[i];
          if (d == '"') {
            closed = true;
            ++i;
            break;
          }
          if (d == '\\' && i + 1 < n) {
            char e = line[i + 1];
            if (e == '"' || e == '\\' || e == '$' || e == '`') {
              w.text.push_back(e);
              i += 2;
              continue;
            }
            if (e == '\n') {
              i += 2;
              continue;
            }
          }
          w.text.push_back(d);
          ++i;
        }
        if (!closed) {
          return absl::InvalidArgumentError(absl::StrCat("unterminated double quote in '", line, "'"));
        }
      } else if (c == '\\') {
        if (i + 1 >= n) {
          return absl::InvalidArgumentError(absl::StrCat("trailing backslash in '", line, "'"));
        }
        if (line[i + 1] != '\n') w.text.push_back(line[i + 1]);
        i += 2;
      } else {
        if (c == '=' && w.assign_at == std::string::npos) w.assign_at = w.text.size();
        w.text.push_back(c);
        ++i;
      }
    }
    words.push_back(std::move(w));
  }
  return words;
}

absl::StatusOr<JobLine> ParseJobLine(absl::string_view line) {
  absl::StatusOr<std::vector<Word>> words = SplitWords(line);
  if (!words.ok()) return words.status();
  JobLine job;
  bool have_name = false;
  for (Word& w : *words) {
    if (w.assign_at != std::string::npos) {
      absl::string_view key(w.text.data(), w.assign_at);
      if (absl::Status s = job.env.Set(key, absl::string_view(w.text).substr(w.assign_at + 1)); !s.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(s.message(), " in '", line, "'"));
      }
    } else if (!have_name) {
      job.name = std::move(w.text);
      have_name = true;
    } else {
      job.args.push_back(std::move(w.text));
    }
  }
  if (!have_name) return absl::InvalidArgumentError(absl::StrCat("empty command: '", line, "'"));
  return job;
}

std::string QuoteWord(absl::string_view word) {
  if (!word.empty() && word.find_first_of(" \t\r\n'\"\\=$`|&;#{}()<>") == absl::string_view::npos) {
    return std::string(word);
  }
  std::string out = "'";
  for (char c : word) {
    if (c == '\'') {
      out.append("'\\''");
    } else {
      out.push_back(c);
    }
  }
  out.push_back('\'');
  return out;
}

}  // namespace berth
