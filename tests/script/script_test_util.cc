#include "tests/script/script_test_util.h"

#include <doctest/doctest.h>

#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "engine/script/parser.h"
#include "handlers/util.h"

namespace berth {

ScriptGetenv FakeEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

Ran RunText(Engine& eng, absl::string_view text, ScriptOptions options, absl::Duration limit) {
  Ran ran;
  absl::StatusOr<Script> script = ParseScript(text, "t.berth");
  REQUIRE_MESSAGE(script.ok(), script.status().ToString());
  Output out;
  Output err;
  std::shared_ptr<std::string> out_buf = out.AddBuffer();
  std::shared_ptr<std::string> err_buf = err.AddBuffer();
  options.stdout_sink = &out;
  options.stderr_sink = &err;
  ScriptCancel own_cancel;
  if (options.cancel == nullptr) options.cancel = &own_cancel;
  ScriptCancel* cancel = options.cancel;
  if (!options.getenv) options.getenv = FakeEnv({});

  absl::Notification done;
  absl::StatusOr<ScriptResult> result;
  const absl::Time start = absl::Now();
  std::thread runner([&] {
    result = RunScript(eng, *script, options);
    done.Notify();
  });
  if (!done.WaitForNotificationWithTimeout(limit)) {
    ran.timed_out = true;
    cancel->Cancel();
  }
  runner.join();
  ran.took = absl::Now() - start;
  if (result.ok()) {
    ran.status = result->status;
    ran.error = result->error;
  } else {
    ran.refused = result.status();
  }
  ran.out = *out_buf;
  ran.err = *err_buf;
  return ran;
}

void InstallTestJobs(Engine& eng, TestJobs* jobs) {
  REQUIRE(UtilGroup().install(eng).ok());
  REQUIRE(eng.Register("endless", [jobs](Job& job) {
    jobs->endless_running++;
    const std::string chunk(64 << 10, 'e');
    absl::Status s;
    while (s.ok()) s = job.Stdout().Write(std::string(chunk));
    jobs->endless_running--;
    return job.Errorf("endless: %s", s.message());
  }).ok());
  REQUIRE(eng.Register("barrier", [jobs](Job& job) {
    jobs->barrier_waiting++;
    const absl::Time until = absl::Now() + absl::Seconds(10);
    while (jobs->barrier_waiting.load() < jobs->barrier_size) {
      if (absl::Now() > until) return job.Errorf("barrier: only %d of %d jobs ran at once",
                                                 jobs->barrier_waiting.load(), jobs->barrier_size);
      absl::SleepFor(absl::Milliseconds(1));
    }
    return kStatusOk;
  }).ok());
  REQUIRE(eng.Register("park", [jobs](Job& job) {
    jobs->parked = true;
    if (job.WaitCancelled(absl::Hours(1))) return job.Error(absl::CancelledError("park: cancelled"));
    return kStatusOk;
  }).ok());
  REQUIRE(eng.Register("touch", [jobs](Job&) {
    jobs->touched++;
    return kStatusOk;
  }).ok());
}

}  // namespace berth
