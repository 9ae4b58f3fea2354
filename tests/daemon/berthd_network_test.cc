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
#include "handlers/containers/record.h"
#include "tests/daemon/berthd_harness.h"
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
using testing::Berthd;
using testing::Count;
using testing::Netns;
using testing::Skip;

// A container that was running when its berthd ended is restored stopped; its
// address and host ports are held for it (no rules, no proxy) until it starts
// again, so that nobody else takes them meanwhile.
TEST_CASE("restore holds addresses and ports without rules; SIGKILL and restart leave one copy of each rule") {
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
    CHECK(Count(first_rules, "--to-destination 172.17.0.5:80") == 0);
    // Held, not mapped: no proxy listens on the port either.
    CHECK(Count(RunCommand(ns.Exec({"/usr/bin/ss", "-ltnH"})).out, ":8080") == 0);
    // The restored address and port are taken: nobody else gets them.
    RunResult other = d.Job({"-e", "RequestedIP=172.17.0.5", "allocate_interface", std::string(64, 'b')});
    CHECK(other.status == 1);
    CHECK(other.err == "ip already allocated\n");
    REQUIRE(d.Job({"allocate_interface", std::string(64, 'b')}).status == 0);
    RunResult port = d.Job({"-e", "HostIP=0.0.0.0", "-e", "HostPort=8080", "-e", "ContainerPort=80", "-e", "Proto=tcp",
                            "allocate_port", std::string(64, 'b')});
    CHECK(port.status == 1);
    CHECK(port.err == "Bind for 0.0.0.0:8080 failed: port is already allocated\n");
    REQUIRE(d.Job({"-e", "HostIP=0.0.0.0", "-e", "HostPort=9090", "-e", "ContainerPort=80", "-e", "Proto=tcp",
                   "allocate_port", std::string(64, 'b')})
                .status == 0);
    d.proc->Signal(SIGKILL);
    REQUIRE(d.proc->Wait(absl::Seconds(10)).has_value());
  }
  std::string after_kill = ns.Save();
  CHECK(Count(after_kill, "--dport 9090") == 1);  // a crash leaves rules behind...
  {
    Berthd d(ns, dir);
    REQUIRE_MESSAGE(d.WaitReady(), d.proc->Stderr());
    std::string rules = ns.Save();
    // ...which the restart reconciles: the stale mapping is gone and no fixed
    // rule is doubled.
    CHECK(Count(rules, "--dport 9090") == 0);
    CHECK(Count(rules, "--to-destination 172.17.0.5:80") == 0);
    CHECK(rules == first_rules);
    d.proc->Signal(SIGTERM);
    auto st = d.proc->Wait(absl::Seconds(20));
    REQUIRE(st.has_value());
    CHECK(*st == 0);
  }
  // Shutdown released the ports: no DNAT rule is left.
  CHECK(Count(ns.Save(), "DNAT") == 0);
}

// The same with --firewall nftables, `nft list table ip berth` as the oracle:
// a crash leaves the dead run's elements, the restart's set-up removes them
// and leaves one copy of each rule, shutdown takes the mappings out.
TEST_CASE("--firewall nftables: SIGKILL and restart leave one copy of each rule and no stale element") {
  Netns ns("nft");
  if (Skip(ns)) return;
  TempDir dir;
  std::filesystem::create_directories(dir / "root/containers");
  auto table = [&] { return RunCommand(ns.Exec({"/usr/sbin/nft", "list", "table", "ip", "berth"})).out; };
  std::string first;
  {
    Berthd d(ns, dir, {"--firewall", "nftables"});
    REQUIRE_MESSAGE(d.WaitReady(), d.proc->Stderr());
    first = table();
    CHECK(Count(first, "chain filter_forward") == 1);
    CHECK(Count(ns.Save(), "BERTH") == 0);  // nothing in the legacy tables
    REQUIRE(d.Job({"allocate_interface", std::string(64, 'b')}).status == 0);
    RunResult port = d.Job({"-e", "HostIP=0.0.0.0", "-e", "HostPort=9090", "-e", "ContainerPort=80", "-e",
                            "Proto=tcp", "allocate_port", std::string(64, 'b')});
    REQUIRE_MESSAGE(port.status == 0, port.err);
    CHECK(Count(table(), "tcp . 9090 : 172.17.0.2 . 80") == 1);
    d.proc->Signal(SIGKILL);
    REQUIRE(d.proc->Wait(absl::Seconds(10)).has_value());
  }
  CHECK(Count(table(), "tcp . 9090") == 1);  // a crash leaves elements behind...
  {
    Berthd d(ns, dir, {"--firewall", "nftables"});
    REQUIRE_MESSAGE(d.WaitReady(), d.proc->Stderr());
    // ...which the restart's set-up removes, without doubling any rule.
    CHECK(table() == first);
    REQUIRE(d.Job({"allocate_interface", std::string(64, 'c')}).status == 0);
    REQUIRE(d.Job({"-e", "HostIP=0.0.0.0", "-e", "HostPort=9091", "-e", "ContainerPort=80", "-e", "Proto=tcp",
                   "allocate_port", std::string(64, 'c')}).status == 0);
    CHECK(Count(table(), "tcp . 9091") == 1);
    d.proc->Signal(SIGTERM);
    auto st = d.proc->Wait(absl::Seconds(20));
    REQUIRE(st.has_value());
    CHECK(*st == 0);
  }
  // Shutdown released the mapping; the fixed table stays for the next start.
  CHECK(table() == first);
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
  RunResult port = d.Job({"-e", "HostIP=0.0.0.0", "-e", "HostPort=0", "-e", "ContainerPort=80", "-e", "Proto=tcp",
                          "allocate_port", std::string(64, 'c')});
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
