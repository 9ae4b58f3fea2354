// docs/engine.md, "The engine": — registration, built-ins, shutdown, ParseJob.
#include "engine/engine.h"

#include <doctest/doctest.h>

#include <atomic>
#include <sstream>
#include <thread>

#include "absl/synchronization/notification.h"
#include "engine/job_line.h"
#include "spdlog/sinks/ostream_sink.h"
#include "spdlog/spdlog.h"

namespace berth {
namespace {

int Ok(Job&) { return kStatusOk; }

TEST_CASE("Register refuses to overwrite; Unregister frees the name") {
  Engine eng;
  REQUIRE(eng.Register("a", Ok).ok());
  absl::Status s = eng.Register("a", Ok);
  CHECK(s.message() == "Can't overwrite handler for command a");
  CHECK(eng.Unregister("a"));
  CHECK_FALSE(eng.Unregister("a"));
  CHECK(eng.Register("a", Ok).ok());
}

TEST_CASE("the handler is chosen at creation: exact name, else the catch-all, never for empty") {
  Engine eng;
  REQUIRE(eng.Register("exact", [](Job& job) { (void)job.Printf("exact"); return kStatusOk; }).ok());
  eng.RegisterCatchall([](Job& job) { (void)job.Printf("catchall:%s", job.name()); return kStatusOk; });
  auto a = eng.NewJob("exact");
  auto b = eng.NewJob("other");
  auto c = eng.NewJob("");
  auto out_a = a->Stdout().AddBuffer();
  auto out_b = b->Stdout().AddBuffer();
  REQUIRE(a->Run().ok());
  REQUIRE(b->Run().ok());
  CHECK(*out_a == "exact");
  CHECK(*out_b == "catchall:other");
  CHECK(c->Run().code() == absl::StatusCode::kNotFound);

  // A job keeps the handler it was created with even if the name is unregistered.
  auto d = eng.NewJob("exact");
  REQUIRE(eng.Unregister("exact"));
  CHECK(d->Run().ok());
}

TEST_CASE("the commands built-in prints registered names, sorted, one per line") {
  Engine eng;
  REQUIRE(eng.Register("zeta", Ok).ok());
  REQUIRE(eng.Register("alpha", Ok).ok());
  auto job = eng.NewJob("commands");
  auto out = job->Stdout().AddBuffer();
  REQUIRE(job->Run().ok());
  CHECK(*out == "alpha\ncommands\nhelp\nzeta\n");
}

// Runs `help ARGS` (with `env`) on `eng`: status, stdout, stderr.
struct HelpResult {
  int status;
  std::string out, err;
};
HelpResult Help(Engine& eng, std::vector<std::string> args, Env env = {}) {
  auto job = eng.NewJob("help", std::move(args));
  job->env() = std::move(env);
  auto out = job->Stdout().AddBuffer();
  auto err = job->Stderr().AddBuffer();
  (void)job->Run();
  return {job->status(), *out, *err};
}

TEST_CASE("the help built-in: described jobs, registered or not; text and JSON; unknown names") {
  Engine eng;
  REQUIRE(eng.Register("alpha", Ok).ok());
  REQUIRE(eng.Register("zeta", Ok).ok());
  eng.Describe(JobHelp("zeta", "ID [N]", "does zeta things", {{"force", "true: do it anyway"}, {"t", "seconds"}},
                       StdinUse::kRequired));
  eng.Describe(JobHelp("remote_only", "", "served by a worker"));  // described, no handler here
  HelpResult all = Help(eng, {});
  CHECK(all.status == 0);
  CHECK(all.out == "alpha\n"
                   "commands                lists the jobs this engine serves, one name a line\n"
                   "help                    without NAME, every job and its summary; with NAME, its args, env and stdin\n"
                   "zeta                    does zeta things\n");
  CHECK(Help(eng, {"zeta"}).out ==
        "Usage: zeta ID [N]\n\ndoes zeta things\n\nEnv (berth job -e KEY=VALUE):\n  force  true: do it anyway\n"
        "  t      seconds\n\nStdin: read to its end; redirect a file or a pipe into it\n");
  Env json;
  REQUIRE(json.Set("format", "json").ok());
  CHECK(Help(eng, {"zeta"}, json).out ==
        "{\"Name\":\"zeta\",\"Usage\":\"ID [N]\",\"Summary\":\"does zeta things\",\"Env\":{\"force\":\"true: do "
        "it anyway\",\"t\":\"seconds\"},\"Stdin\":\"required\"}\n");
  CHECK(Help(eng, {"remote_only"}).out == "Usage: remote_only\n\nserved by a worker\n");
  CHECK(Help(eng, {"alpha"}).out == "Usage: alpha\n\n(no description)\n");
  HelpResult missing = Help(eng, {"nosuch"});
  CHECK(missing.status == 1);
  CHECK(missing.err == "help: no job named 'nosuch'\n");
  HelpResult two = Help(eng, {"a", "b"});
  CHECK(two.status == 1);
  CHECK(two.err == "help: want at most one NAME, got 2 args\n");
}

TEST_CASE("after Shutdown new jobs are refused unless overrideShutdown is set") {
  Engine eng;
  REQUIRE(eng.Register("a", Ok).ok());
  eng.Shutdown();
  CHECK(eng.IsShutdown());
  auto job = eng.NewJob("a");
  absl::Status s = job->Run();
  CHECK(s.message() == "engine is shutdown");
  CHECK(job->status() == kStatusUnavailable);
  auto forced = eng.NewJob("a");
  REQUIRE(forced->env().Set("overrideShutdown", "true").ok());
  CHECK(forced->Run().ok());
}

TEST_CASE("shutdown hooks run last-registered first") {
  Engine eng;
  std::vector<int> order;
  absl::Mutex mu;
  for (int i = 1; i <= 3; ++i) {
    eng.OnShutdown([&, i] {
      absl::MutexLock l(&mu);
      order.push_back(i);
    });
  }
  CHECK(eng.Shutdown());  // clean: every hook finished
  CHECK(order == std::vector<int>{3, 2, 1});
}

TEST_CASE("Shutdown waits for running jobs before running hooks") {
  Engine eng;
  absl::Notification started, release;
  std::atomic<bool> job_done{false};
  std::atomic<bool> hook_saw_job_done{false};
  REQUIRE(eng.Register("slow", [&](Job&) {
    started.Notify();
    release.WaitForNotification();
    job_done = true;
    return kStatusOk;
  }).ok());
  eng.OnShutdown([&] { hook_saw_job_done = job_done.load(); });
  std::thread runner([&] { CHECK(eng.NewJob("slow")->Run().ok()); });
  started.WaitForNotification();
  std::thread releaser([&] {
    // Shutdown must be waiting (it has refused new jobs) before the job is released.
    while (!eng.IsShutdown()) std::this_thread::yield();
    release.Notify();
  });
  eng.Shutdown();
  runner.join();
  releaser.join();
  CHECK(hook_saw_job_done);
}

TEST_CASE("a hook that overruns the budget is reported and skipped; the rest still run") {
  std::ostringstream log;
  auto logger = std::make_shared<spdlog::logger>("hooks-test",
      std::make_shared<spdlog::sinks::ostream_sink_mt>(log));
  logger->set_pattern("%v");
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(logger);

  Engine eng;
  eng.set_shutdown_options({absl::Seconds(1), absl::Milliseconds(300)});
  auto stuck = std::make_shared<absl::Notification>();
  std::atomic<bool> first_ran{false};
  eng.OnShutdown([&] { first_ran = true; }, "first");
  eng.OnShutdown([stuck] { stuck->WaitForNotification(); }, "stuck");
  absl::Time start = absl::Now();
  // Not clean: 'stuck' still runs on its thread, so the caller must not unwind.
  CHECK_FALSE(eng.Shutdown());
  CHECK_FALSE(eng.Shutdown());  // a second call says the same
  absl::Duration took = absl::Now() - start;
  stuck->Notify();
  spdlog::set_default_logger(previous);

  CHECK(took < absl::Seconds(5));
  CHECK(log.str().find("shutdown: hook 'stuck' did not finish within the 300ms budget; skipped") != std::string::npos);
  CHECK(log.str().find("shutdown: hook 'first' skipped: the 300ms budget is spent") != std::string::npos);
  CHECK_FALSE(first_ran);
}

TEST_CASE("Shutdown is not clean while a job outlives the grace period") {
  Engine eng;
  eng.set_shutdown_options({absl::Milliseconds(100), absl::Seconds(1)});
  absl::Notification started, release;
  REQUIRE(eng.Register("stuck", [&](Job&) {
    started.Notify();
    release.WaitForNotification();
    return kStatusOk;
  }).ok());
  std::thread runner([&] { (void)eng.NewJob("stuck")->Run(); });
  started.WaitForNotification();
  CHECK_FALSE(eng.Shutdown());
  release.Notify();
  runner.join();
}

TEST_CASE("a second Shutdown call waits until the first has finished") {
  Engine eng;
  absl::Notification hook_entered, hook_release;
  std::atomic<bool> hook_released{false};
  eng.OnShutdown([&] {
    hook_entered.Notify();
    hook_release.WaitForNotification();
  });
  std::thread first([&] { eng.Shutdown(); });
  hook_entered.WaitForNotification();
  std::atomic<bool> second_saw_release{false};
  std::thread second([&] {
    eng.Shutdown();
    second_saw_release = hook_released.load();
  });
  // Give the second caller time to reach Shutdown; had it returned at once (the
  // reference behaviour) it would see the hook still held.
  absl::SleepFor(absl::Milliseconds(50));
  hook_released = true;
  hook_release.Notify();
  first.join();
  second.join();
  CHECK(second_saw_release);
}

TEST_CASE("ParseJob: name, args and KEY=VALUE env words") {
  Engine eng;
  auto job = eng.ParseJob("allocate_port c0ffee HostIP=0.0.0.0 HostPort=8080 Proto=tcp");
  REQUIRE(job.ok());
  CHECK((*job)->name() == "allocate_port");
  CHECK((*job)->args() == std::vector<std::string>{"c0ffee"});
  CHECK((*job)->env().Get("HostPort") == "8080");
  CHECK((*job)->env().Get("Proto") == "tcp");

  auto first_eq = eng.ParseJob("x K=a=b");
  REQUIRE(first_eq.ok());
  CHECK((*first_eq)->env().Get("K") == "a=b");

  auto empty = eng.ParseJob("  \t ");
  CHECK(empty.status().message() == "empty command: '  \t '");
  CHECK(eng.ParseJob("A=1 B=2").status().message() == "empty command: 'A=1 B=2'");
  CHECK(eng.ParseJob("x =v").status().message() == "invalid env key '': keys must not be empty in 'x =v'");
}

TEST_CASE("ParseJob quoting: single, double, backslash") {
  auto p = ParseJobLine(R"(echo 'a b' "c \"d\" \$e" f\ g 'h=i' J="k l" Ports='["80/tcp"]' '')");
  REQUIRE(p.ok());
  CHECK(p->name == "echo");
  CHECK(p->args == std::vector<std::string>{"a b", "c \"d\" $e", "f g", "h=i", ""});
  CHECK(p->env.Get("J") == "k l");
  CHECK(p->env.Get("Ports") == R"(["80/tcp"])");
  CHECK(ParseJobLine("echo 'open").status().message() == "unterminated single quote in 'echo 'open'");
  CHECK(ParseJobLine("echo \"open").status().message() == "unterminated double quote in 'echo \"open'");
  CHECK(ParseJobLine("echo x\\").status().message() == "trailing backslash in 'echo x\\'");
  // Backslashes other than the four escapes stay inside double quotes.
  CHECK(ParseJobLine(R"(echo "a\nb")")->args[0] == "a\\nb");
}

TEST_CASE("QuoteWord round-trips through SplitWords") {
  for (std::string w : {"plain", "", "a b", "it's", "a=b", "\"q\"", "x\\y", "$HOME", "tab\there"}) {
    auto words = SplitWords(QuoteWord(w));
    REQUIRE(words.ok());
    REQUIRE(words->size() == 1);
    CHECK((*words)[0].text == w);
    CHECK((*words)[0].assign_at == std::string::npos);
  }
}

}  // namespace
}  // namespace berth
