// libiptc rules against the iptables-legacy program as the oracle.
//
// For every rule berth writes, the test runs the documented command line through
// `iptables-legacy` in a scratch namespace and the same rule through berth's
// libiptc code in the test's own namespace, then requires:
//  - `iptables-legacy -S` and `iptables-legacy-save` print the same text;
//  - Rule::ToString() is that `-S` line;
//  - berth finds (and decodes, and deletes) the rule the program wrote;
//  - the program finds (-C) and deletes (-D) the rule berth wrote.

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "net/berth_rules.h"
#include "net/iptables.h"
#include "net/iptables_rule.h"
#include "tests/net/test_util.h"

namespace berth::net {
namespace {

using testing::CommandResult;
using testing::EnterFreshNetns;
using testing::Iptables;
using testing::IptablesS;
using testing::IptablesSave;
using testing::RunInNetns;
using testing::ScopedNetns;
using testing::Words;

Ipv4Address Ip(const char* s) { return *Ipv4Address::Parse(s); }
Ipv4Network Net(const char* s) { return *Ipv4Network::Parse(s); }

struct OracleCase {
  Table table;
  // The rule as docs/networking.md writes it, after "-A" (so with its chain first).
  std::string command;
  Rule rule;
};

std::vector<OracleCase> SpecCases() {
  const std::string br = "berth0";
  std::vector<OracleCase> cases = {
      {Table::kNat, "POSTROUTING -s 172.17.42.1/16 ! -o berth0 -j MASQUERADE",
       BridgeMasqueradeRule(Net("172.17.42.1/16"), br)},
      {Table::kFilter, "FORWARD -i berth0 -o berth0 -j ACCEPT", IccRule(br, true)},
      {Table::kFilter, "FORWARD -i berth0 -o berth0 -j DROP", IccRule(br, false)},
      {Table::kFilter, "FORWARD -i berth0 ! -o berth0 -j ACCEPT", OutgoingRule(br)},
      {Table::kFilter,
       "FORWARD -o berth0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
       EstablishedRule(br)},
      {Table::kNat, "PREROUTING -m addrtype --dst-type LOCAL -j BERTH",
       PreroutingJumpRule()},
      {Table::kNat,
       "OUTPUT -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j BERTH",
       OutputJumpRule()},
      {Table::kFilter, "FORWARD -o berth0 -j BERTH", ForwardJumpRule(br)},
      {Table::kNat,
       "BERTH -p tcp -d 0/0 --dport 8080 ! -i berth0 -j DNAT --to-destination "
       "172.17.0.2:80",
       PortDnatRule(Proto::kTcp, Ipv4Address(), 8080, br, Ip("172.17.0.2"), 80)},
      {Table::kNat,
       "BERTH -p udp -d 10.0.0.1 --dport 5353 ! -i berth0 -j DNAT "
       "--to-destination 172.17.0.3:53",
       PortDnatRule(Proto::kUdp, Ip("10.0.0.1"), 5353, br, Ip("172.17.0.3"), 53)},
      {Table::kFilter,
       "BERTH ! -i berth0 -o berth0 -p tcp -d 172.17.0.2 --dport 80 -j ACCEPT",
       PortAcceptRule(Proto::kTcp, br, Ip("172.17.0.2"), 80)},
      {Table::kFilter,
       "BERTH ! -i berth0 -o berth0 -p udp -d 172.17.0.3 --dport 53 -j ACCEPT",
       PortAcceptRule(Proto::kUdp, br, Ip("172.17.0.3"), 53)},
      {Table::kNat,
       "POSTROUTING -p tcp -s 172.17.0.2 -d 172.17.0.2 --dport 80 -j MASQUERADE",
       PortHairpinRule(Proto::kTcp, Ip("172.17.0.2"), 80)},
      {Table::kNat,
       "POSTROUTING -p udp -s 172.17.0.3 -d 172.17.0.3 --dport 53 -j MASQUERADE",
       PortHairpinRule(Proto::kUdp, Ip("172.17.0.3"), 53)},
      {Table::kFilter,
       "BERTH -i berth0 -o berth0 -p tcp -s 172.17.0.4 -d 172.17.0.2 --dport "
       "5432 -j ACCEPT",
       LinkForwardRule(Proto::kTcp, br, Ip("172.17.0.4"), Ip("172.17.0.2"), 5432)},
      {Table::kFilter,
       "BERTH -i berth0 -o berth0 -p tcp -s 172.17.0.2 -d 172.17.0.4 --sport "
       "5432 -j ACCEPT",
       LinkReplyRule(Proto::kTcp, br, Ip("172.17.0.4"), Ip("172.17.0.2"), 5432)},
      {Table::kFilter,
       "BERTH -i berth0 -o berth0 -p udp -s 172.17.0.4 -d 172.17.0.3 --dport 53 "
       "-j ACCEPT",
       LinkForwardRule(Proto::kUdp, br, Ip("172.17.0.4"), Ip("172.17.0.3"), 53)},
      {Table::kFilter,
       "BERTH -i berth0 -o berth0 -p udp -s 172.17.0.3 -d 172.17.0.4 --sport 53 "
       "-j ACCEPT",
       LinkReplyRule(Proto::kUdp, br, Ip("172.17.0.4"), Ip("172.17.0.3"), 53)},
  };
  // The remaining features the Rule type offers, beyond the documented list.
  Rule extra;
  extra.chain = "BERTH";
  extra.source = AddressMatch{Net("10.0.0.0/8"), true};
  extra.in_interface = InterfaceMatch{"eth0", false};
  extra.out_interface = InterfaceMatch{"veth1", true};
  extra.proto = Proto::kUdp;
  extra.source_port = 53;
  extra.destination_port = 1053;
  extra.target = Target::Drop();
  cases.push_back({Table::kFilter,
                   "BERTH ! -s 10.0.0.0/8 -i eth0 ! -o veth1 -p udp --sport 53 "
                   "--dport 1053 -j DROP",
                   extra});
  Rule ret;
  ret.chain = "BERTH";
  ret.destination = AddressMatch{Net("192.168.0.0/16"), true};
  ret.target = Target::Return();
  cases.push_back({Table::kNat, "BERTH ! -d 192.168.0.0/16 -j RETURN", ret});
  return cases;
}

void CreateBerthChains(const ScopedNetns* netns) {
  for (const char* table : {"nat", "filter"}) {
    CommandResult r = Iptables(table, {"-N", "BERTH"}, netns);
    REQUIRE_MESSAGE(r.ok(), r.err);
  }
}

TEST_CASE("every documented rule reads back exactly as iptables-legacy writes it") {
  if (!EnterFreshNetns()) return;
  ScopedNetns oracle;
  REQUIRE(oracle.ok());
  CreateBerthChains(&oracle);

  std::vector<OracleCase> cases = SpecCases();
  // The oracle: the iptables program, one command per rule.
  for (const OracleCase& c : cases) {
    std::vector<std::string> args = {"-A"};
    for (std::string& w : Words(c.command)) args.push_back(std::move(w));
    CommandResult r = Iptables(TableName(c.table), args, &oracle);
    REQUIRE_MESSAGE(r.ok(), c.command << ": " << r.err);
  }
  // berth: one libiptc batch per table.
  for (Table table : {Table::kNat, Table::kFilter}) {
    absl::Status s = ApplyIptables(table, [&](IptablesBatch& b) -> absl::Status {
      if (absl::StatusOr<bool> created = b.EnsureChain("BERTH"); !created.ok()) {
        return created.status();
      }
      for (const OracleCase& c : cases) {
        if (c.table != table) continue;
        if (absl::Status s = b.Append(c.rule); !s.ok()) return s;
      }
      return absl::OkStatus();
    });
    REQUIRE_MESSAGE(s.ok(), s.ToString());
  }

  for (const char* table : {"nat", "filter"}) {
    CAPTURE(table);
    std::vector<std::string> theirs = IptablesS(table, "", &oracle);
    std::vector<std::string> ours = IptablesS(table);
    CHECK(absl::StrJoin(ours, "\n") == absl::StrJoin(theirs, "\n"));
    CHECK(IptablesSave(table) == IptablesSave(table, &oracle));
    for (const std::string& line : ours) {
      CHECK_FALSE(absl::StrContains(line, "unsupported"));
    }
  }
  // Each rule's ToString() is the line -S prints for it.
  for (const OracleCase& c : cases) {
    CAPTURE(c.command);
    std::vector<std::string> lines = IptablesS(TableName(c.table), c.rule.chain);
    CHECK(std::find(lines.begin(), lines.end(), c.rule.ToString()) != lines.end());
  }

  // berth reads the program's rules: each decodes to the rule berth would
  // write, and berth's lookup finds it by its bytes.
  RunInNetns(oracle.name(), [&] {
    for (Table table : {Table::kNat, Table::kFilter}) {
      auto batch = IptablesBatch::Begin(table);
      REQUIRE(batch.ok());
      for (const OracleCase& c : cases) {
        if (c.table != table) continue;
        CAPTURE(c.command);
        absl::StatusOr<int> count = (*batch)->Count(c.rule);
        REQUIRE(count.ok());
        CHECK(*count == 1);
        auto listed = (*batch)->List(c.rule.chain);
        REQUIRE(listed.ok());
        bool decoded = false;
        for (const auto& l : *listed) {
          if (l.rule.has_value() && *l.rule == c.rule.Normalized()) {
            decoded = true;
          }
        }
        CHECK(decoded);
      }
    }
  });

  // The program finds berth's rules (-C compares with its own mask) and
  // deletes them (-D).
  for (const OracleCase& c : cases) {
    CAPTURE(c.command);
    std::vector<std::string> args = {"-C"};
    for (std::string& w : Words(c.command)) args.push_back(std::move(w));
    CHECK(Iptables(TableName(c.table), args).ok());
    args[0] = "-D";
    CHECK(Iptables(TableName(c.table), args).ok());
  }
  CHECK(IptablesS("nat", "BERTH").size() == 1);  // only "-N BERTH"
  CHECK(IptablesS("filter", "BERTH").size() == 1);

  // berth deletes the program's rules.
  RunInNetns(oracle.name(), [&] {
    for (Table table : {Table::kNat, Table::kFilter}) {
      absl::Status s = ApplyIptables(table, [&](IptablesBatch& b) -> absl::Status {
        for (const OracleCase& c : cases) {
          if (c.table != table) continue;
          if (absl::Status s = b.Delete(c.rule); !s.ok()) return s;
        }
        return absl::OkStatus();
      });
      CHECK_MESSAGE(s.ok(), s.ToString());
    }
  });
  CHECK(IptablesS("nat", "BERTH", &oracle).size() == 1);
  CHECK(IptablesS("filter", "BERTH", &oracle).size() == 1);
  CHECK(IptablesS("nat", "POSTROUTING", &oracle).size() == 1);  // -P only
  CHECK(IptablesS("filter", "FORWARD", &oracle).size() == 1);
}

TEST_CASE("a batch commits once, and discards everything when dropped") {
  if (!EnterFreshNetns()) return;
  Rule a = PortAcceptRule(Proto::kTcp, "berth0", Ip("172.17.0.2"), 80);
  Rule b = PortAcceptRule(Proto::kTcp, "berth0", Ip("172.17.0.3"), 81);
  {
    auto batch = IptablesBatch::Begin(Table::kFilter);
    REQUIRE(batch.ok());
    REQUIRE(*(*batch)->EnsureChain("BERTH"));
    REQUIRE((*batch)->Append(a).ok());
    // A failing operation in the middle: deleting a rule that is not there.
    CHECK(absl::IsNotFound((*batch)->Delete(b)));
    // Dropped without Commit.
  }
  CHECK(Iptables("filter", {"-S", "BERTH"}).exit_code != 0);  // no chain

  {
    auto batch = IptablesBatch::Begin(Table::kFilter);
    REQUIRE(batch.ok());
    REQUIRE(*(*batch)->EnsureChain("BERTH"));
    REQUIRE((*batch)->Append(a).ok());
    REQUIRE((*batch)->Append(b).ok());
    REQUIRE((*batch)->Insert(a).ok());
    CHECK(*(*batch)->Count(a) == 2);
    CHECK((*batch)->changed());
    REQUIRE((*batch)->Commit().ok());
    CHECK(absl::IsFailedPrecondition((*batch)->Append(a)));
  }
  std::vector<std::string> lines = IptablesS("filter", "BERTH");
  REQUIRE(lines.size() == 4);
  CHECK(lines[1] == a.ToString());
  CHECK(lines[2] == a.ToString());
  CHECK(lines[3] == b.ToString());

  absl::Status s = ApplyIptables(Table::kFilter, [&](IptablesBatch& batch) -> absl::Status {
    CHECK(*batch.AppendIfAbsent(b) == false);
    CHECK(*batch.InsertIfAbsent(a) == false);
    CHECK(*batch.DeleteAll(a) == 2);
    CHECK(*batch.DeleteIfPresent(a) == false);
    CHECK(*batch.Exists(b));
    if (absl::Status s = batch.FlushChain("BERTH"); !s.ok()) return s;
    return batch.DeleteChain("BERTH");
  });
  CHECK(s.ok());
  CHECK(Iptables("filter", {"-S", "BERTH"}).exit_code != 0);
}

TEST_CASE("bad rules are refused before libiptc sees them") {
  if (!EnterFreshNetns()) return;
  std::string before_nat = IptablesSave("nat");
  std::string before_filter = IptablesSave("filter");
  std::vector<std::pair<Table, Rule>> bad;
  Rule long_iface = IccRule("abcdefghijklmnop", true);  // 16 characters
  bad.push_back({Table::kFilter, long_iface});
  bad.push_back({Table::kFilter, IccRule("br 0", true)});
  bad.push_back({Table::kFilter, IccRule("br'0", true)});
  bad.push_back({Table::kFilter, IccRule("br\"0", true)});
  Rule no_proto;
  no_proto.chain = "FORWARD";
  no_proto.destination_port = 80;
  bad.push_back({Table::kFilter, no_proto});
  Rule port0 = PortAcceptRule(Proto::kTcp, "berth0", Ip("172.17.0.2"), 0);
  bad.push_back({Table::kFilter, port0});
  Rule dnat_in_filter = PortDnatRule(Proto::kTcp, Ipv4Address(), 80, "berth0",
                                     Ip("172.17.0.2"), 80, "FORWARD");
  bad.push_back({Table::kFilter, dnat_in_filter});
  Rule bad_chain = IccRule("berth0", true);
  bad_chain.chain = "A-CHAIN-NAME-THAT-IS-FAR-TOO-LONG";
  bad.push_back({Table::kFilter, bad_chain});
  Rule quoted_chain = IccRule("berth0", true);
  quoted_chain.chain = "BER'TH";
  bad.push_back({Table::kFilter, quoted_chain});
  Rule jump_nowhere = ForwardJumpRule("berth0", "NOSUCHCHAIN");
  bad.push_back({Table::kFilter, jump_nowhere});

  for (const auto& entry : bad) {
    const Table table = entry.first;
    const Rule& rule = entry.second;
    CAPTURE(rule.ToString());
    absl::Status s = ApplyIptables(table, [&](IptablesBatch& b) {
      return b.Append(rule);
    });
    CHECK_FALSE(s.ok());
  }
  absl::Status s = ApplyIptables(Table::kFilter, [&](IptablesBatch& b) {
    return b.Append(long_iface);
  });
  CHECK(absl::StrContains(s.message(), "16 characters long, the limit is 15"));
  CHECK(IptablesSave("nat") == before_nat);
  CHECK(IptablesSave("filter") == before_filter);
}

TEST_CASE("rules berth does not write decode to nothing, and are left alone") {
  if (!EnterFreshNetns()) return;
  REQUIRE(Iptables("filter", {"-N", "BERTH"}).ok());
  // A wildcard interface, a port range, a tcp flag and a foreign target.
  for (const char* cmd :
       {"BERTH -i veth+ -j ACCEPT", "BERTH -p tcp --dport 80:90 -j ACCEPT",
        "BERTH -p tcp --syn -j DROP", "BERTH -p tcp -j REJECT",
        "BERTH -m conntrack --ctstate NEW -j ACCEPT"}) {
    std::vector<std::string> args = {"-A"};
    for (std::string& w : Words(cmd)) args.push_back(std::move(w));
    REQUIRE(Iptables("filter", args).ok());
  }
  auto batch = IptablesBatch::Begin(Table::kFilter);
  REQUIRE(batch.ok());
  auto listed = (*batch)->List("BERTH");
  REQUIRE(listed.ok());
  REQUIRE(listed->size() == 5);
  for (const auto& l : *listed) {
    CAPTURE(l.target);
    CHECK_FALSE(l.rule.has_value());
    if (l.rule.has_value()) MESSAGE(l.rule->ToString());
  }
  CHECK((*listed)[3].target == "REJECT");
}

}  // namespace
}  // namespace berth::net
