// Docker's json-file log, writer and reader; see json_log.h.
#include "execdriver/json_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>

#include "absl/strings/str_cat.h"
#include "execdriver/json_line.h"
#include "nlohmann/json.hpp"

namespace berth::execdriver {
namespace {

const char* StreamName(Stream s) { return s == Stream::kStdout ? "stdout" : "stderr"; }

// Reads from `offset` to the end; returns the complete lines and advances
// `offset` past them only.
absl::StatusOr<std::vector<std::string>> ReadLinesFrom(const std::string& path, off_t& offset) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::NotFoundError(absl::StrCat("cannot open log ", path, ": ", std::strerror(errno)));
  }
  std::string data;
  char buf[65536];
  for (ssize_t n; (n = ::pread(fd, buf, sizeof(buf), offset + static_cast<off_t>(data.size()))) > 0;) {
    data.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t nl; (nl = data.find('\n', start)) != std::string::npos; start = nl + 1) {
    lines.push_back(data.substr(start, nl - start));
  }
  offset += static_cast<off_t>(start);
  return lines;
}

void Parse(const std::vector<std::string>& lines, std::deque<LogEntry>& out, int tail) {
  for (const std::string& line : lines) {
    absl::StatusOr<LogEntry> e = ParseJsonLogLine(line);
    if (!e.ok()) continue;
    out.push_back(*std::move(e));
    if (tail >= 0 && out.size() > static_cast<size_t>(tail)) out.pop_front();
  }
}

}  // namespace

std::string FormatJsonLogLine(Stream stream, absl::string_view log, absl::Time time) {
  std::string line(JsonLogLineBound(log.size()), '\0');
  line.resize(EncodeJsonLogLine(log.data(), log.size(), StreamName(stream), absl::ToUnixNanos(time), line.data()));
  return line;
}

absl::StatusOr<LogEntry> ParseJsonLogLine(absl::string_view line) {
  nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError(absl::StrCat("json-file log: not a JSON object: ", line));
  }
  LogEntry e;
  auto log = j.find("log");
  auto stream = j.find("stream");
  auto time = j.find("time");
  if (log == j.end() || !log->is_string() || stream == j.end() || !stream->is_string() || time == j.end() ||
      !time->is_string()) {
    return absl::InvalidArgumentError(absl::StrCat("json-file log: missing log, stream or time: ", line));
  }
  e.log = log->get<std::string>();
  e.stream = stream->get<std::string>() == "stderr" ? Stream::kStderr : Stream::kStdout;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, time->get<std::string>(), &e.time, &err)) {
    return absl::InvalidArgumentError(absl::StrCat("json-file log: bad time: ", err));
  }
  return e;
}

absl::StatusOr<std::unique_ptr<JsonLogWriter>> JsonLogWriter::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("cannot open log ", path, ": ", std::strerror(errno)));
  }
  return std::unique_ptr<JsonLogWriter>(new JsonLogWriter(fd, path));
}

JsonLogWriter::~JsonLogWriter() { ::close(fd_); }

absl::Status JsonLogWriter::Emit(Stream stream, absl::string_view log, absl::Time now) {
  std::string line = FormatJsonLogLine(stream, log, now);
  // One write per line with O_APPEND: a reader never sees two lines interleaved.
  ssize_t n = ::write(fd_, line.data(), line.size());
  if (n != static_cast<ssize_t>(line.size())) {
    return absl::InternalError(absl::StrCat("cannot write log ", path_, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status JsonLogWriter::Write(Stream stream, absl::string_view data, absl::Time now) {
  std::string& partial = partial_[static_cast<int>(stream)];
  absl::Status status;
  while (!data.empty()) {
    size_t nl = data.find('\n');
    size_t take = nl == absl::string_view::npos ? data.size() : nl + 1;
    take = std::min(take, kMaxPartialLine - partial.size());
    partial.append(data.data(), take);
    data.remove_prefix(take);
    if (partial.back() == '\n' || partial.size() >= kMaxPartialLine) {
      absl::Status s = Emit(stream, partial, now);
      if (status.ok()) status = s;
      partial.clear();
    }
  }
  return status;
}

absl::Status JsonLogWriter::Flush(absl::Time now) {
  absl::Status status;
  for (Stream s : {Stream::kStdout, Stream::kStderr}) {
    std::string& partial = partial_[static_cast<int>(s)];
    if (partial.empty()) continue;
    absl::Status e = Emit(s, partial, now);
    if (status.ok()) status = e;
    partial.clear();
  }
  return status;
}

absl::StatusOr<std::vector<LogEntry>> ReadJsonLog(const std::string& path, int tail) {
  off_t offset = 0;
  absl::StatusOr<std::vector<std::string>> lines = ReadLinesFrom(path, offset);
  if (!lines.ok()) return lines.status();
  std::deque<LogEntry> entries;
  Parse(*lines, entries, tail);
  return std::vector<LogEntry>(std::make_move_iterator(entries.begin()), std::make_move_iterator(entries.end()));
}

absl::Status FollowJsonLog(const std::string& path, int tail, const std::function<bool(const LogEntry&)>& fn,
                           const std::function<bool()>& done, absl::Duration poll) {
  off_t offset = 0;
  for (bool first = true;; first = false) {
    // `done` is read before the file, so what was written before it turned
    // true is still delivered.
    bool last = done();
    absl::StatusOr<std::vector<std::string>> lines = ReadLinesFrom(path, offset);
    if (!lines.ok()) return lines.status();
    std::deque<LogEntry> entries;
    Parse(*lines, entries, first ? tail : -1);
    for (const LogEntry& e : entries) {
      if (!fn(e)) return absl::OkStatus();
    }
    if (last) return absl::OkStatus();
    absl::SleepFor(poll);
  }
}

}  // namespace berth::execdriver
