// The nftables backend (net/nftables_firewall.h): what it writes, compared
// with `nft list ruleset` of the same table written by the nft program in a
// scratch namespace; reconciliation after a crash; the shared and linked
// elements; removal in one operation; other tables left alone; and the
// choice of the default backend. Traffic through these rules is tested with
// the iptables backend's cases in traffic_test.cc.

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "net/firewall.h"
#include "net/nftables_firewall.h"
#include "tests/net/test_util.h"

namespace berth::net {
namespace {

using testing::CommandResult;
using testing::EnterFreshNetns;
using testing::Run;
using testing::ScopedNetns;

Ipv4Address Ip(const char* s) { return *Ipv4Address::Parse(s); }

FirewallConfig Config(bool icc = true, bool ip_masq = true) { return testing::BridgeFirewallConfig(icc, ip_masq); }

std::unique_ptr<Firewall> Make(const FirewallConfig& config = Config()) {
  auto f = MakeFirewall(FirewallBackend::kNftables, config);
  REQUIRE(f.ok());
  return *std::move(f);
}

// `nft list ruleset` by the nft program, in the calling thread's namespace
// or in `ns`.
std::string Ruleset(const ScopedNetns* ns = nullptr) {
  std::vector<std::string> argv = {"nft", "list", "ruleset"};
  CommandResult r = ns == nullptr ? Run(argv) : ns->Exec(argv);
  REQUIRE_MESSAGE(r.ok(), r.err);
  return r.out;
}

// The table as the nft program writes it from the documented script.
std::string Reference(bool icc, bool ip_masq,
                      const std::vector<std::string>& extra = {}) {
  ScopedNetns oracle;
  REQUIRE(oracle.ok());
  std::string masq =
      ip_masq ? "ip saddr 172.17.0.0/16 oifname != \"berth0\" masquerade\n"
              : "";
  std::string script = absl::StrCat(
      "table ip berth {\n"
      "map dnat_ip { type ipv4_addr . inet_proto . inet_service : ipv4_addr "
      ". inet_service; }\n"
      "map dnat_any { type inet_proto . inet_service : ipv4_addr . "
      "inet_service; }\n"
      "set hairpin { type ipv4_addr . ipv4_addr . inet_proto . inet_service; "
      "}\n"
      "set published { type ipv4_addr . inet_proto . inet_service; }\n"
      "set link_forward { type ipv4_addr . ipv4_addr . inet_proto . "
      "inet_service; }\n"
      "set link_reply { type ipv4_addr . ipv4_addr . inet_proto . "
      "inet_service; }\n"
      "chain port_dnat {\n"
      "iifname != \"berth0\" dnat ip to ip daddr . meta l4proto . th dport "
      "map @dnat_ip\n"
      "iifname != \"berth0\" dnat ip to meta l4proto . th dport map "
      "@dnat_any\n}\n"
      "chain nat_prerouting { type nat hook prerouting priority dstnat; "
      "policy accept;\nfib daddr type local jump port_dnat\n}\n"
      "chain nat_output { type nat hook output priority -100; policy "
      "accept;\nip daddr != 127.0.0.0/8 fib daddr type local jump "
      "port_dnat\n}\n"
      "chain nat_postrouting { type nat hook postrouting priority srcnat; "
      "policy accept;\n",
      masq,
      "ip saddr . ip daddr . meta l4proto . th dport @hairpin masquerade\n}\n"
      "chain port_links {\n"
      "iifname != \"berth0\" ip daddr . meta l4proto . th dport @published "
      "accept\n"
      "iifname \"berth0\" ip saddr . ip daddr . meta l4proto . th dport "
      "@link_forward accept\n"
      "iifname \"berth0\" ip saddr . ip daddr . meta l4proto . th sport "
      "@link_reply accept\n}\n"
      "chain filter_forward { type filter hook forward priority filter; "
      "policy accept;\n"
      "oifname \"berth0\" jump port_links\n"
      "oifname \"berth0\" ct state established,related accept\n"
      "iifname \"berth0\" oifname != \"berth0\" accept\n"
      "iifname \"berth0\" oifname \"berth0\" ",
      icc ? "accept" : "drop", "\n}\n}\n");
  for (const std::string& line : extra) absl::StrAppend(&script, line, "\n");
  CommandResult r = oracle.Exec({"nft", "-f", "-"}, script);
  REQUIRE_MESSAGE(r.ok(), r.err << "\n" << script);
  return Ruleset(&oracle);
}

PublishedPort Port(uint16_t host_port, const char* container,
                   uint16_t container_port, Proto proto = Proto::kTcp,
                   const char* host_ip = "0.0.0.0") {
  return PublishedPort{proto, Ip(host_ip), host_port, Ip(container),
                       container_port};
}

LinkRequest Link(LinkAction action, const char* parent, const char* child,
                 uint16_t port, bool ignore_errors = false) {
  LinkRequest r;
  r.action = action;
  r.parent = Ip(parent);
  r.child = Ip(child);
  r.ports = {PortProto{port, Proto::kTcp}};
  r.ignore_errors = ignore_errors;
  return r;
}

TEST_CASE("SetUp writes exactly the documented table, and nothing else") {
  if (!EnterFreshNetns()) return;
  for (bool icc : {true, false}) {
    for (bool masq : {true, false}) {
      auto fw = Make(Config(icc, masq));
      absl::StatusOr<FirewallReport> report = fw->SetUp();
      REQUIRE_MESSAGE(report.ok(), report.status().ToString());
      CHECK(Ruleset() == Reference(icc, masq));
    }
  }
}

TEST_CASE("ports are elements; shared ones stay until their last user goes") {
  if (!EnterFreshNetns()) return;
  auto fw = Make();
  REQUIRE(fw->SetUp().ok());
  REQUIRE(fw->AddPort(Port(8080, "172.17.0.2", 80)).ok());
  REQUIRE(fw->AddPort(Port(8081, "172.17.0.2", 80)).ok());  // same target
  REQUIRE(fw->AddPort(
                Port(5353, "172.17.0.3", 53, Proto::kUdp, "10.99.0.1"))
              .ok());
  CHECK(Ruleset() ==
        Reference(true, true,
                  {"add element ip berth dnat_any { tcp . 8080 : 172.17.0.2 "
                   ". 80, tcp . 8081 : 172.17.0.2 . 80 }",
                   "add element ip berth dnat_ip { 10.99.0.1 . udp . 5353 : "
                   "172.17.0.3 . 53 }",
                   "add element ip berth hairpin { 172.17.0.2 . 172.17.0.2 . "
                   "tcp . 80, 172.17.0.3 . 172.17.0.3 . udp . 53 }",
                   "add element ip berth published { 172.17.0.2 . tcp . 80, "
                   "172.17.0.3 . udp . 53 }"}));
  // A second mapping of the same host port is refused by the kernel and
  // leaves nothing behind.
  CHECK_FALSE(fw->AddPort(Port(8080, "172.17.0.9", 90)).ok());
  CHECK_FALSE(absl::StrContains(Ruleset(), "172.17.0.9"));

  const PublishedPort first[] = {Port(8080, "172.17.0.2", 80)};
  REQUIRE(fw->RemovePorts(first).ok());
  CHECK(Ruleset() ==
        Reference(true, true,
                  {"add element ip berth dnat_any { tcp . 8081 : 172.17.0.2 "
                   ". 80 }",
                   "add element ip berth dnat_ip { 10.99.0.1 . udp . 5353 : "
                   "172.17.0.3 . 53 }",
                   "add element ip berth hairpin { 172.17.0.2 . 172.17.0.2 . "
                   "tcp . 80, 172.17.0.3 . 172.17.0.3 . udp . 53 }",
                   "add element ip berth published { 172.17.0.2 . tcp . 80, "
                   "172.17.0.3 . udp . 53 }"}));
  const PublishedPort rest[] = {
      Port(8081, "172.17.0.2", 80),
      Port(5353, "172.17.0.3", 53, Proto::kUdp, "10.99.0.1")};
  REQUIRE(fw->RemovePorts(rest).ok());
  CHECK(Ruleset() == Reference(true, true));
  // Already gone (someone flushed the sets): not an error.
  REQUIRE(fw->AddPort(Port(8080, "172.17.0.2", 80)).ok());
  REQUIRE(Run({"nft", "flush", "set", "ip", "berth", "hairpin"}).ok());
  REQUIRE(fw->RemovePorts(first).ok());
  CHECK(Ruleset() == Reference(true, true));
}

TEST_CASE("link pairs: counted copies, -D of a missing pair, IgnoreErrors") {
  if (!EnterFreshNetns()) return;
  auto fw = Make(Config(/*icc=*/false));
  REQUIRE(fw->SetUp().ok());
  const LinkRequest add[] = {
      Link(LinkAction::kAppend, "172.17.0.3", "172.17.0.2", 80)};
  REQUIRE(fw->ApplyLinks(add).ok());
  REQUIRE(fw->ApplyLinks(add).ok());  // a second copy
  std::string with_link = Reference(
      false, true,
      {"add element ip berth link_forward { 172.17.0.3 . 172.17.0.2 . tcp . "
       "80 }",
       "add element ip berth link_reply { 172.17.0.2 . 172.17.0.3 . tcp . 80 "
       "}"});
  CHECK(Ruleset() == with_link);
  const LinkRequest del[] = {
      Link(LinkAction::kDelete, "172.17.0.3", "172.17.0.2", 80)};
  REQUIRE(fw->ApplyLinks(del).ok());
  CHECK(Ruleset() == with_link);  // one copy left
  REQUIRE(fw->ApplyLinks(del).ok());
  CHECK(Ruleset() == Reference(false, true));
  absl::Status missing = fw->ApplyLinks(del);
  CHECK(absl::IsNotFound(missing));
  // A failing request changes nothing, also what came before it.
  const LinkRequest mixed[] = {
      Link(LinkAction::kAppend, "172.17.0.4", "172.17.0.2", 80),
      Link(LinkAction::kDelete, "172.17.0.3", "172.17.0.2", 80)};
  CHECK_FALSE(fw->ApplyLinks(mixed).ok());
  CHECK(Ruleset() == Reference(false, true));
  const LinkRequest ignored[] = {
      Link(LinkAction::kDelete, "172.17.0.3", "172.17.0.2", 80, true)};
  CHECK(fw->ApplyLinks(ignored).ok());
}

TEST_CASE("after a crash SetUp leaves one copy of each rule and no element") {
  if (!EnterFreshNetns()) return;
  {
    auto dead = Make();
    REQUIRE(dead->SetUp().ok());
    REQUIRE(dead->AddPort(Port(8080, "172.17.0.2", 80)).ok());
    const LinkRequest add[] = {
        Link(LinkAction::kAppend, "172.17.0.3", "172.17.0.2", 80)};
    REQUIRE(dead->ApplyLinks(add).ok());
    // Someone added a rule of their own to berth's table, too.
    REQUIRE(Run({"nft", "add", "rule", "ip", "berth", "filter_forward",
                 "iifname", "\"berth0\"", "oifname", "\"berth0\"", "drop"})
                .ok());
  }
  auto fw = Make();
  absl::StatusOr<FirewallReport> report = fw->SetUp();
  REQUIRE(report.ok());
  CHECK_FALSE(report->nat_chain_created);
  CHECK(Ruleset() == Reference(true, true));
  REQUIRE(fw->SetUp().ok());
  CHECK(Ruleset() == Reference(true, true));
}

TEST_CASE("others' tables are never touched; TearDown removes berth's table") {
  if (!EnterFreshNetns()) return;
  REQUIRE(Run({"nft", "add", "table", "inet", "other"}).ok());
  REQUIRE(Run({"nft", "add", "chain", "inet", "other", "other_forward",
               "{ type filter hook forward priority 0; }"})
              .ok());
  REQUIRE(Run({"nft", "add", "rule", "inet", "other", "other_forward", "tcp", "dport",
               "22", "accept"})
              .ok());
  std::string before = Ruleset();
  auto fw = Make();
  REQUIRE(fw->SetUp().ok());
  REQUIRE(fw->AddPort(Port(8080, "172.17.0.2", 80)).ok());
  CHECK(absl::StrContains(Ruleset(), before));
  REQUIRE(fw->TearDown().ok());
  CHECK(Ruleset() == before);
  REQUIRE(fw->TearDown().ok());  // nothing there: fine
  CHECK(Ruleset() == before);
}

TEST_CASE("the default backend follows what the namespace already uses") {
  std::string why;
  {
    ScopedNetns ns;
    REQUIRE(ns.ok());
    testing::RunInNetns(ns.name(), [&] {
      CHECK(DetectFirewallBackend(&why) == FirewallBackend::kIptables);
    });
    CHECK(absl::StrContains(why, "iptables by default"));
    // berth's own table does not count.
    REQUIRE(ns.Exec({"nft", "add", "table", "ip", "berth"}).ok());
    testing::RunInNetns(ns.name(), [&] {
      CHECK(DetectFirewallBackend() == FirewallBackend::kIptables);
    });
    REQUIRE(ns.Exec({"nft", "add", "table", "inet", "filter"}).ok());
    testing::RunInNetns(ns.name(), [&] {
      CHECK(DetectFirewallBackend(&why) == FirewallBackend::kNftables);
    });
    CHECK(absl::StrContains(why, "nf_tables"));
    // Legacy tables in use as well: iptables.
    REQUIRE(ns.Exec({"iptables-legacy", "-t", "nat", "-L", "-n"}).ok());
    testing::RunInNetns(ns.name(), [&] {
      CHECK(DetectFirewallBackend(&why) == FirewallBackend::kIptables);
    });
    CHECK(absl::StrContains(why, "legacy"));
  }
  CHECK(ParseFirewallBackend("nftables").value() ==
        FirewallBackend::kNftables);
  CHECK(ParseFirewallBackend("iptables").value() ==
        FirewallBackend::kIptables);
  CHECK(ParseFirewallBackend("pf").status().message() ==
        "unknown firewall 'pf': use iptables or nftables");
}

}  // namespace
}  // namespace berth::net
