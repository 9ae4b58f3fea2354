// berthd, berth and berth-worker as real processes on real sockets.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <random>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace berth {
namespace {

using testing::Process;
using testing::ProcessOptions;
using testing::RunCommand;
using testing::RunResult;
using testing::TempDir;
using testing::ToolPath;
using testing::WaitFor;

// The tcp endpoint from berthd's "serving ipc://..., tcp://127.0.0.1:PORT" line,
// or "" while that line has not been written yet.
std::string ServedTcpEndpoint(const std::string& log) {
  static constexpr std::string_view kPrefix = "tcp://127.0.0.1:";
  size_t serving = log.find("serving ipc://");
  if (serving == std::string::npos) return "";
  size_t at = log.find(kPrefix, serving);
  if (at == std::string::npos) return "";
  size_t digits = at + kPrefix.size();
  size_t end = digits;
  while (end < log.size() && log[end] >= '0' && log[end] <= '9') ++end;
  if (end == digits || end == log.size()) return "";  // the port may still be arriving
  return log.substr(at, end - at);
}

// A berthd serving an ipc socket in `dir` and a tcp port on 127.0.0.1.
struct Daemon {
  TempDir& dir;
  std::unique_ptr<Process> proc;
  std::string ipc;
  std::string tcp;

  explicit Daemon(TempDir& d, std::vector<std::string> extra = {}) : dir(d) { Start(extra); }
  void Start(const std::vector<std::string>& extra) {
    ipc = "ipc://" + dir.path() + "/run/berth.sock";
    std::vector<std::string> argv = {ToolPath("BERTHD"), "-H", ipc, "-H", "tcp://127.0.0.1:0",
                                     "-p", dir / "berthd.pid", "-g", dir / "root", "-b", "none"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    proc = std::make_unique<Process>(ProcessOptions{argv, {}, "", dir.path()});
    bool up = WaitFor([&] {
      tcp = ServedTcpEndpoint(proc->Stderr());
      return !tcp.empty() || !proc->running();
    }, absl::Seconds(10));
    REQUIRE_MESSAGE(up, proc->Stderr());
    REQUIRE_MESSAGE(!tcp.empty(), proc->Stderr());
    // Until it is ready, a job it has not registered yet is 126 `berthd is starting`.
    REQUIRE_MESSAGE(WaitFor([&] { return proc->Stderr().find("berthd ready") != std::string::npos || !proc->running(); },
                            absl::Seconds(10)),
                    proc->Stderr());
  }
  RunResult Berth(std::vector<std::string> args, std::string stdin_file = "",
                  absl::Duration timeout = absl::Seconds(30), std::string host = "") {
    std::vector<std::string> argv = {ToolPath("BERTH")};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, {"BERTH_HOST=" + (host.empty() ? ipc : host)}, std::move(stdin_file), timeout);
  }
};

std::unique_ptr<Process> StartWorker(const Daemon& d, std::string name, std::vector<std::string> extra = {}) {
  std::vector<std::string> argv = {ToolPath("BERTH_WORKER"), "-H", d.ipc, "--handlers", "util", "--name", name};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return std::make_unique<Process>(ProcessOptions{argv, {}, "", d.dir.path()});
}

bool WorkerListed(Daemon& d, const std::string& name) {
  RunResult r = d.Berth({"workers"});
  return r.status == 0 && r.out.find(name) != std::string::npos;
}

TEST_CASE("berth runs jobs on berthd over ipc and tcp, exiting with the job's status") {
  TempDir dir;
  Daemon d(dir);
  for (const std::string& host : {d.ipc, d.tcp}) {
    CAPTURE(host);
    RunResult echo = d.Berth({"job", "echo", "hello", "world"}, "", absl::Seconds(30), host);
    CHECK(echo.status == 0);
    CHECK(echo.out == "hello world\n");
    RunResult fail = d.Berth({"job", "fail", "3", "disk", "full"}, "", absl::Seconds(30), host);
    CHECK(fail.status == 3);
    CHECK(fail.err == "disk full\n");
    RunResult missing = d.Berth({"job", "no_such_job"}, "", absl::Seconds(30), host);
    CHECK(missing.status == 127);
    CHECK(missing.err == "no_such_job: command not found\n");
    CHECK(missing.took < absl::Seconds(2));
    RunResult env = d.Berth({"job", "-e", "A=1", "--env", "B=two words", "env"}, "", absl::Seconds(30), host);
    CHECK(env.out.find("{\"A\":\"1\",\"B\":\"two words\",\"BERTH_TRACE_ID\":\"") == 0);
    RunResult deadline = d.Berth({"--timeout", "200ms", "job", "sleep", "10s"}, "", absl::Seconds(30), host);
    CHECK(deadline.status == 124);
    CHECK(deadline.err == "berth: sleep: deadline exceeded\n");
  }
  RunResult commands = d.Berth({"commands"});
  for (const char* name : {"cat\n", "commands\n", "echo\n", "env\n", "fail\n", "images\n", "import\n", "info\n",
                           "sleep\n", "version\n", "workers\n"}) {
    CHECK(commands.out.find(name) != std::string::npos);
  }
  CHECK(commands.out.find("daemon_") == std::string::npos);  // start-up steps are gone
  std::string input = dir / "input";
  testing::WriteFileOrDie(input, "forwarded stdin\n");
  CHECK(d.Berth({"job", "cat"}, input).out == "forwarded stdin\n");
  RunResult bad_timeout = d.Berth({"--timeout", "soon", "job", "echo"});
  CHECK(bad_timeout.status == 2);
  CHECK(bad_timeout.err == "berth: --timeout: invalid duration 'soon' (use e.g. 1s, 250ms)\n");
}

TEST_CASE("Ctrl-C cancels the job, the handler sees it, and berth exits 130") {
  TempDir dir;
  Daemon d(dir, {"--remote-handlers", "util"});
  auto worker = StartWorker(d, "sleeper");
  REQUIRE(WaitFor([&] { return WorkerListed(d, "sleeper"); }, absl::Seconds(10)));
  Process berth(ProcessOptions{{ToolPath("BERTH"), "-H", d.ipc, "job", "sleep", "30s"}, {}, "", dir.path()});
  // The job is running on the worker once `workers` shows it in flight.
  REQUIRE(WaitFor([&] { return d.Berth({"workers"}).out.find("sleeper              8         1") !=
                               std::string::npos; },
                  absl::Seconds(10)));
  berth.Signal(SIGINT);
  auto st = berth.Wait(absl::Seconds(5));
  REQUIRE(st.has_value());
  CHECK(*st == 130);
  // The handler's own words, streamed back before the end: it saw the cancel.
  CHECK(berth.Stderr() == "sleep: cancelled\n");
}

TEST_CASE("100 MB through a remote cat, with bounded memory on both sides") {
  TempDir dir;
  Daemon d(dir);
  std::string input = dir / "big";
  testing::WriteRandomFile(input, 100, 7);
  std::string output = dir / "copy";
  Process berth(ProcessOptions{{"/bin/sh", "-c", ToolPath("BERTH") + " -H " + d.ipc + " job cat > " + output},
                               {},
                               input,
                               dir.path()});
  size_t berthd_peak = 0;
  auto st = berth.Wait(absl::Seconds(60));
  REQUIRE(st.has_value());
  CHECK(*st == 0);
  berthd_peak = d.proc->PeakRss();
  CHECK(RunCommand({"/usr/bin/cmp", input, output}).status == 0);
  MESSAGE("berthd peak RSS " << berthd_peak / 1024 << " KiB; client (sh + berth) peak RSS "
                             << berth.waited_max_rss() / 1024 << " KiB");
#if !defined(__SANITIZE_ADDRESS__)
  CHECK(berthd_peak < (64u << 20));
  CHECK(berth.waited_max_rss() < (64u << 20));
#endif
}

TEST_CASE("a worker killed mid-job: the client gets 126 within 3 s and berthd keeps serving") {
  TempDir dir;
  Daemon d(dir, {"--remote-handlers", "util"});
  RunResult early = d.Berth({"job", "echo", "x"});
  CHECK(early.status == 126);  // util is left to workers and none is connected yet: unavailable, not missing
  CHECK(early.err == "berth: echo: no worker serving echo is connected\n");
  auto worker = StartWorker(d, "victim");
  REQUIRE(WaitFor([&] { return WorkerListed(d, "victim"); }, absl::Seconds(10)));
  CHECK(d.Berth({"job", "echo", "via", "worker"}).out == "via worker\n");

  Process job(ProcessOptions{{ToolPath("BERTH"), "-H", d.ipc, "job", "sleep", "60s"}, {}, "", dir.path()});
  REQUIRE(WaitFor([&] { return d.Berth({"workers"}).out.find("victim               8         1") !=
                               std::string::npos; },
                  absl::Seconds(10)));
  absl::Time killed = absl::Now();
  worker->Signal(SIGKILL);
  auto st = job.Wait(absl::Seconds(10));
  absl::Duration took = absl::Now() - killed;
  REQUIRE(st.has_value());
  CHECK(*st == 126);
  CHECK(took < absl::Seconds(3));
  CHECK(job.Stderr() == "berth: sleep: worker victim was lost (disconnected)\n");
  CHECK(d.Berth({"job", "version"}).status == 0);
  CHECK(d.proc->running());
}

TEST_CASE("berth-worker drains on SIGTERM and reconnects when berthd restarts") {
  TempDir dir;
  auto d = std::make_unique<Daemon>(dir, std::vector<std::string>{"--remote-handlers", "util"});
  auto worker = StartWorker(*d, "steady");
  REQUIRE(WaitFor([&] { return WorkerListed(*d, "steady"); }, absl::Seconds(10)));

  // berthd restarts: the worker finds the new one by itself.
  d->proc->Signal(SIGTERM);
  auto st = d->proc->Wait(absl::Seconds(15));
  REQUIRE(st.has_value());
  CHECK(*st == 0);
  d->Start({"--remote-handlers", "util"});
  CHECK(WaitFor([&] { return WorkerListed(*d, "steady"); }, absl::Seconds(15)));
  CHECK(d->Berth({"job", "echo", "after", "restart"}).out == "after restart\n");

  // Drain: the job in flight finishes, then the worker exits 0.
  Process job(ProcessOptions{{ToolPath("BERTH"), "-H", d->ipc, "job", "sleep", "1s"}, {}, "", dir.path()});
  REQUIRE(WaitFor([&] { return d->Berth({"workers"}).out.find("steady               8         1") !=
                               std::string::npos; },
                  absl::Seconds(10)));
  worker->Signal(SIGTERM);
  auto job_status = job.Wait(absl::Seconds(10));
  REQUIRE(job_status.has_value());
  CHECK(*job_status == 0);
  auto worker_status = worker->Wait(absl::Seconds(10));
  REQUIRE(worker_status.has_value());
  CHECK(*worker_status == 0);
}

// The DIRECT column of `berth workers` for `name` ("" if it is not listed).
std::string DirectColumn(Daemon& d, const std::string& name) {
  RunResult r = d.Berth({"workers"});
  size_t at = r.out.find("\n" + name + " ");
  if (at == std::string::npos) return "";
  std::vector<std::string> words = absl::StrSplit(r.out.substr(at + 1, r.out.find('\n', at + 1) - at - 1), ' ',
                                                  absl::SkipEmpty());
  return words.size() > 5 ? words[5] : "";
}

TEST_CASE("berth --direct: a script's jobs go straight to berth-worker --direct-endpoint, and `workers` counts them") {
  TempDir dir;
  Daemon d(dir, {"--remote-handlers", "util"});
  auto worker = StartWorker(d, "fast", {"--direct-endpoint", "tcp://127.0.0.1:*"});
  auto plain = StartWorker(d, "plain");
  REQUIRE(WaitFor([&] { return WorkerListed(d, "fast") && WorkerListed(d, "plain"); }, absl::Seconds(10)));
  CHECK(DirectColumn(d, "fast") == "0/0");
  CHECK(DirectColumn(d, "plain") == "-");
  std::string script, expected;
  for (int i = 0; i < 60; ++i) {
    absl::StrAppend(&script, "echo line ", i, "\n");
    absl::StrAppend(&expected, "line ", i, "\n");
  }
  // Without --direct, nothing goes straight to the worker.
  RunResult relayed = d.Berth({"run", "-e", script});
  CHECK(relayed.status == 0);
  CHECK(relayed.out == expected);
  // With it, the script's jobs share one connection and its lease: all but
  // the first few go straight to `fast` (`plain` takes none that way).
  RunResult direct = d.Berth({"--direct", "run", "-e", script});
  CHECK(direct.status == 0);
  CHECK(direct.out == expected);
  std::string column;
  CHECK_MESSAGE(WaitFor([&] {
    column = DirectColumn(d, "fast");
    int served = 0;
    return absl::SimpleAtoi(column.substr(column.find('/') + 1), &served) && served >= 40;
  }, absl::Seconds(5)), column);
  CHECK(DirectColumn(d, "plain") == "-");
}

TEST_CASE("raw garbage on the ipc and tcp sockets leaves berthd serving") {
  TempDir dir;
  Daemon d(dir);
  std::mt19937 rng(1);
  for (int round = 0; round < 20; ++round) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::string path = d.ipc.substr(6);
    std::strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    std::string junk(static_cast<size_t>(rng() % 70000), '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    ssize_t n = ::write(fd, junk.data(), junk.size());
    (void)n;
    ::close(fd);
  }
  std::string port = d.tcp.substr(d.tcp.rfind(':') + 1);
  for (int round = 0; round < 20; ++round) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(std::stoi(port)));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    std::string junk(static_cast<size_t>(rng() % 70000), '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    ssize_t n = ::write(fd, junk.data(), junk.size());
    (void)n;
    ::close(fd);
  }
  CHECK(d.Berth({"job", "echo", "still", "here"}).out == "still here\n");
  CHECK(d.Berth({"job", "echo", "tcp", "too"}, "", absl::Seconds(30), d.tcp).out == "tcp too\n");
  CHECK(d.proc->running());
}

TEST_CASE("berthd refuses a non-loopback tcp endpoint without CURVE keys") {
  TempDir dir;
  RunResult r = RunCommand({ToolPath("BERTHD"), "-H", "tcp://0.0.0.0:0", "-p", dir / "pid", "-g", dir / "root"});
  CHECK(r.status == 1);
  CHECK(r.err.find("berthd: -H: refusing to serve tcp://0.0.0.0:0 without CURVE keys") != std::string::npos);
}

TEST_CASE("berthd exits 0 on SIGTERM") {
  TempDir dir;
  Daemon d(dir);
  d.proc->Signal(SIGTERM);
  auto st = d.proc->Wait(absl::Seconds(15));
  REQUIRE(st.has_value());
  CHECK(*st == 0);
}

}  // namespace
}  // namespace berth
