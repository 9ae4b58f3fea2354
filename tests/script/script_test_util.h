// Helpers shared by the job-script tests: run a script text against an engine
// with captured stdout/stderr, bounded in time, and the test-only jobs that
// make stopping and concurrency observable.
#ifndef BERTH_TESTS_SCRIPT_SCRIPT_TEST_UTIL_H_
#define BERTH_TESTS_SCRIPT_SCRIPT_TEST_UTIL_H_

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "engine/script/resolve.h"
#include "engine/script/run.h"

namespace berth {

struct Ran {
  absl::Status refused;  // the check's error, when the script did not run
  int status = -1;
  std::string error;
  std::string out;
  std::string err;
  bool timed_out = false;  // had to be cancelled after the time limit
  absl::Duration took;
};

ScriptGetenv FakeEnv(std::map<std::string, std::string> vars);

// Parses and runs `text` (file name "t.berth"). If it has not finished within
// `limit`, it is cancelled (and timed_out set) so a test fails rather than hangs.
Ran RunText(Engine& eng, absl::string_view text, ScriptOptions options = {},
            absl::Duration limit = absl::Seconds(20));

// Jobs for tests, installed on `eng` with the util group:
//   endless   writes 64 KiB chunks until a write fails (never ends on its own)
//   barrier   waits until `barrier_size` barrier jobs run at once (fails after 10 s)
//   touch     counts its runs in `touched`
//   park      sets `parked`, then waits to be cancelled (status 130)
struct TestJobs {
  std::atomic<int> endless_running{0};
  std::atomic<int> barrier_waiting{0};
  int barrier_size = 3;
  std::atomic<int> touched{0};
  std::atomic<bool> parked{false};
};
void InstallTestJobs(Engine& eng, TestJobs* jobs);

}  // namespace berth

#endif  // BERTH_TESTS_SCRIPT_SCRIPT_TEST_UTIL_H_
