// Connections: the server's transport connections, by kind, for its observers
// (ConnectionChanged in engine/observer.h).
//
// ZeroMQ hides connections behind routing ids, so they are followed by file
// descriptor: the router's monitor reports each connection accepted and gone
// (Listener::TakeEvents), and every frame read names the descriptor it came
// from (ZMQ_SRCFD). A connection is reported opened at its first frame —
// HELLO (or a routing id already a worker's) makes it a worker's, anything
// else a client's — and closed when it goes; one that goes without a frame is
// not reported at all.
//
// ZeroMQ does not always report a connection's end: when a peer reconnects
// with the same routing id (a worker does, after a heartbeat timeout), the
// router hands the id over to the new connection and may close the old one
// silently. So a connection is also counted closed when a newer one takes its
// routing id, or when its descriptor is accepted again.
//
// The monitor's event for a connection is queued before any frame of it can
// be read, so a frame from a descriptor not accepted yet means the monitor
// has not been read: the caller reads it (Accepted) and asks again. A frame
// still queued from a connection already gone is not counted.
//
// Thread safety: the server's I/O thread only.
#ifndef BERTH_ENGINE_REMOTE_CONNECTIONS_H_
#define BERTH_ENGINE_REMOTE_CONNECTIONS_H_

#include <optional>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "engine/engine.h"

namespace berth::remote {

class Connections {
 public:
  explicit Connections(const Engine& engine) : engine_(engine) {}

  // Router `socket` accepted connection `fd`.
  void Accepted(int socket, int fd);
  // Connection `fd` of router `socket` went.
  void Gone(int socket, int fd);
  // Whether `fd` of `socket` is a connection accepted and not gone.
  bool Known(int socket, int fd) const { return open_.contains({socket, fd}); }
  // A frame came from `fd` of `socket`, from the peer with routing id `peer`
  // (the server's key for it); `kind` is whose it would be.
  void Frame(int socket, int fd, ConnectionKind kind, const std::string& peer);

 private:
  using Key = std::pair<int, int>;  // router, descriptor
  struct Conn {
    std::optional<ConnectionKind> kind;  // set at its first frame
    std::string peer;
  };
  const Engine& engine_;
  absl::flat_hash_map<Key, Conn> open_;
  absl::flat_hash_map<std::string, Key> by_peer_;  // counted connections by routing id
};

}  // namespace berth::remote

#endif  // BERTH_ENGINE_REMOTE_CONNECTIONS_H_
