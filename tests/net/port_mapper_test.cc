// Port mappings: the three rules against the iptables program, undo on
// every failure, dynamic retries, shared rules, reservations after restart.

#include <doctest/doctest.h>

#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "net/bridge_firewall.h"
#include "net/iptables.h"
#include "net/port_allocator.h"
#include "net/port_mapper.h"
#include "net/userland_proxy.h"
#include "net/validate.h"
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
using testing::TcpListen;
using testing::Words;

Ipv4Address Ip(const char* s) { return *Ipv4Address::Parse(s); }
Ipv4Network Net(const char* s) { return *Ipv4Network::Parse(s); }

FirewallConfig Config() {
  FirewallConfig c;
  c.bridge = "berth0";
  c.network = Net("172.17.42.1/16");
  return c;
}

PortMapper::MapRequest Req(const char* owner, Proto proto, const char* host_ip,
                           uint16_t host_port, const char* container_ip,
                           uint16_t container_port) {
  PortMapper::MapRequest r;
  r.owner = owner;
  r.proto = proto;
  r.host_ip = Ip(host_ip);
  r.host_port = host_port;
  r.container_ip = Ip(container_ip);
  r.container_port = container_port;
  return r;
}

struct Fixture {
  explicit Fixture(bool with_proxy = false, bool iptables = true) {
    if (iptables) {
      absl::StatusOr<FirewallReport> fw = SetUpFirewall(Config());
      REQUIRE_MESSAGE(fw.ok(), fw.status().ToString());
    }
    if (with_proxy) {
      auto p = ProxyServer::Start();
      REQUIRE(p.ok());
      proxy = *std::move(p);
    }
    PortMapperOptions options;
    options.bridge = "berth0";
    options.allocator = &allocator;
    options.proxy = proxy.get();
    options.enable_iptables = iptables;
    auto m = PortMapper::Create(options);
    REQUIRE(m.ok());
    mapper = *std::move(m);
  }
  PortAllocator allocator;
  std::unique_ptr<ProxyServer> proxy;
  std::unique_ptr<PortMapper> mapper;
};

void OracleRun(const ScopedNetns& ns, const std::string& table,
               const std::string& line) {
  CommandResult r = Iptables(table, Words(line), &ns);
  REQUIRE_MESSAGE(r.ok(), line << ": " << r.err);
}

TEST_CASE("Map writes the three documented rules; Unmap removes exactly them") {
  if (!EnterFreshNetns()) return;
  Fixture f;
  std::string clean_nat = IptablesSave("nat");
  std::string clean_filter = IptablesSave("filter");

  absl::StatusOr<PortMapping> tcp =
      f.mapper->Map(Req("c1", Proto::kTcp, "0.0.0.0", 8080, "172.17.0.2", 80));
  REQUIRE_MESSAGE(tcp.ok(), tcp.status().ToString());
  CHECK(tcp->host_port == 8080);
  CHECK(tcp->active);
  absl::StatusOr<PortMapping> udp =
      f.mapper->Map(Req("c2", Proto::kUdp, "10.0.0.1", 0, "172.17.0.3", 53));
  REQUIRE(udp.ok());
  CHECK(udp->host_port == 49153);

  ScopedNetns oracle;
  RunInNetns(oracle.name(), [] { REQUIRE(SetUpFirewall(Config()).ok()); });
  OracleRun(oracle, "nat",
            "-A BERTH -p tcp -d 0/0 --dport 8080 ! -i berth0 -j DNAT "
            "--to-destination 172.17.0.2:80");
  OracleRun(oracle, "nat",
            "-A POSTROUTING -p tcp -s 172.17.0.2 -d 172.17.0.2 --dport 80 -j "
            "MASQUERADE");
  OracleRun(oracle, "filter",
            "-A BERTH ! -i berth0 -o berth0 -p tcp -d 172.17.0.2 --dport 80 -j "
            "ACCEPT");
  OracleRun(oracle, "nat",
            "-A BERTH -p udp -d 10.0.0.1 --dport 49153 ! -i berth0 -j DNAT "
            "--to-destination 172.17.0.3:53");
  OracleRun(oracle, "nat",
            "-A POSTROUTING -p udp -s 172.17.0.3 -d 172.17.0.3 --dport 53 -j "
            "MASQUERADE");
  OracleRun(oracle, "filter",
            "-A BERTH ! -i berth0 -o berth0 -p udp -d 172.17.0.3 --dport 53 -j "
            "ACCEPT");
  CHECK(IptablesSave("nat") == IptablesSave("nat", &oracle));
  CHECK(IptablesSave("filter") == IptablesSave("filter", &oracle));
  CHECK(f.mapper->Mappings().size() == 2);

  REQUIRE(f.mapper->Unmap(Proto::kTcp, Ipv4Address(), 8080).ok());
  REQUIRE(f.mapper->Unmap(Proto::kUdp, Ip("10.0.0.1"), 49153).ok());
  CHECK(IptablesSave("nat") == clean_nat);
  CHECK(IptablesSave("filter") == clean_filter);
  CHECK_FALSE(f.allocator.IsAllocated(Ipv4Address(), Proto::kTcp, 8080));
  CHECK(absl::IsNotFound(f.mapper->Unmap(Proto::kTcp, Ipv4Address(), 8080)));
  CHECK(f.mapper->Mappings().empty());
}

TEST_CASE("a failure half-way undoes everything already done") {
  if (!EnterFreshNetns()) return;
  // Only the nat chain exists: the filter rule cannot be added.
  REQUIRE(ApplyIptables(Table::kNat, [](IptablesBatch& b) {
            return b.EnsureChain("BERTH").status();
          }).ok());
  PortAllocator allocator;
  auto proxy = ProxyServer::Start();
  REQUIRE(proxy.ok());
  PortMapperOptions options;
  options.allocator = &allocator;
  options.proxy = proxy->get();
  auto mapper = PortMapper::Create(options);
  REQUIRE(mapper.ok());
  std::string nat = IptablesSave("nat");
  std::string filter = IptablesSave("filter");

  absl::StatusOr<PortMapping> m =
      (*mapper)->Map(Req("c1", Proto::kTcp, "0.0.0.0", 8080, "172.17.0.2", 80));
  CHECK_FALSE(m.ok());
  CHECK(absl::StrContains(m.status().message(), "filter"));
  CHECK(IptablesSave("nat") == nat);
  CHECK(IptablesSave("filter") == filter);
  CHECK_FALSE(allocator.IsAllocated(Ipv4Address(), Proto::kTcp, 8080));
  CHECK((*mapper)->Mappings().empty());
  // The proxy let go of the port too.
  int fd = TcpListen(Ipv4Address(), 8080);
  CHECK(fd >= 0);
  if (fd >= 0) close(fd);
}

TEST_CASE("a port held outside berth: explicit fails clean, dynamic moves on") {
  if (!EnterFreshNetns()) return;
  Fixture f(/*with_proxy=*/true);
  std::string nat = IptablesSave("nat");
  std::string filter = IptablesSave("filter");
  int held = TcpListen(Ipv4Address(), 8080);
  REQUIRE(held >= 0);
  absl::StatusOr<PortMapping> m =
      f.mapper->Map(Req("c1", Proto::kTcp, "0.0.0.0", 8080, "172.17.0.2", 80));
  CHECK(absl::IsAlreadyExists(m.status()));
  CHECK(m.status().message() ==
        "Error starting userland proxy: listen tcp 0.0.0.0:8080: bind: "
        "address already in use");
  CHECK(IptablesSave("nat") == nat);
  CHECK(IptablesSave("filter") == filter);
  CHECK_FALSE(f.allocator.IsAllocated(Ipv4Address(), Proto::kTcp, 8080));
  close(held);

  int held2 = TcpListen(Ipv4Address(), 49153);
  REQUIRE(held2 >= 0);
  absl::StatusOr<PortMapping> dyn =
      f.mapper->Map(Req("c1", Proto::kTcp, "0.0.0.0", 0, "172.17.0.2", 80));
  REQUIRE(dyn.ok());
  CHECK(dyn->host_port == 49154);
  CHECK_FALSE(f.allocator.IsAllocated(Ipv4Address(), Proto::kTcp, 49153));
  std::vector<std::string> dnat = IptablesS("nat", "BERTH");
  REQUIRE(dnat.size() == 2);
  CHECK(absl::StrContains(dnat[1], "--dport 49154"));
  close(held2);
}

TEST_CASE("explicit ports: the documented conflict message; identical rules stay paired") {
  if (!EnterFreshNetns()) return;
  Fixture f;
  REQUIRE(f.mapper->Map(Req("c1", Proto::kTcp, "0.0.0.0", 8080, "172.17.0.2", 80)).ok());
  absl::StatusOr<PortMapping> again =
      f.mapper->Map(Req("c2", Proto::kTcp, "10.0.0.1", 8080, "172.17.0.3", 80));
  CHECK(again.status().message() ==
        "Bind for 10.0.0.1:8080 failed: port is already allocated");

  // A second host port for the same container port: the filter ACCEPT and
  // the hairpin MASQUERADE are identical, so there are two copies...
  REQUIRE(f.mapper->Map(Req("c1", Proto::kTcp, "0.0.0.0", 8081, "172.17.0.2", 80)).ok());
  CHECK(IptablesS("filter", "BERTH").size() == 3);
  CHECK(IptablesS("nat", "POSTROUTING").size() == 4);  // -P, masq, 2 hairpins
  // ...and unmapping one leaves the other's in place.
  REQUIRE(f.mapper->Unmap(Proto::kTcp, Ipv4Address(), 8080).ok());
  std::vector<std::string> accept = IptablesS("filter", "BERTH");
  REQUIRE(accept.size() == 2);
  CHECK(accept[1] ==
        "-A BERTH -d 172.17.0.2/32 ! -i berth0 -o berth0 -p tcp -m tcp --dport 80 "
        "-j ACCEPT");
  std::vector<std::string> dnat = IptablesS("nat", "BERTH");
  REQUIRE(dnat.size() == 2);
  CHECK(absl::StrContains(dnat[1], "--dport 8081"));
  CHECK(IptablesS("nat", "POSTROUTING").size() == 3);
}

TEST_CASE("reservations after a restart, and releasing a container's ports") {
  if (!EnterFreshNetns()) return;
  Fixture f;
  PortMapping saved;
  saved.owner = "c1";
  saved.proto = Proto::kTcp;
  saved.host_port = 49160;
  saved.container_ip = Ip("172.17.0.2");
  saved.container_port = 80;
  REQUIRE(f.mapper->Reserve(saved).ok());
  CHECK(f.allocator.IsAllocated(Ipv4Address(), Proto::kTcp, 49160));
  CHECK(IptablesS("nat", "BERTH").size() == 1);  // no rules for a reservation
  CHECK(f.mapper->Reserve(saved).message() ==
        "Bind for 0.0.0.0:49160 failed: port is already allocated");

  // Nobody else gets it, not even dynamically...
  CHECK(f.mapper->Map(Req("c2", Proto::kTcp, "0.0.0.0", 49160, "172.17.0.3", 80))
            .status()
            .message() == "Bind for 0.0.0.0:49160 failed: port is already allocated");
  for (int i = 0; i < 10; ++i) {
    absl::StatusOr<PortMapping> m =
        f.mapper->Map(Req("c2", Proto::kTcp, "0.0.0.0", 0, "172.17.0.3", 80));
    REQUIRE(m.ok());
    CHECK(m->host_port != 49160);
  }
  // ...but its owner does, possibly with a new container address.
  absl::StatusOr<PortMapping> own =
      f.mapper->Map(Req("c1", Proto::kTcp, "0.0.0.0", 49160, "172.17.0.9", 80));
  REQUIRE(own.ok());
  CHECK(own->active);
  REQUIRE(f.mapper->Map(Req("c1", Proto::kUdp, "0.0.0.0", 5353, "172.17.0.9", 53)).ok());
  CHECK(f.mapper->Mappings().size() == 12);

  REQUIRE(f.mapper->UnmapOwner("c1").ok());
  CHECK(f.mapper->Mappings().size() == 10);
  for (const std::string& line : IptablesS("nat", "BERTH")) {
    CHECK_FALSE(absl::StrContains(line, "172.17.0.9"));
  }
  CHECK_FALSE(f.allocator.IsAllocated(Ipv4Address(), Proto::kTcp, 49160));
  REQUIRE(f.mapper->UnmapAll().ok());
  CHECK(IptablesS("nat", "BERTH").size() == 1);
  CHECK(IptablesS("filter", "BERTH").size() == 1);
  CHECK(IptablesS("nat", "POSTROUTING").size() == 2);  // -P and the masq
}

TEST_CASE("bad values are refused with the documented errors and write no rule") {
  if (!EnterFreshNetns()) return;
  Fixture f;
  std::string nat = IptablesSave("nat");
  std::string filter = IptablesSave("filter");

  // The handler's parsing step, value by value.
  CHECK(ParseHostPort("70000").status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(ParseProto("sctp").status().message() == "unsupported address type sctp");
  CHECK(ParseHostIp("999.1.1.1", Ipv4Address()).status().message() ==
        "Bad parameter: invalid host ip 999.1.1.1");
  CHECK(ParseHostIp("1.2.3.4\"", Ipv4Address()).status().message() ==
        "Bad parameter: invalid host ip 1.2.3.4\"");
  CHECK_FALSE(ParsePort("80 ").ok());

  // Typed values that still make no sense.
  CHECK(f.mapper->Map(Req("c1", Proto::kTcp, "0.0.0.0", 8080, "172.17.0.2", 0))
            .status()
            .code() == absl::StatusCode::kInvalidArgument);
  CHECK(f.mapper->Map(Req("c1", Proto::kTcp, "0.0.0.0", 8080, "0.0.0.0", 80))
            .status()
            .code() == absl::StatusCode::kInvalidArgument);
  PortAllocator allocator;
  for (const char* bridge : {"abcdefghijklmnop", "br 0", "br'0", ""}) {
    PortMapperOptions options;
    options.bridge = bridge;
    options.allocator = &allocator;
    CHECK(PortMapper::Create(options).status().code() ==
          absl::StatusCode::kInvalidArgument);
  }
  CHECK(IptablesSave("nat") == nat);
  CHECK(IptablesSave("filter") == filter);
  CHECK_FALSE(f.allocator.IsAllocated(Ipv4Address(), Proto::kTcp, 8080));
}

TEST_CASE("with --iptables=false only the allocation and the proxy remain") {
  if (!EnterFreshNetns()) return;
  Fixture f(/*with_proxy=*/true, /*iptables=*/false);
  std::string nat = IptablesSave("nat");
  absl::StatusOr<PortMapping> m =
      f.mapper->Map(Req("c1", Proto::kTcp, "127.0.0.1", 8080, "172.17.0.2", 80));
  REQUIRE(m.ok());
  CHECK(IptablesSave("nat") == nat);
  CHECK(TcpListen(Ip("127.0.0.1"), 8080) < 0);  // the proxy holds it
  REQUIRE(f.mapper->Unmap(Proto::kTcp, Ip("127.0.0.1"), 8080).ok());
  int fd = TcpListen(Ip("127.0.0.1"), 8080);
  CHECK(fd >= 0);
  if (fd >= 0) close(fd);
}

}  // namespace
}  // namespace berth::net
