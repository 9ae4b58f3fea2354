// Docker's json-file log: the line format, splitting at '\n', the 16 KiB
// partial-line flush, flush at EOF, tail and follow.
#include "execdriver/json_log.h"

#include <atomic>
#include <thread>

#include "doctest/doctest.h"
#include "tests/support/temp_dir.h"

namespace berth::execdriver {
namespace {

using testing::ReadFileOrEmpty;
using testing::TempDir;

absl::Time At(int64_t unix_nanos) { return absl::FromUnixNanos(unix_nanos); }

TEST_CASE("json_log: a line is Docker's object, RFC3339Nano UTC without trailing zeros") {
  CHECK(FormatJsonLogLine(Stream::kStdout, "hi\n", At(1425211200123456789)) ==
        "{\"log\":\"hi\\n\",\"stream\":\"stdout\",\"time\":\"2015-03-01T12:00:00.123456789Z\"}\n");
  CHECK(FormatJsonLogLine(Stream::kStderr, "x", At(1425211200120000000)) ==
        "{\"log\":\"x\",\"stream\":\"stderr\",\"time\":\"2015-03-01T12:00:00.12Z\"}\n");
  // Invalid UTF-8 becomes U+FFFD instead of failing.
  CHECK(FormatJsonLogLine(Stream::kStdout, "a\xff", At(0)) ==
        "{\"log\":\"a\xef\xbf\xbd\",\"stream\":\"stdout\",\"time\":\"1970-01-01T00:00:00Z\"}\n");
  absl::StatusOr<LogEntry> e =
      ParseJsonLogLine("{\"log\":\"hi\\n\",\"stream\":\"stderr\",\"time\":\"2015-03-01T12:00:00.123456789Z\"}");
  REQUIRE(e.ok());
  CHECK(e->log == "hi\n");
  CHECK(e->stream == Stream::kStderr);
  CHECK(e->time == At(1425211200123456789));
  CHECK(!ParseJsonLogLine("{\"log\":1}").ok());
  CHECK(!ParseJsonLogLine("not json").ok());
}

TEST_CASE("json_log: split at newlines, partial lines at 16 KiB and at EOF, streams apart") {
  TempDir dir;
  std::string path = dir / "log";
  auto w = JsonLogWriter::Open(path);
  REQUIRE(w.ok());
  REQUIRE((*w)->Write(Stream::kStdout, "one\ntw").ok());
  REQUIRE((*w)->Write(Stream::kStderr, "err").ok());
  REQUIRE((*w)->Write(Stream::kStdout, "o\nthree").ok());
  REQUIRE((*w)->Write(Stream::kStdout, std::string(kMaxPartialLine + 10, 'a')).ok());
  REQUIRE((*w)->Flush().ok());
  auto entries = ReadJsonLog(path);
  REQUIRE(entries.ok());
  REQUIRE(entries->size() == 5);
  CHECK((*entries)[0].log == "one\n");
  CHECK((*entries)[1].log == "two\n");
  CHECK((*entries)[2].log == "three" + std::string(kMaxPartialLine - 5, 'a'));
  CHECK((*entries)[3].log == std::string(15, 'a'));
  CHECK((*entries)[3].stream == Stream::kStdout);
  CHECK((*entries)[4].log == "err");
  CHECK((*entries)[4].stream == Stream::kStderr);
}

TEST_CASE("json_log: tail returns the last N; follow sees what is appended until done") {
  TempDir dir;
  std::string path = dir / "log";
  auto w = JsonLogWriter::Open(path);
  REQUIRE(w.ok());
  for (int i = 0; i < 5; ++i) REQUIRE((*w)->Write(Stream::kStdout, std::to_string(i) + "\n").ok());
  auto tail = ReadJsonLog(path, 2);
  REQUIRE(tail.ok());
  REQUIRE(tail->size() == 2);
  CHECK((*tail)[0].log == "3\n");
  CHECK((*tail)[1].log == "4\n");
  CHECK(ReadJsonLog(path, 0)->empty());
  CHECK(ReadJsonLog(path)->size() == 5);
  CHECK(!ReadJsonLog(dir / "missing").ok());

  std::atomic<bool> finished{false};
  std::vector<std::string> seen;
  std::thread follower([&] {
    absl::Status s = FollowJsonLog(
        path, 1,
        [&](const LogEntry& e) {
          seen.push_back(e.log);
          return true;
        },
        [&] { return finished.load(); }, absl::Milliseconds(5));
    CHECK(s.ok());
  });
  absl::SleepFor(absl::Milliseconds(50));
  REQUIRE((*w)->Write(Stream::kStdout, "5\n6").ok());  // "6" is partial: not yet
  absl::SleepFor(absl::Milliseconds(50));
  REQUIRE((*w)->Flush().ok());
  finished = true;
  follower.join();
  CHECK(seen == std::vector<std::string>{"4\n", "5\n", "6"});
}

}  // namespace
}  // namespace berth::execdriver
