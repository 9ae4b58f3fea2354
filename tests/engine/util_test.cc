// The util handler group: echo, cat, env, sleep, fail.
#include "handlers/util.h"

#include <doctest/doctest.h>

#include <thread>

namespace berth {
namespace {

struct Ran {
  absl::Status status;
  int code;
  std::string out;
  std::string err;
};

Ran RunJob(Engine& eng, absl::string_view line, std::string input = "") {
  auto job = *eng.ParseJob(line);
  auto out = job->Stdout().AddBuffer();
  auto err = job->Stderr().AddBuffer();
  if (!input.empty()) REQUIRE(job->Stdin().AddString(std::move(input)).ok());
  absl::Status s = job->Run();
  return Ran{s, job->status(), *out, *err};
}

TEST_CASE("util jobs") {
  Engine eng;
  HandlerGroup g = UtilGroup();
  REQUIRE(g.install(eng).ok());
  CHECK(g.name == "util");
  CHECK(eng.Commands() == std::vector<std::string>{"cat", "commands", "echo", "env", "fail", "help", "sleep"});
  CHECK(JobNames(g.help) == g.jobs);

  CHECK(RunJob(eng, "echo hello   'big world'").out == "hello big world\n");
  CHECK(RunJob(eng, "echo").out == "\n");
  CHECK(RunJob(eng, "cat", "some\nbytes").out == "some\nbytes");
  CHECK(RunJob(eng, "cat extra").status.message() == "cat: takes no arguments, got 'extra'");

  Ran env = RunJob(eng, "env A=1 B='two words'");
  CHECK(env.out == "{\"A\":\"1\",\"B\":\"two words\"}\n");

  Ran fail = RunJob(eng, "fail 3 disk is full");
  CHECK(fail.code == 3);
  CHECK(fail.err == "disk is full\n");
  CHECK(fail.status.message() == "disk is full");
  CHECK(RunJob(eng, "fail").code == 1);
  CHECK(RunJob(eng, "fail oops").err == "oops\n");
  CHECK(RunJob(eng, "fail 0").code == 0);
  CHECK(RunJob(eng, "fail 300").status.message() == "fail: status must be 0-255, got '300'");

  CHECK(RunJob(eng, "sleep 1ms").code == 0);
  // A bare number is seconds, as for sleep(1).
  CHECK(RunJob(eng, "sleep 0.001").code == 0);
  CHECK(RunJob(eng, "sleep 0").code == 0);
  CHECK(RunJob(eng, "sleep").status.message() == "usage: sleep DURATION (e.g. 10, 1.5s, 200ms)");
  CHECK(RunJob(eng, "sleep soon").status.message() == "sleep: invalid duration 'soon' (use e.g. 10, 1.5s, 200ms)");
  CHECK(RunJob(eng, "sleep -1s").status.message() == "sleep: invalid duration '-1s' (use e.g. 10, 1.5s, 200ms)");
}

TEST_CASE("sleep returns early with 130 when cancelled") {
  Engine eng;
  REQUIRE(UtilGroup().install(eng).ok());
  auto job = eng.NewJob("sleep", {"1h"});
  absl::Time start = absl::Now();
  std::thread canceller([&] { job->Cancel(); });
  absl::Status s = job->Run();
  canceller.join();
  CHECK(job->status() == kStatusCancelled);
  CHECK(s.message() == "sleep: cancelled");
  CHECK(absl::Now() - start < absl::Seconds(30));
}

}  // namespace
}  // namespace berth
