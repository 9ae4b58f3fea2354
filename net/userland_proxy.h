// The userland proxy: forwards connections that reach a mapped host port
// without passing the nat PREROUTING chain (the host talking to itself, e.g.
// 127.0.0.1:HostPort, which the OUTPUT jump excludes) to the container.
//
// One ProxyServer runs one epoll thread for every proxy in the daemon — not a
// process per port as the reference did. TCP connections are spliced with a
// bounded buffer per direction: when a buffer is full the proxy stops
// reading the sending side (back-pressure through the kernel's TCP window)
// until the other side drains it; half-closes are passed on. UDP keeps one
// flow (a connected socket towards the container) per client address, closed
// after an idle timeout, with a cap on flows per proxy; datagrams that cannot
// be queued are dropped, as UDP allows.
//
// Network namespaces: listening sockets are created by the thread that calls
// AddTcp/AddUdp, the connections towards containers by the proxy thread,
// which lives in the namespace of the thread that called Start. In berthd
// these are all the same.

#ifndef BERTH_NET_USERLAND_PROXY_H_
#define BERTH_NET_USERLAND_PROXY_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

#include "net/ipv4.h"

namespace berth::net {

struct Endpoint {
  Ipv4Address ip;
  uint16_t port = 0;
  std::string ToString() const;
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

class ProxyServer {
 public:
  struct Options {
    // Per direction of each TCP connection.
    size_t buffer_bytes = 64 * 1024;
    absl::Duration udp_idle_timeout = absl::Seconds(90);
    // Beyond these, new connections are closed at once and new UDP clients'
    // datagrams dropped (and counted in Stats::dropped).
    size_t max_connections_per_proxy = 4096;
    size_t max_udp_flows_per_proxy = 1024;
  };

  using ProxyId = uint64_t;

  struct Stats {
    size_t active = 0;            // open TCP connections or UDP flows
    uint64_t accepted = 0;        // TCP connections accepted / UDP flows made
    uint64_t bytes_to_backend = 0;
    uint64_t bytes_to_client = 0;
    uint64_t dropped = 0;         // refused connections, dropped datagrams
  };

  // Starts the proxy thread.
  static absl::StatusOr<std::unique_ptr<ProxyServer>> Start(Options options);
  static absl::StatusOr<std::unique_ptr<ProxyServer>> Start() {
    return Start(Options());
  }
  // Stops the thread and closes every socket.
  ~ProxyServer();

  ProxyServer(const ProxyServer&) = delete;
  ProxyServer& operator=(const ProxyServer&) = delete;

  // Listens on `frontend` (0.0.0.0 = every address) and forwards to
  // `backend`. A port in use fails with
  // "Error starting userland proxy: listen tcp <ip>:<port>: bind: address
  // already in use" (AlreadyExists), as the reference reported it.
  absl::StatusOr<ProxyId> AddTcp(Endpoint frontend, Endpoint backend);
  absl::StatusOr<ProxyId> AddUdp(Endpoint frontend, Endpoint backend);

  // Closes the listener and every connection or flow of the proxy.
  absl::Status Remove(ProxyId id);

  absl::StatusOr<Stats> GetStats(ProxyId id);

  // Idempotent; afterwards every call fails with FailedPrecondition.
  void Stop();

 private:
  class Loop;
  explicit ProxyServer(std::unique_ptr<Loop> loop);

  // Runs `fn` on the proxy thread and waits for it.
  absl::Status RunOnLoop(std::function<void()> fn);

  absl::StatusOr<ProxyId> Add(bool tcp, Endpoint frontend, Endpoint backend);

  std::unique_ptr<Loop> loop_;
  std::thread thread_;
  absl::Mutex mu_;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace berth::net

#endif  // BERTH_NET_USERLAND_PROXY_H_
