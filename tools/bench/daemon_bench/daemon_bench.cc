// daemon_bench: time from exec to ready (the first job answered) of
// `berthd -b none` on a fresh scratch root, and with 1,000 container records to
// restore, beside the floor: a process that only starts a server and answers one
// job, measured in the same run.
//
//   daemon_bench [PATH_TO_BERTHD]   (default: ../../berthd next to this binary)
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "handlers/containers/record.h"
#include "engine/engine.h"
#include "engine/log.h"
#include "engine/remote/client.h"
#include "engine/remote/server.h"
#include "engine/runtime.h"
#include "handlers/version.h"

namespace berth {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kRuns = 9;

int FloorServer(const std::string& ep) {
  Engine eng;
  if (!VersionGroup().install(eng).ok()) return 1;
  remote::ServerOptions o;
  o.endpoints = {ep};
  auto s = remote::Server::Start(eng, o);
  if (!s.ok()) return 1;
  while (true) pause();
}

// Polls until `version` is answered at `ep`; returns false after 30 s.
bool WaitAnswered(const std::string& ep) {
  auto until = Clock::now() + std::chrono::seconds(30);
  remote::ClientOptions o;
  o.endpoint = ep;
  o.connect_timeout = absl::Milliseconds(200);
  while (Clock::now() < until) {
    if (std::filesystem::exists(ep.substr(6))) {
      auto c = remote::Client::Connect(o);
      if (c.ok()) {
        remote::JobRequest req;
        req.name = "version";
        auto r = (*c)->Run(req, nullptr, nullptr, nullptr);
        if (r.ok() && r->status == 0) return true;
      }
    }
    usleep(200);
  }
  return false;
}

double TimeToReady(const std::vector<std::string>& argv, const std::string& ep) {
  auto start = Clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    execv(args[0], args.data());
    _exit(127);
  }
  bool ok = WaitAnswered(ep);
  double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
  ::kill(pid, SIGTERM);
  ::waitpid(pid, nullptr, 0);
  if (!ok) {
    std::fprintf(stderr, "daemon_bench: %s never answered\n", argv[0].c_str());
    std::exit(1);
  }
  return ms;
}

void WriteRecords(const std::string& root, int n) {
  std::string dir = root + "/containers";
  std::filesystem::create_directories(dir);
  for (int i = 0; i < n; ++i) {
    ContainerRecord c;
    char id[65];
    std::snprintf(id, sizeof id, "%064x", i + 1);
    c.id = id;
    c.name = absl::StrCat("/c", i);
    c.image = std::string(64, 'f');
    c.state.running = i % 10 == 0;  // a tenth were running when the daemon died
    c.state.pid = c.state.running ? 999999 : 0;
    if (!WriteContainer(dir, c, false).ok()) std::exit(1);
  }
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int Main(int argc, char** argv) {
  std::string self = std::filesystem::canonical("/proc/self/exe");
  std::string berthd = std::filesystem::path(self).parent_path().parent_path().parent_path() / "berthd";
  CLI::App app{"daemon_bench: exec to first job answered of berthd -b none, on an empty root and with 1,000\n"
               "container records to restore, beside a floor server; medians of several runs."};
  app.add_option("berthd", berthd, "the berthd binary")->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  std::string base = absl::StrCat("/tmp/berth-daemon-bench-", ::getpid());
  std::vector<double> floor_ms, empty_ms, restore_ms;
  for (int run = 0; run < kRuns; ++run) {
    std::string dir = absl::StrCat(base, "/", run);
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    floor_ms.push_back(TimeToReady({self, "floor", "ipc://" + dir + "/floor.sock"}, "ipc://" + dir + "/floor.sock"));
    empty_ms.push_back(TimeToReady({berthd, "-b", "none", "-g", dir + "/empty", "-p", dir + "/empty.pid", "-H",
                                    "ipc://" + dir + "/empty.sock"},
                                   "ipc://" + dir + "/empty.sock"));
    WriteRecords(dir + "/full", 1000);
    restore_ms.push_back(TimeToReady({berthd, "-b", "none", "-g", dir + "/full", "-p", dir + "/full.pid", "-H",
                                      "ipc://" + dir + "/full.sock"},
                                     "ipc://" + dir + "/full.sock"));
  }
  std::filesystem::remove_all(base);
  std::printf("exec to first job answered, median of %d runs:\n", kRuns);
  std::printf("  floor (server + one job)          %7.1f ms\n", Median(floor_ms));
  std::printf("  berthd -b none, empty root        %7.1f ms\n", Median(empty_ms));
  std::printf("  berthd -b none, 1000 containers   %7.1f ms\n", Median(restore_ms));
  std::printf("daemon_bench empty_ms=%.1f restore1000_ms=%.1f floor_ms=%.1f\n", Median(empty_ms), Median(restore_ms),
              Median(floor_ms));
  return 0;
}

}  // namespace
}  // namespace berth

int main(int argc, char** argv) {
  berth::ConfigureProductionRuntime();
  spdlog::set_level(spdlog::level::off);
  if (argc == 3 && std::string(argv[1]) == "floor") return berth::FloorServer(argv[2]);
  return berth::Main(argc, argv);
}
