// RunPipeline on its own: which job's status is the pipeline's, the env of a
// let, small pipes, and jobs that fail for reasons of their own while stopped.
#include "engine/script/pipeline.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "tests/script/script_test_util.h"

namespace berth {
namespace {

JobLine Line(std::string name, std::vector<std::string> args = {}) {
  JobLine line;
  line.name = std::move(name);
  line.args = std::move(args);
  return line;
}

TEST_CASE("the status is the last job's; with pipefail the last non-zero one's") {
  Engine eng;
  TestJobs jobs;
  InstallTestJobs(eng, &jobs);
  PipelineOptions options;
  // Repeated: the answer must not depend on which job happens to end first.
  for (int i = 0; i < 50; ++i) {
    PipelineResult r = RunPipeline(eng, {Line("fail", {"2", "two"}), Line("fail", {"3", "three"})}, options);
    CHECK(r.status == 3);
    CHECK(r.stage == 1);
    CHECK(r.error == "three");
    options.pipefail = true;
    r = RunPipeline(eng, {Line("fail", {"3", "three"}), Line("fail", {"2", "two"}), Line("echo")}, options);
    CHECK(r.status == 2);
    CHECK(r.stage == 1);
    CHECK(r.error == "two");
    r = RunPipeline(eng, {Line("fail", {"3", "three"}), Line("sleep", {"1h"})}, options);
    CHECK(r.status == 3);
    CHECK(r.stage == 0);
    options.pipefail = false;
  }
}

TEST_CASE("capture_env returns the last object the last job wrote") {
  Engine eng;
  TestJobs jobs;
  InstallTestJobs(eng, &jobs);
  PipelineOptions options;
  options.capture_env = true;
  JobLine env = Line("env");
  REQUIRE(env.env.Set("IP", "10.0.0.2").ok());
  PipelineResult r = RunPipeline(eng, {std::move(env), Line("cat")}, options);
  CHECK(r.status == 0);
  CHECK(r.env.Get("IP") == "10.0.0.2");
}

TEST_CASE("a one-byte pipe still carries everything, in order") {
  Engine eng;
  TestJobs jobs;
  InstallTestJobs(eng, &jobs);
  Output out;
  auto buf = out.AddBuffer();
  PipelineOptions options;
  options.pipe_capacity = 1;
  options.stdout_sink = &out;
  std::vector<std::string> words;
  for (int i = 0; i < 2000; ++i) words.push_back(std::to_string(i));
  PipelineResult r = RunPipeline(eng, {Line("echo", words), Line("cat"), Line("cat")}, options);
  CHECK(r.status == 0);
  std::string want = absl::StrJoin(words, " ") + "\n";
  CHECK(*buf == want);
}

TEST_CASE("the jobs of a stopped pipeline are cancelled, so a handler can observe it") {
  Engine eng;
  TestJobs jobs;
  InstallTestJobs(eng, &jobs);
  PipelineOptions options;
  const absl::Time start = absl::Now();
  PipelineResult r = RunPipeline(eng, {Line("park"), Line("fail", {"7", "seven"})}, options);
  CHECK(absl::Now() - start < absl::Seconds(5));
  CHECK(r.status == 7);
  CHECK(r.error == "seven");
  CHECK(jobs.parked.load());
}

TEST_CASE("an unknown job fails the pipeline with 127 and stops the rest") {
  Engine eng;
  TestJobs jobs;
  InstallTestJobs(eng, &jobs);
  Output err;
  auto err_buf = err.AddBuffer();
  PipelineOptions options;
  options.stderr_sink = &err;
  PipelineResult r = RunPipeline(eng, {Line("endless"), Line("nosuch")}, options);
  CHECK(r.status == 127);
  CHECK(r.error == "nosuch: command not found");
  CHECK(*err_buf == "nosuch: command not found\n");
  CHECK(jobs.endless_running.load() == 0);
}

}  // namespace
}  // namespace berth
