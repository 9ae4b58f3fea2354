// Output subscribers: callbacks without locks held, unsubscribing from inside
// a callback and from another thread, EOF exactly once.
#include "execdriver/subscribers.h"

#include <atomic>
#include <thread>

#include "absl/time/clock.h"
#include "doctest/doctest.h"

namespace berth::execdriver {
namespace {

TEST_CASE("subscribers: chunks in order, EOF once, late subscribers hear EOF at once") {
  Subscribers subs;
  std::string seen;
  int eofs = 0;
  subs.Add([&](Stream s, absl::string_view d, bool eof) {
    if (eof)
      ++eofs;
    else
      seen += (s == Stream::kStdout ? "o:" : "e:") + std::string(d) + ";";
  });
  subs.Publish(Stream::kStdout, "a");
  subs.Publish(Stream::kStderr, "b");
  subs.PublishEof();
  subs.PublishEof();
  subs.Publish(Stream::kStdout, "after");
  CHECK(seen == "o:a;e:b;");
  CHECK(eofs == 1);
  bool late = false;
  subs.Add([&](Stream, absl::string_view, bool eof) { late = eof; });
  CHECK(late);
}

TEST_CASE("subscribers: a callback may unsubscribe itself; Remove waits for a running call") {
  Subscribers subs;
  int calls = 0;
  int token = 0;
  token = subs.Add([&](Stream, absl::string_view, bool) {
    ++calls;
    subs.Remove(token);  // from inside: must not deadlock
  });
  subs.Publish(Stream::kStdout, "x");
  subs.Publish(Stream::kStdout, "y");
  CHECK(calls == 1);

  std::atomic<bool> in_call{false};
  std::atomic<bool> finished{false};
  int slow = subs.Add([&](Stream, absl::string_view, bool) {
    in_call = true;
    absl::SleepFor(absl::Milliseconds(100));
    finished = true;
  });
  std::thread monitor([&] { subs.Publish(Stream::kStdout, "z"); });
  while (!in_call) absl::SleepFor(absl::Milliseconds(1));
  subs.Remove(slow);
  CHECK(finished);  // Remove returned only after the call ended
  monitor.join();
}

}  // namespace
}  // namespace berth::execdriver
