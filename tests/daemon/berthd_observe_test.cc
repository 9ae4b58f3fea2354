// Seeing inside a real berthd (docs/observability.md): after a known workload
// of jobs, an import, a container's life and an image untag, /metrics (over
// HTTP, from inside berthd's network namespace) holds the counts, and the
// real `promtool check metrics` accepts it; `berth events` followed the run
// and `events since=` replays it; the --trace file has a span for every
// NewDaemon step and shutdown hook and the traced request with its trace id;
// `berth trace-svg` draws it as well-formed SVG with one bar per step; and
// `berth job import` shows its progress on a terminal only. Needs root.
#include <doctest/doctest.h>

#include <signal.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "execdriver/container.h"
#include "nlohmann/json.hpp"
#include "tests/daemon/berthd_harness.h"
#include "tests/support/busybox_rootfs.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"
#include <zmq.hpp>

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

constexpr char kMetricsAddr[] = "127.0.0.1:9323";

// The NewDaemon steps of a start with networking, in order (docs/daemon.md).
const std::vector<std::string> kSteps = {
    "daemon_config", "daemon_pidfile",        "daemon_system_checks", "daemon_root",     "daemon_graphdriver",
    "daemon_containers_dir", "daemon_graph",  "init_networkdriver",   "daemon_graphdb",  "daemon_sysinfo",
    "daemon_dns",    "daemon_restore",        "daemon_shutdown_hooks"};

std::string Cmd(const std::string& script) { return "Cmd=" + json({"sh", "-c", script}).dump(); }

// A cgroup parent for one test's containers, removed when the test ends.
struct CgroupParent {
  execdriver::CgroupOptions options;
  explicit CgroupParent(const std::string& suffix) { options.parent = absl::StrCat("berth-t-", ::getpid(), "-", suffix); }
  ~CgroupParent() { (void)execdriver::Container::RemoveCgroupParent(options); }
  const std::string& name() const { return options.parent; }
};

// What each test here runs in: a network namespace, a scratch directory and
// a cgroup parent, all named after the test and removed at its end.
struct Scene {
  Netns ns;
  TempDir dir;
  CgroupParent cgroups;
  explicit Scene(const std::string& name) : ns(name), cgroups(name) {}
};

// GET /metrics over HTTP from inside `ns` (an HTTP scrape is neither a job
// nor a connection to berthd's endpoints): the Content-Type on the first
// line, then the page.
RunResult ScrapeHttp(const Netns& ns) {
  return RunCommand(ns.Enter({"/usr/bin/python3", "-c",
                              absl::StrCat("import urllib.request, sys; r = urllib.request.urlopen("
                                           "'http://", kMetricsAddr, "/metrics'); "
                                           "sys.stdout.write(r.headers['Content-Type'] + '\\n'); "
                                           "sys.stdout.write(r.read().decode())")}));
}

// The page alone.
std::string Scrape(const Netns& ns) {
  RunResult r = ScrapeHttp(ns);
  return r.status == 0 ? r.out.substr(r.out.find('\n') + 1) : "";
}

// The value of the sample line `series` (name and labels exactly) on `page`.
std::string Sample(const std::string& page, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(page, '\n')) {
    if (absl::StartsWith(line, series + " ")) return std::string(line.substr(series.size() + 1));
  }
  return "(absent)";
}

// The value of the first sample line starting with `prefix`.
std::string PrefixSample(const std::string& page, const std::string& prefix) {
  for (absl::string_view line : absl::StrSplit(page, '\n')) {
    if (absl::StartsWith(line, prefix)) return std::string(line.substr(line.rfind(' ') + 1));
  }
  return "(absent)";
}

std::vector<std::string> Statuses(const std::string& lines, const std::string& type) {
  std::vector<std::string> out;
  for (absl::string_view line : absl::StrSplit(lines, '\n', absl::SkipEmpty())) {
    json e = json::parse(line, nullptr, false);
    if (e.is_object() && e.value("type", "") == type) out.push_back(e.value("status", ""));
  }
  return out;
}

// argv run with a pseudo-terminal as its stdin, stdout and stderr (python3's
// pty); the terminal's output, then the exit status on the last line.
RunResult OnTerminal(const std::vector<std::string>& argv) {
  std::string script =
      "import os, pty, sys\n"
      "pid, fd = pty.fork()\n"
      "if pid == 0:\n"
      "    os.execv(sys.argv[1], sys.argv[1:])\n"
      "out = b''\n"
      "while True:\n"
      "    try:\n"
      "        d = os.read(fd, 65536)\n"
      "    except OSError:\n"
      "        break\n"
      "    if not d:\n"
      "        break\n"
      "    out += d\n"
      "_, st = os.waitpid(pid, 0)\n"
      "sys.stdout.write(out.decode(errors='replace'))\n"
      "sys.exit(os.waitstatus_to_exitcode(st))\n";
  std::vector<std::string> full = {"/usr/bin/python3", "-c", script};
  full.insert(full.end(), argv.begin(), argv.end());
  return RunCommand(full, {}, "", absl::Seconds(60));
}

TEST_CASE("metrics, events and a trace of a real berthd after a known workload") {
  Scene scene("obs");
  if (Skip(scene.ns)) return;
  auto& [ns, dir, cgroups] = scene;
  const std::string trace = dir / "trace.json";
  auto d = std::make_unique<Berthd>(
      ns, dir, std::vector<std::string>{"--metrics-addr", kMetricsAddr, "--trace", trace, "--cgroup-parent", cgroups.name()});
  REQUIRE_MESSAGE(d->WaitReady(), d->proc->Stderr());
  CHECK(absl::StrContains(d->proc->Stderr(), absl::StrCat("serving metrics on http://", kMetricsAddr, "/metrics")));

  // `berth events` follows from here until interrupted.
  Process follower(ProcessOptions{{ToolPath("BERTH"), "-H", d->sock, "events"}, {}, "", dir.path()});
  REQUIRE(WaitFor([&] { return Sample(d->Job({"metrics"}).out, "berth_jobs_started_total{job=\"events\"}") == "1"; },
                  absl::Seconds(10)));

  // The workload.
  for (int i = 0; i < 3; ++i) REQUIRE(d->Job({"echo", "hi"}).status == 0);
  for (int i = 0; i < 2; ++i) REQUIRE(d->Job({"fail"}).status == 1);
  const std::string tar = dir / "busybox.tar";
  REQUIRE(testing::WriteBusyboxTar(tar).ok());
  RunResult imported = d->Job({"import", "-", "bb"}, tar);
  REQUIRE_MESSAGE(imported.status == 0, imported.err);
  REQUIRE(d->Job({"tag", "bb", "bb2"}).status == 0);
  RunResult created = d->Job({"-e", "Image=bb", "-e", Cmd("exit 3"), "create"});
  REQUIRE_MESSAGE(created.status == 0, created.err);
  const std::string id = created.out.substr(0, created.out.find('\n'));
  REQUIRE(d->Job({"start", id}).status == 0);
  RunResult waited = d->Job({"wait", id});
  REQUIRE(waited.status == 0);
  CHECK(waited.out == "3\n");
  REQUIRE(d->Job({"container_delete", id}).status == 0);
  RunResult kept = d->Job({"-e", "Image=bb", "-e", Cmd("true"), "create"});  // stays, stopped
  REQUIRE(kept.status == 0);
  REQUIRE(d->Job({"image_delete", "bb2"}).status == 0);
  // A running container has CPU and memory figures from its cgroup.
  RunResult sleeper = d->Job({"-e", "Image=bb", "-e", "Name=sleeper", "-e", Cmd("sleep 60"), "create"});
  REQUIRE_MESSAGE(sleeper.status == 0, sleeper.err);
  REQUIRE(d->Job({"start", "sleeper"}).status == 0);
  const std::string sleeper_id = sleeper.out.substr(0, 12);
  std::string running_page = d->Job({"metrics"}).out;
  CHECK(Sample(running_page, "berth_containers{state=\"running\"}") == "1");
  const std::string memory = PrefixSample(running_page, absl::StrCat("berth_container_memory_bytes{id=\"", sleeper_id, "\""));
  CHECK_MESSAGE((memory != "(absent)" && std::stod(memory) > 0), running_page);
  CHECK(PrefixSample(running_page, absl::StrCat("berth_container_cpu_seconds_total{id=\"", sleeper_id, "\"")) !=
        "(absent)");
  CHECK(Sample(running_page, "berth_ips_allocated") == "1");
  REQUIRE(d->Job({"-e", "force=true", "container_delete", "sleeper"}).status == 0);
  // One request followed by its trace id.
  RunResult traced = RunCommand({ToolPath("BERTH"), "-H", d->sock, "job", "echo", "traced"}, {"BERTH_TRACE_ID=t-obs-1"});
  REQUIRE(traced.status == 0);

  // A frame berthd cannot decode: refused (an ERROR back), and counted.
  {
    zmq::context_t ctx;
    zmq::socket_t raw(ctx, zmq::socket_type::dealer);
    raw.set(zmq::sockopt::linger, 0);
    raw.set(zmq::sockopt::rcvtimeo, 10000);
    raw.connect(d->sock);
    REQUIRE(raw.send(zmq::str_buffer("garbage")));
    zmq::message_t error;
    REQUIRE(raw.recv(error));
  }

  // /metrics over HTTP from inside the namespace, checked by promtool.
  RunResult scraped = ScrapeHttp(ns);
  REQUIRE_MESSAGE(scraped.status == 0, scraped.err);
  const std::string page = scraped.out.substr(scraped.out.find('\n') + 1);
  CHECK(scraped.out.substr(0, scraped.out.find('\n')) == "text/plain; version=0.0.4; charset=utf-8");
  CHECK(Sample(page, "berth_jobs_started_total{job=\"echo\"}") == "4");
  CHECK(Sample(page, "berth_jobs_ended_total{job=\"echo\",status=\"0\"}") == "4");
  CHECK(Sample(page, "berth_jobs_ended_total{job=\"fail\",status=\"1\"}") == "2");
  CHECK(Sample(page, "berth_jobs_ended_total{job=\"import\",status=\"0\"}") == "1");
  CHECK(Sample(page, "berth_job_duration_seconds_count{job=\"fail\",where=\"in-process\"}") == "2");
  CHECK(Sample(page, "berth_images") == "1");
  CHECK(Sample(page, "berth_containers{state=\"stopped\"}") == "1");
  CHECK(Sample(page, "berth_containers{state=\"running\"}") == "0");
  // In flight: the events follower (an HTTP scrape is no job).
  CHECK(Sample(page, "berth_jobs_in_flight{worker=\"berthd (in-process)\",identity=\"\"}") == "1");
  CHECK(Sample(page, "berth_jobs_queued{worker=\"berthd (in-process)\",identity=\"\"}") == "0");
  for (const std::string& step : kSteps) {
    CHECK_MESSAGE(Sample(page, absl::StrCat("berth_startup_step_seconds{step=\"", step, "\"}")) != "(absent)", step);
  }
  CHECK(std::stoi(Sample(page, "berth_iptables_rules_written_total")) > 0);
  CHECK(Sample(page, "berth_frames_refused_total{kind=\"bad_frame\"}") == "1");
  CHECK(Sample(page, "berth_frames_refused_total{kind=\"id_in_use\"}") == "0");
  CHECK(std::stoll(Sample(page, "berth_frame_bytes_total{direction=\"in\"}")) > 2 << 20);  // two imports' tars
  CHECK(std::stoll(Sample(page, "berth_frames_total{direction=\"out\"}")) > 20);
  CHECK(std::stoi(Sample(page, "berth_iptables_commit_seconds_count")) > 0);
  // Every `berth` above was a client connection; the follower's is still open.
  CHECK(std::stoi(Sample(page, "berth_connections_opened_total{kind=\"client\"}")) > 20);
  CHECK(std::stoi(Sample(page, "berth_connections_open{kind=\"client\"}")) >= 1);
  CHECK(Sample(page, "berth_connections_opened_total{kind=\"worker\"}") == "0");
  const std::string page_file = dir / "metrics.txt";
  std::ofstream(page_file) << page;
  RunResult checked = RunCommand({"/usr/bin/promtool", "check", "metrics"}, {}, page_file);
  CHECK_MESSAGE(checked.status == 0, checked.out << checked.err);
  CHECK(d->Job({"metrics", "x"}).err == "metrics: takes no arguments, got 'x'\n");

  // The follower saw the run; interrupted, it ends with 130.
  const std::vector<std::string> life = {"create", "start", "die", "destroy", "create",
                                         "create", "start", "die", "destroy"};
  REQUIRE(WaitFor([&] { return Statuses(follower.Stdout(), "container").size() >= life.size(); }, absl::Seconds(10)));
  follower.Signal(SIGINT);
  CHECK(follower.Wait(absl::Seconds(10)) == 130);
  CHECK(Statuses(follower.Stdout(), "container") == life);
  CHECK(Statuses(follower.Stdout(), "image") == std::vector<std::string>{"import", "tag", "untag"});
  json die;
  for (absl::string_view line : absl::StrSplit(follower.Stdout(), '\n', absl::SkipEmpty())) {
    json e = json::parse(line);
    if (e["status"] == "die" && die.is_null()) die = e;  // the first container's
  }
  CHECK(die["id"] == id);
  CHECK(die["from"] == "bb");
  CHECK(die["attributes"]["exitCode"] == "3");
  CHECK(die["timeNano"].get<int64_t>() / 1000000000 == die["time"].get<int64_t>());

  // Replayed from the ring: the daemon's ready first, filtered by type.
  RunResult replay = d->Job({"-e", "since=0", "-e", absl::StrCat("until=", absl::ToUnixSeconds(absl::Now()) + 1),
                             "-e", "filter=[\"type=daemon\",\"type=container\"]", "events"});
  REQUIRE_MESSAGE(replay.status == 0, replay.err);
  CHECK(Statuses(replay.out, "daemon") == std::vector<std::string>{"ready"});
  CHECK(Statuses(replay.out, "container") == life);
  CHECK(Statuses(replay.out, "image").empty());

  // Progress on a terminal only.
  RunResult quiet = d->Job({"import", tar, "bb3"});
  REQUIRE(quiet.status == 0);
  CHECK(quiet.err.empty());
  RunResult tty = OnTerminal({ToolPath("BERTH"), "-H", d->sock, "job", "import", tar, "bb4"});
  CHECK_MESSAGE(tty.status == 0, tty.out << tty.err);
  CHECK_MESSAGE(absl::StrContains(tty.out, "sent "), tty.out);
  CHECK_MESSAGE(absl::StrContains(tty.out, "MiB/s, "), tty.out);

  REQUIRE(d->Stop() == 0);
  CHECK(absl::StrContains(d->proc->Stderr(), absl::StrCat("wrote the trace ", trace)));

  // The trace: every step, every hook, the traced request.
  std::ifstream in(trace);
  json doc = json::parse(in, nullptr, false);
  REQUIRE(doc.is_object());
  std::vector<std::string> steps;
  std::vector<std::string> hooks;
  int traced_spans = 0;
  for (const json& e : doc["traceEvents"]) {
    if (e["ph"] != "X") continue;
    if (e["cat"] == "step") steps.push_back(e["name"]);
    if (e["cat"] == "hook") hooks.push_back(e["name"]);
    if (e["cat"] == "job" && e["args"]["trace_id"] == "t-obs-1") {
      ++traced_spans;
      CHECK(e["name"] == "echo");
      CHECK(e["args"]["status"] == "0");
      CHECK(e["args"]["where"] == "in-process");
    }
  }
  CHECK(steps == kSteps);
  // Last registered first (docs/daemon.md); the steps' own hooks find their
  // work done by the full teardown and return at once.
  CHECK(hooks == std::vector<std::string>{"stop running containers", "release all ports", "unmount the graph driver",
                                          "close graphdb", "close graphdb", "network: release port mappings",
                                          "unmount the graph driver", "remove the pid file"});
  CHECK(traced_spans == 1);

  // The timeline: well-formed SVG, one bar per step.
  RunResult svg = RunCommand({ToolPath("BERTH"), "trace-svg", trace});
  REQUIRE_MESSAGE(svg.status == 0, svg.err);
  const std::string svg_file = dir / "startup.svg";
  std::ofstream(svg_file) << svg.out;
  RunResult bars = RunCommand(
      {"/usr/bin/python3", "-c",
       "import sys, xml.etree.ElementTree as E\n"
       "root = E.parse(sys.argv[1]).getroot()\n"
       "rects = [r for r in root.iter('{http://www.w3.org/2000/svg}rect')]\n"
       "print(sum(r.get('class') == 'step' for r in rects), sum(r.get('class') == 'hook' for r in rects))\n",
       svg_file});
  REQUIRE_MESSAGE(bars.status == 0, bars.err);
  CHECK(bars.out == absl::StrCat(kSteps.size(), " ", hooks.size(), "\n"));
  RunResult not_trace = RunCommand({ToolPath("BERTH"), "trace-svg", page_file});
  CHECK(not_trace.status == 1);
  CHECK(not_trace.err == absl::StrCat("berth: trace-svg: ", page_file, ": not a trace file (want {\"traceEvents\":[...]})\n"));
}

TEST_CASE("--log-format json, and the flags' errors") {
  Scene scene("obslog");
  if (Skip(scene.ns)) return;
  auto& [ns, dir, cgroups] = scene;
  Berthd d(ns, dir, {"-b", "none", "-D", "--log-format", "json", "--cgroup-parent", cgroups.name()});
  REQUIRE_MESSAGE(d.WaitReady(), d.proc->Stderr());
  // A container job's records name its container.
  const std::string tar = dir / "busybox.tar";
  REQUIRE(testing::WriteBusyboxTar(tar).ok());
  REQUIRE(d.Job({"import", "-", "bb"}, tar).status == 0);
  RunResult created = d.Job({"-e", "Image=bb", "-e", Cmd("true"), "create"});
  REQUIRE_MESSAGE(created.status == 0, created.err);
  const std::string id = created.out.substr(0, created.out.find('\n'));
  REQUIRE(d.Job({"start", id}).status == 0);
  REQUIRE(d.Job({"wait", id}).status == 0);
  REQUIRE(d.Stop() == 0);
  int lines = 0;
  bool driver_line = false;
  bool start_line = false;
  for (absl::string_view line : absl::StrSplit(d.proc->Stderr(), '\n', absl::SkipEmpty())) {
    json j = json::parse(line, nullptr, false);
    REQUIRE_MESSAGE(j.is_object(), line);
    ++lines;
    CHECK(j["time"].get<std::string>().size() == std::string("2026-11-30T02:13:00.123456789Z").size());
    CHECK(j.contains("level"));
    CHECK(j.contains("msg"));
    if (absl::StartsWith(j["msg"].get<std::string>(), "using graph driver")) {
      // Logged by the step's job: the line names it.
      driver_line = true;
      CHECK(j["job"] == "daemon_graphdriver");
    }
    if (absl::StartsWith(j["msg"].get<std::string>(), "-job start(")) {
      start_line = true;
      CHECK(j["job"] == "start");
      CHECK(j["container_id"] == id);
    }
  }
  CHECK(lines > 3);
  CHECK(driver_line);
  CHECK(start_line);

  const std::vector<std::string> base = {ToolPath("BERTHD"), "-b", "none", "-g", dir / "root2", "-p", dir / "p2",
                                         "-H", "ipc://" + dir.path() + "/b2.sock"};
  auto with = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv = base;
    argv.insert(argv.end(), extra.begin(), extra.end());
    return RunCommand(ns.Enter(argv));
  };
  RunResult yaml = with({"--log-format", "yaml"});
  CHECK(yaml.status == 2);
  CHECK(yaml.err == "berthd: --log-format yaml: want text or json\n");
  RunResult open = with({"--metrics-addr", "0.0.0.0:9323"});
  CHECK(open.status == 1);
  CHECK(absl::StrContains(open.err, "berthd: --metrics-addr 0.0.0.0:9323: 0.0.0.0 is not a loopback address; /metrics "
                                    "has no authentication, so berthd serves it on loopback only\n"));
  RunResult no_port = with({"--metrics-addr", "9323"});
  CHECK(no_port.status == 1);
  CHECK(absl::StrContains(no_port.err, "berthd: --metrics-addr 9323: want HOST:PORT (e.g. 127.0.0.1:9323)\n"));
}

// The spans of `file` (a Chrome trace) whose args.trace_id is `trace_id`.
std::vector<json> SpansOf(const std::string& file, const std::string& trace_id) {
  std::ifstream in(file);
  json doc = json::parse(in, nullptr, false);
  std::vector<json> out;
  if (!doc.is_object()) return out;
  for (const json& e : doc["traceEvents"]) {
    if (e["ph"] == "X" && e["cat"] == "job" && e["args"].value("trace_id", "") == trace_id) out.push_back(e);
  }
  return out;
}

TEST_CASE("through a worker: stream bytes by stream and direction, connections by kind, one trace id in two traces") {
  Scene scene("obsw");
  if (Skip(scene.ns)) return;
  auto& [ns, dir, cgroups] = scene;
  const std::string trace = dir / "berthd-trace.json";
  const std::string worker_trace = dir / "worker-trace.json";
  Berthd d(ns, dir, {"-b", "none", "--remote-handlers", "util", "--metrics-addr", kMetricsAddr, "--trace", trace,
                     "--cgroup-parent", cgroups.name()});
  Process worker(ProcessOptions{ns.Enter({ToolPath("BERTH_WORKER"), "-H", d.sock, "--handlers", "util", "--name",
                                          "obsw", "--trace", worker_trace}),
                                {},
                                "",
                                dir.path()});
  REQUIRE_MESSAGE(d.WaitReady(), d.proc->Stderr());
  REQUIRE_MESSAGE(WaitFor([&] { return absl::StrContains(worker.Stderr(), "connected: berthd at"); }, absl::Seconds(20)),
                  worker.Stderr());
  // The worker's own check (a client connection) has gone.
  std::string before;
  REQUIRE(WaitFor(
      [&] {
        before = Scrape(ns);
        return Sample(before, "berth_connections_open{kind=\"client\"}") == "0";
      },
      absl::Seconds(10)));
  CHECK(Sample(before, "berth_connections_open{kind=\"worker\"}") == "1");
  // (A worker whose heartbeats time out connects again, so opened may be more.)
  CHECK(std::stoi(Sample(before, "berth_connections_opened_total{kind=\"worker\"}")) >= 1);

  // The workload, every job relayed to the worker: four `berth` runs.
  const std::string data(100000, 'x');
  const std::string data_file = dir / "data";
  std::ofstream(data_file) << data;
  RunResult cat = d.Job({"cat"}, data_file);
  REQUIRE_MESSAGE(cat.status == 0, cat.err);
  CHECK(cat.out == data);
  CHECK(d.Job({"echo", "hello"}).out == "hello\n");
  RunResult failed = d.Job({"fail", "3", "boom"});
  CHECK(failed.status == 3);
  RunResult traced = RunCommand({ToolPath("BERTH"), "-H", d.sock, "job", "echo", "traced"}, {"BERTH_TRACE_ID=t-obs-w"});
  CHECK(traced.out == "traced\n");

  std::string after;
  REQUIRE(WaitFor(
      [&] {
        after = Scrape(ns);
        return Sample(after, "berth_connections_open{kind=\"client\"}") == "0";
      },
      absl::Seconds(10)));
  auto delta = [&](const std::string& series) { return std::stoll(Sample(after, series)) - std::stoll(Sample(before, series)); };
  CHECK(delta("berth_connections_opened_total{kind=\"client\"}") == 4);
  CHECK(Sample(after, "berth_connections_open{kind=\"worker\"}") == "1");
  // stdin: in from the client, out to the worker; stdout and stderr: in from
  // the worker, out to the client.
  const long long out_bytes = static_cast<long long>(data.size() + std::string("hello\ntraced\n").size());
  CHECK(delta("berth_stream_bytes_total{stream=\"stdin\",direction=\"in\"}") == 100000);
  CHECK(delta("berth_stream_bytes_total{stream=\"stdin\",direction=\"out\"}") == 100000);
  CHECK(delta("berth_stream_bytes_total{stream=\"stdout\",direction=\"in\"}") == out_bytes);
  CHECK(delta("berth_stream_bytes_total{stream=\"stdout\",direction=\"out\"}") == out_bytes);
  CHECK(delta("berth_stream_bytes_total{stream=\"stderr\",direction=\"in\"}") == 5);  // boom\n
  CHECK(delta("berth_stream_bytes_total{stream=\"stderr\",direction=\"out\"}") == 5);
  const std::string page_file = dir / "metrics.txt";
  std::ofstream(page_file) << after;
  RunResult checked = RunCommand({"/usr/bin/promtool", "check", "metrics"}, {}, page_file);
  CHECK_MESSAGE(checked.status == 0, checked.out << checked.err);

  // The worker leaves (drains, writes its trace): its connection closes.
  worker.Signal(SIGTERM);
  REQUIRE(worker.Wait(absl::Seconds(20)) == 0);
  CHECK(absl::StrContains(worker.Stderr(), absl::StrCat("berth-worker obsw: wrote the trace ", worker_trace)));
  CHECK(WaitFor([&] { return Sample(Scrape(ns), "berth_connections_open{kind=\"worker\"}") == "0"; },
                absl::Seconds(10)));
  REQUIRE(d.Stop() == 0);

  // One request, two files: relayed in berthd's, run in the worker's.
  std::vector<json> relayed = SpansOf(trace, "t-obs-w");
  REQUIRE(relayed.size() == 1);
  CHECK(relayed[0]["name"] == "echo");
  CHECK(relayed[0]["args"]["where"] == "worker obsw");
  std::vector<json> ran = SpansOf(worker_trace, "t-obs-w");
  REQUIRE(ran.size() == 1);
  CHECK(ran[0]["name"] == "echo");
  CHECK(ran[0]["args"]["status"] == "0");
  CHECK(ran[0]["args"]["where"] == "in-process");
  std::ifstream in(worker_trace);
  json doc = json::parse(in);
  CHECK(doc["otherData"]["producer"] == "berth-worker obsw");
  CHECK(doc["otherData"]["origin_unix_us"].get<int64_t>() > 0);
}

// The records of a file of datagrams kept as [uint32 length][datagram]...;
// each datagram is the journal's native protocol: fields `KEY=VALUE\n`, or
// `KEY\n` + uint64 length (little-endian) + VALUE + `\n` when VALUE holds a
// newline.
std::vector<std::map<std::string, std::string>> JournalRecords(const std::string& bytes) {
  std::vector<std::map<std::string, std::string>> out;
  size_t at = 0;
  while (at + 4 <= bytes.size()) {
    uint32_t n;
    std::memcpy(&n, bytes.data() + at, 4);
    const std::string d = bytes.substr(at + 4, n);
    at += 4 + n;
    std::map<std::string, std::string> record;
    size_t p = 0;
    while (p < d.size()) {
      const size_t eq = d.find_first_of("=\n", p);
      if (eq == std::string::npos) break;
      const std::string key = d.substr(p, eq - p);
      if (d[eq] == '=') {
        const size_t nl = d.find('\n', eq);
        record[key] = d.substr(eq + 1, nl - eq - 1);
        p = nl + 1;
      } else {
        uint64_t len;
        std::memcpy(&len, d.data() + eq + 1, 8);
        record[key] = d.substr(eq + 9, len);
        p = eq + 9 + len + 1;
      }
    }
    out.push_back(std::move(record));
  }
  return out;
}

TEST_CASE("under systemd: each record goes to the journal with PRIORITY and the job's fields") {
  // No journald runs on the machines that test berth, so this test stands in
  // for it: in a private mount namespace, a tmpfs over /run/systemd and a
  // datagram socket the test binds at /run/systemd/journal/socket, where
  // libsystemd's sd_journal_sendv sends; a receiver keeps every datagram in a
  // file, and berthd runs with its stderr named by JOURNAL_STREAM, as systemd
  // starts a service.
  Scene scene("obsjournal");
  if (Skip(scene.ns)) return;
  auto& [ns, dir, cgroups] = scene;
  const std::string kept = dir / "journal.bin";
  const std::string script =
      "import ctypes, os, signal, socket, struct, subprocess, sys\n"
      "subprocess.check_call(['mount', '-t', 'tmpfs', 'berth-test-journal', '/run/systemd'])\n"
      "os.mkdir('/run/systemd/journal')\n"
      "sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n"
      "sock.bind('/run/systemd/journal/socket')\n"
      "st = os.fstat(2)\n"
      "os.environ['JOURNAL_STREAM'] = '%d:%d' % (st.st_dev, st.st_ino)\n"
      "parent = os.getpid()\n"
      "if os.fork() == 0:\n"
      "    out = open(sys.argv[1], 'ab', buffering=0)\n"
      "    def keep(d):\n"
      "        out.write(struct.pack('<I', len(d)) + d)\n"
      "    def drain(*_):\n"
      "        sock.setblocking(False)\n"
      "        try:\n"
      "            while True:\n"
      "                keep(sock.recv(1 << 20))\n"
      "        except BlockingIOError:\n"
      "            pass\n"
      "        open(sys.argv[1] + '.done', 'w').close()\n"
      "        os._exit(0)\n"
      "    signal.signal(signal.SIGTERM, drain)\n"
      "    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: berthd's end ends it\n"
      "    if os.getppid() != parent:\n"
      "        drain()\n"
      "    while True:\n"
      "        keep(sock.recv(1 << 20))\n"
      "sock.close()\n"
      "os.execv(sys.argv[2], sys.argv[2:])\n";
  const std::string sock = "ipc://" + dir.path() + "/run/berth.sock";
  Process berthd(ProcessOptions{
      ns.Enter({"/usr/bin/unshare", "-m", "/usr/bin/python3", "-c", script, kept, ToolPath("BERTHD"), "-H", sock, "-g",
                dir / "root", "-p", dir / "berthd.pid", "-G", "root", "-b", "none", "-D", "--cgroup-parent",
                cgroups.name()}),
      {"BERTH_DRIVER=vfs"},
      "",
      dir.path()});
  auto job = [&](std::vector<std::string> args, std::vector<std::string> env = {}, std::string stdin_file = "") {
    std::vector<std::string> argv = {ToolPath("BERTH"), "-H", sock, "job"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, std::move(env), std::move(stdin_file));
  };
  REQUIRE_MESSAGE(WaitFor([&] { return job({"echo"}).status == 0 || !berthd.running(); }, absl::Seconds(20)),
                  berthd.Stderr());
  REQUIRE(berthd.running());
  const std::string tar = dir / "busybox.tar";
  REQUIRE(testing::WriteBusyboxTar(tar).ok());
  REQUIRE(job({"import", "-", "bb"}, {}, tar).status == 0);
  RunResult created = job({"-e", "Image=bb", "-e", Cmd("true"), "create"});
  REQUIRE_MESSAGE(created.status == 0, created.err);
  const std::string id = created.out.substr(0, created.out.find('\n'));
  REQUIRE(job({"start", id}).status == 0);
  REQUIRE(job({"wait", id}).status == 0);
  REQUIRE(job({"echo", "two\nlines"}, {"BERTH_TRACE_ID=t-journal-1"}).status == 0);
  berthd.Signal(SIGTERM);
  REQUIRE(berthd.Wait(absl::Seconds(30)) == 0);
  REQUIRE(WaitFor([&] { return std::ifstream(kept + ".done").good(); }, absl::Seconds(10)));

  std::stringstream bytes;
  bytes << std::ifstream(kept, std::ios::binary).rdbuf();
  const std::vector<std::map<std::string, std::string>> records = JournalRecords(bytes.str());
  CHECK(records.size() > 3);
  bool ready = false, start = false, traced = false;
  for (const auto& r : records) {
    CHECK(r.at("SYSLOG_IDENTIFIER") == "berthd");
    CHECK(absl::StrContains("76432", r.at("PRIORITY")));
    const std::string& msg = r.at("MESSAGE");
    if (absl::StartsWith(msg, "berthd ready in")) {
      ready = true;
      CHECK(r.at("PRIORITY") == "6");
    }
    if (absl::StartsWith(msg, "-job start(")) {
      start = true;
      CHECK(r.at("BERTH_JOB") == "start");
      CHECK(r.at("CONTAINER_ID") == id);
    }
    if (msg == "+job echo(two\nlines)") {  // a newline: the binary-safe form
      traced = true;
      CHECK(r.at("PRIORITY") == "6");
      CHECK(r.at("BERTH_JOB") == "echo");
      CHECK(r.at("BERTH_TRACE_ID") == "t-journal-1");
      CHECK(r.count("CONTAINER_ID") == 0);
    }
  }
  CHECK(ready);
  CHECK(start);
  CHECK(traced);
}

}  // namespace
}  // namespace berth
