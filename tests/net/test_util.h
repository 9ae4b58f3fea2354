// Helpers for berth's network tests: private network namespaces, running
// the iptables/ip programs as oracles, sockets inside named namespaces, and
// waiting on conditions with deadlines.
//
// Every test that touches networking first moves the test process's main
// thread into a fresh network namespace (EnterFreshNetns); threads the test
// creates afterwards inherit it, so nothing reaches the host's interfaces or
// iptables. Named namespaces (ip netns add) stand in for containers and for
// the oracle's scratch space; ScopedNetns deletes them, also when an
// assertion throws.

#ifndef BERTH_TESTS_NET_TEST_UTIL_H_
#define BERTH_TESTS_NET_TEST_UTIL_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "net/firewall.h"
#include "net/ipv4.h"

namespace berth::net::testing {

struct CommandResult {
  int exit_code = -1;  // -1 when it could not run or was killed
  std::string out;
  std::string err;
  bool ok() const { return exit_code == 0; }
};

// Runs argv[0] (looked up in PATH) with the given arguments and optional
// stdin, capturing stdout and stderr.
CommandResult Run(const std::vector<std::string>& argv,
                  const std::string& input = "");

// Whether the test may use network namespaces. When it may not (not root,
// no CAP_SYS_ADMIN) this fails the test under CI=true and otherwise reports
// a skip; either way the caller should return.
bool NetnsAvailable();

// Moves the calling thread into a new, empty network namespace with lo up,
// and checks that it is not the host's. Returns false (after NetnsAvailable's
// reporting) when that is not possible.
bool EnterFreshNetns();

// A named namespace "berth-t-<pid>-<n>" created with `ip netns add` and
// deleted on destruction. Leftovers of dead test processes are removed when
// the first one is created.
class ScopedNetns {
 public:
  ScopedNetns();
  ~ScopedNetns();
  ScopedNetns(const ScopedNetns&) = delete;
  ScopedNetns& operator=(const ScopedNetns&) = delete;

  const std::string& name() const { return name_; }
  bool ok() const { return ok_; }
  // Runs a program inside the namespace (ip netns exec).
  CommandResult Exec(const std::vector<std::string>& argv,
                     const std::string& input = "") const;

 private:
  std::string name_;
  bool ok_ = false;
};

// Runs `fn` on a thread that has joined the named namespace; sockets `fn`
// creates stay in that namespace when used from any thread later.
void RunInNetns(const std::string& name, const std::function<void()>& fn);

// `iptables-legacy -w -t <table> -S [chain]` in the current namespace, or in
// `netns` when given; the lines as a vector.
std::vector<std::string> IptablesS(absl::string_view table,
                                   absl::string_view chain = "",
                                   const ScopedNetns* netns = nullptr);
// `iptables-legacy -w -t <table> <args...>`; the result.
CommandResult Iptables(absl::string_view table,
                       const std::vector<std::string>& args,
                       const ScopedNetns* netns = nullptr);
// `iptables-legacy-save -t <table>` without comment lines and with the
// [packets:bytes] counters blanked.
std::string IptablesSave(absl::string_view table,
                         const ScopedNetns* netns = nullptr);

// Splits on spaces (no quoting) for writing iptables command lines as text.
std::vector<std::string> Words(absl::string_view line);

// Polls `cond` until it holds or `timeout` passes; true when it held.
bool WaitFor(const std::function<bool()>& cond,
             absl::Duration timeout = absl::Seconds(10));

// Blocking socket helpers for traffic tests (IPv4). Each returns -1 on
// failure.
int TcpListen(Ipv4Address ip, uint16_t port);
int TcpConnect(Ipv4Address ip, uint16_t port,
               absl::Duration timeout = absl::Seconds(3));
// accept() with a timeout; -1 on timeout. `peer` receives the client address.
int TcpAccept(int listen_fd, absl::Duration timeout, Ipv4Address* peer = nullptr);
int UdpBind(Ipv4Address ip, uint16_t port);
// Sends all of `data`; false on error.
bool SendAll(int fd, absl::string_view data);
// Reads exactly `n` bytes within `timeout`; shorter on EOF/timeout.
std::string RecvN(int fd, size_t n, absl::Duration timeout);
// One datagram within `timeout` ("" on timeout); `from` gets the sender.
std::string RecvDatagram(int fd, absl::Duration timeout,
                         Ipv4Address* from_ip = nullptr,
                         uint16_t* from_port = nullptr);
bool SendDatagram(int fd, Ipv4Address ip, uint16_t port, absl::string_view data);
// Connects from inside `ns` (or from the current namespace when null) to an
// EchoServer and checks one round trip; false when no connection could be made
// within `timeout` (blocked traffic).
bool EchoFrom(const ScopedNetns* ns, Ipv4Address ip, uint16_t port,
              absl::Duration timeout = absl::Seconds(5));

// Echoes every byte it receives on TCP connections accepted from
// `listen_fd` (created wherever the test wants, e.g. in a container
// namespace), on its own thread, and records the peers it saw. For UDP
// (`udp` true) it echoes each datagram to its sender.
class EchoServer {
 public:
  EchoServer(int fd, bool udp = false);
  ~EchoServer();
  EchoServer(const EchoServer&) = delete;
  EchoServer& operator=(const EchoServer&) = delete;
  // Peers seen so far (TCP: accepted connections; UDP: datagram senders).
  std::vector<std::pair<Ipv4Address, uint16_t>> Peers();

 private:
  void Run();
  int fd_;
  bool udp_;
  int stop_pipe_[2] = {-1, -1};
  std::mutex mu_;
  std::vector<std::pair<Ipv4Address, uint16_t>> peers_;
  std::thread thread_;
};

// The firewall set-up most tests use: bridge berth0 on 172.17.42.1/16.
FirewallConfig BridgeFirewallConfig(bool icc = true, bool ip_masq = true);

// An EchoServer on TCP `port` of every address in the named namespace; null
// when the port cannot be bound there.
std::unique_ptr<EchoServer> ServeEchoIn(const std::string& netns, uint16_t port);

// A container stand-in: a named namespace joined to `bridge` (in the
// current namespace) by a veth pair, with `address` on its eth0 and a default
// route through `gateway`.
class FakeContainer {
 public:
  FakeContainer(const std::string& bridge, const Ipv4Network& address,
                Ipv4Address gateway);
  bool ok() const { return ok_; }
  const ScopedNetns& netns() const { return netns_; }
  Ipv4Address ip() const { return address_.address(); }

 private:
  ScopedNetns netns_;
  Ipv4Network address_;
  bool ok_ = false;
};

}  // namespace berth::net::testing

#endif  // BERTH_TESTS_NET_TEST_UTIL_H_
