// Networking disabled (berthd -b none): DisabledNetworkGroup's jobs refuse
// with the reason and change nothing, in-process and in a real berthd started
// with -b none inside a namespace the test creates.

#include <doctest/doctest.h>

#include <signal.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "engine/engine.h"
#include "handlers/network/network.h"
#include "tests/handlers/network_test_util.h"
#include "tests/net/test_util.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace berth::testing {
namespace {

using net::testing::EnterFreshNetns;
using net::testing::ScopedNetns;

std::string Refusal(absl::string_view job) {
  return absl::StrCat("networking is disabled (berthd -b none): ", job, " is not available");
}

// Each job once with the arguments a caller would give it.
const std::vector<std::pair<std::string, std::vector<std::string>>> kJobs = {
    {"init_networkdriver", {"EnableIptables=true", "EnableIpForward=true"}},
    {"allocate_interface", {"c1", "NetNs=/proc/self/ns/net"}},
    {"release_interface", {"c1"}},
    {"allocate_port", {"c1", "HostPort=8080", "ContainerPort=80"}},
    {"link", {"-A", "ParentIP=172.17.0.2", "ChildIP=172.17.0.3", "Ports=80/tcp"}},
    {"shutdown_networkdriver", {}},
};

std::string ReadIpForward(const ScopedNetns* ns) {
  std::vector<std::string> argv = {"cat", "/proc/sys/net/ipv4/ip_forward"};
  net::testing::CommandResult r = ns != nullptr ? ns->Exec(argv) : net::testing::Run(argv);
  REQUIRE(r.ok());
  return std::string(absl::StripTrailingAsciiWhitespace(r.out));
}

TEST_CASE("DisabledNetworkGroup registers the six jobs, each refusing and changing nothing") {
  if (!EnterFreshNetns()) return;
  HandlerGroup g = DisabledNetworkGroup();
  CHECK(g.name == "network");
  CHECK(g.jobs == NetworkGroup().jobs);
  Engine engine;
  REQUIRE(g.install(engine).ok());
  const std::string rules = SaveAll();
  const std::string ip_forward = ReadIpForward(nullptr);
  for (const auto& [name, args] : kJobs) {
    CAPTURE(name);
    JobOutcome o = RunJob(engine, absl::StrCat(name, " ", absl::StrJoin(args, " ")));
    CHECK(o.status == 1);
    CHECK(o.error == Refusal(name));
    CHECK(o.env.empty());
  }
  CHECK_FALSE(LinkExists("berth0"));
  CHECK(SaveAll() == rules);
  CHECK(ReadIpForward(nullptr) == ip_forward);
}

TEST_CASE("berthd -b none: the network jobs refuse with status 1; no bridge, no rule, no ip_forward") {
  if (!EnterFreshNetns()) return;
  const std::string berthd = ToolPath("BERTHD");
  const std::string berth = ToolPath("BERTH");
  REQUIRE_MESSAGE(!berthd.empty(), "BERTHD is not set: run through meson test");
  REQUIRE_MESSAGE(!berth.empty(), "BERTH is not set: run through meson test");
  ScopedNetns ns;
  REQUIRE(ns.ok());
  TempDir dir;
  const std::string sock = "ipc://" + dir.path() + "/run/berth.sock";
  Process daemon(ProcessOptions{
      {"/usr/sbin/ip", "netns", "exec", ns.name(), berthd, "-b", "none", "-H", sock, "-g", dir / "root", "-p",
       dir / "berthd.pid", "-G", "root"},
      {"BERTH_DRIVER=vfs"},
      "",
      dir.path()});
  REQUIRE_MESSAGE(WaitFor(
                      [&] {
                        return absl::StrContains(daemon.Stderr(), "berthd ready in") || !daemon.running();
                      },
                      absl::Seconds(20)),
                  daemon.Stderr());
  REQUIRE_MESSAGE(daemon.running(), daemon.Stderr());

  for (const auto& [name, args] : kJobs) {
    CAPTURE(name);
    // The same jobs through berth: its env entries go in -e flags before NAME.
    std::vector<std::string> argv = {berth, "-H", sock, "job"};
    std::vector<std::string> rest;
    for (const std::string& a : args) {
      if (a.find('=') != std::string::npos) {
        argv.insert(argv.end(), {"-e", a});
      } else {
        rest.push_back(a);
      }
    }
    argv.push_back(name);
    argv.insert(argv.end(), rest.begin(), rest.end());
    RunResult r = RunCommand(argv);
    CHECK(r.status == 1);
    CHECK(r.err == Refusal(name) + "\n");
    CHECK(r.out.empty());
  }
  // Nothing was made: no bridge, no rule in either table (only the built-in
  // chains' policies), ip_forward as a new namespace has it.
  CHECK_FALSE(ns.Exec({"ip", "link", "show", "dev", "berth0"}).ok());
  for (const char* table : {"nat", "filter"}) {
    CAPTURE(table);
    for (const std::string& line : net::testing::IptablesS(table, "", &ns)) {
      CHECK(absl::StartsWith(line, "-P "));
    }
  }
  CHECK(ReadIpForward(&ns) == "0");

  daemon.Signal(SIGTERM);
  std::optional<int> exit = daemon.Wait(absl::Seconds(20));
  REQUIRE(exit.has_value());
  CHECK(*exit == 0);
}

}  // namespace
}  // namespace berth::testing
