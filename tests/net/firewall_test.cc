// berth's chains and fixed rules (docs/networking.md, "The bridge"), their reconciliation after a
// crash, their removal, and the link rules (docs/networking.md), each compared with
// what the iptables-legacy program writes.

#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "net/bridge_firewall.h"
#include "net/link_rules.h"
#include "net/port_allocator.h"
#include "net/port_mapper.h"
#include "tests/net/test_util.h"

namespace berth::net {
namespace {

using testing::CommandResult;
using testing::EnterFreshNetns;
using testing::Iptables;
using testing::IptablesS;
using testing::IptablesSave;
using testing::ScopedNetns;
using testing::Words;

Ipv4Address Ip(const char* s) { return *Ipv4Address::Parse(s); }

FirewallConfig Config(bool icc = true, bool ip_masq = true) { return testing::BridgeFirewallConfig(icc, ip_masq); }

// Runs "<table> <command>" lines through iptables-legacy in `netns`.
void Oracle(const ScopedNetns& netns, const std::vector<std::string>& lines) {
  for (const std::string& line : lines) {
    std::vector<std::string> words = Words(line);
    std::string table = words[0];
    words.erase(words.begin());
    CommandResult r = Iptables(table, words, &netns);
    REQUIRE_MESSAGE(r.ok(), line << ": " << r.err);
  }
}

// The state init_networkdriver must leave, written the way the reference
// wrote it: every fixed rule inserted at the top, in this order.
std::vector<std::string> ReferenceSetUp(bool icc, bool ip_masq) {
  std::vector<std::string> lines = {"nat -N BERTH", "filter -N BERTH"};
  if (ip_masq) {
    lines.push_back("nat -I POSTROUTING -s 172.17.42.1/16 ! -o berth0 -j MASQUERADE");
  }
  lines.push_back(absl::StrCat("filter -I FORWARD -i berth0 -o berth0 -j ",
                               icc ? "ACCEPT" : "DROP"));
  lines.push_back("filter -I FORWARD -i berth0 ! -o berth0 -j ACCEPT");
  lines.push_back(
      "filter -I FORWARD -o berth0 -m conntrack --ctstate RELATED,ESTABLISHED "
      "-j ACCEPT");
  lines.push_back("nat -A PREROUTING -m addrtype --dst-type LOCAL -j BERTH");
  lines.push_back(
      "nat -A OUTPUT -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j BERTH");
  lines.push_back("filter -I FORWARD -o berth0 -j BERTH");
  return lines;
}

void RequireSameTables(const ScopedNetns& oracle) {
  for (const char* table : {"nat", "filter"}) {
    CAPTURE(table);
    CHECK(IptablesSave(table) == IptablesSave(table, &oracle));
  }
}

TEST_CASE("SetUpFirewall writes exactly the documented chains and rules") {
  if (!EnterFreshNetns()) return;
  for (bool icc : {true, false}) {
    CAPTURE(icc);
    REQUIRE(EnterFreshNetns());
    ScopedNetns oracle;
    Oracle(oracle, ReferenceSetUp(icc, true));
    absl::StatusOr<FirewallReport> report = SetUpFirewall(Config(icc));
    REQUIRE_MESSAGE(report.ok(), report.status().ToString());
    CHECK(report->nat_chain_created);
    CHECK(report->filter_chain_created);
    CHECK(report->rules_added == 7);
    CHECK(report->stale_rules_removed == 0);
    CHECK(report->duplicates_removed == 0);
    RequireSameTables(oracle);

    // A second start finds everything in place and changes nothing.
    std::string nat = IptablesSave("nat");
    std::string filter = IptablesSave("filter");
    report = SetUpFirewall(Config(icc));
    REQUIRE(report.ok());
    CHECK_FALSE(report->nat_chain_created);
    CHECK(report->rules_added == 0);
    CHECK(report->stale_rules_removed == 0);
    CHECK(report->duplicates_removed == 0);
    CHECK(IptablesSave("nat") == nat);
    CHECK(IptablesSave("filter") == filter);
  }
}

TEST_CASE("without ip-masq there is no MASQUERADE, and an old one goes") {
  if (!EnterFreshNetns()) return;
  ScopedNetns oracle;
  Oracle(oracle, ReferenceSetUp(true, false));
  REQUIRE(SetUpFirewall(Config(true, true)).ok());
  absl::StatusOr<FirewallReport> report = SetUpFirewall(Config(true, false));
  REQUIRE(report.ok());
  CHECK(report->duplicates_removed == 1);
  RequireSameTables(oracle);
}

TEST_CASE("switching icc replaces the verdict and keeps the jump first") {
  if (!EnterFreshNetns()) return;
  ScopedNetns oracle;
  Oracle(oracle, ReferenceSetUp(false, true));
  REQUIRE(SetUpFirewall(Config(true)).ok());
  absl::StatusOr<FirewallReport> report = SetUpFirewall(Config(false));
  REQUIRE(report.ok());
  RequireSameTables(oracle);
  std::vector<std::string> forward = IptablesS("filter", "FORWARD");
  REQUIRE(forward.size() == 5);
  CHECK(forward[1] == "-A FORWARD -o berth0 -j BERTH");
  CHECK(forward[4] == "-A FORWARD -i berth0 -o berth0 -j DROP");
}

// What a killed daemon leaves: per-container rules of three mappings and a
// link, in a child process that is SIGKILLed while they are in place.
void RunAndKillDaemonStandIn() {
  int ready[2];
  REQUIRE(pipe(ready) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(ready[0]);
    bool ok = SetUpFirewall(Config()).ok();
    PortAllocator allocator;
    PortMapperOptions options;
    options.allocator = &allocator;
    auto mapper = PortMapper::Create(options);
    ok = ok && mapper.ok();
    for (uint16_t port : {8080, 8081, 8082}) {
      PortMapper::MapRequest req;
      req.owner = "c1";
      req.proto = port == 8082 ? Proto::kUdp : Proto::kTcp;
      req.host_port = port;
      req.container_ip = Ip("172.17.0.2");
      req.container_port = 80;
      ok = ok && (*mapper)->Map(req).ok();
    }
    absl::StatusOr<LinkRequest> link =
        ParseLinkRequest("-A", "172.17.0.3", "172.17.0.2", {"5432/tcp"}, false);
    ok = ok && link.ok() && ApplyLinkRules("berth0", *link).ok();
    char c = ok ? '1' : '0';
    if (write(ready[1], &c, 1) != 1) _exit(2);
    pause();
    _exit(0);
  }
  close(ready[1]);
  char c = 0;
  REQUIRE(read(ready[0], &c, 1) == 1);
  close(ready[0]);
  kill(pid, SIGKILL);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(c == '1');
  CHECK(WIFSIGNALED(status));
}

TEST_CASE("reconciliation after a SIGKILL leaves one copy of each fixed rule") {
  if (!EnterFreshNetns()) return;
  ScopedNetns oracle;
  std::vector<std::string> clean = ReferenceSetUp(true, true);
  // Rules of others that must survive: a MASQUERADE for another network and
  // a hairpin-shaped rule outside berth's network.
  std::vector<std::string> foreign = {
      "nat -A POSTROUTING -s 192.168.99.0/24 -j MASQUERADE",
      "nat -A POSTROUTING -p tcp -s 192.168.99.2 -d 192.168.99.2 --dport 80 "
      "-j MASQUERADE",
      "filter -A FORWARD -i eth9 -j ACCEPT",
  };
  std::vector<std::string> expected = clean;
  expected.insert(expected.end(), foreign.begin(), foreign.end());
  Oracle(oracle, expected);

  RunAndKillDaemonStandIn();
  CHECK(IptablesS("nat", "BERTH").size() == 4);     // -N + 3 DNATs
  CHECK(IptablesS("filter", "BERTH").size() == 6);  // -N + 3 + 2 link
  // Someone (an older run, a hand) doubled some fixed rules; others exist.
  for (const std::string& line :
       {std::string("nat -A POSTROUTING -s 172.17.0.0/16 ! -o berth0 -j MASQUERADE"),
        std::string("nat -A PREROUTING -m addrtype --dst-type LOCAL -j BERTH"),
        std::string("filter -A FORWARD -o berth0 -j BERTH"),
        std::string("filter -A FORWARD -i berth0 -o berth0 -j ACCEPT"),
        std::string("filter -A FORWARD -i berth0 -o berth0 -j DROP")}) {
    std::vector<std::string> words = Words(line);
    std::string table = words[0];
    words.erase(words.begin());
    REQUIRE(Iptables(table, words).ok());
  }
  for (const std::string& line : foreign) {
    std::vector<std::string> words = Words(line);
    std::string table = words[0];
    words.erase(words.begin());
    REQUIRE(Iptables(table, words).ok());
  }

  absl::StatusOr<FirewallReport> report = SetUpFirewall(Config());
  REQUIRE_MESSAGE(report.ok(), report.status().ToString());
  CHECK_FALSE(report->nat_chain_created);
  CHECK_FALSE(report->filter_chain_created);
  // 3 DNATs + 3 hairpins + 3 port ACCEPTs + 2 link rules.
  CHECK(report->stale_rules_removed == 11);
  // MASQUERADE, PREROUTING jump, FORWARD jump, icc ACCEPT, icc DROP.
  CHECK(report->duplicates_removed == 5);
  CHECK(report->rules_added == 0);
  RequireSameTables(oracle);

  // And nothing is left for a teardown to miss.
  REQUIRE(TearDownFirewall(Config()).ok());
  ScopedNetns foreign_only;
  Oracle(foreign_only, foreign);
  CHECK(IptablesSave("nat") == IptablesSave("nat", &foreign_only));
  CHECK(IptablesSave("filter") == IptablesSave("filter", &foreign_only));
}

TEST_CASE("TearDownFirewall removes everything berth added, and is idempotent") {
  if (!EnterFreshNetns()) return;
  ScopedNetns empty;
  std::string nat = IptablesSave("nat", &empty);
  std::string filter = IptablesSave("filter", &empty);
  REQUIRE(TearDownFirewall(Config()).ok());  // nothing there yet
  REQUIRE(SetUpFirewall(Config(false)).ok());
  // Both icc verdicts, as a run with the other setting could leave.
  REQUIRE(Iptables("filter", Words("-A FORWARD -i berth0 -o berth0 -j ACCEPT")).ok());
  REQUIRE(TearDownFirewall(Config()).ok());
  CHECK(IptablesSave("nat") == nat);
  CHECK(IptablesSave("filter") == filter);
  REQUIRE(TearDownFirewall(Config()).ok());
}

TEST_CASE("bad bridge or chain names write nothing") {
  if (!EnterFreshNetns()) return;
  std::string nat = IptablesSave("nat");
  std::string filter = IptablesSave("filter");
  for (const char* bridge :
       {"abcdefghijklmnop", "br 0", "br'0", "br\"0", "", "br/0"}) {
    CAPTURE(bridge);
    FirewallConfig c = Config();
    c.bridge = bridge;
    absl::StatusOr<FirewallReport> r = SetUpFirewall(c);
    CHECK(r.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(r.status().message(), "invalid interface name"));
  }
  FirewallConfig c = Config();
  c.chain = "BERTH CHAIN";
  CHECK_FALSE(SetUpFirewall(c).ok());
  CHECK(IptablesSave("nat") == nat);
  CHECK(IptablesSave("filter") == filter);
}

TEST_CASE("link requests are validated with the documented messages") {
  CHECK(ParseLinkAction("-X").status().message() == "Invalid action '-X' specified");
  CHECK(ParseLinkAction("").status().message() == "Invalid action '' specified");
  CHECK(*ParseLinkAction("-I") == LinkAction::kInsert);
  CHECK(ParseLinkRequest("-A", "999.1.1.1", "172.17.0.2", {}, false)
            .status()
            .message() == "parent IP '999.1.1.1' is invalid");
  CHECK(ParseLinkRequest("-A", "172.17.0.3", "172.17.0.2 ", {}, false)
            .status()
            .message() == "child IP '172.17.0.2 ' is invalid");
  CHECK(ParseLinkRequest("-A", "172.17.0.3", "172.17.0.2", {"80/sctp"}, false)
            .status()
            .message() == "unsupported address type sctp");
  CHECK_FALSE(
      ParseLinkRequest("-A", "172.17.0.3", "172.17.0.2", {"70000/tcp"}, false).ok());
  absl::StatusOr<LinkRequest> ok = ParseLinkRequest(
      "-D", "172.17.0.3", "172.17.0.2", {"80/tcp", "53/udp"}, true);
  REQUIRE(ok.ok());
  CHECK(ok->action == LinkAction::kDelete);
  CHECK(ok->ports.size() == 2);
  CHECK(ok->ignore_errors);
}

TEST_CASE("link rules match the program's, and -D/-I/IgnoreErrors behave") {
  if (!EnterFreshNetns()) return;
  REQUIRE(SetUpFirewall(Config()).ok());
  ScopedNetns oracle;
  Oracle(oracle, ReferenceSetUp(true, true));
  Oracle(oracle,
         {"filter -A BERTH -i berth0 -o berth0 -p tcp -s 172.17.0.3 -d "
          "172.17.0.2 --dport 80 -j ACCEPT",
          "filter -A BERTH -i berth0 -o berth0 -p tcp -s 172.17.0.2 -d "
          "172.17.0.3 --sport 80 -j ACCEPT",
          "filter -A BERTH -i berth0 -o berth0 -p udp -s 172.17.0.3 -d "
          "172.17.0.2 --dport 53 -j ACCEPT",
          "filter -A BERTH -i berth0 -o berth0 -p udp -s 172.17.0.2 -d "
          "172.17.0.3 --sport 53 -j ACCEPT"});
  absl::StatusOr<LinkRequest> add = ParseLinkRequest(
      "-A", "172.17.0.3", "172.17.0.2", {"80/tcp", "53/udp"}, false);
  REQUIRE(add.ok());
  REQUIRE(ApplyLinkRules("berth0", *add).ok());
  RequireSameTables(oracle);

  // -I puts a pair at the top, as the program's -I does.
  absl::StatusOr<LinkRequest> ins =
      ParseLinkRequest("-I", "172.17.0.4", "172.17.0.2", {"22"}, false);
  REQUIRE(ApplyLinkRules("berth0", *ins).ok());
  Oracle(oracle,
         {"filter -I BERTH -i berth0 -o berth0 -p tcp -s 172.17.0.4 -d "
          "172.17.0.2 --dport 22 -j ACCEPT",
          "filter -I BERTH -i berth0 -o berth0 -p tcp -s 172.17.0.2 -d "
          "172.17.0.4 --sport 22 -j ACCEPT"});
  RequireSameTables(oracle);

  // -D removes; a second -D fails and changes nothing, unless errors are
  // ignored.
  absl::StatusOr<LinkRequest> del = ParseLinkRequest(
      "-D", "172.17.0.3", "172.17.0.2", {"80/tcp", "53/udp"}, false);
  REQUIRE(ApplyLinkRules("berth0", *del).ok());
  CHECK(IptablesS("filter", "BERTH").size() == 3);
  std::string before = IptablesSave("filter");
  absl::StatusOr<LinkRequest> partial = ParseLinkRequest(
      "-D", "172.17.0.4", "172.17.0.2", {"22/tcp", "80/tcp"}, false);
  absl::Status s = ApplyLinkRules("berth0", *partial);
  CHECK(absl::IsNotFound(s));
  CHECK(IptablesSave("filter") == before);  // the 22 pair is still there
  partial->ignore_errors = true;
  REQUIRE(ApplyLinkRules("berth0", *partial).ok());
  CHECK(IptablesS("filter", "BERTH").size() == 1);

  CHECK(absl::StrContains(ApplyLinkRules("abcdefghijklmnop", *add).message(),
                          "16 characters long"));
  CHECK(IptablesS("filter", "BERTH").size() == 1);
}

TEST_CASE("ip_forward is written in the namespace, failures are reported") {
  if (!EnterFreshNetns()) return;
  {
    std::ofstream off("/proc/sys/net/ipv4/ip_forward");
    off << "0\n";
  }
  REQUIRE(EnableIpForward().ok());
  std::ifstream in("/proc/sys/net/ipv4/ip_forward");
  std::string value;
  in >> value;
  CHECK(value == "1");
  absl::Status bad = EnableIpForward("/nonexistent/ip_forward");
  CHECK_FALSE(bad.ok());
  CHECK(absl::StrContains(bad.message(), "/nonexistent/ip_forward"));
}

}  // namespace
}  // namespace berth::net
