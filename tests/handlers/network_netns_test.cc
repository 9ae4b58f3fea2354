// allocate_interface with NetNs: the container's namespace gets eth0 on a
// veth pair to the bridge, release_interface and shutdown_networkdriver take
// it away again, and a failure at any point leaves nothing behind. The test's
// fresh namespace hosts the driver (the host); named namespaces stand in for
// the containers' (what berthd gets as /proc/<pid>/ns/net). Checked with the
// ip program and with real TCP traffic.

#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/handlers/network_test_util.h"
#include "tests/net/test_util.h"

namespace berth::testing {
namespace {

using net::Ipv4Address;
using net::testing::CommandResult;
using net::testing::EchoFrom;
using net::testing::EchoServer;
using net::testing::EnterFreshNetns;
using net::testing::RunInNetns;
using net::testing::ScopedNetns;

std::string NetnsPath(const ScopedNetns& ns) { return "/run/netns/" + ns.name(); }

std::string Allocate(const std::string& id, const ScopedNetns& ns, const std::string& extra = "") {
  return absl::StrCat("allocate_interface ", id, " NetNs=", NetnsPath(ns), extra.empty() ? "" : " ", extra);
}

// The veths of the driver's namespace, by name.
std::vector<std::string> HostVeths() {
  CommandResult r = net::testing::Run({"ip", "-o", "link", "show", "type", "veth"});
  REQUIRE(r.ok());
  std::vector<std::string> names;
  for (absl::string_view line : absl::StrSplit(r.out, '\n', absl::SkipEmpty())) {
    std::vector<std::string> fields = absl::StrSplit(line, ": ");
    if (fields.size() >= 2) names.push_back(fields[1].substr(0, fields[1].find('@')));
  }
  return names;
}

// `ip -n NAME ...`: the ip program's view of a container's namespace.
CommandResult IpIn(const ScopedNetns& ns, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"ip", "-n", ns.name()};
  argv.insert(argv.end(), args.begin(), args.end());
  return net::testing::Run(argv);
}

std::unique_ptr<EchoServer> ServeEcho(const ScopedNetns& ns, uint16_t port) {
  std::unique_ptr<EchoServer> server = net::testing::ServeEchoIn(ns.name(), port);
  REQUIRE(server != nullptr);
  return server;
}

TEST_CASE("allocate_interface NetNs wires two containers to the bridge; traffic flows; release unwires") {
  if (!EnterFreshNetns()) return;
  NetworkFixture f;
  // Not the default MTU, so that the ends are seen to take the bridge's.
  JobOutcome init = f.Run("init_networkdriver Mtu=1400");
  REQUIRE_MESSAGE(init.ok(), init.error);
  ScopedNetns a, b;
  REQUIRE(a.ok());
  REQUIRE(b.ok());

  JobOutcome ia = f.Run(Allocate("ca", a));
  REQUIRE_MESSAGE(ia.ok(), ia.error);
  const std::string veth_a = ia.env.Get("HostVeth");
  // veth + 7 lowercase hex digits (by hand: <regex> trips GCC's
  // maybe-uninitialized under the sanitizers).
  CHECK(veth_a.size() == 11);
  CHECK(veth_a.rfind("veth", 0) == 0);
  CHECK(veth_a.find_first_not_of("0123456789abcdef", 4) == std::string::npos);
  CHECK(ia.env.Map() == std::map<std::string, std::string>{
                            {"IP", "172.17.0.2"},
                            {"Mask", "ffff0000"},
                            {"IPPrefixLen", "16"},
                            {"Gateway", "172.17.42.1"},
                            {"Bridge", "berth0"},
                            {"MacAddress", "02:42:ac:11:00:02"},
                            {"HostVeth", veth_a},
                        });
  JobOutcome ib = f.Run(Allocate("cb", b, "RequestedMac=02:42:00:00:00:0b"));
  REQUIRE_MESSAGE(ib.ok(), ib.error);
  const std::string veth_b = ib.env.Get("HostVeth");
  CHECK(ib.env.Get("IP") == "172.17.0.3");
  CHECK(veth_b != veth_a);

  // Inside: eth0 with the MAC, the address with the bridge's prefix, the
  // bridge's MTU, up, and the default route via the gateway.
  CommandResult addr = IpIn(a, {"addr", "show", "dev", "eth0"});
  REQUIRE_MESSAGE(addr.ok(), addr.err);
  CHECK(absl::StrContains(addr.out, "inet 172.17.0.2/16 brd 172.17.255.255 scope global eth0"));
  CHECK(absl::StrContains(addr.out, "link/ether 02:42:ac:11:00:02"));
  CHECK(absl::StrContains(addr.out, "mtu 1400"));
  CHECK(absl::StrContains(addr.out, ",UP"));
  CHECK(absl::StrContains(IpIn(b, {"link", "show", "dev", "eth0"}).out, "link/ether 02:42:00:00:00:0b"));
  CHECK(IpIn(a, {"route", "show", "default"}).out == "default via 172.17.42.1 dev eth0 \n");
  CHECK(IpIn(b, {"route", "show", "default"}).out == "default via 172.17.42.1 dev eth0 \n");
  // Outside: both host ends on the bridge, up, with its MTU.
  for (const std::string& veth : {veth_a, veth_b}) {
    CAPTURE(veth);
    CommandResult link = net::testing::Run({"ip", "link", "show", "dev", veth});
    REQUIRE(link.ok());
    CHECK(absl::StrContains(link.out, "master berth0"));
    CHECK(absl::StrContains(link.out, "mtu 1400"));
    CHECK(absl::StrContains(link.out, ",UP"));
  }
  CHECK(absl::StrContains(net::testing::Run({"ip", "link", "show", "master", "berth0"}).out, veth_a));

  // Container to container through the bridge (icc on), and the host to a
  // container.
  std::unique_ptr<EchoServer> server_b = ServeEcho(b, 5000);
  std::unique_ptr<EchoServer> server_a = ServeEcho(a, 6000);
  CHECK(EchoFrom(&a, *Ipv4Address::Parse("172.17.0.3"), 5000));
  CHECK(EchoFrom(nullptr, *Ipv4Address::Parse("172.17.0.2"), 6000));
  CHECK(EchoFrom(&b, *Ipv4Address::Parse("172.17.0.2"), 6000));
  REQUIRE(server_b->Peers().size() == 1);
  CHECK(server_b->Peers()[0].first.ToString() == "172.17.0.2");
  REQUIRE(server_a->Peers().size() == 2);
  CHECK(server_a->Peers()[0].first.ToString() == "172.17.42.1");

  // Release: the host end goes (and eth0 with it), the address is free.
  REQUIRE(f.Run("release_interface ca").ok());
  CHECK_FALSE(LinkExists(veth_a));
  CHECK_FALSE(IpIn(a, {"link", "show", "dev", "eth0"}).ok());
  CHECK(HostVeths() == std::vector<std::string>{veth_b});
  CHECK_FALSE(EchoFrom(&b, *Ipv4Address::Parse("172.17.0.2"), 6000, absl::Milliseconds(500)));
  JobOutcome reuse = f.Run(Allocate("cc", a, "RequestedIP=172.17.0.2"));
  REQUIRE_MESSAGE(reuse.ok(), reuse.error);
  CHECK(EchoFrom(&b, *Ipv4Address::Parse("172.17.0.2"), 6000));

  // Shutdown removes the veths the driver still knows.
  REQUIRE(f.Run("shutdown_networkdriver").ok());
  CHECK(HostVeths().empty());
  CHECK_FALSE(IpIn(a, {"link", "show", "dev", "eth0"}).ok());
  CHECK_FALSE(IpIn(b, {"link", "show", "dev", "eth0"}).ok());
}

TEST_CASE("allocate_interface NetNs: a bad namespace or a failed step leaves no veth, address or record") {
  if (!EnterFreshNetns()) return;
  NetworkFixture f;
  REQUIRE(f.Run("init_networkdriver").ok());
  ScopedNetns ns;
  REQUIRE(ns.ok());

  struct Case {
    std::string path;
    std::string error;
  };
  for (const Case& c : std::vector<Case>{
           {"/run/netns/berth-t-no-such",
            "NetNs: '/run/netns/berth-t-no-such' is not a network namespace: No such file or directory"},
           {"/etc/hostname", "NetNs: '/etc/hostname' is not a network namespace: not a namespace file"},
           {"/proc/self/ns/mnt", "NetNs: '/proc/self/ns/mnt' is not a network namespace: it is a mount namespace"},
           // The jobs run on this thread: its namespace is the driver's.
           {"/proc/thread-self/ns/net",
            "NetNs: '/proc/thread-self/ns/net' is the network driver's own namespace: a container needs a "
            "namespace of its own"},
       }) {
    CAPTURE(c.path);
    JobOutcome o = f.Run(absl::StrCat("allocate_interface c1 NetNs=", c.path));
    CHECK(o.status == 1);
    CHECK(o.error == c.error);
    CHECK(o.env.empty());
    CHECK(f.Run("release_interface c1").error == "No network information to release for c1");
  }
  CHECK(HostVeths().empty());

  // Failures after the pair was made: it is deleted again, the address
  // returned (requesting it works) and no record stays.
  SUBCASE("eth0 already in the container's namespace") {
    REQUIRE(ns.Exec({"ip", "link", "add", "eth0", "type", "veth", "peer", "name", "eth1"}).ok());
    JobOutcome o = f.Run(Allocate("c1", ns));
    CHECK(o.status == 1);
    CHECK(o.error == absl::StrCat("connecting container c1 to berth0: '", NetnsPath(ns),
                                  "' already has an interface named eth0"));
    REQUIRE(ns.Exec({"ip", "link", "del", "eth0"}).ok());
  }
  SUBCASE("a default route already in the container's namespace") {
    for (const auto& step : std::vector<std::vector<std::string>>{
             {"ip", "link", "add", "d0", "type", "veth", "peer", "name", "d1"},
             {"ip", "addr", "add", "10.5.0.1/24", "dev", "d0"},
             {"ip", "link", "set", "d1", "up"},
             {"ip", "link", "set", "d0", "up"},
             {"ip", "route", "add", "default", "via", "10.5.0.2"}}) {
      CommandResult r = ns.Exec(step);
      REQUIRE_MESSAGE(r.ok(), r.err);
    }
    JobOutcome o = f.Run(Allocate("c1", ns));
    CHECK(o.status == 1);
    CHECK(o.error ==
          "connecting container c1 to berth0: netlink: add default route via 172.17.42.1 dev eth0: Object exists");
    CHECK_FALSE(IpIn(ns, {"link", "show", "dev", "eth0"}).ok());
    REQUIRE(ns.Exec({"ip", "link", "del", "d0"}).ok());
  }
  CHECK(HostVeths().empty());
  CHECK(f.Run("release_interface c1").error == "No network information to release for c1");
  // The first address is still the next one: nothing kept it.
  JobOutcome ok = f.Run(Allocate("c1", ns, "RequestedIP=172.17.0.2"));
  REQUIRE_MESSAGE(ok.ok(), ok.error);
  CHECK(HostVeths() == std::vector<std::string>{ok.env.Get("HostVeth")});
}

TEST_CASE("allocate_interface NetNs: a bad path takes nothing, the next allocation gets the same address") {
  if (!EnterFreshNetns()) return;
  NetworkFixture f;
  REQUIRE(f.Run("init_networkdriver").ok());
  JobOutcome bad = f.Run("allocate_interface c1 NetNs=/run/netns/berth-t-no-such");
  CHECK(bad.status == 1);
  JobOutcome first = f.Run("allocate_interface c1");
  REQUIRE_MESSAGE(first.ok(), first.error);
  CHECK(first.env.Get("IP") == "172.17.0.2");
  // Without NetNs nothing is wired and there is no HostVeth.
  CHECK_FALSE(first.env.Exists("HostVeth"));
  CHECK(HostVeths().empty());
}

TEST_CASE("release_interface after the container's namespace died: the pair is gone, release succeeds") {
  if (!EnterFreshNetns()) return;
  NetworkFixture f;
  REQUIRE(f.Run("init_networkdriver").ok());
  std::optional<ScopedNetns> ns(std::in_place);
  REQUIRE(ns->ok());
  JobOutcome o = f.Run(Allocate("c1", *ns));
  REQUIRE_MESSAGE(o.ok(), o.error);
  const std::string veth = o.env.Get("HostVeth");
  REQUIRE(LinkExists(veth));
  ns.reset();  // the container's init exits: its namespace goes, with the pair
  CHECK(net::testing::WaitFor([&] { return !LinkExists(veth); }));
  JobOutcome released = f.Run("release_interface c1");
  CHECK_MESSAGE(released.ok(), released.error);
  CHECK(f.Run("allocate_interface c2 RequestedIP=172.17.0.2").ok());
}

}  // namespace
}  // namespace berth::testing
