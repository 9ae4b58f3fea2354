// Network namespace handles, the veth operations of Netlink, and a
// container's link to the bridge (net/netns.h, net/netlink.h,
// net/container_link.h): in a fresh namespace standing in for the host, with
// named namespaces standing in for containers, checked with the ip program
// and with real TCP traffic.

#include <doctest/doctest.h>

#include <sys/stat.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "net/container_link.h"
#include "net/netlink.h"
#include "net/netns.h"
#include "tests/net/test_util.h"

namespace berth::net {
namespace {

using testing::CommandResult;
using testing::EchoFrom;
using testing::EchoServer;
using testing::EnterFreshNetns;
using testing::Run;
using testing::RunInNetns;
using testing::ScopedNetns;

constexpr char kBridge[] = "br-t0";
const Ipv4Network kBridgeAddress = *Ipv4Network::Parse("10.88.0.1/24");

std::unique_ptr<Netlink> OpenNetlink() {
  absl::StatusOr<std::unique_ptr<Netlink>> nl = Netlink::Open();
  REQUIRE_MESSAGE(nl.ok(), nl.status().ToString());
  return *std::move(nl);
}

Netns OpenNetns(const ScopedNetns& ns) {
  absl::StatusOr<Netns> netns = Netns::Open("/run/netns/" + ns.name());
  REQUIRE_MESSAGE(netns.ok(), netns.status().ToString());
  return *std::move(netns);
}

void Sh(const std::vector<std::string>& argv) {
  CommandResult r = Run(argv);
  REQUIRE_MESSAGE(r.ok(), absl::StrJoin(argv, " ") << ": " << r.err);
}

// The bridge the containers join, up, with its address, in the current
// namespace.
void AddBridge(Netlink& nl, int mtu = 1500) {
  REQUIRE(nl.CreateBridge(kBridge, MacAddress::RandomLocal(), mtu).ok());
  REQUIRE(nl.AddAddress(kBridge, kBridgeAddress).ok());
  REQUIRE(nl.SetUp(kBridge).ok());
}

ContainerLinkConfig ConfigFor(const char* cidr, const char* mac) {
  ContainerLinkConfig config;
  config.bridge = kBridge;
  config.mtu = 1500;
  config.address = *Ipv4Network::Parse(cidr);
  config.gateway = kBridgeAddress.address();
  config.mac = *MacAddress::Parse(mac);
  return config;
}

// The veths of the current namespace, by name.
std::vector<std::string> Veths() {
  CommandResult r = Run({"ip", "-o", "link", "show", "type", "veth"});
  REQUIRE(r.ok());
  std::vector<std::string> names;
  for (absl::string_view line : absl::StrSplit(r.out, '\n', absl::SkipEmpty())) {
    std::vector<std::string> fields = absl::StrSplit(line, ": ");
    if (fields.size() < 2) continue;
    names.push_back(fields[1].substr(0, fields[1].find('@')));
  }
  return names;
}

bool LinkIn(const ScopedNetns& ns, const std::string& name) {
  return ns.Exec({"ip", "link", "show", "dev", name}).ok();
}

TEST_CASE("Netns::Open accepts network namespaces and names what else a file is") {
  if (!EnterFreshNetns()) return;
  ScopedNetns ns;
  REQUIRE(ns.ok());
  Netns opened = OpenNetns(ns);
  CHECK(opened.fd() >= 0);
  CHECK(opened.path() == "/run/netns/" + ns.name());

  absl::StatusOr<Netns> current = Netns::Current();
  REQUIRE(current.ok());
  absl::StatusOr<Netns> again = Netns::Open("/proc/thread-self/ns/net");
  REQUIRE(again.ok());
  CHECK(current->SameAs(*again));
  CHECK_FALSE(current->SameAs(opened));

  struct Case {
    const char* path;
    absl::StatusCode code;
    const char* error;
  };
  for (const Case& c : std::vector<Case>{
           {"/run/netns/berth-t-no-such", absl::StatusCode::kNotFound,
            "'/run/netns/berth-t-no-such' is not a network namespace: No such file or directory"},
           {"/etc/hostname/x", absl::StatusCode::kNotFound,
            "'/etc/hostname/x' is not a network namespace: Not a directory"},
           {"/etc/hostname", absl::StatusCode::kInvalidArgument,
            "'/etc/hostname' is not a network namespace: not a namespace file"},
           {"/", absl::StatusCode::kInvalidArgument,
            "'/' is not a network namespace: not a namespace file"},
           {"/proc/self/ns/mnt", absl::StatusCode::kInvalidArgument,
            "'/proc/self/ns/mnt' is not a network namespace: it is a mount namespace"},
           {"/proc/self/ns/uts", absl::StatusCode::kInvalidArgument,
            "'/proc/self/ns/uts' is not a network namespace: it is a UTS namespace"},
           {"", absl::StatusCode::kNotFound,
            "'' is not a network namespace: No such file or directory"},
       }) {
    CAPTURE(c.path);
    absl::StatusOr<Netns> bad = Netns::Open(c.path);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.status().code() == c.code);
    CHECK(bad.status().message() == c.error);
  }
}

TEST_CASE("RunInside and OpenIn act in the namespace; the caller's never changes") {
  if (!EnterFreshNetns()) return;
  ScopedNetns ns;
  REQUIRE(ns.ok());
  Netns netns = OpenNetns(ns);
  struct stat before;
  REQUIRE(stat("/proc/thread-self/ns/net", &before) == 0);

  // A link only the current namespace has, and one only the other has.
  Sh({"ip", "link", "add", "here0", "type", "veth", "peer", "name", "here1"});
  REQUIRE(ns.Exec({"ip", "link", "add", "there0", "type", "veth", "peer", "name", "there1"}).ok());
  absl::StatusOr<std::unique_ptr<Netlink>> inside = Netlink::OpenIn(netns);
  REQUIRE_MESSAGE(inside.ok(), inside.status().ToString());
  CHECK(*(*inside)->LinkExists("there0"));
  CHECK_FALSE(*(*inside)->LinkExists("here0"));
  // Used from this thread, it still acts there.
  REQUIRE((*inside)->SetUp("there0").ok());
  CHECK(absl::StrContains(ns.Exec({"ip", "link", "show", "there0"}).out, ",UP"));

  absl::Status returned = netns.RunInside([] { return absl::DataLossError("from inside"); });
  CHECK(returned == absl::DataLossError("from inside"));
  struct stat after;
  REQUIRE(stat("/proc/thread-self/ns/net", &after) == 0);
  CHECK(before.st_ino == after.st_ino);
  CHECK(*OpenNetlink()->LinkExists("here0"));
}

TEST_CASE("CreateVeth puts the peer straight into another namespace; SetMaster, AddDefaultRoute") {
  if (!EnterFreshNetns()) return;
  ScopedNetns ns;
  REQUIRE(ns.ok());
  Netns netns = OpenNetns(ns);
  auto nl = OpenNetlink();
  AddBridge(*nl, 1400);

  VethSpec spec;
  spec.name = "vt-host";
  spec.peer_name = "vt-peer";
  spec.mtu = 1400;
  spec.peer_mac = *MacAddress::Parse("02:42:0a:58:00:07");
  spec.peer_netns = &netns;
  REQUIRE(nl->CreateVeth(spec).ok());
  // Either name taken: AlreadyExists.
  CHECK(absl::IsAlreadyExists(nl->CreateVeth(spec)));
  spec.name = "vt-other";
  CHECK(absl::IsAlreadyExists(nl->CreateVeth(spec)));
  CHECK_FALSE(*nl->LinkExists("vt-other"));
  CHECK_FALSE(*nl->LinkExists("vt-peer"));

  absl::StatusOr<LinkInfo> host = nl->GetLink("vt-host");
  REQUIRE(host.ok());
  CHECK(host->kind == "veth");
  CHECK(host->mtu == 1400);
  CHECK(host->master == 0);
  CHECK_FALSE(host->up);
  CommandResult peer = ns.Exec({"ip", "link", "show", "dev", "vt-peer"});
  REQUIRE_MESSAGE(peer.ok(), peer.err);
  CHECK(absl::StrContains(peer.out, "mtu 1400"));
  CHECK(absl::StrContains(peer.out, "link/ether 02:42:0a:58:00:07"));

  REQUIRE(nl->SetMaster("vt-host", kBridge).ok());
  CHECK(nl->GetLink("vt-host")->master == nl->GetLink(kBridge)->index);
  CHECK(absl::StrContains(Run({"ip", "link", "show", "dev", "vt-host"}).out,
                          absl::StrCat("master ", kBridge)));
  absl::Status no_bridge = nl->SetMaster("vt-host", "br-none");
  CHECK(absl::IsNotFound(no_bridge));
  CHECK(absl::StrContains(no_bridge.message(), "br-none"));

  REQUIRE(nl->SetUp("vt-host").ok());
  absl::StatusOr<std::unique_ptr<Netlink>> inside = Netlink::OpenIn(netns);
  REQUIRE(inside.ok());
  REQUIRE((*inside)->AddAddress("vt-peer", *Ipv4Network::Parse("10.88.0.7/24")).ok());
  REQUIRE((*inside)->SetUp("vt-peer").ok());
  REQUIRE((*inside)->AddDefaultRoute(kBridgeAddress.address(), "vt-peer").ok());
  CHECK(ns.Exec({"ip", "route", "show", "default"}).out == "default via 10.88.0.1 dev vt-peer \n");
  absl::Status twice = (*inside)->AddDefaultRoute(kBridgeAddress.address(), "vt-peer");
  CHECK(absl::IsAlreadyExists(twice));
  CHECK(twice.message() ==
        "netlink: add default route via 10.88.0.1 dev vt-peer: Object exists");

  // Deleting the host end takes the peer with it.
  REQUIRE(nl->DeleteLink("vt-host").ok());
  CHECK_FALSE(LinkIn(ns, "vt-peer"));
  CHECK(absl::IsNotFound(nl->DeleteLink("vt-host")));
}

TEST_CASE("ConnectContainer wires eth0 into a namespace; traffic flows; Disconnect removes the pair") {
  if (!EnterFreshNetns()) return;
  ScopedNetns a, b;
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  auto nl = OpenNetlink();
  AddBridge(*nl);

  std::string va = RandomHostVethName();
  std::string vb = RandomHostVethName();
  CHECK(va.size() == 11);
  CHECK(absl::StartsWith(va, "veth"));
  CHECK(va.find_first_not_of("0123456789abcdef", 4) == std::string::npos);
  REQUIRE(va != vb);
  REQUIRE(ConnectContainer(*nl, OpenNetns(a), va,
                           ConfigFor("10.88.0.2/24", "02:42:0a:58:00:02")).ok());
  REQUIRE(ConnectContainer(*nl, OpenNetns(b), vb,
                           ConfigFor("10.88.0.3/24", "02:42:0a:58:00:03")).ok());

  CommandResult eth0 = a.Exec({"ip", "addr", "show", "dev", "eth0"});
  REQUIRE(eth0.ok());
  CHECK(absl::StrContains(eth0.out, "inet 10.88.0.2/24 brd 10.88.0.255"));
  CHECK(absl::StrContains(eth0.out, "link/ether 02:42:0a:58:00:02"));
  CHECK(absl::StrContains(eth0.out, ",UP"));
  CHECK(a.Exec({"ip", "route", "show", "default"}).out == "default via 10.88.0.1 dev eth0 \n");
  CommandResult host = Run({"ip", "link", "show", "dev", va});
  CHECK(absl::StrContains(host.out, "master br-t0"));
  CHECK(absl::StrContains(host.out, ",UP"));

  // b to a through the bridge, and the host (the bridge's address) to a.
  int fd = -1;
  RunInNetns(a.name(), [&] { fd = testing::TcpListen(Ipv4Address(), 7000); });
  REQUIRE(fd >= 0);
  EchoServer server(fd);
  CHECK(EchoFrom(&b, *Ipv4Address::Parse("10.88.0.2"), 7000));
  CHECK(EchoFrom(nullptr, *Ipv4Address::Parse("10.88.0.2"), 7000));
  auto peers = server.Peers();
  REQUIRE(peers.size() == 2);
  CHECK(peers[0].first.ToString() == "10.88.0.3");
  CHECK(peers[1].first.ToString() == "10.88.0.1");

  REQUIRE(DisconnectContainer(*nl, va).ok());
  CHECK_FALSE(*nl->LinkExists(va));
  CHECK_FALSE(LinkIn(a, "eth0"));
  // Already gone: not an error.
  CHECK(DisconnectContainer(*nl, va).ok());
  CHECK(Veths() == std::vector<std::string>{vb});
}

TEST_CASE("ConnectContainer leaves nothing behind when a step fails") {
  if (!EnterFreshNetns()) return;
  ScopedNetns ns;
  REQUIRE(ns.ok());
  auto nl = OpenNetlink();
  AddBridge(*nl);
  Netns netns = OpenNetns(ns);
  const ContainerLinkConfig config = ConfigFor("10.88.0.2/24", "02:42:0a:58:00:02");

  SUBCASE("no such bridge") {
    ContainerLinkConfig bad = config;
    bad.bridge = "br-none";
    absl::Status s = ConnectContainer(*nl, netns, "vethfail001", bad);
    CHECK(absl::IsNotFound(s));
    CHECK(s.message() == "netlink: find link br-none: No such device");
  }
  SUBCASE("a default route already in the namespace") {
    for (const auto& step : std::vector<std::vector<std::string>>{
             {"ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1"},
             {"ip", "addr", "add", "10.5.0.1/24", "dev", "d0"},
             {"ip", "link", "set", "d1", "up"},
             {"ip", "link", "set", "d0", "up"},
             {"ip", "route", "add", "default", "via", "10.5.0.2"}}) {
      CommandResult r = ns.Exec(step);
      REQUIRE_MESSAGE(r.ok(), r.err);
    }
    absl::Status s = ConnectContainer(*nl, netns, "vethfail001", config);
    // Not AlreadyExists: that would tell the caller to draw another name.
    CHECK(absl::IsFailedPrecondition(s));
    CHECK(s.message() == "netlink: add default route via 10.88.0.1 dev eth0: Object exists");
    REQUIRE(ns.Exec({"ip", "link", "del", "d0"}).ok());
  }
  SUBCASE("eth0 already in the namespace") {
    REQUIRE(ns.Exec({"ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth1"}).ok());
    absl::Status s = ConnectContainer(*nl, netns, "vethfail001", config);
    CHECK(absl::IsFailedPrecondition(s));
    CHECK(s.message() == absl::StrCat("'/run/netns/", ns.name(),
                                      "' already has an interface named eth0"));
    // Somebody else's, untouched.
    CHECK(LinkIn(ns, "eth0"));
    CHECK(LinkIn(ns, "eth1"));
    REQUIRE(ns.Exec({"ip", "link", "del", "eth0"}).ok());
  }
  SUBCASE("the host end's name is taken") {
    Sh({"ip", "link", "add", "vethfail001", "type", "veth", "peer", "name", "vethfail002"});
    absl::Status s = ConnectContainer(*nl, netns, "vethfail001", config);
    CHECK(absl::IsAlreadyExists(s));
    // Somebody else's, untouched.
    CHECK(*nl->LinkExists("vethfail001"));
    CHECK(*nl->LinkExists("vethfail002"));
    CHECK_FALSE(LinkIn(ns, "eth0"));
    Sh({"ip", "link", "del", "vethfail001"});
  }
  CHECK(Veths().empty());
  CHECK(ns.Exec({"ip", "-o", "link", "show", "type", "veth"}).out.empty());
}

TEST_CASE("a pair whose container namespace died is gone: Disconnect succeeds") {
  if (!EnterFreshNetns()) return;
  auto nl = OpenNetlink();
  AddBridge(*nl);
  std::optional<ScopedNetns> ns(std::in_place);
  REQUIRE(ns->ok());
  std::string veth = RandomHostVethName();
  {
    Netns netns = OpenNetns(*ns);
    REQUIRE(ConnectContainer(*nl, netns, veth,
                             ConfigFor("10.88.0.2/24", "02:42:0a:58:00:02")).ok());
  }
  ns.reset();  // ip netns del: the last reference to the namespace
  CHECK(testing::WaitFor([&] { return !*nl->LinkExists(veth); }));
  CHECK(DisconnectContainer(*nl, veth).ok());
}

}  // namespace
}  // namespace berth::net
