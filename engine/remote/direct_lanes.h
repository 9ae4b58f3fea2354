// DirectLanes: a client's side of the direct path (docs/protocol.md, "The
// direct path"): the leases berthd gave it, per job name, and a connection
// (a "lane") to each worker they name.
//
// The client asks berthd for routes (ROUTE) the first time it runs a name and
// again when half the lease has passed, and keeps running jobs through the
// relay meanwhile: a lease never delays a job. Pick() then names the least
// loaded lane with room (the client's own jobs there below the worker's
// capacity) for a job. Lanes connect with ZMQ_IMMEDIATE, so a send on a lane
// whose connection is not (or no longer) up fails at once, and the client
// sends the job through the relay instead.
//
// Thread safety: none; the client's thread only.
#ifndef BERTH_ENGINE_REMOTE_DIRECT_LANES_H_
#define BERTH_ENGINE_REMOTE_DIRECT_LANES_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "engine/remote/wire.h"
#include <zmq.hpp>

namespace berth::remote {

struct Lane {
  std::string worker_name;
  std::string endpoint;
  std::string public_key;
  std::string ticket;  // the newest this client holds for the worker
  uint32_t capacity = 1;
  std::unique_ptr<zmq::socket_t> sock;
  size_t in_flight = 0;  // this client's jobs on the lane
  absl::Time last_heard;
  absl::Time last_beat;
};

class DirectLanes {
 public:
  struct Options {
    std::string client_key_file;  // for lanes to CURVE workers ("" : a fresh keypair)
    absl::Duration heartbeat_interval = absl::Seconds(1);
    int heartbeat_liveness = 3;
  };
  DirectLanes(zmq::context_t& ctx, Options options) : ctx_(ctx), options_(std::move(options)) {}

  // Whether to send a ROUTE for `name` now (never twice while one is out).
  bool WantRoute(const std::string& name, absl::Time now);
  // A ROUTE went out as request `id`.
  void Asked(uint64_t id, const std::string& name) { asks_[id] = name; }
  // The server's answer to ROUTE `id`: a LEASE, or an ERROR (a berthd that
  // does not know ROUTE: the relay alone, for a minute). False if `id` was no
  // ROUTE of ours.
  bool OnAnswer(const Frame& f, absl::Time now);

  // The lane for a job named `name` now, or null (use the relay).
  Lane* Pick(const std::string& name, absl::Time now);
  // Whether the lease of `name` says its jobs may run again elsewhere.
  bool Idempotent(const std::string& name) const;
  // A worker refused a ticket: forget the lease of `name` (ask again).
  void Forget(const std::string& name);
  // A lane's worker is lost: no job goes there until a lease names it again,
  // and then on a new connection. `lane` (with no jobs left on it) is freed.
  void Drop(Lane* lane);

  std::vector<Lane*> lanes();

 private:
  struct LeaseState {
    absl::Time expires = absl::InfinitePast();
    absl::Time renew = absl::InfinitePast();
    bool asked = false;
    bool idempotent = false;
    std::vector<std::string> lanes;  // endpoints
  };
  Lane* Open(const DirectRoute& route);

  zmq::context_t& ctx_;
  Options options_;
  absl::flat_hash_map<std::string, LeaseState> leases_;
  absl::flat_hash_map<std::string, std::unique_ptr<Lane>> lanes_;  // by endpoint
  absl::flat_hash_map<uint64_t, std::string> asks_;
};

}  // namespace berth::remote

#endif  // BERTH_ENGINE_REMOTE_DIRECT_LANES_H_
