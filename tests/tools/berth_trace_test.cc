// `berth --trace FILE` (docs/observability.md, "Following one request"): a
// real berthd (--trace) relaying to a real berth-worker (--trace), and real
// `berth --trace` runs against them, in a network namespace of the test's own.
// One request is the span with its trace id in all three files, with the
// documented names, args and producers, and berth's span covers berthd's,
// which covers the worker's, once each is put on the unix time axis by its
// file's origin_unix_us; a script's jobs are spans of their own with ids
// ID.1, ID.2, …, straight to the worker under --direct; a FILE that cannot be
// written is said on stderr, keeping a failed job's status. Needs root.
#include <doctest/doctest.h>
#include <signal.h>

#include <fstream>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
#include "tests/daemon/berthd_harness.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace berth {
namespace {

using nlohmann::json;
using testing::Berthd;
using testing::Netns;
using testing::Process;
using testing::ProcessOptions;
using testing::RunCommand;
using testing::RunResult;
using testing::Skip;
using testing::TempDir;
using testing::ToolPath;
using testing::WaitFor;

// The three files are written by three processes reading the same wall clock
// (absl::Now), but berthd and the worker time a job with their TickClock
// (engine/tick_clock.h: the TSC, rated once over 1 ms) and place its start at
// now - duration, and every ts, dur and origin is cut to whole microseconds.
// That shifts a span's ends by microseconds for jobs of milliseconds; 2 ms is
// far above it and far below the spans themselves, so an order that is wrong
// (a client span that does not cover the server's) still fails.
constexpr int64_t kClockToleranceUs = 2000;

// One trace file: its metadata, and its job spans on the unix time axis.
struct TraceFile {
  json doc;
  int64_t origin_us = 0;
  std::map<int, std::string> tracks;  // tid -> thread_name
  std::string process;

  explicit TraceFile(const std::string& path) {
    std::ifstream in(path);
    doc = json::parse(in, nullptr, false);
    if (!doc.is_object()) return;
    origin_us = doc["otherData"].value("origin_unix_us", int64_t{0});
    for (const json& e : doc["traceEvents"]) {
      if (e["ph"] != "M") continue;
      if (e["name"] == "thread_name") tracks[e["tid"].get<int>()] = e["args"]["name"].get<std::string>();
      if (e["name"] == "process_name") process = e["args"]["name"].get<std::string>();
    }
  }
  std::string producer() const { return doc.is_object() ? doc["otherData"].value("producer", "") : ""; }
  // The job spans whose args.trace_id is `trace_id`.
  std::vector<json> Spans(const std::string& trace_id) const {
    std::vector<json> out;
    if (!doc.is_object()) return out;
    for (const json& e : doc["traceEvents"]) {
      if (e["ph"] == "X" && e["cat"] == "job" && e["args"].value("trace_id", "") == trace_id) out.push_back(e);
    }
    return out;
  }
  // Every job span.
  std::vector<json> Jobs() const {
    std::vector<json> out;
    if (!doc.is_object()) return out;
    for (const json& e : doc["traceEvents"]) {
      if (e["ph"] == "X" && e["cat"] == "job") out.push_back(e);
    }
    return out;
  }
  std::string Track(const json& span) const {
    auto it = tracks.find(span["tid"].get<int>());
    return it == tracks.end() ? "" : it->second;
  }
  int64_t Start(const json& span) const { return origin_us + span["ts"].get<int64_t>(); }
  int64_t End(const json& span) const { return Start(span) + span["dur"].get<int64_t>(); }
};

// `outer`'s span covers `inner`'s, within kClockToleranceUs at each end.
void CheckCovers(const TraceFile& outer_file, const json& outer, const TraceFile& inner_file, const json& inner) {
  CAPTURE(outer);
  CAPTURE(inner);
  CHECK(outer_file.Start(outer) <= inner_file.Start(inner) + kClockToleranceUs);
  CHECK(outer_file.End(outer) + kClockToleranceUs >= inner_file.End(inner));
}

// berthd relaying the util jobs to one berth-worker, both tracing into `dir`.
struct Scene {
  Netns ns;
  TempDir dir;
  std::string berthd_trace = dir / "berthd.json";
  std::string worker_trace = dir / "worker.json";
  std::unique_ptr<Berthd> d;
  std::unique_ptr<Process> worker;

  Scene(const std::string& name, std::vector<std::string> worker_extra = {}) : ns(name) {
    if (!ns.ok()) return;
    d = std::make_unique<Berthd>(
        ns, dir, std::vector<std::string>{"-b", "none", "--remote-handlers", "util", "--trace", berthd_trace});
    std::vector<std::string> argv = {
        ToolPath("BERTH_WORKER"), "-H", d->sock, "--handlers", "util", "--name", "ctw", "--trace", worker_trace};
    argv.insert(argv.end(), worker_extra.begin(), worker_extra.end());
    worker = std::make_unique<Process>(ProcessOptions{ns.Enter(argv), {}, "", dir.path()});
    REQUIRE_MESSAGE(d->WaitReady(), d->proc->Stderr());
    REQUIRE_MESSAGE(
        WaitFor([&] { return absl::StrContains(worker->Stderr(), "connected: berthd at"); }, absl::Seconds(20)),
        worker->Stderr());
  }
  // berth -H SOCK args…, in the namespace, with `env` added.
  RunResult Berth(std::vector<std::string> args, std::vector<std::string> env = {}) const {
    std::vector<std::string> argv = {ToolPath("BERTH"), "-H", d->sock};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(ns.Enter(argv), std::move(env));
  }
  // Stops the worker, then berthd, so that both write their traces.
  void Stop() {
    worker->Signal(SIGTERM);
    CHECK(worker->Wait(absl::Seconds(20)) == 0);
    CHECK(absl::StrContains(worker->Stderr(), absl::StrCat("berth-worker ctw: wrote the trace ", worker_trace)));
    CHECK(d->Stop() == 0);
  }
};

// The one span of `trace_id` in `file`, or a failed check and null.
json OneSpan(const TraceFile& file, const std::string& trace_id) {
  std::vector<json> spans = file.Spans(trace_id);
  CHECK_MESSAGE(spans.size() == 1, trace_id << " in " << file.producer() << ": " << spans.size() << " spans");
  return spans.size() == 1 ? spans[0] : json();
}

TEST_CASE(
    "berth --trace: one request is the span of its trace id in berth's, "
    "berthd's and the worker's files") {
  Scene s("ctr1");
  if (Skip(s.ns)) return;
  const std::string client_trace = s.dir / "berth.json";
  RunResult r = s.Berth({"--trace", client_trace, "job", "echo", "hi"}, {"BERTH_TRACE_ID=t-xyz"});
  CHECK(r.status == 0);
  CHECK(r.out == "hi\n");
  CHECK(r.err == "");
  s.Stop();

  TraceFile client(client_trace), server(s.berthd_trace), worker(s.worker_trace);
  REQUIRE(client.doc.is_object());
  CHECK(client.producer() == "berth");
  CHECK(client.process == "berth");
  CHECK(client.origin_us > 0);
  CHECK(client.doc["displayTimeUnit"] == "ms");
  // Nothing but the one request: no empty NewDaemon/shutdown tracks either.
  CHECK(client.Jobs().size() == 1);
  CHECK(client.tracks.size() == 1);
  json c = OneSpan(client, "t-xyz");
  json b = OneSpan(server, "t-xyz");
  json w = OneSpan(worker, "t-xyz");
  REQUIRE((c.is_object() && b.is_object() && w.is_object()));
  CHECK(c["name"] == "echo");
  CHECK(c["args"]["status"] == "0");
  CHECK(c["args"]["where"] == "berthd " + s.d->sock);
  CHECK(client.Track(c) == "connection 1");
  CHECK(b["name"] == "echo");
  CHECK(b["args"]["where"] == "worker ctw");
  CHECK(server.producer() == "berthd");
  CHECK(w["name"] == "echo");
  CHECK(w["args"]["where"] == "in-process");
  CHECK(worker.producer() == "berth-worker ctw");
  // On one axis: berth's span covers berthd's, which covers the worker's.
  CheckCovers(client, c, server, b);
  CheckCovers(server, b, worker, w);
}

TEST_CASE(
    "berth --trace run: each job of a script is its own span with the id "
    "ID.N; --direct says the worker") {
  Scene s("ctr2", {"--direct-endpoint", "tcp://127.0.0.1:*"});
  if (Skip(s.ns)) return;
  // Through berthd: three jobs, t-run.1 to t-run.3, in all three files.
  const std::string relayed_trace = s.dir / "relayed.json";
  RunResult relayed =
      s.Berth({"--trace", relayed_trace, "run", "-e", "echo a\necho b\necho c\n"}, {"BERTH_TRACE_ID=t-run"});
  CHECK(relayed.status == 0);
  CHECK(relayed.out == "a\nb\nc\n");
  // Straight to the worker once berthd has leased it to berth: 30 jobs,
  // t-dir.1 to t-dir.30.
  std::string script;
  for (int i = 1; i <= 30; ++i) absl::StrAppend(&script, "echo ", i, "\n");
  const std::string direct_trace = s.dir / "direct.json";
  RunResult direct = s.Berth({"--direct", "--trace", direct_trace, "run", "-e", script}, {"BERTH_TRACE_ID=t-dir"});
  CHECK(direct.status == 0);
  // Without BERTH_TRACE_ID, a fresh script id.
  const std::string fresh_trace = s.dir / "fresh.json";
  CHECK(s.Berth({"--trace", fresh_trace, "run", "-e", "echo x\necho y\n"}).status == 0);
  // An id that leaves no room for .N.
  RunResult too_long = s.Berth({"run", "-e", "echo z\n"}, {"BERTH_TRACE_ID=" + std::string(70, 'i')});
  CHECK(too_long.status == 2);
  CHECK(too_long.err ==
        "berth: BERTH_TRACE_ID: at most 56 characters for a "
        "script (each job's id adds .N), got 70\n");
  s.Stop();

  TraceFile server(s.berthd_trace), worker(s.worker_trace);
  TraceFile relayed_file(relayed_trace);
  // The script's three jobs and the `commands` request that checked its names.
  CHECK(relayed_file.Jobs().size() == 4);
  for (int i = 1; i <= 3; ++i) {
    const std::string id = absl::StrCat("t-run.", i);
    json c = OneSpan(relayed_file, id);
    json b = OneSpan(server, id);
    json w = OneSpan(worker, id);
    if (!c.is_object() || !b.is_object() || !w.is_object()) continue;
    CHECK(c["name"] == "echo");
    CHECK(c["args"]["status"] == "0");
    CHECK(c["args"]["where"] == "berthd " + s.d->sock);
    CHECK(absl::StartsWith(relayed_file.Track(c), "connection "));
    CheckCovers(relayed_file, c, server, b);
    CheckCovers(server, b, worker, w);
  }

  TraceFile direct_file(direct_trace);
  int straight = 0;
  for (int i = 1; i <= 30; ++i) {
    const std::string id = absl::StrCat("t-dir.", i);
    json c = OneSpan(direct_file, id);
    json w = OneSpan(worker, id);
    if (!c.is_object() || !w.is_object()) continue;
    const std::string where = c["args"]["where"];
    CAPTURE(where);
    if (where == "berthd " + s.d->sock) {
      CHECK(server.Spans(id).size() == 1);  // relayed: berthd has it too
      continue;
    }
    ++straight;
    CHECK(absl::StartsWith(where, "worker ctw at tcp://127.0.0.1:"));
    CHECK(server.Spans(id).empty());  // berthd never saw it
    CheckCovers(direct_file, c, worker, w);
  }
  // The first job asks berthd for the lease; the process suite's --direct
  // test shows most of a script's jobs then go straight.
  CHECK(straight >= 1);

  TraceFile fresh_file(fresh_trace);
  std::vector<std::string> ids;
  for (const json& e : fresh_file.Jobs()) {
    if (e["name"] == "echo") ids.push_back(e["args"]["trace_id"]);
  }
  REQUIRE(ids.size() == 2);
  const std::string prefix = ids[0].substr(0, ids[0].size() - 2);
  CHECK(prefix.size() == 16);  // berth's fresh ids: 16 hex digits
  CHECK(((ids[0] == prefix + ".1" && ids[1] == prefix + ".2") || (ids[0] == prefix + ".2" && ids[1] == prefix + ".1")));
}

TEST_CASE(
    "berth --trace FILE that cannot be written: said on stderr; 0 "
    "becomes 1, a failed job keeps its status") {
  Scene s("ctr3");
  if (Skip(s.ns)) return;
  const std::string bad = s.dir / "missing/t.json";
  const std::string said =
      absl::StrCat("berth: --trace ", bad, ": create ", bad, ".tmp-XXXXXX: No such file or directory\n");
  RunResult ok = s.Berth({"--trace", bad, "job", "echo", "hi"});
  CHECK(ok.status == 1);
  CHECK(ok.out == "hi\n");
  CHECK(ok.err == said);
  RunResult failed = s.Berth({"job", "--trace", bad, "fail", "3", "boom"});
  CHECK(failed.status == 3);
  CHECK(failed.err == "boom\n" + said);
  RunResult help = RunCommand({ToolPath("BERTH"), "--help"});
  CHECK(absl::StrContains(help.out, "--trace FILE"));
  s.Stop();
}

}  // namespace
}  // namespace berth
