// DirectEndpoint: where a worker takes jobs straight from clients, one hop,
// when berthd vouched for them (docs/protocol.md, "The direct path").
//
// The worker binds a ROUTER of its own (tcp, with CURVE under the worker's own
// keypair when it has one; ipc in a directory only its user may write) and
// announces it in HELLO. berthd answers with WELCOME and the admission key
// (Admit); berthd's LEASEs give clients tickets minted with it (ticket.h).
// Each JOB here must carry a ticket this key checks. A JOB that cannot run is
// answered REFUSED, and nothing of it ran, so the client sends it elsewhere:
//   - no ticket, a forged or expired one, or none accepted yet (kNotAdmitted);
//   - the worker runs as many jobs as its capacity, relayed ones included
//     (kAtCapacity);
//   - a name the worker does not serve (kNotServed), or it is draining
//     (kDraining).
// Every other rule of an executor holds as on the relay (executor.h): one END
// per id, credit both ways, CANCEL. The worker enforces the JOB's deadline
// here (on the relay berthd does): 124 `<name>: deadline exceeded`. Each
// client has its own Executor, keyed by its routing id.
//
// Liveness: every heartbeat interval the endpoint sends HEARTBEAT to each
// client with jobs here; a client whose connection is gone (the send fails,
// ZMQ_ROUTER_MANDATORY) or that has been silent for the liveness limit with
// jobs here has them cancelled. Clients ask nothing of berthd to be served:
// the endpoint outlives the worker's connections to berthd, and a berthd that
// restarts welcomes the worker with a new key (old tickets are then refused,
// and clients ask for a new lease).
//
// Thread safety: every method on the worker's I/O thread.
#ifndef BERTH_ENGINE_REMOTE_DIRECT_ENDPOINT_H_
#define BERTH_ENGINE_REMOTE_DIRECT_ENDPOINT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "engine/remote/deadline_queue.h"
#include "engine/remote/executor.h"
#include "engine/remote/outbox.h"
#include "engine/remote/thread_pool.h"
#include <zmq.hpp>

namespace berth::remote {

struct DirectOptions {
  // tcp://HOST:PORT (PORT may be `*`: any free port) or ipc:///PATH. A tcp
  // HOST must be an address clients reach (not `*` or 0.0.0.0); without a
  // keypair, a loopback one.
  std::string endpoint;
  // The worker's CURVE keypair (security.h); "" serves without CURVE.
  std::string key_file;
  std::string worker_name;
  std::vector<std::string> jobs;
  absl::Duration heartbeat_interval = absl::Seconds(1);
  int heartbeat_liveness = 3;
};

class DirectEndpoint {
 public:
  // The outbox socket index of frames for direct clients (Peer::socket).
  static constexpr int kSocket = 1;

  // Binds. Errors name the endpoint: `refusing to take jobs directly at
  // tcp://0.0.0.0:7000: name the address clients reach`, ...
  static absl::StatusOr<std::unique_ptr<DirectEndpoint>> Bind(zmq::context_t& ctx, DirectOptions options,
                                                              Engine& engine, ThreadPool* pool, Outbox* outbox);
  ~DirectEndpoint();
  DirectEndpoint(const DirectEndpoint&) = delete;
  DirectEndpoint& operator=(const DirectEndpoint&) = delete;

  // What HELLO announces: the bound endpoint (a `*` port resolved) and the
  // public key ("" without CURVE).
  const std::string& endpoint() const { return endpoint_; }
  const std::string& public_key() const { return public_key_; }
  zmq::socket_t& socket() { return *sock_; }

  // berthd's WELCOME: tickets are checked with `key` from now on.
  void Admit(std::string key) { admission_key_ = std::move(key); }

  // Reads what is queued on the socket. `room` says whether the worker may
  // take one more job (its capacity, relayed jobs included); `draining`
  // whether it takes none.
  void Read(const std::function<bool()>& room, bool draining);
  // A frame from the outbox for client `identity`.
  void Send(const std::string& identity, const std::string& payload);
  // Deadlines, heartbeats and silent clients; call at NextTimer() and at
  // least once per heartbeat interval.
  void Tick(absl::Time now);
  absl::Time NextTimer() const;
  // Stops every job here and sends nothing more (the worker stops).
  void DetachAll();

  size_t running() const;  // jobs running here now
  size_t size() const;     // jobs here (running, or their END on its way)
  uint64_t served() const { return served_; }

 private:
  struct ClientState {
    std::shared_ptr<Executor> exec;
    absl::Time last_heard;
    // The ticket last found good, under which key, and when: checked again
    // once kTicketRecheck has passed (so an expired one is refused within it).
    std::string ticket;
    std::string ticket_key;
    absl::Time ticket_checked;
    // The deadlines of its jobs that have one, by job id, until they end.
    absl::flat_hash_map<uint64_t, DeadlineQueue<std::pair<std::string, uint64_t>>::Handle> deadlines;
  };
  static constexpr absl::Duration kTicketRecheck = absl::Seconds(1);
  void FireDeadlines(absl::Time now);
  DirectEndpoint(DirectOptions options, Engine& engine, ThreadPool* pool, Outbox* outbox)
      : options_(std::move(options)), engine_(engine), pool_(pool), outbox_(outbox),
        jobs_(options_.jobs.begin(), options_.jobs.end()) {}
  void OnFrame(const std::string& identity, Frame f, const std::function<bool()>& room, bool draining);
  void OnJob(const std::string& identity, ClientState& c, Frame f, const std::function<bool()>& room,
             bool draining);
  ClientState& Client(const std::string& identity);
  // Sends; false if the client's connection is gone.
  bool SendTo(const std::string& identity, const std::string& payload);
  void Forget(const std::string& identity);

  DirectOptions options_;
  Engine& engine_;
  ThreadPool* pool_;
  Outbox* outbox_;
  absl::flat_hash_set<std::string> jobs_;
  std::unique_ptr<zmq::socket_t> sock_;
  std::string endpoint_;
  std::string public_key_;
  std::string admission_key_;
  absl::flat_hash_map<std::string, ClientState> clients_;
  // The deadlines of the jobs here, by (identity, id); a job that ends first,
  // or whose client is forgotten, takes its deadline out (ClientState).
  DeadlineQueue<std::pair<std::string, uint64_t>> deadlines_;
  std::vector<std::string> gone_;  // clients to forget at the next Tick
  absl::Time last_beat_;
  uint64_t served_ = 0;
};

}  // namespace berth::remote

#endif  // BERTH_ENGINE_REMOTE_DIRECT_ENDPOINT_H_
