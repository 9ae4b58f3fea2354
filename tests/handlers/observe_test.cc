// Metrics, events and traces (handlers/observe/) through a real Engine: what
// the jobs count, the bounds on names and events, the exact error texts, the
// Prometheus page as `promtool check metrics` reads it, and a trace file
// parsed back.
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "engine/engine.h"
#include "handlers/observe/observability.h"
#include "handlers/observe/trace_recorder.h"
#include "nlohmann/json.hpp"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace berth {
namespace {

using testing::RunCommand;
using testing::TempDir;

void RegisterToyJobs(Engine& eng) {
  REQUIRE(eng.Register("ok", [](Job&) { return kStatusOk; }).ok());
  REQUIRE(eng.Register("bad", [](Job& job) { return job.Error("bad: always"); }).ok());
}

void Run(Engine& eng, const std::string& name, int times) {
  for (int i = 0; i < times; ++i) (void)eng.NewJob(name)->Run();
}

TEST_CASE("an engine without observers has none to call") {
  Engine eng;
  CHECK(eng.observers() == nullptr);
  CHECK(eng.job_observers() == nullptr);
  CHECK(!eng.counting_jobs());
}

TEST_CASE("job metrics leave in-process jobs to the engine's counts: no observer call per job") {
  Engine eng;
  JobMetrics m;
  m.Attach(eng);
  CHECK(eng.counting_jobs());
  REQUIRE(eng.observers() != nullptr);
  CHECK(eng.observers()->size() == 1);
  CHECK(eng.job_observers() == nullptr);
}

TEST_CASE("job metrics count jobs by name and status, and bound the names") {
  Engine eng;
  RegisterToyJobs(eng);
  JobMetrics m;
  m.Attach(eng);
  Run(eng, "ok", 3);
  Run(eng, "bad", 2);
  Run(eng, "no-such-job-1", 1);
  Run(eng, "no-such-job-2", 1);
  CHECK(m.Ended("ok", 0) == 3);
  CHECK(m.Ended("bad", 1) == 2);
  // Names without a handler come from clients: never a label of their own.
  CHECK(m.Ended("no-such-job-1", 127) == 0);
  CHECK(m.Ended("(not found)", 127) == 2);
  PromWriter out;
  m.WriteTo(out);
  CHECK(absl::StrContains(out.text(), "berth_jobs_started_total{job=\"ok\"} 3\n"));
  CHECK(absl::StrContains(out.text(), "berth_jobs_ended_total{job=\"bad\",status=\"1\"} 2\n"));
  CHECK(absl::StrContains(out.text(), "berth_job_duration_seconds_count{job=\"ok\",where=\"in-process\"} 3\n"));
  CHECK(absl::StrContains(out.text(), "berth_job_duration_seconds_bucket{job=\"ok\",where=\"in-process\",le=\"+Inf\"} 3\n"));

  // In-process names are the engine's registered names: each its own.
  for (size_t i = 0; i < JobMetrics::kMaxNames + 5; ++i) {
    std::string name = absl::StrCat("j", i);
    REQUIRE(eng.Register(name, [](Job&) { return kStatusOk; }).ok());
    Run(eng, name, 1);
  }
  CHECK(m.Ended(absl::StrCat("j", JobMetrics::kMaxNames + 4), 0) == 1);
  CHECK(m.Ended("(other)", 0) == 0);
  // Relayed jobs' names come in the server's reports: beyond kMaxNames
  // distinct ones, the rest share "(other)". (The reports are made here, as
  // the server makes them: remote tests count real relayed jobs.)
  for (size_t i = 0; i < JobMetrics::kMaxNames + 5; ++i) {
    std::string name = absl::StrCat("r", i);
    JobReport r;
    r.name = name;
    r.relayed = true;
    r.worker = "w";
    m.JobStarted(r);
    m.JobEnded(r);
  }
  CHECK(m.Ended("r0", 0) == 1);
  CHECK(m.Ended("(other)", 0) == 5);
}

TEST_CASE("job counts: every job counted, fast or slow; a slow name's jobs each timed") {
  Engine eng;
  REQUIRE(eng.Register("fast", [](Job&) { return kStatusOk; }).ok());
  REQUIRE(eng.Register("slow", [](Job&) {
    absl::SleepFor(absl::Microseconds(200));
    return kStatusOk;
  }).ok());
  JobMetrics m;
  m.Attach(eng);
  Run(eng, "fast", 1000);
  Run(eng, "slow", 20);
  JobCounts::Totals fast, slow;
  eng.ForEachJobCounts([&](const std::string& name, const JobCounts& c) {
    if (name == "fast") fast = c.Sum();
    if (name == "slow") slow = c.Sum();
  });
  CHECK(fast.started == 1000);
  CHECK(fast.ended[JobCounts::StatusSlot(0)] == 1000);
  CHECK(fast.Count() == 1000);
  // Every slow job timed: each took over 200 us, none counted below.
  CHECK(slow.Count() == 20);
  uint64_t below_200us = 0;
  for (size_t i = 0; JobCounts::kBoundsNs[i] < 200'000; ++i) below_200us += slow.buckets[i];
  CHECK(below_200us == 0);
  CHECK(slow.sum_ns >= 20u * 200'000);
}

TEST_CASE("job metrics lose no count when more threads run jobs than there are thread slots") {
  // Threads beyond kThreadSlots alive at once share a slot with atomic
  // additions; threads that exit give theirs back to later ones.
  Engine eng;
  RegisterToyJobs(eng);
  JobMetrics m;
  m.Attach(eng);
  constexpr int kThreads = static_cast<int>(kThreadSlots) + 16;
  constexpr int kJobs = 200;
  for (int wave = 0; wave < 2; ++wave) {
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        ready.fetch_add(1);
        while (ready.load() < kThreads) std::this_thread::yield();  // all alive at once
        Run(eng, "ok", kJobs);
      });
    }
    for (std::thread& t : threads) t.join();
  }
  CHECK(m.Ended("ok", 0) == 2u * kThreads * kJobs);
  PromWriter out;
  m.WriteTo(out);
  CHECK(absl::StrContains(out.text(), absl::StrCat("berth_jobs_started_total{job=\"ok\"} ", 2 * kThreads * kJobs, "\n")));
  CHECK(absl::StrContains(out.text(), absl::StrCat("berth_job_duration_seconds_count{job=\"ok\",where=\"in-process\"} ",
                                                   2 * kThreads * kJobs, "\n")));
}

TEST_CASE("the metrics page passes promtool check metrics") {
  Engine eng;
  RegisterToyJobs(eng);
  EventLog log;
  Observability obs(log);
  obs.Attach(eng);
  REQUIRE(obs.Group().install(eng).ok());
  Run(eng, "ok", 2);
  Run(eng, "bad", 1);
  obs.AddCollector([](PromWriter& out) {
    out.Family("berth_test_value", "gauge", "A label value with \"quotes\", \\ and a newline.");
    out.Sample("berth_test_value", {{"v", "a\"b\\c\nd"}}, 1.5);
  });
  std::unique_ptr<Job> job = eng.NewJob("metrics");
  std::shared_ptr<std::string> page = job->Stdout().AddBuffer();
  REQUIRE(job->Run().ok());
  CHECK(absl::StrContains(*page, "berth_test_value{v=\"a\\\"b\\\\c\\nd\"} 1.5\n"));
  CHECK(absl::StrContains(*page, "# TYPE berth_job_duration_seconds histogram\n"));

  TempDir dir;
  std::string file = dir / "metrics.txt";
  std::ofstream(file) << *page;
  if (std::system("command -v promtool >/dev/null") != 0) {
    const char* ci = std::getenv("CI");
    REQUIRE_MESSAGE(!(ci != nullptr && std::string(ci) == "true"), "promtool is missing (Debian package prometheus)");
    MESSAGE("skipped: promtool is missing (Debian package prometheus)");
    return;
  }
  testing::RunResult r = RunCommand({"/usr/bin/promtool", "check", "metrics"}, {}, file);
  CHECK_MESSAGE(r.status == 0, r.out << r.err << *page);
}

TEST_CASE("the event log replays a bounded ring and follows what comes next") {
  EventLog log(4);
  absl::Time before = absl::Now();
  for (int i = 0; i < 6; ++i) log.Publish("container", "start", absl::StrCat("c", i));
  std::vector<Event> kept = log.Between(absl::InfinitePast(), absl::InfiniteFuture());
  REQUIRE(kept.size() == 4);  // the two oldest are gone
  CHECK(kept.front().id == "c2");
  CHECK(kept.back().id == "c5");
  CHECK(kept.front().time >= before);
  CHECK(kept.back().seq == 6);

  nlohmann::json j = nlohmann::json::parse(kept.back().ToJsonLine());
  CHECK(j["type"] == "container");
  CHECK(j["status"] == "start");
  CHECK(j["id"] == "c5");
  CHECK(j["time"].get<int64_t>() == absl::ToUnixSeconds(kept.back().time));
  CHECK(j["timeNano"].get<int64_t>() == absl::ToUnixNanos(kept.back().time));
  CHECK_FALSE(j.contains("from"));

  std::shared_ptr<EventLog::Follower> f = log.Follow();
  Event e;
  CHECK(f->Next(absl::Milliseconds(10), &e) == EventLog::Follower::Result::kTimeout);
  log.Publish("image", "tag", "i1", "bb:latest");
  REQUIRE(f->Next(absl::Seconds(5), &e) == EventLog::Follower::Result::kEvent);
  CHECK(e.from == "bb:latest");
  // A follower that falls behind by more than the ring is ended, not grown.
  for (int i = 0; i < 5; ++i) log.Publish("image", "tag", "i");
  CHECK(f->Next(absl::Seconds(5), &e) == EventLog::Follower::Result::kFellBehind);
  std::shared_ptr<EventLog::Follower> g = log.Follow();
  log.Close();
  CHECK(g->Next(absl::Seconds(5), &e) == EventLog::Follower::Result::kClosed);
  CHECK(log.Follow()->Next(absl::Seconds(5), &e) == EventLog::Follower::Result::kClosed);
}

TEST_CASE("events queries: since, until, filter and their errors") {
  const absl::Time now = absl::FromUnixSeconds(1700000000);
  Env env;
  REQUIRE(env.Set("since", "1699999990.5").ok());
  REQUIRE(env.Set("until", "10s").ok());
  REQUIRE(env.SetList("filter", {"type=container", "event=start", "event=die", "id=ab"}).ok());
  absl::StatusOr<EventQuery> q = ParseEventQuery(env, now);
  REQUIRE(q.ok());
  CHECK(q->replay);
  CHECK(q->since == absl::FromUnixMillis(1699999990500));
  CHECK(q->until == now - absl::Seconds(10));
  Event e{"container", "die", "abcdef", "", now, {}, 0};
  CHECK(q->Matches(e));
  e.status = "stop";
  CHECK_FALSE(q->Matches(e));
  e.status = "start";
  e.id = "cd";
  CHECK_FALSE(q->Matches(e));

  Env rfc;
  REQUIRE(rfc.Set("since", "2023-11-14T22:13:20Z").ok());
  CHECK(ParseEventQuery(rfc, now)->since == now);

  Env bad;
  REQUIRE(bad.Set("since", "yesterday").ok());
  CHECK(ParseEventQuery(bad, now).status().message() ==
        "events: bad since 'yesterday': want unix seconds, an RFC 3339 time or a duration such as 10m");
  Env bad_filter;
  REQUIRE(bad_filter.Set("filter", "colour=red").ok());
  CHECK(ParseEventQuery(bad_filter, now).status().message() ==
        "events: bad filter 'colour=red': want KEY=VALUE with KEY one of type, event, id, from");
}

TEST_CASE("the events job replays what matches and ends at until") {
  Engine eng;
  EventLog log;
  Observability obs(log);
  REQUIRE(obs.Group().install(eng).ok());
  log.Publish("container", "create", "c1", "bb");
  log.Publish("image", "tag", "i1", "bb:2");
  log.Publish("container", "start", "c1", "bb");
  std::unique_ptr<Job> job = eng.NewJob("events");
  REQUIRE(job->env().Set("since", "0").ok());
  REQUIRE(job->env().Set("until", absl::StrCat(absl::ToUnixSeconds(absl::Now()) + 1)).ok());
  REQUIRE(job->env().Set("filter", "type=container").ok());
  std::shared_ptr<std::string> out = job->Stdout().AddBuffer();
  REQUIRE(job->Run().ok());
  std::vector<std::string> statuses;
  std::istringstream lines(*out);
  for (std::string line; std::getline(lines, line);) statuses.push_back(nlohmann::json::parse(line)["status"]);
  CHECK(statuses == std::vector<std::string>{"create", "start"});

  std::unique_ptr<Job> args = eng.NewJob("events", {"x"});
  CHECK(args->Run().message() == "events: takes no arguments, got 'x' (use since=, until=, filter=)");
}

TEST_CASE("a trace file holds steps, hooks and the jobs run while recording") {
  TempDir dir;
  Engine eng;
  RegisterToyJobs(eng);
  EventLog log;
  Observability obs(log);
  obs.Attach(eng);
  REQUIRE(obs.Group().install(eng).ok());
  obs.trace().Step("daemon_config", absl::Now(), absl::Milliseconds(2), 0);
  Run(eng, "ok", 1);  // not recording yet: not in the file

  std::unique_ptr<Job> stop_first = eng.NewJob("trace", {"stop"});
  CHECK(stop_first->Run().message() == "trace: not recording (start with `trace start FILE`)");
  const std::string file = dir / "t.json";
  REQUIRE(eng.NewJob("trace", {"start", file})->Run().ok());
  std::unique_ptr<Job> twice = eng.NewJob("trace", {"start", file});
  CHECK(twice->Run().message() == absl::StrCat("trace: already recording into ", file));
  std::unique_ptr<Job> traced = eng.NewJob("bad");
  REQUIRE(traced->env().Set("BERTH_TRACE_ID", "t-123").ok());
  (void)traced->Run();
  eng.OnShutdown([] {}, "a hook");
  eng.Shutdown();
  REQUIRE(obs.trace().Stop().ok());

  std::ifstream in(file);
  nlohmann::json doc = nlohmann::json::parse(in);
  int steps = 0, hooks = 0, bad = 0, ok = 0;
  for (const nlohmann::json& e : doc["traceEvents"]) {
    if (e["ph"] != "X") continue;
    CHECK(e["ts"].is_number());
    CHECK(e["dur"].is_number());
    if (e["cat"] == "step") {
      ++steps;
      CHECK(e["name"] == "daemon_config");
      CHECK(e["dur"] == 2000);
    }
    if (e["cat"] == "hook") hooks += e["name"] == "a hook";
    if (e["cat"] == "job" && e["name"] == "ok") ++ok;
    if (e["cat"] == "job" && e["name"] == "bad") {
      ++bad;
      CHECK(e["args"]["trace_id"] == "t-123");
      CHECK(e["args"]["status"] == "1");
      CHECK(e["args"]["where"] == "in-process");
    }
  }
  CHECK(steps == 1);
  CHECK(hooks == 1);
  CHECK(bad == 1);
  CHECK(ok == 0);
}


TEST_CASE("AddJob keeps a span given from outside an engine only while recording; write errors say what failed") {
  TempDir dir;
  TraceRecorder trace("berth");
  const absl::Time t0 = absl::Now();
  TraceRecorder::JobSpan span{"echo", "connection 1", t0, absl::Milliseconds(3), "t-1", 0, "berthd ipc:///x"};
  trace.AddJob(span);  // not recording: dropped
  const std::string file = dir / "c.json";
  REQUIRE(trace.Start(file).ok());
  span.trace_id = "t-2";
  span.status = 3;
  trace.AddJob(span);
  REQUIRE(trace.Stop().ok());
  std::ifstream in(file);
  nlohmann::json doc = nlohmann::json::parse(in);
  CHECK(doc["otherData"]["producer"] == "berth");
  std::vector<std::string> tracks;
  int jobs = 0;
  for (const nlohmann::json& e : doc["traceEvents"]) {
    if (e["ph"] == "M" && e["name"] == "thread_name") tracks.push_back(e["args"]["name"]);
    if (e["ph"] == "M" && e["name"] == "process_name") CHECK(e["args"]["name"] == "berth");
    if (e["ph"] != "X") continue;
    ++jobs;
    CHECK(e["cat"] == "job");
    CHECK(e["name"] == "echo");
    CHECK(e["dur"] == 3000);
    CHECK(e["args"] == nlohmann::json({{"trace_id", "t-2"}, {"status", "3"}, {"where", "berthd ipc:///x"}}));
  }
  CHECK(jobs == 1);
  // Only tracks with spans are named: no empty NewDaemon or shutdown.
  CHECK(tracks == std::vector<std::string>{"connection 1"});

  const std::string missing = dir / "no/c.json";
  TraceRecorder unwritable("berth");
  REQUIRE(unwritable.Start(missing).ok());
  absl::StatusOr<std::string> stopped = unwritable.Stop();
  CHECK(stopped.status().message() ==
        absl::StrCat("trace: create ", missing, ".tmp-XXXXXX: No such file or directory"));
}

}  // namespace
}  // namespace berth
