// berthd with networking, as real processes inside network namespaces the test
// creates: restore re-reserving addresses and ports, SIGKILL and restart leaving
// exactly one copy of each rule, and the network jobs served by a berth-worker.
#include <doctest/doctest.h>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "daemon/container.h"
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

// A network namespace for one test, deleted at the end.
class Netns {
 public:
  explicit Netns(const std::string& suffix) : name_(absl::StrCat("berth-t-", ::getpid(), "-", suffix)) {
    RunCommand({"/usr/sbin/ip", "netns", "del", name_});
    RunResult r = RunCommand({"/usr/sbin/ip", "netns", "add", name_});
    ok_ = r.status == 0;
    error_ = r.err;
    if (ok_) RunCommand({"/usr/sbin/ip", "netns", "exec", name_, "/usr/sbin/ip", "link", "set", "lo", "up"});
  }
  ~Netns() {
    if (ok_) RunCommand({"/usr/sbin/ip", "netns", "del", name_});
  }
  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  std::vector<std::string> Exec(std::vector<std::string> argv) const {
    std::vector<std::string> full = {"/usr/sbin/ip", "netns", "exec", name_};
    full.insert(full.end(), argv.begin(), argv.end());
    return full;
  }
  std::string Save() const {
    RunResult r = RunCommand(Exec({"/usr/sbin/iptables-legacy-save"}));
    // Drop comments and counters so that two dumps compare by rules alone.
    std::stringstream in(r.out), out;
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] == '#') continue;
      if (line[0] == ':') line = line.substr(0, line.find(' '));
      out << line << "\n";
    }
    return out.str();
  }

 private:
  std::string name_;
  bool ok_ = false;
  std::string error_;
};

bool Skip(const Netns& ns) {
  if (ns.ok()) return false;
  const char* ci = std::getenv("CI");
  if (ci != nullptr && std::string(ci) == "true") FAIL("cannot create a network namespace: " << ns.error());
  MESSAGE("skipped: cannot create a network namespace: " << ns.error());
  return true;
}

struct Berthd {
  const Netns& ns;
  const TempDir& dir;
  std::unique_ptr<Process> proc;
  std::string sock;
  Berthd(const Netns& n, const TempDir& d, std::vector<std::string> extra = {}) : ns(n), dir(d) {
    sock = "ipc://" + dir.path() + "/run/berth.sock";
    std::vector<std::string> argv = {ToolPath("BERTHD"), "-H", sock, "-g", dir / "root", "-p", dir / "berthd.pid",
                                     "-G", "root"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    proc = std::make_unique<Process>(ProcessOptions{ns.Exec(argv), {"BERTH_DRIVER=vfs"}, "", dir.path()});
  }
  bool WaitReady(absl::Duration timeout = absl::Seconds(20)) {
    return WaitFor([&] { return proc->Stderr().find("berthd ready in") != std::string::npos || !proc->running(); },
                   timeout) &&
           proc->running();
  }
  RunResult Job(std::vector<std::string> args) {
    std::vector<std::string> argv = {ToolPath("BERTH"), "-H", sock, "job"};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv);
  }
};

int Count(const std::string& haystack, const std::string& needle) {
  int n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

TEST_CASE("restore re-reserves addresses and ports; SIGKILL and restart leave one copy of each rule") {
  Netns ns("restore");
  if (Skip(ns)) return;
  TempDir dir;
  ContainerRecord web;
  web.id = std::string(64, 'a');
  web.name = "/web";
  web.state.running = true;
  web.network.ip_address = "172.17.0.5";
  web.network.ip_prefix_len = 16;
  web.network.mac_address = "02:42:ac:11:00:05";
  web.network.ports["80/tcp"] = {{"0.0.0.0", "8080"}};
  std::filesystem::create_directories(dir / "root/containers");
  REQUIRE(WriteContainer(dir / "root/containers", web, false).ok());

  std::string first_rules;
  {
    Berthd d(ns, dir);
    REQUIRE_MESSAGE(d.WaitReady(), d.proc->Stderr());
    first_rules = ns.Save();
    CHECK(Count(first_rules, "--to-destination 172.17.0.5:80") == 1);
    // The restored address and port are taken: nobody else gets them.
    RunResult other = d.Job({"allocate_interface", std::string(64, 'b'), "RequestedIP=172.17.0.5"});
    CHECK(other.status == 1);
    CHECK(other.err == "ip already allocated\n");
    REQUIRE(d.Job({"allocate_interface", std::string(64, 'b')}).status == 0);
    RunResult port = d.Job({"allocate_port", std::string(64, 'b'), "HostIP=0.0.0.0", "HostPort=8080",
                            "ContainerPort=80", "Proto=tcp"});
    CHECK(port.status == 1);
    CHECK(port.err == "Bind for 0.0.0.0:8080 failed: port is already allocated\n");
    REQUIRE(d.Job({"allocate_port", std::string(64, 'b'), "HostIP=0.0.0.0", "HostPort=9090", "ContainerPort=80",
                   "Proto=tcp"}).status == 0);
    d.proc->Signal(SIGKILL);
    REQUIRE(d.proc->Wait(absl::Seconds(10)).has_value());
  }
  std::string after_kill = ns.Save();
  CHECK(Count(after_kill, "--dport 9090") == 1);  // a crash leaves rules behind...
  {
    Berthd d(ns, dir);
    REQUIRE_MESSAGE(d.WaitReady(), d.proc->Stderr());
    std::string rules = ns.Save();
    // ...which the restart reconciles: the stale mapping is gone, the restored
    // one is back exactly once, and no fixed rule is doubled.
    CHECK(Count(rules, "--dport 9090") == 0);
    CHECK(Count(rules, "--to-destination 172.17.0.5:80") == 1);
    CHECK(rules == first_rules);
    d.proc->Signal(SIGTERM);
    auto st = d.proc->Wait(absl::Seconds(20));
    REQUIRE(st.has_value());
    CHECK(*st == 0);
  }
  // Shutdown released the ports: no DNAT rule is left.
  CHECK(Count(ns.Save(), "DNAT") == 0);
}

TEST_CASE("the network jobs served by berth-worker in the same namespace") {
  Netns ns("worker");
  if (Skip(ns)) return;
  TempDir dir;
  Berthd d(ns, dir, {"--remote-handlers", "network"});
  // NewDaemon waits for the network jobs; it is not ready without them.
  REQUIRE(WaitFor([&] { return d.proc->Stderr().find("waiting up to") != std::string::npos; }, absl::Seconds(20)));
  CHECK(d.proc->Stderr().find("berthd ready in") == std::string::npos);
  Process worker(ProcessOptions{ns.Exec({ToolPath("BERTH_WORKER"), "-H", d.sock, "--handlers", "network", "--name",
                                         "networker"}),
                                {},
                                "",
                                dir.path()});
  REQUIRE_MESSAGE(d.WaitReady(), d.proc->Stderr());
  RunResult nic = d.Job({"allocate_interface", std::string(64, 'c')});
  CHECK(nic.status == 0);
  CHECK(nic.out.find("\"IP\":\"172.17.0.2\"") != std::string::npos);
  RunResult port = d.Job({"allocate_port", std::string(64, 'c'), "HostIP=0.0.0.0", "HostPort=0", "ContainerPort=80",
                          "Proto=tcp"});
  CHECK(port.status == 0);
  CHECK(port.out.find("\"HostPort\":\"49153\"") != std::string::npos);
  CHECK(d.Job({"workers"}).out.find("networker") != std::string::npos);
  d.proc->Signal(SIGTERM);
  auto st = d.proc->Wait(absl::Seconds(20));
  REQUIRE(st.has_value());
  CHECK(*st == 0);
  CHECK(d.proc->Stderr().find("shutdown: released all ports") != std::string::npos);
}

}  // namespace
}  // namespace berth
