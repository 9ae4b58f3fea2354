// Docker's json-file log: one JSON object per line,
//   {"log":"hello\n","stream":"stdout","time":"2015-03-01T12:00:00.123456789Z"}
// with the time in RFC 3339 UTC, nanoseconds, trailing zeros dropped (Go's
// RFC3339Nano). Output is split at '\n' (the newline stays in "log"); a
// partial line is written once it reaches kMaxPartialLine bytes and at EOF
// (Flush), so a program that never prints a newline still shows up.
//
// Bytes that are not UTF-8 are replaced by U+FFFD, as Go's encoder does.
//
// JsonLogWriter is used by one thread (the container's monitor). The reader
// functions may run at any time, concurrently with the writer: a last line
// without its '\n' is still being written and is not returned yet.
#ifndef BERTH_EXECDRIVER_JSON_LOG_H_
#define BERTH_EXECDRIVER_JSON_LOG_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "execdriver/container.h"

namespace berth::execdriver {

inline constexpr size_t kMaxPartialLine = 16 * 1024;

struct LogEntry {
  Stream stream = Stream::kStdout;
  std::string log;
  absl::Time time;
};

// One line of the file, with its '\n'.
std::string FormatJsonLogLine(Stream stream, absl::string_view log, absl::Time time);
// InvalidArgument naming what is wrong with `line` (without its '\n').
absl::StatusOr<LogEntry> ParseJsonLogLine(absl::string_view line);

class JsonLogWriter {
 public:
  // Opens `path` for appending (created 0640 if missing).
  static absl::StatusOr<std::unique_ptr<JsonLogWriter>> Open(const std::string& path);
  ~JsonLogWriter();  // closes without Flush
  JsonLogWriter(const JsonLogWriter&) = delete;
  JsonLogWriter& operator=(const JsonLogWriter&) = delete;

  // Appends the complete lines of `data`, keeping a partial one per stream.
  absl::Status Write(Stream stream, absl::string_view data, absl::Time now = absl::Now());
  // Writes the partial lines (EOF of the streams).
  absl::Status Flush(absl::Time now = absl::Now());

 private:
  explicit JsonLogWriter(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  absl::Status Emit(Stream stream, absl::string_view log, absl::Time now);

  int fd_;
  std::string path_;
  std::string partial_[2];  // indexed by Stream
};

// The entries of `path`, only the last `tail` if tail >= 0. Lines that do not
// parse are skipped (a crash can truncate one).
absl::StatusOr<std::vector<LogEntry>> ReadJsonLog(const std::string& path, int tail = -1);

// `logs --follow`: passes the last `tail` entries (all if < 0) to `fn`, then
// every entry appended later, polling the file, until `done()` is true (what
// was written by then is still passed) or `fn` returns false.
absl::Status FollowJsonLog(const std::string& path, int tail, const std::function<bool(const LogEntry&)>& fn,
                           const std::function<bool()>& done, absl::Duration poll = absl::Milliseconds(50));

}  // namespace berth::execdriver

#endif  // BERTH_EXECDRIVER_JSON_LOG_H_
