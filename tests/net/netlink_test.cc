// Netlink operations and the bridge set-up (docs/networking.md, "The bridge"), in private
// namespaces.

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "net/bridge.h"
#include "net/netlink.h"
#include "tests/net/test_util.h"

namespace berth::net {
namespace {

using testing::CommandResult;
using testing::EnterFreshNetns;
using testing::Run;

Ipv4Network Net(const char* s) { return *Ipv4Network::Parse(s); }

std::unique_ptr<Netlink> OpenNetlink() {
  absl::StatusOr<std::unique_ptr<Netlink>> nl = Netlink::Open();
  REQUIRE_MESSAGE(nl.ok(), nl.status().ToString());
  return *std::move(nl);
}

void Sh(const std::vector<std::string>& argv) {
  CommandResult r = Run(argv);
  REQUIRE_MESSAGE(r.ok(), absl::StrJoin(argv, " ") << ": " << r.err);
}

// A veth pair v0/v1, both up, with `cidr` on v0: a route to that network.
void AddRoutedVeth(const std::string& cidr, int mtu = 1500) {
  Sh({"ip", "link", "add", "v0", "mtu", std::to_string(mtu), "type", "veth",
      "peer", "name", "v1"});
  Sh({"ip", "addr", "add", cidr, "dev", "v0"});
  Sh({"ip", "link", "set", "v0", "up"});
  Sh({"ip", "link", "set", "v1", "up"});
}

TEST_CASE("netlink creates, configures, lists and deletes a bridge") {
  if (!EnterFreshNetns()) return;
  auto nl = OpenNetlink();
  MacAddress mac = *MacAddress::Parse("02:aa:bb:cc:dd:ee");
  REQUIRE(nl->CreateBridge("br-t0", mac, 1400).ok());
  CHECK(absl::IsAlreadyExists(nl->CreateBridge("br-t0", mac, 1400)));

  absl::StatusOr<LinkInfo> link = nl->GetLink("br-t0");
  REQUIRE(link.ok());
  CHECK(link->kind == "bridge");
  CHECK(link->mtu == 1400);
  CHECK(link->mac == mac);
  CHECK_FALSE(link->up);

  REQUIRE(nl->AddAddress("br-t0", Net("10.77.0.1/24")).ok());
  REQUIRE(nl->SetUp("br-t0").ok());
  REQUIRE(nl->SetMtu("br-t0", 1300).ok());
  link = nl->GetLink("br-t0");
  CHECK(link->up);
  CHECK(link->mtu == 1300);

  absl::StatusOr<std::vector<Ipv4Network>> addrs = nl->Ipv4Addresses("br-t0");
  REQUIRE(addrs.ok());
  REQUIRE(addrs->size() == 1);
  CHECK((*addrs)[0] == Net("10.77.0.1/24"));

  // The independent view: the ip program.
  CommandResult shown = Run({"ip", "-d", "addr", "show", "dev", "br-t0"});
  REQUIRE(shown.ok());
  CHECK(absl::StrContains(shown.out, "link/ether 02:aa:bb:cc:dd:ee"));
  CHECK(absl::StrContains(shown.out, "inet 10.77.0.1/24 brd 10.77.0.255"));
  CHECK(absl::StrContains(shown.out, "mtu 1300"));
  CHECK(absl::StrContains(shown.out, "bridge"));

  absl::StatusOr<std::vector<Ipv4Network>> routes = nl->Ipv4Routes();
  REQUIRE(routes.ok());
  bool has_route = false;
  for (const auto& r : *routes) has_route |= r == Net("10.77.0.0/24");
  CHECK(has_route);

  REQUIRE(nl->DeleteLink("br-t0").ok());
  CHECK_FALSE(*nl->LinkExists("br-t0"));
  CHECK(absl::IsNotFound(nl->DeleteLink("br-t0")));
  CHECK(absl::IsNotFound(nl->GetLink("br-t0").status()));
  CHECK(absl::IsNotFound(nl->SetUp("br-t0")));
}

TEST_CASE("netlink refuses bad names and MTUs without touching anything") {
  if (!EnterFreshNetns()) return;
  auto nl = OpenNetlink();
  MacAddress mac = MacAddress::RandomLocal();
  for (const char* bad : {"abcdefghijklmnop", "br 0", "br'0", "", "a/b"}) {
    CAPTURE(bad);
    CHECK(nl->CreateBridge(bad, mac, 1500).code() ==
          absl::StatusCode::kInvalidArgument);
  }
  CHECK(nl->CreateBridge("ok0", mac, 10).code() ==
        absl::StatusCode::kInvalidArgument);
  CommandResult links = Run({"ip", "-o", "link", "show"});
  CHECK(absl::StrContains(links.out, "lo:"));
  CHECK_FALSE(absl::StrContains(links.out, "ok0"));
}

TEST_CASE("MTU of the default-route interface") {
  if (!EnterFreshNetns()) return;
  auto nl = OpenNetlink();
  CHECK(absl::IsNotFound(nl->DefaultRouteMtu().status()));
  AddRoutedVeth("10.88.0.2/24", 1450);
  Sh({"ip", "route", "add", "default", "via", "10.88.0.1"});
  absl::StatusOr<int> mtu = nl->DefaultRouteMtu();
  REQUIRE(mtu.ok());
  CHECK(*mtu == 1450);
  // The default route is not among the networks a bridge must avoid.
  absl::StatusOr<std::vector<Ipv4Network>> routes = nl->Ipv4Routes();
  REQUIRE(routes.ok());
  CHECK_FALSE(routes->empty());
  for (const auto& r : *routes) CHECK(r.prefix_length() > 0);
}

TEST_CASE("candidate selection skips nameservers and routes") {
  std::vector<Ipv4Network> none;
  CHECK(*ChooseBridgeNetwork("berth0", none, none) == Net("172.17.42.1/16"));

  std::vector<std::string> skipped;
  absl::StatusOr<Ipv4Network> n = ChooseBridgeNetwork(
      "berth0", {Net("10.0.42.53/32")}, {Net("172.17.5.0/24")}, &skipped);
  REQUIRE(n.ok());
  CHECK(*n == Net("10.1.42.1/16"));
  REQUIRE(skipped.size() == 2);
  CHECK(absl::StrContains(skipped[0], "172.17.42.1/16"));
  CHECK(absl::StrContains(skipped[0],
                          "requested network overlaps with existing network"));
  CHECK(absl::StrContains(skipped[1], "10.0.42.1/16"));
  CHECK(absl::StrContains(skipped[1],
                          "requested network overlaps with nameserver"));

  absl::Status ns = CheckNameserverOverlap(Net("10.0.0.1/8"), {Net("10.2.3.4/32")});
  CHECK(absl::StartsWith(ns.message(), "requested network overlaps with nameserver"));
  CHECK(absl::StrContains(ns.message(), "10.2.3.4"));
  absl::Status rt = CheckRouteOverlap(Net("10.0.0.1/8"), {Net("10.9.0.0/16")});
  CHECK(absl::StartsWith(rt.message(),
                         "requested network overlaps with existing network"));
  CHECK(absl::StrContains(rt.message(), "10.9.0.0/16"));
  CHECK(CheckRouteOverlap(Net("10.0.0.1/8"), {Net("11.0.0.0/8")}).ok());

  absl::StatusOr<Ipv4Network> full = ChooseBridgeNetwork(
      "berth0", none, {Net("0.0.0.0/1"), Net("128.0.0.0/1")});
  CHECK(full.status().message() ==
        "Could not find a free IP address range for interface 'berth0'. "
        "Please configure its address manually and run 'berthd -b berth0'");
}

TEST_CASE("SetUpBridge creates the default bridge on the first free range") {
  if (!EnterFreshNetns()) return;
  auto nl = OpenNetlink();
  AddRoutedVeth("172.17.5.1/24");  // overlaps the first candidate
  BridgeOptions options;
  options.mtu = 1450;
  options.nameservers = {"10.0.42.53", "2001:db8::1"};  // overlaps the second
  options.mac = *MacAddress::Parse("02:42:00:00:00:01");
  absl::StatusOr<BridgeSetup> setup = SetUpBridge(*nl, options);
  REQUIRE_MESSAGE(setup.ok(), setup.status().ToString());
  CHECK(setup->created);
  CHECK(setup->name == "berth0");
  CHECK(setup->address == Net("10.1.42.1/16"));
  CHECK(setup->notes.size() == 3);  // two skips and the creation

  LinkInfo link = *nl->GetLink("berth0");
  CHECK(link.kind == "bridge");
  CHECK(link.up);
  CHECK(link.mtu == 1450);
  CHECK(link.mac.ToString() == "02:42:00:00:00:01");
  CHECK(*nl->Ipv4Addresses("berth0") == std::vector<Ipv4Network>{Net("10.1.42.1/16")});

  // A second start finds it and changes nothing.
  absl::StatusOr<BridgeSetup> again = SetUpBridge(*nl, options);
  REQUIRE(again.ok());
  CHECK_FALSE(again->created);
  CHECK(again->address == Net("10.1.42.1/16"));
}

TEST_CASE("SetUpBridge reports when every candidate is taken") {
  if (!EnterFreshNetns()) return;
  auto nl = OpenNetlink();
  AddRoutedVeth("192.0.2.1/24");
  Sh({"ip", "route", "add", "0.0.0.0/1", "dev", "v0"});
  Sh({"ip", "route", "add", "128.0.0.0/1", "dev", "v0"});
  absl::StatusOr<BridgeSetup> setup = SetUpBridge(*nl, BridgeOptions());
  CHECK(setup.status().message() ==
        "Could not find a free IP address range for interface 'berth0'. "
        "Please configure its address manually and run 'berthd -b berth0'");
  CHECK_FALSE(*nl->LinkExists("berth0"));
}

TEST_CASE("--bip: created as given, checked against routes and nameservers") {
  if (!EnterFreshNetns()) return;
  auto nl = OpenNetlink();
  BridgeOptions options;
  options.bridge_ip = Net("10.20.0.1/16");
  absl::StatusOr<BridgeSetup> setup = SetUpBridge(*nl, options);
  REQUIRE(setup.ok());
  CHECK(setup->created);
  CHECK(*nl->Ipv4Addresses("berth0") == std::vector<Ipv4Network>{Net("10.20.0.1/16")});
  REQUIRE(nl->DeleteLink("berth0").ok());

  AddRoutedVeth("10.20.7.1/24");
  absl::StatusOr<BridgeSetup> overlap = SetUpBridge(*nl, options);
  CHECK(absl::StartsWith(overlap.status().message(),
                         "requested network overlaps with existing network"));
  CHECK_FALSE(*nl->LinkExists("berth0"));

  options.bridge_ip = Net("10.30.0.1/16");
  options.nameservers = {"10.30.0.53"};
  absl::StatusOr<BridgeSetup> ns = SetUpBridge(*nl, options);
  CHECK(absl::StartsWith(ns.status().message(),
                         "requested network overlaps with nameserver"));
  CHECK_FALSE(*nl->LinkExists("berth0"));

  options.bridge_ip = Net("10.40.0.1/31");
  options.nameservers.clear();
  CHECK(SetUpBridge(*nl, options).status().code() ==
        absl::StatusCode::kInvalidArgument);
}

TEST_CASE("-b: the bridge must exist; --bip must match it") {
  if (!EnterFreshNetns()) return;
  auto nl = OpenNetlink();
  BridgeOptions options;
  options.name = "mybr";
  options.user_named = true;
  absl::StatusOr<BridgeSetup> missing = SetUpBridge(*nl, options);
  CHECK(absl::IsNotFound(missing.status()));
  CHECK(absl::StrContains(missing.status().message(), "mybr"));
  CHECK_FALSE(*nl->LinkExists("mybr"));

  Sh({"ip", "link", "add", "mybr", "type", "bridge"});
  absl::StatusOr<BridgeSetup> no_addr = SetUpBridge(*nl, options);
  CHECK(absl::StrContains(no_addr.status().message(), "has no IPv4 address"));

  Sh({"ip", "addr", "add", "10.9.0.1/24", "dev", "mybr"});
  absl::StatusOr<BridgeSetup> found = SetUpBridge(*nl, options);
  REQUIRE(found.ok());
  CHECK_FALSE(found->created);
  CHECK(found->address == Net("10.9.0.1/24"));

  options.bridge_ip = Net("10.8.0.1/24");
  absl::StatusOr<BridgeSetup> mismatch = SetUpBridge(*nl, options);
  CHECK(mismatch.status().message() ==
        "bridge ip (10.8.0.1/24) does not match existing bridge configuration "
        "10.9.0.1/24");
  options.bridge_ip = Net("10.9.0.1/24");
  CHECK(SetUpBridge(*nl, options).ok());

  // The default bridge, existing, is checked the same way.
  Sh({"ip", "link", "add", "berth0", "type", "bridge"});
  Sh({"ip", "addr", "add", "10.50.0.1/16", "dev", "berth0"});
  BridgeOptions def;
  def.bridge_ip = Net("10.51.0.1/16");
  CHECK(def.user_named == false);
  CHECK(SetUpBridge(*nl, def).status().message() ==
        "bridge ip (10.51.0.1/16) does not match existing bridge configuration "
        "10.50.0.1/16");

  BridgeOptions bad;
  bad.name = "abcdefghijklmnop";
  CHECK(absl::StrContains(SetUpBridge(*nl, bad).status().message(),
                          "16 characters long"));
  CHECK_FALSE(*nl->LinkExists("abcdefghijklmno"));
}

}  // namespace
}  // namespace berth::net
