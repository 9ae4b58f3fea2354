// init_networkdriver and shutdown_networkdriver through a real Engine, in a
// fresh network namespace per test case: bridge selection, -b, --bip, the
// fixed rules as `iptables-legacy -S` prints them, reconciliation of a crashed
// run's rules, ip_forward, repeated calls, and the errors of bad values.

#include <doctest/doctest.h>

#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "tests/handlers/network_test_util.h"
#include "tests/net/test_util.h"

namespace berth::testing {
namespace {

using net::testing::CommandResult;
using net::testing::EnterFreshNetns;
using net::testing::Iptables;
using net::testing::Words;

constexpr absl::string_view kNotInit =
    "network driver not initialized: run init_networkdriver first";

void Sh(const std::string& line) {
  CommandResult r = net::testing::Run(Words(line));
  REQUIRE_MESSAGE(r.ok(), line << ": " << r.err);
}

// A veth pair with `addresses` on one end, both ends up: the kernel adds
// a route for each address's network, as any interface of the host would.
void AddRoutedLink(const std::vector<std::string>& addresses) {
  Sh("ip link add rt0 type veth peer name rt1");
  for (const std::string& a : addresses) Sh("ip addr add " + a + " dev rt0");
  Sh("ip link set rt1 up");
  Sh("ip link set rt0 up");
}

std::string ReadIpForward() {
  return std::string(absl::StripTrailingAsciiWhitespace(
      ReadFileOrEmpty("/proc/sys/net/ipv4/ip_forward")));
}

const std::vector<std::string> kNatFixed = {
    "-A PREROUTING -m addrtype --dst-type LOCAL -j BERTH",
    "-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j BERTH",
    "-A POSTROUTING -s 172.17.0.0/16 ! -o berth0 -j MASQUERADE",
};

std::vector<std::string> ForwardRules(absl::string_view verdict) {
  return {
      "-A FORWARD -o berth0 -j BERTH",
      "-A FORWARD -o berth0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
      "-A FORWARD -i berth0 ! -o berth0 -j ACCEPT",
      absl::StrCat("-A FORWARD -i berth0 -o berth0 -j ", verdict),
  };
}

std::vector<std::string> NatRules() {
  std::vector<std::string> all;
  for (const char* chain : {"PREROUTING", "OUTPUT", "POSTROUTING", "BERTH"}) {
    for (std::string& r : Rules("nat", chain)) all.push_back(std::move(r));
  }
  return all;
}

TEST_CASE("init_networkdriver creates berth0 on the first candidate with the fixed rules") {
  if (!EnterFreshNetns()) return;
  NetworkFixture f;
  REQUIRE(!LinkExists("berth0"));
  JobOutcome init = f.Run("init_networkdriver");
  REQUIRE_MESSAGE(init.ok(), init.error);
  CHECK(init.env.Get("Bridge") == "berth0");
  CHECK(init.env.Get("BridgeIP") == "172.17.42.1/16");
  CHECK(init.env.Get("Gateway") == "172.17.42.1");
  CHECK(init.env.Get("Network") == "172.17.0.0/16");
  CHECK(init.env.Get("Mask") == "ffff0000");
  CHECK(init.env.Get("IPPrefixLen") == "16");
  CHECK(init.env.Get("FixedCIDR") == "");
  // No default route in a fresh namespace: the fallback MTU.
  CHECK(init.env.Get("Mtu") == "1500");
  CHECK(init.env.GetBool("BridgeCreated"));
  CHECK(init.env.GetBool("IpForward"));
  CHECK(init.env.Get("ChainsCreated") == "2");
  CHECK(init.env.Get("StaleRulesRemoved") == "0");
  CHECK(init.env.Get("Warnings") == "[]");
  CHECK(LinkExists("berth0"));
  CHECK(ReadIpForward() == "1");

  CHECK(NatRules() == kNatFixed);
  CHECK(Rules("filter", "FORWARD") == ForwardRules("ACCEPT"));
  CHECK(Rules("filter", "BERTH").empty());
  CHECK(Rules("nat", "BERTH").empty());

  // The four other jobs work now; shutdown makes them refuse again.
  JobOutcome iface = f.Run("allocate_interface c1");
  CHECK_MESSAGE(iface.ok(), iface.error);
  REQUIRE(f.Run("shutdown_networkdriver").ok());
  CHECK(f.Run("allocate_interface c2").error == kNotInit);
  // The bridge and the fixed rules stay for the next start.
  CHECK(LinkExists("berth0"));
  CHECK(NatRules() == kNatFixed);
}

TEST_CASE("the other four jobs fail until init_networkdriver has succeeded") {
  if (!EnterFreshNetns()) return;
  NetworkFixture f;
  for (const char* line :
       {"allocate_interface c1", "release_interface c1",
        "allocate_port c1 HostPort=80 ContainerPort=80 Proto=tcp",
        "link -A ParentIP=172.17.0.2 ChildIP=172.17.0.3 Ports=80/tcp",
        // Bad values too: the first thing a caller must learn is to init.
        "allocate_port c1 HostPort=abc"}) {
    CAPTURE(line);
    JobOutcome o = f.Run(line);
    CHECK(o.status == 1);
    CHECK(o.error == kNotInit);
  }
  // A failed init leaves the driver uninitialised.
  JobOutcome bad = f.Run("init_networkdriver BridgeIface=nosuchbr0");
  CHECK(bad.status == 1);
  CHECK(f.Run("allocate_interface c1").error == kNotInit);
  // Shutting down what never started is fine.
  CHECK(f.Run("shutdown_networkdriver").ok());
  CHECK(f.Run("shutdown_networkdriver").ok());
}

TEST_CASE("candidates overlapping a nameserver or a route are skipped") {
  if (!EnterFreshNetns()) return;
  SUBCASE("nameserver") {
    NetworkFixture f({}, "# local\nnameserver 172.17.0.53\nnameserver 10.0.1.1\n");
    JobOutcome init = f.Run("init_networkdriver");
    REQUIRE_MESSAGE(init.ok(), init.error);
    // 172.17.42.1/16 holds the first, 10.0.42.1/16 the second nameserver.
    CHECK(init.env.Get("BridgeIP") == "10.1.42.1/16");
    std::vector<std::string> notes = init.env.GetList("Notes");
    REQUIRE(notes.size() == 3);
    CHECK(notes[0] ==
          "skipped 172.17.42.1/16: requested network overlaps with nameserver: "
          "172.17.0.0/16 contains nameserver 172.17.0.53");
    CHECK(absl::StartsWith(notes[1], "skipped 10.0.42.1/16: requested network overlaps with nameserver"));
    CHECK(absl::StartsWith(notes[2], "created bridge berth0 with 10.1.42.1/16"));
  }
  SUBCASE("route") {
    AddRoutedLink({"172.17.200.1/16"});
    NetworkFixture f;
    JobOutcome init = f.Run("init_networkdriver");
    REQUIRE_MESSAGE(init.ok(), init.error);
    CHECK(init.env.Get("BridgeIP") == "10.0.42.1/16");
    CHECK(init.env.GetList("Notes")[0] ==
          "skipped 172.17.42.1/16: requested network overlaps with existing "
          "network: 172.17.0.0/16 overlaps the route to 172.17.0.0/16");
    CHECK(Rules("nat", "POSTROUTING") ==
          std::vector<std::string>{
              "-A POSTROUTING -s 10.0.0.0/16 ! -o berth0 -j MASQUERADE"});
  }
  SUBCASE("none free") {
    AddRoutedLink({"10.0.0.1/8", "172.16.0.1/12", "192.168.0.1/16"});
    NetworkFixture f;
    std::string before = SaveAll();
    JobOutcome init = f.Run("init_networkdriver");
    CHECK(init.status == 1);
    CHECK(init.error ==
          "Could not find a free IP address range for interface 'berth0'. "
          "Please configure its address manually and run 'berthd -b berth0'");
    CHECK(!LinkExists("berth0"));
    CHECK(SaveAll() == before);
  }
}

TEST_CASE("-b: the named bridge must exist and is used as it is") {
  if (!EnterFreshNetns()) return;
  NetworkFixture f;
  SUBCASE("missing") {
    std::string before = SaveAll();
    JobOutcome init = f.Run("init_networkdriver BridgeIface=br-missing");
    CHECK(init.status == 1);
    CHECK(init.error ==
          "bridge br-missing does not exist: a bridge named with -b must be "
          "created beforehand");
    CHECK(!LinkExists("br-missing"));
    CHECK(SaveAll() == before);
  }
  SUBCASE("existing") {
    Sh("ip link add brx type bridge");
    Sh("ip addr add 10.20.0.1/16 dev brx");
    Sh("ip link set brx mtu 1400");
    Sh("ip link set brx up");
    JobOutcome init = f.Run("init_networkdriver BridgeIface=brx");
    REQUIRE_MESSAGE(init.ok(), init.error);
    CHECK(init.env.Get("Bridge") == "brx");
    CHECK(init.env.Get("BridgeIP") == "10.20.0.1/16");
    CHECK(init.env.Get("Gateway") == "10.20.0.1");
    CHECK(init.env.Get("Mtu") == "1400");
    CHECK_FALSE(init.env.GetBool("BridgeCreated"));
    CHECK(!LinkExists("berth0"));
    CHECK(Rules("nat", "POSTROUTING") ==
          std::vector<std::string>{
              "-A POSTROUTING -s 10.20.0.0/16 ! -o brx -j MASQUERADE"});
    CHECK(Rules("filter", "FORWARD")[0] == "-A FORWARD -o brx -j BERTH");
    JobOutcome iface = f.Run("allocate_interface c1");
    REQUIRE_MESSAGE(iface.ok(), iface.error);
    CHECK(iface.env.Get("IP") == "10.20.0.2");
    CHECK(iface.env.Get("Bridge") == "brx");
    CHECK(iface.env.Get("Gateway") == "10.20.0.1");
  }
}

TEST_CASE("--bip: creates the bridge with it, or must match the existing one") {
  if (!EnterFreshNetns()) return;
  NetworkFixture f;
  JobOutcome init = f.Run("init_networkdriver BridgeIP=10.33.0.1/24 Mtu=1400");
  REQUIRE_MESSAGE(init.ok(), init.error);
  CHECK(init.env.Get("BridgeIP") == "10.33.0.1/24");
  CHECK(init.env.Get("Mask") == "ffffff00");
  CHECK(init.env.Get("Mtu") == "1400");
  CHECK(init.env.GetBool("BridgeCreated"));
  CommandResult show = net::testing::Run({"ip", "-o", "addr", "show", "dev", "berth0"});
  CHECK(absl::StrContains(show.out, "inet 10.33.0.1/24 brd 10.33.0.255"));
  CHECK(absl::StrContains(net::testing::Run({"ip", "link", "show", "berth0"}).out,
                          "mtu 1400"));
  REQUIRE(f.Run("shutdown_networkdriver").ok());

  SUBCASE("matching") {
    JobOutcome again = f.Run("init_networkdriver BridgeIP=10.33.0.1/24");
    REQUIRE_MESSAGE(again.ok(), again.error);
    CHECK_FALSE(again.env.GetBool("BridgeCreated"));
    CHECK(again.env.Get("BridgeIP") == "10.33.0.1/24");
  }
  SUBCASE("mismatching") {
    std::string before = SaveAll();
    JobOutcome again = f.Run("init_networkdriver BridgeIP=10.34.0.1/24");
    CHECK(again.status == 1);
    CHECK(again.error ==
          "bridge ip (10.34.0.1/24) does not match existing bridge "
          "configuration 10.33.0.1/24");
    CHECK(SaveAll() == before);
    CHECK(f.Run("allocate_interface c1").error == kNotInit);
  }
  SUBCASE("same network, different host address") {
    JobOutcome again = f.Run("init_networkdriver BridgeIP=10.33.0.2/24");
    CHECK(again.error ==
          "bridge ip (10.33.0.2/24) does not match existing bridge "
          "configuration 10.33.0.1/24");
  }
}

TEST_CASE("a second init_networkdriver: identical is a no-op, different is an error") {
  if (!EnterFreshNetns()) return;
  NetworkFixture f;
  JobOutcome first = f.Run("init_networkdriver InterContainerCommunication=true");
  REQUIRE_MESSAGE(first.ok(), first.error);
  JobOutcome iface = f.Run("allocate_interface c1");
  REQUIRE(iface.ok());
  JobOutcome port = f.Run("allocate_port c1 HostPort=8080 ContainerPort=80");
  REQUIRE_MESSAGE(port.ok(), port.error);
  std::string rules = SaveAll();

  // Same configuration, written differently (absent keys are the defaults).
  JobOutcome same = f.Run("init_networkdriver InterContainerCommunication=1 EnableIptables=yes");
  REQUIRE_MESSAGE(same.ok(), same.error);
  CHECK(same.env.Encode() == first.env.Encode());
  // Nothing was reconciled away: the live mapping's rules are still there.
  CHECK(SaveAll() == rules);

  JobOutcome other = f.Run("init_networkdriver InterContainerCommunication=false");
  CHECK(other.status == 1);
  CHECK(other.error ==
        "network driver already initialized with a different configuration "
        "(InterContainerCommunication is 'false', was 'true'): run "
        "shutdown_networkdriver first");
  JobOutcome bip = f.Run("init_networkdriver BridgeIP=172.17.42.1/16");
  CHECK(bip.error ==
        "network driver already initialized with a different configuration "
        "(BridgeIP is '172.17.42.1/16', was ''): run shutdown_networkdriver "
        "first");
  CHECK(SaveAll() == rules);

  // After a shutdown a different configuration is accepted.
  REQUIRE(f.Run("shutdown_networkdriver").ok());
  JobOutcome icc_off = f.Run("init_networkdriver InterContainerCommunication=false");
  REQUIRE_MESSAGE(icc_off.ok(), icc_off.error);
  CHECK(Rules("filter", "FORWARD") == ForwardRules("DROP"));
}

TEST_CASE("bad init values are refused before anything changes") {
  if (!EnterFreshNetns()) return;
  NetworkFixture f;
  std::string before = SaveAll();
  struct Case {
    const char* line;
    const char* error;
  };
  for (const Case& c : std::vector<Case>{
           {"init_networkdriver BridgeIP=172.17.42.1",
            "BridgeIP: invalid IPv4 network '172.17.42.1': expected "
            "address/prefix"},
           {"init_networkdriver BridgeIP=999.1.1.1/16",
            "BridgeIP: invalid IPv4 network '999.1.1.1/16': bad address"},
           {"init_networkdriver FixedCIDR='10.0.0.0/8 '",
            "FixedCIDR: invalid IPv4 network '10.0.0.0/8 ': prefix length "
            "must be 0-32"},
           {"init_networkdriver Mtu=abc", "invalid integer for Mtu: 'abc'"},
           {"init_networkdriver Mtu=20",
            "invalid Mtu 20: must be 0 (default) or between 68 and 65535"},
           {"init_networkdriver DefaultBindingIP=1.2.3",
            "DefaultBindingIP: invalid IPv4 address '1.2.3'"},
           {"init_networkdriver BridgeIface=abcdefghijklmnop",
            "BridgeIface: invalid interface name 'abcdefghijklmnop': is 16 "
            "characters long, the limit is 15"},
           {"init_networkdriver BridgeIface=\"br'0\"",
            "BridgeIface: invalid interface name 'br\\'0': must not contain "
            "'/', ':', quotes, backslashes, white space or control "
            "characters"},
           {"init_networkdriver BridgeIface='br 0'",
            "BridgeIface: invalid interface name 'br 0': must not contain "
            "'/', ':', quotes, backslashes, white space or control "
            "characters"},
           {"init_networkdriver BridgeIface=none",
            "BridgeIface 'none' disables networking: init_networkdriver must "
            "not be run"},
           {"init_networkdriver EnableIptables=false InterContainerCommunication=false",
            "You specified --iptables=false with --icc=false. ICC uses "
            "iptables to function. Please set --icc or --iptables to true."},
           {"init_networkdriver extra", "init_networkdriver: takes no arguments, got 'extra'"},
       }) {
    CAPTURE(c.line);
    JobOutcome o = f.Run(c.line);
    CHECK(o.status == 1);
    CHECK(o.error == c.error);
  }
  CHECK(!LinkExists("berth0"));
  CHECK(SaveAll() == before);

  // A fixed CIDR outside the bridge network fails after the bridge was
  // created: the bridge is removed again and no rule is written.
  JobOutcome outside = f.Run("init_networkdriver FixedCIDR=10.99.0.0/24");
  CHECK(outside.status == 1);
  CHECK(outside.error == "network does not contain specified subnet 10.99.0.0/24 "
                         "(bridge network is 172.17.0.0/16)");
  CHECK(!LinkExists("berth0"));
  CHECK(SaveAll() == before);
}

TEST_CASE("ip_forward: written when asked; a failure only warns") {
  if (!EnterFreshNetns()) return;
  SUBCASE("disabled") {
    NetworkFixture f;
    std::string before = ReadIpForward();
    JobOutcome init = f.Run("init_networkdriver EnableIpForward=false");
    REQUIRE_MESSAGE(init.ok(), init.error);
    CHECK_FALSE(init.env.GetBool("IpForward"));
    CHECK(ReadIpForward() == before);
  }
  SUBCASE("cannot be written") {
    NetworkGroupOptions options;
    TempDir elsewhere;
    options.ip_forward_path = elsewhere / "no/such/dir/ip_forward";
    NetworkFixture f(options);
    JobOutcome init = f.Run("init_networkdriver");
    REQUIRE_MESSAGE(init.ok(), init.error);
    CHECK_FALSE(init.env.GetBool("IpForward"));
    std::vector<std::string> warnings = init.env.GetList("Warnings");
    REQUIRE(warnings.size() == 1);
    CHECK(absl::StartsWith(warnings[0], absl::StrCat("could not enable IP forwarding (",
                                                     options.ip_forward_path, "): ")));
    CHECK(f.Run("allocate_interface c1").ok());
  }
}

TEST_CASE("iptables disabled: no chains, no masquerade; ports still map through the proxy") {
  if (!EnterFreshNetns()) return;
  NetworkFixture f;
  std::string before = SaveAll();
  JobOutcome init = f.Run("init_networkdriver EnableIptables=false EnableIpMasq=true");
  REQUIRE_MESSAGE(init.ok(), init.error);
  CHECK_FALSE(init.env.Exists("ChainsCreated"));
  CHECK(SaveAll() == before);
  REQUIRE(f.Run("allocate_interface c1").ok());
  JobOutcome port = f.Run("allocate_port c1 HostPort=8080 ContainerPort=80");
  REQUIRE_MESSAGE(port.ok(), port.error);
  CHECK(f.Run("link -A ParentIP=172.17.0.3 ChildIP=172.17.0.2 Ports=80/tcp").ok());
  CHECK(SaveAll() == before);
}

TEST_CASE("a crashed run's rules are reconciled at init") {
  if (!EnterFreshNetns()) return;
  {
    NetworkFixture f;
    REQUIRE(f.Run("init_networkdriver").ok());
  }
  // What a SIGKILLed daemon leaves: per-container rules, plus duplicates of
  // fixed rules an older run added twice.
  for (const auto& [table, rule] : std::vector<std::pair<const char*, const char*>>{
           {"nat", "-A BERTH ! -i berth0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80"},
           {"nat", "-A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 80 -j MASQUERADE"},
           {"nat", "-A PREROUTING -m addrtype --dst-type LOCAL -j BERTH"},
           {"filter", "-A BERTH -d 172.17.0.2/32 ! -i berth0 -o berth0 -p tcp -m tcp --dport 80 -j ACCEPT"},
           {"filter", "-A BERTH -s 172.17.0.3/32 -d 172.17.0.2/32 -i berth0 -o berth0 -p tcp -m tcp --dport 80 -j ACCEPT"},
           {"filter", "-A FORWARD -i berth0 -o berth0 -j ACCEPT"},
       }) {
    CommandResult r = Iptables(table, Words(rule));
    REQUIRE_MESSAGE(r.ok(), rule << ": " << r.err);
  }
  NetworkFixture f;
  JobOutcome init = f.Run("init_networkdriver");
  REQUIRE_MESSAGE(init.ok(), init.error);
  CHECK(init.env.Get("ChainsCreated") == "0");
  CHECK(init.env.Get("StaleRulesRemoved") == "4");
  CHECK(init.env.Get("DuplicatesRemoved") == "2");
  CHECK(init.env.Get("RulesAdded") == "0");
  CHECK_FALSE(init.env.GetBool("BridgeCreated"));
  CHECK(NatRules() == kNatFixed);
  CHECK(Rules("filter", "FORWARD") == ForwardRules("ACCEPT"));
  CHECK(Rules("filter", "BERTH").empty());
}

TEST_CASE("engine shutdown runs the hook that releases every port mapping") {
  if (!EnterFreshNetns()) return;
  NetworkFixture f;
  REQUIRE(f.Run("init_networkdriver").ok());
  REQUIRE(f.Run("allocate_interface c1").ok());
  REQUIRE(f.Run("allocate_port c1 HostPort=8080 ContainerPort=80").ok());
  REQUIRE(Rules("nat", "BERTH").size() == 1);
  f.engine.Shutdown();
  CHECK(Rules("nat", "BERTH").empty());
  CHECK(Rules("filter", "BERTH").empty());
  CHECK(Rules("nat", "POSTROUTING") == std::vector<std::string>{kNatFixed[2]});
  // The proxy's listener is gone too: the port can be bound again.
  int fd = net::testing::TcpListen(net::Ipv4Address(), 8080);
  CHECK(fd >= 0);
  if (fd >= 0) close(fd);
}

TEST_CASE("a firewall that cannot be set up fails init and removes the new bridge") {
  if (!EnterFreshNetns()) return;
  NetworkFixture f;
  // Someone holds the xtables lock for longer than berth waits for it.
  const std::string lock_path = f.dir / "xtables.lock";
  int lock_fd = open(lock_path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  REQUIRE(lock_fd >= 0);
  REQUIRE(flock(lock_fd, LOCK_EX) == 0);
  REQUIRE(setenv("XTABLES_LOCKFILE", lock_path.c_str(), 1) == 0);
  JobOutcome init = f.Run("init_networkdriver");
  unsetenv("XTABLES_LOCKFILE");
  close(lock_fd);
  CHECK(init.status == 1);
  CHECK_MESSAGE(absl::StrContains(init.error, "lock"), init.error);
  CHECK(!LinkExists("berth0"));
  CHECK(f.Run("allocate_interface c1").error == kNotInit);
  // With the lock free again, init works.
  JobOutcome again = f.Run("init_networkdriver");
  REQUIRE_MESSAGE(again.ok(), again.error);
  CHECK(NatRules() == kNatFixed);
}

TEST_CASE("Firewall picks the backend; the default follows the namespace; a change is refused") {
  if (!EnterFreshNetns()) return;
  NetworkFixture f;
  JobOutcome bad = f.Run("init_networkdriver Firewall=pf");
  CHECK(bad.status == 1);
  CHECK(bad.error == "Firewall: unknown firewall 'pf': use iptables or nftables");

  // Nothing in use in a fresh namespace: iptables.
  JobOutcome init = f.Run("init_networkdriver");
  REQUIRE_MESSAGE(init.ok(), init.error);
  CHECK(init.env.Get("Firewall") == "iptables");
  CHECK(absl::StrContains(init.env.Get("FirewallReason"), "iptables by default"));
  JobOutcome other = f.Run("init_networkdriver Firewall=nftables");
  CHECK(other.status == 1);
  CHECK(other.error ==
        "network driver already initialized with a different configuration "
        "(Firewall is 'nftables', was ''): run shutdown_networkdriver first");
  REQUIRE(f.Run("shutdown_networkdriver").ok());

  // nftables: berth's own table, and the jobs write their elements there.
  init = f.Run("init_networkdriver Firewall=nftables");
  REQUIRE_MESSAGE(init.ok(), init.error);
  CHECK(init.env.Get("Firewall") == "nftables");
  REQUIRE(f.Run("allocate_interface c1").ok());
  JobOutcome port = f.Run("allocate_port c1 HostPort=8080 ContainerPort=80");
  REQUIRE_MESSAGE(port.ok(), port.error);
  CommandResult table = net::testing::Run({"nft", "list", "table", "ip", "berth"});
  REQUIRE_MESSAGE(table.ok(), table.err);
  CHECK(absl::StrContains(table.out, "tcp . 8080 : 172.17.0.2 . 80"));
  REQUIRE(f.Run("release_interface c1").ok());
  table = net::testing::Run({"nft", "list", "table", "ip", "berth"});
  CHECK_FALSE(absl::StrContains(table.out, "8080"));
  REQUIRE(f.Run("shutdown_networkdriver").ok());

  // Another tool's nf_tables table and no legacy table in use: nftables by
  // default. (This namespace's legacy tables were loaded above, so a fresh
  // one.)
  REQUIRE(EnterFreshNetns());
  NetworkFixture g;
  REQUIRE(net::testing::Run({"nft", "add", "table", "inet", "filter"}).ok());
  init = g.Run("init_networkdriver");
  REQUIRE_MESSAGE(init.ok(), init.error);
  CHECK(init.env.Get("Firewall") == "nftables");
}

}  // namespace
}  // namespace berth::testing
