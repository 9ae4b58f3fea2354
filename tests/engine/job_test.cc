// docs/engine.md, "Jobs and statuses": jobs, Run's order, statuses and error text.
#include "engine/job.h"

#include <doctest/doctest.h>

#include <sstream>
#include <stdexcept>

#include "engine/engine.h"
#include "spdlog/sinks/ostream_sink.h"
#include "spdlog/spdlog.h"

namespace berth {
namespace {

TEST_CASE("a job carries name, args and env to its handler") {
  Engine eng;
  REQUIRE(eng.Register("greet", [](Job& job) {
    (void)job.Printf("%s %s %s\n", job.name(), job.args().at(0), job.env().Get("Who"));
    return kStatusOk;
  }).ok());
  auto job = eng.NewJob("greet", {"hello"});
  REQUIRE(job->env().Set("Who", "world").ok());
  auto out = job->Stdout().AddBuffer();
  REQUIRE(job->Run().ok());
  CHECK(job->status() == 0);
  CHECK(*out == "greet hello world\n");
}

TEST_CASE("not found: stderr says so, status 127, and the error carries the text") {
  Engine eng;
  auto job = eng.NewJob("nope");
  CHECK_FALSE(job->has_handler());
  auto err = job->Stderr().AddBuffer();
  absl::Status s = job->Run();
  CHECK(job->status() == kStatusNotFound);
  CHECK(*err == "nope: command not found\n");
  CHECK(s.code() == absl::StatusCode::kNotFound);
  CHECK(s.message() == "nope: command not found");
}

TEST_CASE("a missing object is status 1 with its message, never 127") {
  Engine eng;
  REQUIRE(eng.Register("lookup", [](Job& job) { return job.Error(absl::NotFoundError("No such image: x")); }).ok());
  auto job = eng.NewJob("lookup");
  auto err = job->Stderr().AddBuffer();
  (void)job->Run();
  CHECK(job->status() == kStatusErr);
  CHECK(*err == "No such image: x\n");
}

TEST_CASE("a job runs once: a second Run says it has already completed") {
  Engine eng;
  int runs = 0;
  REQUIRE(eng.Register("once", [&](Job&) { ++runs; return kStatusOk; }).ok());
  auto job = eng.NewJob("once");
  REQUIRE(job->Run().ok());
  absl::Status s = job->Run();
  CHECK(s.message() == "once: job has already completed");
  CHECK(runs == 1);
  // Also for a job that was not found.
  auto missing = eng.NewJob("missing");
  CHECK(missing->Run().code() == absl::StatusCode::kNotFound);
  CHECK(missing->Run().message() == "missing: job has already completed");
}

TEST_CASE("a non-zero status yields the last line written to stderr") {
  Engine eng;
  REQUIRE(eng.Register("bad", [](Job& job) {
    (void)job.Stderr().Write("first problem\nsecond ");
    (void)job.Stderr().Write("problem\n\n");
    return 3;
  }).ok());
  auto job = eng.NewJob("bad");
  absl::Status s = job->Run();
  CHECK(job->status() == 3);
  CHECK(s.message() == "second problem");

  REQUIRE(eng.Register("errorf", [](Job& job) { return job.Errorf("port %d is taken", 80); }).ok());
  auto j2 = eng.NewJob("errorf");
  CHECK(j2->Run().message() == "port 80 is taken");
  CHECK(j2->status() == kStatusErr);

  REQUIRE(eng.Register("silent", [](Job&) { return 2; }).ok());
  auto j3 = eng.NewJob("silent");
  CHECK(j3->Run().message() == "silent: failed with status 2");
}

TEST_CASE("an exception escaping a handler becomes status 1 with its message") {
  Engine eng;
  REQUIRE(eng.Register("boom", [](Job&) -> int { throw std::runtime_error("kaboom"); }).ok());
  REQUIRE(eng.Register("weird", [](Job&) -> int { throw 42; }).ok());
  auto job = eng.NewJob("boom");
  absl::Status s = job->Run();
  CHECK(job->status() == kStatusErr);
  CHECK(s.message() == "kaboom");
  auto w = eng.NewJob("weird");
  CHECK(w->Run().message() == "weird: handler threw a non-standard exception");
  CHECK(w->status() == kStatusErr);
}

TEST_CASE("Run closes stdout, stderr and stdin; a caller may keep them open") {
  Engine eng;
  REQUIRE(eng.Register("noop", [](Job&) { return kStatusOk; }).ok());
  auto job = eng.NewJob("noop");
  auto pipe = std::make_shared<Pipe>();
  job->Stdout().AddPipe(pipe);
  REQUIRE(job->Run().ok());
  char c;
  CHECK(*pipe->Read(&c, 1) == 0);  // end of stream: stdout was closed
  CHECK(job->Stdout().Write("x").message() == "write to a closed output");

  auto kept = eng.NewJob("noop");
  kept->set_close_streams(false);
  REQUIRE(kept->Run().ok());
  CHECK(kept->Stdout().Write("still open").ok());
}

TEST_CASE("Error(status) maps codes to job statuses") {
  Engine eng;
  REQUIRE(eng.Register("cancel", [](Job& job) { return job.Error(absl::CancelledError("stopped")); }).ok());
  auto job = eng.NewJob("cancel");
  absl::Status s = job->Run();
  CHECK(job->status() == kStatusCancelled);
  CHECK(s.code() == absl::StatusCode::kCancelled);
  CHECK(s.message() == "stopped");
}

TEST_CASE("an output the caller cannot decode fails the job") {
  Engine eng;
  REQUIRE(eng.Register("garbage", [](Job& job) {
    (void)job.Stdout().Write("{\"a\":");
    return kStatusOk;
  }).ok());
  auto job = eng.NewJob("garbage");
  auto env = job->Stdout().AddEnv();
  absl::Status s = job->Run();
  CHECK(job->status() == kStatusErr);
  CHECK(s.message() == "garbage: stdout: stream ended inside a JSON object");
}

TEST_CASE("cancellation is observable by the handler and runs callbacks once") {
  Engine eng;
  auto job = eng.NewJob("x");
  int calls = 0;
  job->OnCancel([&] { ++calls; });
  CHECK_FALSE(job->cancelled());
  CHECK_FALSE(job->WaitCancelled(absl::Milliseconds(1)));
  job->Cancel();
  job->Cancel();
  CHECK(job->cancelled());
  CHECK(job->WaitCancelled(absl::Hours(1)));
  CHECK(calls == 1);
  job->OnCancel([&] { ++calls; });  // already cancelled: runs at once
  CHECK(calls == 2);
}

TEST_CASE("trace lines when engine logging is on") {
  std::ostringstream log;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log);
  auto logger = std::make_shared<spdlog::logger>("trace-test", sink);
  logger->set_pattern("%v");
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(logger);

  Engine eng;
  eng.set_logging(true);
  REQUIRE(eng.Register("ok", [](Job&) { return kStatusOk; }).ok());
  REQUIRE(eng.Register("bad", [](Job&) { return kStatusErr; }).ok());
  (void)eng.NewJob("ok", {"a", "b"})->Run();
  (void)eng.NewJob("bad", {"c"})->Run();
  eng.set_logging(false);
  (void)eng.NewJob("ok", {"quiet"})->Run();
  spdlog::set_default_logger(previous);

  CHECK(log.str() == "+job ok(a, b)\n-job ok(a, b) = OK (0)\n+job bad(c)\n-job bad(c) = ERR (1)\n");
}

}  // namespace
}  // namespace berth
