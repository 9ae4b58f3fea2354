// Real TCP traffic through what the network jobs set up: a container (a named
// namespace on berth0 with the address and MAC allocate_interface gave it), a
// client outside the host (a namespace routed through it), and the test's own
// namespace as the host. Proves the rules work, not only that they exist.

#include <doctest/doctest.h>

#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/handlers/network_test_util.h"
#include "tests/net/test_util.h"

namespace berth::testing {
namespace {

using net::Ipv4Address;
using net::Ipv4Network;
using net::testing::CommandResult;
using net::testing::EchoFrom;
using net::testing::EchoServer;
using net::testing::EnterFreshNetns;
using net::testing::FakeContainer;
using net::testing::RecvN;
using net::testing::RunInNetns;
using net::testing::ScopedNetns;
using net::testing::SendAll;
using net::testing::TcpConnect;
using net::testing::TcpListen;

const Ipv4Address kOutsideHost = *Ipv4Address::Parse("10.99.0.1");
const Ipv4Address kOutsideClient = *Ipv4Address::Parse("10.99.0.2");

// How long a blocked connection attempt is given: SYNs that no rule lets
// through are never answered, so this is the deadline after which the attempt
// counts as blocked; a working path answers in well under a millisecond.
constexpr absl::Duration kBlocked = absl::Milliseconds(1500);

// A client outside the host: its own namespace with a veth to the host,
// routed through it (like a machine on the host's LAN).
struct Outside {
  Outside() {
    REQUIRE(ns.ok());
    for (const auto& step : std::vector<std::vector<std::string>>{
             {"ip", "link", "add", "vo0", "type", "veth", "peer", "name", "eth0", "netns", ns.name()},
             {"ip", "addr", "add", "10.99.0.1/24", "dev", "vo0"},
             {"ip", "link", "set", "vo0", "up"}}) {
      CommandResult r = net::testing::Run(step);
      REQUIRE_MESSAGE(r.ok(), absl::StrJoin(step, " ") << ": " << r.err);
    }
    for (const auto& step : std::vector<std::vector<std::string>>{
             {"ip", "addr", "add", "10.99.0.2/24", "dev", "eth0"},
             {"ip", "link", "set", "eth0", "up"},
             {"ip", "route", "add", "default", "via", "10.99.0.1"}}) {
      CommandResult r = ns.Exec(step);
      REQUIRE_MESSAGE(r.ok(), absl::StrJoin(step, " ") << ": " << r.err);
    }
  }
  ScopedNetns ns;
};

// A container made from allocate_interface's env: the address with the
// bridge's prefix, its MAC, a default route through the gateway.
struct Container {
  Container(NetworkFixture& f, const std::string& id)
      : iface(f.Run(absl::StrCat("allocate_interface ", id))) {
    REQUIRE_MESSAGE(iface.ok(), iface.error);
    absl::StatusOr<Ipv4Network> address = Ipv4Network::Parse(
        absl::StrCat(iface.env.Get("IP"), "/", iface.env.Get("IPPrefixLen")));
    absl::StatusOr<Ipv4Address> gateway = Ipv4Address::Parse(iface.env.Get("Gateway"));
    REQUIRE(address.ok());
    REQUIRE(gateway.ok());
    fake = std::make_unique<FakeContainer>(iface.env.Get("Bridge"), *address, *gateway);
    REQUIRE(fake->ok());
    CommandResult mac = fake->netns().Exec(
        {"ip", "link", "set", "eth0", "address", iface.env.Get("MacAddress")});
    REQUIRE_MESSAGE(mac.ok(), mac.err);
  }
  Ipv4Address ip() const { return fake->ip(); }
  const ScopedNetns& netns() const { return fake->netns(); }

  JobOutcome iface;
  std::unique_ptr<FakeContainer> fake;
};

// Every case runs once per firewall backend (a doctest subcase each); the jobs
// do not know which one runs, only init_networkdriver's Firewall names it.
std::string PickFirewall() {
  std::string firewall = "iptables";
  SUBCASE("iptables") {}
  SUBCASE("nftables") { firewall = "nftables"; }
  return firewall;
}

std::unique_ptr<EchoServer> ServeEcho(const Container& c, uint16_t port) {
  std::unique_ptr<EchoServer> server = net::testing::ServeEchoIn(c.netns().name(), port);
  REQUIRE(server != nullptr);
  return server;
}

TEST_CASE("allocate_port: an outside client (DNAT) and the host (proxy) reach the container") {
  std::string firewall = PickFirewall();
  if (!EnterFreshNetns()) return;
  NetworkFixture f;
  JobOutcome init = f.Run("init_networkdriver Firewall=" + firewall);
  REQUIRE_MESSAGE(init.ok(), init.error);
  CHECK(init.env.Get("Firewall") == firewall);
  Container web(f, "web");
  CHECK(web.ip().ToString() == "172.17.0.2");
  Outside outside;
  std::unique_ptr<EchoServer> server = ServeEcho(web, 80);

  JobOutcome port = f.Run("allocate_port web HostPort=0 ContainerPort=80 Proto=tcp");
  REQUIRE_MESSAGE(port.ok(), port.error);
  REQUIRE(port.env.Get("HostPort") == "49153");
  const uint16_t host_port = 49153;

  CHECK(EchoFrom(&outside.ns, kOutsideHost, host_port));
  // The container saw the client's own address: DNAT, not the proxy.
  auto peers = server->Peers();
  REQUIRE(peers.size() == 1);
  CHECK(peers[0].first == kOutsideClient);

  // The host talking to itself is not DNAT'ed (OUTPUT excludes 127/8): the
  // userland proxy carries it, so the container sees the bridge address.
  CHECK(EchoFrom(nullptr, *Ipv4Address::Parse("127.0.0.1"), host_port));
  peers = server->Peers();
  REQUIRE(peers.size() == 2);
  CHECK(peers[1].first.ToString() == "172.17.42.1");

  // Released: neither path works any more.
  REQUIRE(f.Run("release_interface web").ok());
  CHECK_FALSE(EchoFrom(&outside.ns, kOutsideHost, host_port, kBlocked));
  CHECK_FALSE(EchoFrom(nullptr, *Ipv4Address::Parse("127.0.0.1"), host_port, kBlocked));
}

TEST_CASE("link opens one port between containers when icc is off") {
  std::string firewall = PickFirewall();
  if (!EnterFreshNetns()) return;
  NetworkFixture f;
  REQUIRE(f.Run("init_networkdriver InterContainerCommunication=false Firewall=" + firewall).ok());
  Container db(f, "db");
  Container app(f, "app");
  std::unique_ptr<EchoServer> s5432 = ServeEcho(db, 5432);
  std::unique_ptr<EchoServer> s22 = ServeEcho(db, 22);

  CHECK_FALSE(EchoFrom(&app.netns(), db.ip(), 5432, kBlocked));
  std::string link = absl::StrCat("ParentIP=", app.ip().ToString(), " ChildIP=",
                                  db.ip().ToString(), " Ports='[\"5432/tcp\"]'");
  REQUIRE(f.Run("link -A " + link).ok());
  CHECK(EchoFrom(&app.netns(), db.ip(), 5432));
  CHECK_FALSE(EchoFrom(&app.netns(), db.ip(), 22, kBlocked));
  REQUIRE(f.Run("link -D " + link).ok());
  CHECK_FALSE(EchoFrom(&app.netns(), db.ip(), 5432, kBlocked));
}

}  // namespace
}  // namespace berth::testing
