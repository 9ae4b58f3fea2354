// The userland proxy over loopback in a private namespace: forwarding,
// half-close, back-pressure, many connections, UDP flows and their idle
// timeout, removal and stop.

#include <doctest/doctest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "net/userland_proxy.h"
#include "tests/net/test_util.h"

namespace berth::net {
namespace {

using testing::EchoServer;
using testing::EnterFreshNetns;
using testing::RecvDatagram;
using testing::RecvN;
using testing::SendAll;
using testing::SendDatagram;
using testing::TcpAccept;
using testing::TcpConnect;
using testing::TcpListen;
using testing::UdpBind;
using testing::WaitFor;

const Ipv4Address kLo = Ipv4Address::FromUint32(0x7f000001);

std::unique_ptr<ProxyServer> StartProxy(ProxyServer::Options options = {}) {
  absl::StatusOr<std::unique_ptr<ProxyServer>> p = ProxyServer::Start(options);
  REQUIRE_MESSAGE(p.ok(), p.status().ToString());
  return *std::move(p);
}

ProxyServer::Stats StatsOf(ProxyServer& proxy, ProxyServer::ProxyId id) {
  absl::StatusOr<ProxyServer::Stats> s = proxy.GetStats(id);
  REQUIRE(s.ok());
  return *s;
}

TEST_CASE("TCP: bytes both ways, half-close passed on, connection closed") {
  if (!EnterFreshNetns()) return;
  auto proxy = StartProxy();
  int backend = TcpListen(kLo, 9001);
  REQUIRE(backend >= 0);
  auto id = proxy->AddTcp({Ipv4Address(), 8001}, {kLo, 9001});
  REQUIRE(id.ok());

  int client = TcpConnect(kLo, 8001);
  REQUIRE(client >= 0);
  int server = TcpAccept(backend, absl::Seconds(5));
  REQUIRE(server >= 0);
  REQUIRE(SendAll(client, "hello"));
  CHECK(RecvN(server, 5, absl::Seconds(5)) == "hello");
  REQUIRE(SendAll(server, "world"));
  CHECK(RecvN(client, 5, absl::Seconds(5)) == "world");

  // The client stops sending; the backend sees EOF but can still answer.
  shutdown(client, SHUT_WR);
  CHECK(RecvN(server, 1, absl::Seconds(5)).empty());
  REQUIRE(SendAll(server, "bye"));
  CHECK(RecvN(client, 3, absl::Seconds(5)) == "bye");
  close(server);
  CHECK(RecvN(client, 1, absl::Seconds(5)).empty());  // EOF
  close(client);
  CHECK(WaitFor([&] { return StatsOf(*proxy, *id).active == 0; }));
  ProxyServer::Stats stats = StatsOf(*proxy, *id);
  CHECK(stats.accepted == 1);
  CHECK(stats.bytes_to_backend == 5);
  CHECK(stats.bytes_to_client == 8);
  close(backend);
}

TEST_CASE("TCP: a full buffer stops reading (back-pressure), data intact") {
  if (!EnterFreshNetns()) return;
  ProxyServer::Options options;
  options.buffer_bytes = 4096;
  auto proxy = StartProxy(options);
  int backend = TcpListen(kLo, 9002);
  REQUIRE(backend >= 0);
  // Set before the handshake so the window matches (accepted sockets
  // inherit it): the backend then holds little, and the proxy's own buffer
  // and socket queues are what must stop the flow.
  int small = 64 * 1024;
  setsockopt(backend, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
  auto id = proxy->AddTcp({kLo, 8002}, {kLo, 9002});
  REQUIRE(id.ok());
  int client = TcpConnect(kLo, 8002, absl::Seconds(30));
  REQUIRE(client >= 0);
  int server = TcpAccept(backend, absl::Seconds(5));
  REQUIRE(server >= 0);

  // More than every kernel queue on the way can hold (the proxy's receive
  // queue may autotune up to tcp_rmem's maximum, 32 MiB by default).
  const size_t total = 96 * 1024 * 1024;
  std::atomic<bool> sent{false};
  std::thread sender([&] {
    std::string chunk(64 * 1024, '\0');
    size_t off = 0;
    while (off < total) {
      for (size_t i = 0; i < chunk.size(); ++i) {
        chunk[i] = static_cast<char>((off + i) * 7 + ((off + i) >> 12));
      }
      if (!SendAll(client, chunk)) break;
      off += chunk.size();
    }
    sent = true;
  });

  // Nobody reads at the backend: the flow must stall well short of the
  // total, with the sender blocked, instead of the proxy buffering it all.
  uint64_t last = 0;
  int unchanged = 0;
  bool stalled = WaitFor(
      [&] {
        uint64_t now = StatsOf(*proxy, *id).bytes_to_backend;
        unchanged = (now == last && now > 0) ? unchanged + 1 : 0;
        last = now;
        return unchanged >= 5;
      },
      absl::Seconds(20));
  CHECK(stalled);
  CHECK_FALSE(sent.load());
  // What the proxy took from the client is in its 4 KiB buffer or queued
  // towards the backend (socket send queue, at most tcp_wmem's 4 MiB, plus
  // the backend's small receive queue), not piling up in the proxy.
  CHECK(last < 16 * 1024 * 1024);

  // Now drain and check every byte.
  size_t got = 0;
  bool intact = true;
  while (got < total) {
    std::string part = RecvN(server, std::min<size_t>(1 << 20, total - got),
                             absl::Seconds(20));
    if (part.empty()) break;
    for (size_t i = 0; i < part.size() && intact; ++i) {
      size_t pos = got + i;
      intact = part[i] == static_cast<char>(pos * 7 + (pos >> 12));
    }
    got += part.size();
  }
  sender.join();
  CHECK(got == total);
  CHECK(intact);
  CHECK(sent.load());
  close(client);
  close(server);
  close(backend);
}

TEST_CASE("TCP: many concurrent connections through one proxy") {
  if (!EnterFreshNetns()) return;
  auto proxy = StartProxy();
  int backend = TcpListen(kLo, 9003);
  REQUIRE(backend >= 0);
  EchoServer echo(backend);
  auto id = proxy->AddTcp({Ipv4Address(), 8003}, {kLo, 9003});
  REQUIRE(id.ok());
  std::vector<int> clients;
  for (int i = 0; i < 64; ++i) {
    int c = TcpConnect(kLo, 8003);
    REQUIRE(c >= 0);
    clients.push_back(c);
  }
  for (size_t i = 0; i < clients.size(); ++i) {
    REQUIRE(SendAll(clients[i], absl::StrCat("message-", i, ";")));
  }
  for (size_t i = 0; i < clients.size(); ++i) {
    std::string want = absl::StrCat("message-", i, ";");
    CHECK(RecvN(clients[i], want.size(), absl::Seconds(5)) == want);
  }
  CHECK(StatsOf(*proxy, *id).active == 64);
  for (int c : clients) close(c);
  CHECK(WaitFor([&] { return StatsOf(*proxy, *id).active == 0; }));
}

TEST_CASE("TCP: an unreachable backend closes the client") {
  if (!EnterFreshNetns()) return;
  auto proxy = StartProxy();
  auto id = proxy->AddTcp({kLo, 8004}, {kLo, 9004});  // nobody on 9004
  REQUIRE(id.ok());
  int client = TcpConnect(kLo, 8004);
  REQUIRE(client >= 0);
  CHECK(RecvN(client, 1, absl::Seconds(5)).empty());
  close(client);
  CHECK(WaitFor([&] { return StatsOf(*proxy, *id).active == 0; }));
}

TEST_CASE("Remove closes the listener and live connections; ports are reusable") {
  if (!EnterFreshNetns()) return;
  auto proxy = StartProxy();
  int backend = TcpListen(kLo, 9005);
  REQUIRE(backend >= 0);
  auto id = proxy->AddTcp({Ipv4Address(), 8005}, {kLo, 9005});
  REQUIRE(id.ok());
  int client = TcpConnect(kLo, 8005);
  REQUIRE(client >= 0);
  int server = TcpAccept(backend, absl::Seconds(5));
  REQUIRE(server >= 0);

  absl::StatusOr<ProxyServer::ProxyId> dup =
      proxy->AddTcp({Ipv4Address(), 8005}, {kLo, 9005});
  CHECK(absl::IsAlreadyExists(dup.status()));
  CHECK(dup.status().message() ==
        "Error starting userland proxy: listen tcp 0.0.0.0:8005: bind: address "
        "already in use");

  REQUIRE(proxy->Remove(*id).ok());
  CHECK(RecvN(client, 1, absl::Seconds(5)).empty());
  CHECK(RecvN(server, 1, absl::Seconds(5)).empty());
  CHECK(absl::IsNotFound(proxy->Remove(*id)));
  CHECK(TcpConnect(kLo, 8005, absl::Seconds(1)) < 0);  // refused
  auto again = proxy->AddTcp({Ipv4Address(), 8005}, {kLo, 9005});
  CHECK(again.ok());
  close(client);
  close(server);
  close(backend);

  proxy->Stop();
  CHECK(absl::IsFailedPrecondition(proxy->AddTcp({kLo, 8006}, {kLo, 9006}).status()));
  proxy->Stop();  // idempotent
}

TEST_CASE("UDP: one flow per client, replies routed back, idle flows expire") {
  if (!EnterFreshNetns()) return;
  ProxyServer::Options options;
  options.udp_idle_timeout = absl::Milliseconds(300);
  auto proxy = StartProxy(options);
  int backend = UdpBind(kLo, 9053);
  REQUIRE(backend >= 0);
  EchoServer echo(backend, /*udp=*/true);
  auto id = proxy->AddUdp({Ipv4Address(), 8053}, {kLo, 9053});
  REQUIRE(id.ok());

  int a = UdpBind(kLo, 0);
  int b = UdpBind(kLo, 0);
  REQUIRE(a >= 0);
  REQUIRE(b >= 0);
  for (int round = 0; round < 3; ++round) {
    REQUIRE(SendDatagram(a, kLo, 8053, absl::StrCat("a", round)));
    REQUIRE(SendDatagram(b, kLo, 8053, absl::StrCat("b", round)));
    Ipv4Address from;
    uint16_t port = 0;
    CHECK(RecvDatagram(a, absl::Seconds(5), &from, &port) == absl::StrCat("a", round));
    CHECK(port == 8053);
    CHECK(RecvDatagram(b, absl::Seconds(5)) == absl::StrCat("b", round));
  }
  ProxyServer::Stats stats = StatsOf(*proxy, *id);
  CHECK(stats.active == 2);
  CHECK(stats.accepted == 2);
  // The backend saw two distinct sources, one per client flow.
  auto peers = echo.Peers();
  REQUIRE(peers.size() == 6);
  CHECK(peers[0].second != peers[1].second);
  CHECK(peers[0].second == peers[2].second);

  CHECK(WaitFor([&] { return StatsOf(*proxy, *id).active == 0; },
                absl::Seconds(10)));
  REQUIRE(SendDatagram(a, kLo, 8053, "again"));
  CHECK(RecvDatagram(a, absl::Seconds(5)) == "again");
  CHECK(StatsOf(*proxy, *id).accepted == 3);
  close(a);
  close(b);
}

TEST_CASE("UDP: the flow cap drops new clients' datagrams") {
  if (!EnterFreshNetns()) return;
  ProxyServer::Options options;
  options.max_udp_flows_per_proxy = 1;
  auto proxy = StartProxy(options);
  int backend = UdpBind(kLo, 9054);
  REQUIRE(backend >= 0);
  EchoServer echo(backend, /*udp=*/true);
  auto id = proxy->AddUdp({kLo, 8054}, {kLo, 9054});
  REQUIRE(id.ok());
  int a = UdpBind(kLo, 0);
  int b = UdpBind(kLo, 0);
  REQUIRE(SendDatagram(a, kLo, 8054, "first"));
  CHECK(RecvDatagram(a, absl::Seconds(5)) == "first");
  REQUIRE(SendDatagram(b, kLo, 8054, "second"));
  CHECK(WaitFor([&] { return StatsOf(*proxy, *id).dropped == 1; }));
  CHECK(StatsOf(*proxy, *id).active == 1);
  close(a);
  close(b);
}

}  // namespace
}  // namespace berth::net
