// daemon_bench: time from exec to ready (the first job answered) of
// `berthd -b none` on a fresh scratch root, and with 1,000 container records to
// restore, beside the floor: a process that only starts a server and answers one
// job, measured in the same run.
//
// With networking (root only): berthd with its bridge and firewall
// (--iptables, --firewall iptables and nftables) in a network namespace the
// bench creates and deletes, restoring 1,000 containers that were running
// and each published a host port. Restore marks them stopped and holds their
// network: allocate_interface of their address and allocate_port Reserve=true
// of their host port (2,000 network jobs), after init_networkdriver has
// reconciled the firewall. This is timed from exec to the log line of the
// restore step's end, since berthd answers jobs before its restore is done. No per-container rule is written at restore (the
// containers are not running); the rules' own costs are port_bench's.
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

// Exec to the daemon's log line "restored N container(s)" (the end of its
// restore step; berthd answers jobs before it, so the first answer does not
// mark it), then SIGTERM and wait. Returns -1 when the line never came.
double TimeToRestored(const std::vector<std::string>& argv) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return -1;
  auto start = Clock::now();
  pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::dup2(out[1], 1);
    ::dup2(out[1], 2);
    execv(args[0], args.data());
    _exit(127);
  }
  ::close(out[1]);
  std::string seen;
  double ms = -1;
  char buf[4096];
  while (true) {
    ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    seen.append(buf, static_cast<size_t>(n));
    if (seen.find("restored ") != std::string::npos && seen.find(" container(s)") != std::string::npos) {
      ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
      break;
    }
  }
  ::kill(pid, SIGTERM);
  // Drain until it exits, so that a full pipe cannot block its shutdown.
  while (::read(out[0], buf, sizeof buf) > 0) {
  }
  ::close(out[0]);
  ::waitpid(pid, nullptr, 0);
  if (ms < 0) std::fprintf(stderr, "daemon_bench: no 'restored' line from %s:\n%s\n", argv[0].c_str(), seen.c_str());
  return ms;
}

// n container records under <root>/containers: with `networked`, every one
// was running with an address and a published port; otherwise a tenth were
// running when the daemon died, without networking.
void WriteRecords(const std::string& root, int n, bool networked) {
  std::string dir = root + "/containers";
  std::filesystem::create_directories(dir);
  for (int i = 0; i < n; ++i) {
    ContainerRecord c;
    char id[65];
    std::snprintf(id, sizeof id, "%064x", i + 1);
    c.id = id;
    c.name = absl::StrCat("/c", i);
    c.image = std::string(64, 'f');
    c.state.running = networked || i % 10 == 0;
    c.state.pid = c.state.running ? 999999 : 0;
    if (networked) {
      c.config.exposed_ports = {"80/tcp"};
      c.host_config.port_bindings["80/tcp"] = {PortBinding{"", absl::StrCat(20000 + i)}};
      c.network.ip_address = absl::StrCat("172.17.", (i + 2) / 256, ".", (i + 2) % 256);
      c.network.ip_prefix_len = 16;
      c.network.gateway = "172.17.42.1";
      c.network.bridge = "berth0";
      c.network.ports["80/tcp"] = {PortBinding{"", absl::StrCat(20000 + i)}};
    }
    if (!WriteContainer(dir, c, false).ok()) std::exit(1);
  }
}

int RunQuiet(const std::vector<std::string>& argv) {
  pid_t pid = fork();
  if (pid == 0) {
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    execvp(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
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
    WriteRecords(dir + "/full", 1000, /*networked=*/false);
    restore_ms.push_back(TimeToReady({berthd, "-b", "none", "-g", dir + "/full", "-p", dir + "/full.pid", "-H",
                                      "ipc://" + dir + "/full.sock"},
                                     "ipc://" + dir + "/full.sock"));
  }
  // With networking, in namespaces of the bench's own.
  std::vector<std::pair<std::string, double>> networked;
  if (::geteuid() == 0) {
    for (const char* firewall : {"iptables", "nftables"}) {
      std::vector<double> ms;
      for (int run = 0; run < kRuns; ++run) {
        std::string dir = absl::StrCat(base, "/net-", firewall, "-", run);
        std::string ns = absl::StrCat("berth-dbench-", ::getpid(), "-", firewall, "-", run);
        std::filesystem::create_directories(dir);
        WriteRecords(dir + "/root", 1000, /*networked=*/true);
        if (RunQuiet({"ip", "netns", "add", ns}) != 0) {
          std::fprintf(stderr, "daemon_bench: cannot create namespace %s\n", ns.c_str());
          return 1;
        }
        (void)RunQuiet({"ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"});
        double t = TimeToRestored({"/usr/bin/ip", "netns", "exec", ns, berthd, "-g", dir + "/root", "-p",
                                   dir + "/berthd.pid", "-H", "ipc://" + dir + "/net.sock", "--iptables",
                                   "--firewall", firewall});
        (void)RunQuiet({"ip", "netns", "del", ns});
        if (t < 0) return 1;
        ms.push_back(t);
      }
      networked.emplace_back(firewall, Median(ms));
    }
  }
  std::filesystem::remove_all(base);
  std::printf("exec to first job answered, median of %d runs:\n", kRuns);
  std::printf("  floor (server + one job)          %7.1f ms\n", Median(floor_ms));
  std::printf("  berthd -b none, empty root        %7.1f ms\n", Median(empty_ms));
  std::printf("  berthd -b none, 1000 containers   %7.1f ms\n", Median(restore_ms));
  for (const auto& [firewall, ms] : networked) {
    std::printf("  berthd --firewall %s, exec to restore done, 1000 running containers with a published port  %7.1f ms\n",
                firewall.c_str(), ms);
  }
  std::printf("daemon_bench empty_ms=%.1f restore1000_ms=%.1f floor_ms=%.1f\n", Median(empty_ms), Median(restore_ms),
              Median(floor_ms));
  for (const auto& [firewall, ms] : networked) {
    std::printf("daemon_bench firewall=%s restore1000_ports_ms=%.1f\n", firewall.c_str(), ms);
  }
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
