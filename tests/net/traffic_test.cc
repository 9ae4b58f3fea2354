// Real traffic proves the rules work, not just that they exist: containers
// (named namespaces on the bridge), a client outside (a namespace routed
// through the host), and the test process's own namespace as the host.

#include <doctest/doctest.h>

#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "net/bridge.h"
#include "net/bridge_firewall.h"
#include "net/firewall.h"
#include "net/link_rules.h"
#include "net/netlink.h"
#include "net/port_allocator.h"
#include "net/port_mapper.h"
#include "net/userland_proxy.h"
#include "tests/net/test_util.h"

namespace berth::net {
namespace {

using testing::CommandResult;
using testing::EchoFrom;
using testing::EchoServer;
using testing::EnterFreshNetns;
using testing::FakeContainer;
using testing::RecvDatagram;
using testing::RecvN;
using testing::Run;
using testing::RunInNetns;
using testing::ScopedNetns;
using testing::SendAll;
using testing::SendDatagram;
using testing::TcpConnect;
using testing::TcpListen;
using testing::UdpBind;

Ipv4Address Ip(const char* s) { return *Ipv4Address::Parse(s); }
Ipv4Network Net(const char* s) { return *Ipv4Network::Parse(s); }

const Ipv4Address kGateway = Ip("172.17.42.1");
const Ipv4Address kOutsideHost = Ip("10.99.0.1");
const Ipv4Address kOutsideClient = Ip("10.99.0.2");

// Every case runs once per firewall backend (a doctest subcase each).
FirewallBackend PickBackend() {
  FirewallBackend backend = FirewallBackend::kIptables;
  SUBCASE("iptables") {}
  SUBCASE("nftables") { backend = FirewallBackend::kNftables; }
  return backend;
}

// The daemon's side: bridge, forwarding, firewall, proxy and mapper, as
// init_networkdriver sets them up.
struct Host {
  Host(FirewallBackend backend, bool icc) : backend(backend) {
    auto nl = Netlink::Open();
    REQUIRE(nl.ok());
    netlink = *std::move(nl);
    absl::StatusOr<BridgeSetup> setup = SetUpBridge(*netlink, BridgeOptions());
    REQUIRE_MESSAGE(setup.ok(), setup.status().ToString());
    REQUIRE(setup->address == Net("172.17.42.1/16"));
    REQUIRE(EnableIpForward().ok());
    SetIcc(icc);
    auto p = ProxyServer::Start();
    REQUIRE(p.ok());
    proxy = *std::move(p);
    PortMapperOptions options;
    options.allocator = &allocator;
    options.proxy = proxy.get();
    options.firewall = firewall;
    auto m = PortMapper::Create(options);
    REQUIRE(m.ok());
    mapper = *std::move(m);
  }
  void SetIcc(bool icc) {
    FirewallConfig config;
    config.network = Net("172.17.42.1/16");
    config.icc = icc;
    auto made = MakeFirewall(backend, config);
    REQUIRE(made.ok());
    absl::StatusOr<FirewallReport> fw = (*made)->SetUp();
    REQUIRE_MESSAGE(fw.ok(), fw.status().ToString());
    firewall = made->get();
    // Earlier objects stay alive: the mapper refers to the first.
    firewalls.push_back(*std::move(made));
  }
  absl::Status Link(const LinkRequest& request) {
    return firewall->ApplyLinks(absl::MakeConstSpan(&request, 1));
  }
  FirewallBackend backend;
  std::vector<std::unique_ptr<Firewall>> firewalls;
  Firewall* firewall = nullptr;
  std::unique_ptr<Netlink> netlink;
  PortAllocator allocator;
  std::unique_ptr<ProxyServer> proxy;
  std::unique_ptr<PortMapper> mapper;
};

// A client outside the host: its own namespace, a veth to the host, routed
// through it (like a machine on the host's LAN).
struct Outside {
  Outside() {
    REQUIRE(ns.ok());
    for (const auto& step : std::vector<std::vector<std::string>>{
             {"ip", "link", "add", "vo0", "type", "veth", "peer", "name", "eth0",
              "netns", ns.name()},
             {"ip", "addr", "add", "10.99.0.1/24", "dev", "vo0"},
             {"ip", "link", "set", "vo0", "up"}}) {
      CommandResult r = Run(step);
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

int ListenIn(const ScopedNetns& ns, uint16_t port) {
  int fd = -1;
  RunInNetns(ns.name(), [&] { fd = TcpListen(Ipv4Address(), port); });
  REQUIRE(fd >= 0);
  return fd;
}

int UdpIn(const ScopedNetns& ns, uint16_t port) {
  int fd = -1;
  RunInNetns(ns.name(), [&] { fd = UdpBind(Ipv4Address(), port); });
  REQUIRE(fd >= 0);
  return fd;
}

// How long a blocked connection attempt is given. SYNs to a DROP rule are
// never answered, so this is the deadline after which the attempt counts as
// blocked; a working path answers in well under a millisecond here.
constexpr absl::Duration kBlocked = absl::Milliseconds(1500);

TEST_CASE("icc on lets containers talk; icc off blocks; links open one port") {
  FirewallBackend backend = PickBackend();
  if (!EnterFreshNetns()) return;
  Host host(backend, /*icc=*/true);
  FakeContainer a("berth0", Net("172.17.0.2/16"), kGateway);
  FakeContainer b("berth0", Net("172.17.0.3/16"), kGateway);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  EchoServer web(ListenIn(a.netns(), 80));
  EchoServer admin(ListenIn(a.netns(), 81));
  EchoServer b_web(ListenIn(b.netns(), 80));

  CHECK(EchoFrom(&b.netns(), a.ip(), 80));
  CHECK(EchoFrom(&b.netns(), a.ip(), 81));
  CHECK(EchoFrom(&a.netns(), b.ip(), 80));

  host.SetIcc(false);
  CHECK_FALSE(EchoFrom(&b.netns(), a.ip(), 80, kBlocked));
  CHECK_FALSE(EchoFrom(&b.netns(), a.ip(), 81, kBlocked));

  absl::StatusOr<LinkRequest> link =
      ParseLinkRequest("-A", "172.17.0.3", "172.17.0.2", {"80/tcp"}, false);
  REQUIRE(link.ok());
  REQUIRE(host.Link(*link).ok());
  CHECK(EchoFrom(&b.netns(), a.ip(), 80));
  CHECK_FALSE(EchoFrom(&b.netns(), a.ip(), 81, kBlocked));  // not linked
  CHECK_FALSE(EchoFrom(&a.netns(), b.ip(), 80, kBlocked));   // one direction

  link->action = LinkAction::kDelete;
  REQUIRE(host.Link(*link).ok());
  CHECK_FALSE(EchoFrom(&b.netns(), a.ip(), 80, kBlocked));
}

TEST_CASE("a client outside reaches a container through a DNAT'ed host port") {
  FirewallBackend backend = PickBackend();
  if (!EnterFreshNetns()) return;
  Host host(backend, /*icc=*/true);
  FakeContainer a("berth0", Net("172.17.0.2/16"), kGateway);
  REQUIRE(a.ok());
  Outside outside;
  EchoServer web(ListenIn(a.netns(), 80));

  PortMapper::MapRequest req;
  req.owner = "a";
  req.host_port = 8080;
  req.container_ip = a.ip();
  req.container_port = 80;
  REQUIRE(host.mapper->Map(req).ok());
  req.host_ip = kOutsideHost;
  req.host_port = 8081;
  REQUIRE(host.mapper->Map(req).ok());

  CHECK(EchoFrom(&outside.ns, kOutsideHost, 8080));
  CHECK(EchoFrom(&outside.ns, kOutsideHost, 8081));
  // The container saw the client's own address: the packets were DNAT'ed,
  // not carried by the proxy.
  auto peers = web.Peers();
  REQUIRE(peers.size() == 2);
  CHECK(peers[0].first == kOutsideClient);
  CHECK(peers[1].first == kOutsideClient);

  // The host itself through 127.0.0.1: the OUTPUT jump excludes 127/8, so
  // the userland proxy carries it (the container sees the gateway).
  CHECK(EchoFrom(nullptr, Ip("127.0.0.1"), 8080));
  peers = web.Peers();
  REQUIRE(peers.size() == 3);
  CHECK(peers[2].first == kGateway);

  REQUIRE(host.mapper->Unmap(Proto::kTcp, Ipv4Address(), 8080).ok());
  CHECK_FALSE(EchoFrom(&outside.ns, kOutsideHost, 8080, kBlocked));
  CHECK_FALSE(EchoFrom(nullptr, Ip("127.0.0.1"), 8080, kBlocked));
  CHECK(EchoFrom(&outside.ns, kOutsideHost, 8081));
}

TEST_CASE("the host through its own address, and a container through its own "
          "published port (hairpin)") {
  FirewallBackend backend = PickBackend();
  if (!EnterFreshNetns()) return;
  Host host(backend, /*icc=*/true);
  FakeContainer a("berth0", Net("172.17.0.2/16"), kGateway);
  FakeContainer b("berth0", Net("172.17.0.3/16"), kGateway);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  Outside outside;
  EchoServer web(ListenIn(a.netns(), 80));

  PortMapper::MapRequest req;
  req.owner = "a";
  req.host_port = 8080;
  req.container_ip = a.ip();
  req.container_port = 80;
  REQUIRE(host.mapper->Map(req).ok());
  // A second host port to the same container port: shared rules (hairpin,
  // accept) must survive unmapping one of the two.
  req.host_port = 8082;
  REQUIRE(host.mapper->Map(req).ok());

  // The host to its own non-loopback address: the OUTPUT DNAT.
  CHECK(EchoFrom(nullptr, kOutsideHost, 8080));
  // The container to the host's address and its own published port, and
  // another container to the gateway's: the DNAT skips traffic from the
  // bridge, so the userland proxy carries both (from the gateway).
  CHECK(EchoFrom(&a.netns(), kOutsideHost, 8080));
  CHECK(EchoFrom(&b.netns(), kGateway, 8080));
  auto peers = web.Peers();
  REQUIRE(peers.size() == 3);
  CHECK(peers[1].first == kGateway);
  CHECK(peers[2].first == kGateway);

  REQUIRE(host.mapper->Unmap(Proto::kTcp, Ipv4Address(), 8082).ok());
  CHECK(EchoFrom(&outside.ns, kOutsideHost, 8080));
  CHECK(EchoFrom(&a.netns(), kOutsideHost, 8080));
  REQUIRE(host.mapper->Unmap(Proto::kTcp, Ipv4Address(), 8080).ok());
  CHECK_FALSE(EchoFrom(&outside.ns, kOutsideHost, 8080, kBlocked));
}

TEST_CASE("UDP reaches a container through a mapped port, both paths") {
  FirewallBackend backend = PickBackend();
  if (!EnterFreshNetns()) return;
  Host host(backend, /*icc=*/true);
  FakeContainer a("berth0", Net("172.17.0.2/16"), kGateway);
  REQUIRE(a.ok());
  Outside outside;
  EchoServer dns(UdpIn(a.netns(), 53), /*udp=*/true);

  PortMapper::MapRequest req;
  req.owner = "a";
  req.proto = Proto::kUdp;
  req.host_port = 5353;
  req.container_ip = a.ip();
  req.container_port = 53;
  REQUIRE(host.mapper->Map(req).ok());

  int client = UdpIn(outside.ns, 0);
  REQUIRE(SendDatagram(client, kOutsideHost, 5353, "query-1"));
  Ipv4Address from;
  uint16_t from_port = 0;
  CHECK(RecvDatagram(client, absl::Seconds(5), &from, &from_port) == "query-1");
  CHECK(from == kOutsideHost);
  CHECK(from_port == 5353);
  close(client);

  int local = UdpBind(Ip("127.0.0.1"), 0);
  REQUIRE(local >= 0);
  REQUIRE(SendDatagram(local, Ip("127.0.0.1"), 5353, "query-2"));
  CHECK(RecvDatagram(local, absl::Seconds(5), &from, &from_port) == "query-2");
  CHECK(from == Ip("127.0.0.1"));
  CHECK(from_port == 5353);
  close(local);

  auto peers = dns.Peers();
  REQUIRE(peers.size() == 2);
  CHECK(peers[0].first == kOutsideClient);
  CHECK(peers[1].first == kGateway);
}

}  // namespace
}  // namespace berth::net
