// allocate_interface, release_interface, allocate_port, link and
// shutdown_networkdriver through a real Engine, in a fresh network namespace
// per test case: the env they write, the documented error texts, and the rules they
// leave as `iptables-legacy -S` prints them (or the absence of any change).

#include <doctest/doctest.h>

#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/handlers/network_test_util.h"
#include "tests/net/test_util.h"

namespace berth::testing {
namespace {

using net::testing::EnterFreshNetns;

std::string Dnat(int host_port, const std::string& to) {
  return absl::StrCat("-A BERTH ! -i berth0 -p tcp -m tcp --dport ", host_port,
                      " -j DNAT --to-destination ", to);
}

std::string Accept(const std::string& ip, int port) {
  return absl::StrCat("-A BERTH -d ", ip, "/32 ! -i berth0 -o berth0 -p tcp -m tcp --dport ",
                      port, " -j ACCEPT");
}

std::string Hairpin(const std::string& ip, int port) {
  return absl::StrCat("-A POSTROUTING -s ", ip, "/32 -d ", ip, "/32 -p tcp -m tcp --dport ",
                      port, " -j MASQUERADE");
}

const char kMasquerade[] = "-A POSTROUTING -s 172.17.0.0/16 ! -o berth0 -j MASQUERADE";

// The per-container rules anywhere: BERTH in both tables, and hairpins.
size_t PerContainerRules() {
  return Rules("nat", "BERTH").size() + Rules("filter", "BERTH").size() +
         Rules("nat", "POSTROUTING").size() - 1;
}

TEST_CASE("allocate_interface hands out addresses in order with the documented env") {
  if (!EnterFreshNetns()) return;
  NetworkFixture f;
  REQUIRE(f.Run("init_networkdriver").ok());

  JobOutcome a = f.Run("allocate_interface c1");
  REQUIRE_MESSAGE(a.ok(), a.error);
  CHECK(a.env.Map() == std::map<std::string, std::string>{
                           {"IP", "172.17.0.2"},
                           {"Mask", "ffff0000"},
                           {"IPPrefixLen", "16"},
                           {"Gateway", "172.17.42.1"},
                           {"Bridge", "berth0"},
                           {"MacAddress", "02:42:ac:11:00:02"},
                       });
  CHECK(f.Run("allocate_interface c2").env.Get("IP") == "172.17.0.3");
  JobOutcome c3 = f.Run("allocate_interface c3");
  CHECK(c3.env.Get("IP") == "172.17.0.4");
  CHECK(c3.env.Get("MacAddress") == "02:42:ac:11:00:04");

  // A second allocation for the same id names it.
  JobOutcome again = f.Run("allocate_interface c1");
  CHECK(again.status == 1);
  CHECK(again.error ==
        "container c1 already has a network interface (IP 172.17.0.2): "
        "release_interface it first");

  // Requested address and MAC.
  JobOutcome req = f.Run("allocate_interface c4 RequestedIP=172.17.9.9 RequestedMac=02:42:AA:BB:CC:DD");
  REQUIRE_MESSAGE(req.ok(), req.error);
  CHECK(req.env.Get("IP") == "172.17.9.9");
  CHECK(req.env.Get("MacAddress") == "02:42:aa:bb:cc:dd");
  // Round-robin continues after the last address handed out, requested or not.
  CHECK(f.Run("allocate_interface c5").env.Get("IP") == "172.17.9.10");

  struct Case {
    const char* line;
    const char* error;
  };
  for (const Case& c : std::vector<Case>{
           {"allocate_interface c6 RequestedIP=172.17.0.2", "ip already allocated"},
           {"allocate_interface c6 RequestedIP=172.17.42.1", "ip already allocated"},
           {"allocate_interface c6 RequestedIP=10.0.0.2", "requested ip is out of range"},
           {"allocate_interface c6 RequestedIP=172.17.255.255", "requested ip is out of range"},
           {"allocate_interface c6 RequestedIP=999.1.1.1",
            "RequestedIP: invalid IPv4 address '999.1.1.1'"},
           {"allocate_interface c6 RequestedIP='172.17.0.9 '",
            "RequestedIP: invalid IPv4 address '172.17.0.9 '"},
           {"allocate_interface c6 RequestedMac=02:42:zz:00:00:01",
            "RequestedMac: invalid MAC address '02:42:zz:00:00:01': expected six "
            "hex pairs separated by ':'"},
           {"allocate_interface c6 RequestedMac=01:00:5e:00:00:01",
            "RequestedMac: 01:00:5e:00:00:01 is not a unicast address and cannot "
            "be an interface's"},
           {"allocate_interface", "usage: allocate_interface ID [RequestedIP=…] [RequestedMac=…]"},
           {"allocate_interface a b", "usage: allocate_interface ID [RequestedIP=…] [RequestedMac=…]"},
           {"allocate_interface 'a b'",
            "invalid container id 'a b': must not contain white space or control characters"},
       }) {
    CAPTURE(c.line);
    JobOutcome o = f.Run(c.line);
    CHECK(o.status == 1);
    CHECK(o.error == c.error);
  }
  // None of the failures took an address.
  CHECK(f.Run("allocate_interface c6").env.Get("IP") == "172.17.9.11");
}

TEST_CASE("allocate_interface: exhaustion, release and reuse within a fixed CIDR") {
  if (!EnterFreshNetns()) return;
  NetworkFixture f;
  // 172.17.0.0/29: .2 to .6 (network+2 to broadcast-1).
  JobOutcome init = f.Run("init_networkdriver FixedCIDR=172.17.0.0/29");
  REQUIRE_MESSAGE(init.ok(), init.error);
  CHECK(init.env.Get("FixedCIDR") == "172.17.0.0/29");
  std::vector<std::string> ips;
  for (int i = 0; i < 5; ++i) {
    JobOutcome o = f.Run(absl::StrCat("allocate_interface c", i));
    REQUIRE_MESSAGE(o.ok(), o.error);
    ips.push_back(o.env.Get("IP"));
    // The mask is the bridge network's, not the fixed CIDR's.
    CHECK(o.env.Get("Mask") == "ffff0000");
  }
  CHECK(ips == std::vector<std::string>{"172.17.0.2", "172.17.0.3", "172.17.0.4",
                                        "172.17.0.5", "172.17.0.6"});
  JobOutcome full = f.Run("allocate_interface c5");
  CHECK(full.status == 1);
  CHECK(full.error == "no available ip addresses on network");

  JobOutcome unknown = f.Run("release_interface nosuch");
  CHECK(unknown.status == 1);
  CHECK(unknown.error == "No network information to release for nosuch");

  REQUIRE(f.Run("release_interface c1").ok());
  // The record is gone: a second release is unknown again.
  CHECK(f.Run("release_interface c1").error == "No network information to release for c1");
  REQUIRE(f.Run("release_interface c3").ok());
  // Round-robin: the next one after the last handed out (wrapping), so the
  // first released address comes back first.
  CHECK(f.Run("allocate_interface n1").env.Get("IP") == "172.17.0.3");
  CHECK(f.Run("allocate_interface n2").env.Get("IP") == "172.17.0.5");
  CHECK(f.Run("allocate_interface n3").error == "no available ip addresses on network");
  // The id c1 can be used again after its release.
  REQUIRE(f.Run("release_interface n1").ok());
  CHECK(f.Run("allocate_interface c1").env.Get("IP") == "172.17.0.3");
}

TEST_CASE("allocate_port maps ports with the three rules; errors change nothing") {
  if (!EnterFreshNetns()) return;
  NetworkGroupOptions options;
  options.dynamic_port_begin = 49153;
  options.dynamic_port_end = 49154;
  NetworkFixture f(options);
  REQUIRE(f.Run("init_networkdriver").ok());
  REQUIRE(f.Run("allocate_interface web").ok());
  REQUIRE(f.Run("allocate_interface db").ok());

  JobOutcome p1 = f.Run("allocate_port web HostIP=0.0.0.0 HostPort=0 ContainerPort=80 Proto=tcp");
  REQUIRE_MESSAGE(p1.ok(), p1.error);
  CHECK(p1.env.Map() == std::map<std::string, std::string>{{"HostIP", "0.0.0.0"},
                                                            {"HostPort", "49153"}});
  CHECK(f.Run("allocate_port web ContainerPort=81").env.Get("HostPort") == "49154");
  JobOutcome fixed = f.Run("allocate_port db HostPort=8080 ContainerPort=5432");
  REQUIRE_MESSAGE(fixed.ok(), fixed.error);
  CHECK(fixed.env.Get("HostPort") == "8080");
  JobOutcome udp = f.Run("allocate_port db HostIP=127.0.0.1 HostPort=5353 ContainerPort=53 Proto=udp");
  REQUIRE_MESSAGE(udp.ok(), udp.error);
  CHECK(udp.env.Get("HostIP") == "127.0.0.1");

  CHECK(Rules("nat", "BERTH") ==
        std::vector<std::string>{
            Dnat(49153, "172.17.0.2:80"), Dnat(49154, "172.17.0.2:81"),
            Dnat(8080, "172.17.0.3:5432"),
            "-A BERTH -d 127.0.0.1/32 ! -i berth0 -p udp -m udp --dport 5353 -j DNAT "
            "--to-destination 172.17.0.3:53"});
  CHECK(Rules("filter", "BERTH") ==
        std::vector<std::string>{
            Accept("172.17.0.2", 80), Accept("172.17.0.2", 81), Accept("172.17.0.3", 5432),
            "-A BERTH -d 172.17.0.3/32 ! -i berth0 -o berth0 -p udp -m udp --dport 53 -j ACCEPT"});
  CHECK(Rules("nat", "POSTROUTING") ==
        std::vector<std::string>{
            kMasquerade, Hairpin("172.17.0.2", 80), Hairpin("172.17.0.2", 81),
            Hairpin("172.17.0.3", 5432),
            "-A POSTROUTING -s 172.17.0.3/32 -d 172.17.0.3/32 -p udp -m udp --dport 53 -j MASQUERADE"});

  std::string before = SaveAll();
  struct Case {
    const char* line;
    const char* error;
  };
  for (const Case& c : std::vector<Case>{
           {"allocate_port db HostPort=8080 ContainerPort=80",
            "Bind for 0.0.0.0:8080 failed: port is already allocated"},
           // A specific address conflicts with a port held on every address.
           {"allocate_port db HostIP=10.1.2.3 HostPort=8080 ContainerPort=80",
            "Bind for 10.1.2.3:8080 failed: port is already allocated"},
           {"allocate_port web HostPort=0 ContainerPort=82", "all ports are allocated"},
           {"allocate_port ghost HostPort=9000 ContainerPort=80",
            "no network interface for container ghost: run allocate_interface first"},
           {"allocate_port web HostPort=70000 ContainerPort=80",
            "invalid HostPort 70000: must be between 0 (dynamic) and 65535"},
           {"allocate_port web HostPort=-1 ContainerPort=80",
            "invalid HostPort -1: must be between 0 (dynamic) and 65535"},
           {"allocate_port web HostPort=abc ContainerPort=80", "invalid integer for HostPort: 'abc'"},
           {"allocate_port web HostPort=9000 ContainerPort=0",
            "invalid ContainerPort 0: must be between 1 and 65535"},
           {"allocate_port web HostPort=9000 ContainerPort=65536",
            "invalid ContainerPort 65536: must be between 1 and 65535"},
           {"allocate_port web HostPort=9000", "missing integer value for ContainerPort"},
           {"allocate_port web HostPort=9000 ContainerPort=80 Proto=sctp",
            "unsupported address type sctp"},
           {"allocate_port web HostPort=9000 ContainerPort=80 Proto=TCP",
            "unsupported address type TCP"},
           {"allocate_port web HostIP=999.1.1.1 HostPort=9000 ContainerPort=80",
            "Bad parameter: invalid host ip 999.1.1.1"},
           // Values with spaces or quotes never reach a rule.
           {"allocate_port web HostIP='10.0.0.1 ' HostPort=9000 ContainerPort=80",
            "Bad parameter: invalid host ip 10.0.0.1 "},
           {"allocate_port web HostIP=\"10.0.0.1'\" HostPort=9000 ContainerPort=80",
            "Bad parameter: invalid host ip 10.0.0.1'"},
           {"allocate_port web HostPort=9000 ContainerPort=80 Proto=\"tcp'\"",
            "unsupported address type tcp'"},
           {"allocate_port web HostPort=9000 ContainerPort=80 Proto='tcp -j ACCEPT'",
            "unsupported address type tcp -j ACCEPT"},
           {"allocate_port web HostPort='90 00' ContainerPort=80",
            "invalid integer for HostPort: '90 00'"},
           {"allocate_port web HostPort=9000 ContainerPort='80\"'",
            "invalid integer for ContainerPort: '80\"'"},
           {"allocate_port web HostPort=0 ContainerPort=80 Reserve=true",
            "Reserve needs an explicit HostPort: a dynamic port cannot be reserved"},
           {"allocate_port HostPort=9000 ContainerPort=80",
            "usage: allocate_port ID [HostIP=…] [HostPort=…] ContainerPort=… "
            "[Proto=tcp|udp] [Reserve=true] [Adopt=true]"},
       }) {
    CAPTURE(c.line);
    JobOutcome o = f.Run(c.line);
    CHECK(o.status == 1);
    CHECK(o.error == c.error);
    CHECK(o.env.empty());
  }
  CHECK(SaveAll() == before);

  // A port given back is free again; the failures above held none.
  REQUIRE(f.Run("release_interface db").ok());
  JobOutcome again = f.Run("allocate_port web HostPort=8080 ContainerPort=8080");
  CHECK_MESSAGE(again.ok(), again.error);
}

TEST_CASE("release_interface and shutdown_networkdriver remove the container rules") {
  if (!EnterFreshNetns()) return;
  NetworkFixture f;
  REQUIRE(f.Run("init_networkdriver").ok());
  REQUIRE(f.Run("allocate_interface a").ok());
  REQUIRE(f.Run("allocate_interface b").ok());
  REQUIRE(f.Run("allocate_port a HostPort=8080 ContainerPort=80").ok());
  REQUIRE(f.Run("allocate_port a HostPort=8443 ContainerPort=443").ok());
  REQUIRE(f.Run("allocate_port b HostPort=9000 ContainerPort=80").ok());
  CHECK(PerContainerRules() == 9);

  REQUIRE(f.Run("release_interface a").ok());
  CHECK(Rules("nat", "BERTH") == std::vector<std::string>{Dnat(9000, "172.17.0.3:80")});
  CHECK(Rules("filter", "BERTH") == std::vector<std::string>{Accept("172.17.0.3", 80)});
  CHECK(Rules("nat", "POSTROUTING") ==
        std::vector<std::string>{kMasquerade, Hairpin("172.17.0.3", 80)});
  // a's ports are free, its address back in the pool, and its record gone.
  CHECK(f.Run("allocate_port a HostPort=8080 ContainerPort=80").error ==
        "no network interface for container a: run allocate_interface first");
  REQUIRE(f.Run("allocate_interface c").ok());
  CHECK(f.Run("allocate_port c HostPort=8080 ContainerPort=80").ok());
  // Link pairs still in place at shutdown go too (one added twice, one
  // added and deleted again).
  REQUIRE(f.Run("link -A ParentIP=172.17.0.3 ChildIP=172.17.0.4 Ports='[\"80/tcp\",\"53/udp\"]'").ok());
  REQUIRE(f.Run("link -I ParentIP=172.17.0.3 ChildIP=172.17.0.4 Ports=80/tcp").ok());
  REQUIRE(f.Run("link -A ParentIP=172.17.0.4 ChildIP=172.17.0.3 Ports=22/tcp").ok());
  REQUIRE(f.Run("link -D ParentIP=172.17.0.4 ChildIP=172.17.0.3 Ports=22/tcp").ok());
  CHECK(Rules("filter", "BERTH").size() == 2 + 6);

  REQUIRE(f.Run("shutdown_networkdriver").ok());
  CHECK(PerContainerRules() == 0);
  CHECK(Rules("nat", "POSTROUTING") == std::vector<std::string>{kMasquerade});
  CHECK(f.Run("shutdown_networkdriver").ok());
  CHECK(f.Run("shutdown_networkdriver extra").error ==
        "shutdown_networkdriver: takes no arguments, got 'extra'");
  // The ports are free on the host again (no proxy holds them).
  for (uint16_t port : {8080, 9000}) {
    int fd = net::testing::TcpListen(net::Ipv4Address(), port);
    CHECK(fd >= 0);
    if (fd >= 0) close(fd);
  }
}

TEST_CASE("link -A, -I and -D write and remove the rule pairs") {
  if (!EnterFreshNetns()) return;
  NetworkFixture f;
  REQUIRE(f.Run("init_networkdriver InterContainerCommunication=false").ok());
  const std::vector<std::string> pair80 = {
      "-A BERTH -s 172.17.0.3/32 -d 172.17.0.2/32 -i berth0 -o berth0 -p tcp -m tcp --dport 80 -j ACCEPT",
      "-A BERTH -s 172.17.0.2/32 -d 172.17.0.3/32 -i berth0 -o berth0 -p tcp -m tcp --sport 80 -j ACCEPT",
  };
  const std::vector<std::string> pair53 = {
      "-A BERTH -s 172.17.0.3/32 -d 172.17.0.2/32 -i berth0 -o berth0 -p udp -m udp --dport 53 -j ACCEPT",
      "-A BERTH -s 172.17.0.2/32 -d 172.17.0.3/32 -i berth0 -o berth0 -p udp -m udp --sport 53 -j ACCEPT",
  };
  JobOutcome add = f.Run(
      "link -A ParentIP=172.17.0.3 ChildIP=172.17.0.2 Ports='[\"80/tcp\"]'");
  REQUIRE_MESSAGE(add.ok(), add.error);
  CHECK(Rules("filter", "BERTH") == pair80);
  // -I puts each rule at the top in turn, as `iptables -I` twice would: the
  // pair lands above the older rules, its second rule first.
  JobOutcome ins = f.Run(
      "link -I ParentIP=172.17.0.3 ChildIP=172.17.0.2 Ports='[\"53/udp\"]'");
  REQUIRE_MESSAGE(ins.ok(), ins.error);
  std::vector<std::string> both = {pair53[1], pair53[0]};
  both.insert(both.end(), pair80.begin(), pair80.end());
  CHECK(Rules("filter", "BERTH") == both);

  std::string before = SaveAll();
  struct Case {
    const char* line;
    const char* error;
  };
  for (const Case& c : std::vector<Case>{
           {"link -X ParentIP=172.17.0.3 ChildIP=172.17.0.2 Ports=80/tcp",
            "Invalid action '-X' specified"},
           {"link -A ParentIP=172.17.0 ChildIP=172.17.0.2 Ports=80/tcp",
            "parent IP '172.17.0' is invalid"},
           {"link -A ParentIP=172.17.0.3 ChildIP='172.17.0.2 ' Ports=80/tcp",
            "child IP '172.17.0.2 ' is invalid"},
           {"link -A ParentIP=172.17.0.3 ChildIP=172.17.0.2 Ports='[\"80/sctp\"]'",
            "unsupported address type sctp"},
           {"link -A ParentIP=172.17.0.3 ChildIP=172.17.0.2 Ports='[\"0/tcp\"]'",
            "invalid port spec '0/tcp': invalid port '0': must be a number between 1 and 65535"},
           {"link ParentIP=172.17.0.3 ChildIP=172.17.0.2",
            "usage: link -A|-I|-D ParentIP=… ChildIP=… Ports='[\"80/tcp\",…]' [IgnoreErrors=true]"},
       }) {
    CAPTURE(c.line);
    JobOutcome o = f.Run(c.line);
    CHECK(o.status == 1);
    CHECK(o.error == c.error);
  }
  // Deleting a pair that is not there fails as a whole, unless told to
  // ignore errors.
  JobOutcome missing = f.Run(
      "link -D ParentIP=172.17.0.3 ChildIP=172.17.0.2 Ports='[\"80/tcp\",\"81/tcp\"]'");
  CHECK(missing.status == 1);
  CHECK(SaveAll() == before);
  JobOutcome ignored = f.Run(
      "link -D ParentIP=172.17.0.3 ChildIP=172.17.0.2 Ports='[\"80/tcp\",\"81/tcp\"]' IgnoreErrors=true");
  CHECK_MESSAGE(ignored.ok(), ignored.error);
  CHECK(Rules("filter", "BERTH") == std::vector<std::string>{pair53[1], pair53[0]});
  REQUIRE(f.Run("link -D ParentIP=172.17.0.3 ChildIP=172.17.0.2 Ports=53/udp").ok());
  CHECK(Rules("filter", "BERTH").empty());
}

// A daemon killed with SIGKILL: its child process does init, an interface
// and a port, and dies without any clean-up. The next start reconciles its
// rules away, and restore re-reserves the old values.
TEST_CASE("restored containers get their old address, MAC and host port back") {
  if (!EnterFreshNetns()) return;
  int pipe_fds[2];
  REQUIRE(pipe(pipe_fds) == 0);
  // The child must not flush output the parent has buffered.
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // The child shares this thread's namespace. It reports how far it got
    // through the pipe, then kills itself: no destructor, no hook runs.
    close(pipe_fds[0]);
    char ok = '0';
    {
      NetworkFixture f;
      if (f.Run("init_networkdriver").ok() && f.Run("allocate_interface x").ok() &&
          f.Run("allocate_interface old RequestedMac=02:42:00:00:00:99").ok() &&
          f.Run("allocate_port old HostPort=8080 ContainerPort=80").ok() &&
          f.Run("allocate_port old HostPort=0 ContainerPort=443").ok()) {
        ok = '1';
      }
      if (write(pipe_fds[1], &ok, 1) != 1) _exit(3);
      kill(getpid(), SIGKILL);
    }
    _exit(2);
  }
  close(pipe_fds[1]);
  char ok = 0;
  CHECK(read(pipe_fds[0], &ok, 1) == 1);
  close(pipe_fds[0]);
  int wstatus = 0;
  REQUIRE(waitpid(pid, &wstatus, 0) == pid);
  CHECK(WIFSIGNALED(wstatus));
  REQUIRE(ok == '1');
  // The dead run's rules are still there.
  CHECK(PerContainerRules() == 6);

  NetworkFixture f;
  JobOutcome init = f.Run("init_networkdriver");
  REQUIRE_MESSAGE(init.ok(), init.error);
  CHECK(init.env.Get("StaleRulesRemoved") == "6");
  CHECK(PerContainerRules() == 0);

  // Restore: the saved values, before anything else is handed out.
  JobOutcome iface = f.Run(
      "allocate_interface old RequestedIP=172.17.0.3 RequestedMac=02:42:00:00:00:99");
  REQUIRE_MESSAGE(iface.ok(), iface.error);
  CHECK(iface.env.Get("IP") == "172.17.0.3");
  CHECK(iface.env.Get("MacAddress") == "02:42:00:00:00:99");
  SUBCASE("mapped again") {
    JobOutcome p1 = f.Run("allocate_port old HostPort=8080 ContainerPort=80");
    REQUIRE_MESSAGE(p1.ok(), p1.error);
    JobOutcome p2 = f.Run("allocate_port old HostPort=49153 ContainerPort=443");
    REQUIRE_MESSAGE(p2.ok(), p2.error);
    CHECK(Rules("nat", "BERTH") == std::vector<std::string>{Dnat(8080, "172.17.0.3:80"),
                                                            Dnat(49153, "172.17.0.3:443")});
    // Nobody else gets them, and new containers get other addresses.
    REQUIRE(f.Run("allocate_interface new").ok());
    CHECK(f.Run("allocate_port new HostPort=8080 ContainerPort=80").error ==
          "Bind for 0.0.0.0:8080 failed: port is already allocated");
    CHECK(f.Run("allocate_interface other RequestedIP=172.17.0.3").error ==
          "ip already allocated");
  }
  SUBCASE("reserved only, mapped when the container starts") {
    JobOutcome r = f.Run("allocate_port old HostPort=8080 ContainerPort=80 Reserve=true");
    REQUIRE_MESSAGE(r.ok(), r.error);
    CHECK(r.env.Get("HostPort") == "8080");
    // A reservation writes no rule and holds no socket...
    CHECK(PerContainerRules() == 0);
    // ...but nobody else gets the port,
    REQUIRE(f.Run("allocate_interface new").ok());
    CHECK(f.Run("allocate_port new HostPort=8080 ContainerPort=80").error ==
          "Bind for 0.0.0.0:8080 failed: port is already allocated");
    // while its owner maps it when it starts.
    JobOutcome m = f.Run("allocate_port old HostPort=8080 ContainerPort=80");
    REQUIRE_MESSAGE(m.ok(), m.error);
    CHECK(Rules("nat", "BERTH") == std::vector<std::string>{Dnat(8080, "172.17.0.3:80")});
    REQUIRE(f.Run("release_interface old").ok());
    CHECK(PerContainerRules() == 0);
    CHECK(f.Run("allocate_port new HostPort=8080 ContainerPort=80").ok());
  }
}

}  // namespace
}  // namespace berth::testing
