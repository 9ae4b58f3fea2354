// Listener: the server's endpoints, bound. One ROUTER per endpoint, each with a
// monitor that reports connections accepted and gone.
//
// Rules it enforces (docs/protocol.md, "Transport"):
// - ipc://PATH: PATH's directory is berthd's, 0700 (0710 with a group), never
//   one another user owns or can write (see PrepareIpcPath in zmq_socket.h);
//   the socket is 0660, owned by root and `socket_group`. The socket files are
//   removed by Close.
// - tcp://HOST:PORT: without CURVE keys only loopback addresses, refused with
//   `refusing to serve tcp://0.0.0.0:1 without CURVE keys: ...`; with keys the
//   socket is a CURVE server and a ZAP handler admits only authorized keys.
// - Every ROUTER refuses frames over kMaxFrameBytes, queues at most 1,000
//   received frames per connection, and closes a connection whose peer's ZMTP
//   heartbeats stop (berth's clients and workers send them with a 3 s TTL).
//   Only a tcp endpoint beyond loopback sends heartbeats of its own: on ipc
//   and loopback the kernel reports a peer that is gone, and libzmq keeps each
//   connection's heartbeat timers in one ordered list per I/O thread that it
//   searches from the start to cancel one, so with thousands of connections
//   every handshake and every answered PING scanned them all.
//
// Thread safety: Bind on any thread; afterwards the sockets belong to the one
// thread that polls them (the server's I/O thread).
#ifndef BERTH_ENGINE_REMOTE_LISTENER_H_
#define BERTH_ENGINE_REMOTE_LISTENER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/remote/security.h"
#include "engine/remote/zmq_socket.h"
#include <zmq.hpp>

namespace berth::remote {

struct ListenOptions {
  std::vector<std::string> endpoints;
  std::string socket_group;  // "" leaves ipc sockets root's
  std::string curve_key_file;
  std::string authorized_keys_file;
  SocketTuning tuning;
};

class Listener {
 public:
  // Binds every endpoint. Errors name the endpoint and the reason, e.g.
  // `cannot serve tcp://127.0.0.1:1: Address already in use`,
  // `unknown group 'nogroup'`, `ipc endpoint 'ipc://x' needs an absolute path`.
  static absl::StatusOr<std::unique_ptr<Listener>> Bind(zmq::context_t& ctx, const ListenOptions& options);
  ~Listener();  // Close()
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  size_t size() const { return routers_.size(); }
  zmq::socket_t& router(size_t i) { return *routers_[i]; }
  zmq::socket_t& monitor(size_t i) { return *monitors_[i]; }
  // A connection router i accepted (`accepted`) or that went, by its file
  // descriptor (which may be reused once it went).
  struct Event {
    int fd = -1;
    bool accepted = false;
  };
  // Reads the pending events of router i's monitor, in order.
  std::vector<Event> TakeEvents(size_t i);
  // The endpoints as bound (a tcp port 0 resolved to the real port).
  const std::vector<std::string>& endpoints() const { return bound_; }
  // Closes the sockets and the ZAP handler, removes the ipc socket files. Idempotent.
  void Close();

 private:
  Listener() = default;
  absl::Status BindOne(zmq::context_t& ctx, const std::string& endpoint, const ListenOptions& options,
                       const KeyPair* curve, gid_t gid);

  std::vector<std::unique_ptr<zmq::socket_t>> routers_;
  std::vector<std::unique_ptr<zmq::socket_t>> monitors_;
  std::vector<std::string> bound_;
  std::vector<std::string> ipc_paths_;
  std::unique_ptr<ZapHandler> zap_;
};

}  // namespace berth::remote

#endif  // BERTH_ENGINE_REMOTE_LISTENER_H_
