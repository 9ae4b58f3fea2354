// Server: serves an Engine over ZeroMQ to clients and workers.
//
// One I/O thread owns every socket (a ROUTER per endpoint) and all routing state;
// jobs handled in-process run on a bounded thread pool through JobBridges; jobs
// whose names workers serve are relayed between requester and worker by the I/O
// thread alone (no pool thread, no buffering: credits flow end to end).
//
// Workers announce the names they serve and their capacity (HELLO); each such
// name is registered on the engine as a handler that dispatches to the least
// loaded worker, so in-process callers reach workers the same way clients do.
// The server tracks every job in flight per worker: a worker that stops
// heartbeating or disconnects fails its in-flight jobs at once with status 126
// (idempotent ones are dispatched again), deadlines fail jobs with 124 and cancel
// them on the worker, and a client that disappears has its jobs cancelled.
//
// Where each part lives (engine/remote/):
//   server.cc     the I/O loop: reads each frame and routes it — a worker's to
//                 the dispatcher, a client's to its session — plus the
//                 per-connection limits and the heartbeats
//   listener.h    the endpoints: ipc directory and modes, CURVE + ZAP, monitors
//   executor.h    the jobs run here for one client (shared with the worker)
//   dispatcher.h  the jobs relayed to workers: forwards, the pending queue,
//                 replay of idempotent jobs, worker loss
//   local_call.h  in-process callers of jobs that workers serve
//   request.h     a request <-> an engine Job
#ifndef BERTH_ENGINE_REMOTE_SERVER_H_
#define BERTH_ENGINE_REMOTE_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "engine/remote/dispatcher.h"

namespace berth::remote {

struct ServerOptions {
  // ipc:///path/to.sock and tcp://HOST:PORT endpoints (tcp port 0 picks one).
  std::vector<std::string> endpoints;
  // Group owning ipc sockets (mode 0660) and their directory; "" leaves root's.
  std::string socket_group;
  // CURVE on tcp endpoints: the server's key file (see security.h) and the
  // authorized client keys. Without them only loopback tcp is allowed.
  std::string curve_key_file;
  std::string authorized_keys_file;
  // In-process jobs for clients run on this many threads at once (berthd
  // --job-threads); the others wait for a thread in arrival order. A waiting
  // job still ends at once on CANCEL (130) or its deadline (124). `workers`
  // lists this limit as the row "berthd (in-process)".
  int pool_threads = 32;
  // Per client connection (berthd --max-connection-jobs, --max-connection-mib):
  // jobs in flight, and the stream windows they hold — each job 1 MiB for its
  // output (kInitialCredit) and 1 MiB more when it has stdin. A JOB beyond
  // either limit ends at once with 126 and
  // `<name>: this connection has N jobs in flight, its limit (...); wait for one to end` or
  // `<name>: this connection has N MiB of stream windows open, its limit (...); wait for a job to end`.
  // So one connection makes the server hold at most max_connection_bytes of
  // stream data, whatever it sends.
  int max_connection_jobs = 128;
  uint64_t max_connection_bytes = uint64_t{128} << 20;
  // Names that workers will serve (berthd's --remote-handlers groups). While no
  // worker serving one is connected, a request for it ends with 126
  // `<name>: no worker serving <name> is connected` (a name some worker served
  // earlier in this server's life gets the same), never 127.
  std::vector<std::string> remote_jobs;
  // True while the process is still registering its jobs: until SetReady, a
  // request for a name with no handler ends with 126 `<name>: berthd is starting`
  // instead of 127, because the name may yet be registered.
  bool starting = false;
  // ZeroMQ I/O threads (berthd --io-threads). Each connection stays on the one
  // it was accepted on (the least loaded), and a thread serves its connections
  // in turn, so while a storm of connections is being accepted and handshaken,
  // a client already connected waits behind the share of the storm that landed
  // on its thread. With 16 the share is small: in tools/bench/storm_bench (5,000
  // silent clients a round, generated on the same 2-core machine) the worst echo
  // of a connected client was 15-80 ms, where it was 110-360 ms with 2. The
  // price: a relayed job's client and worker connections land on two threads,
  // not one, so each job wakes one more thread (remote_bench (c), window 64:
  // some 12% more context switches in the server, 4-7% less throughput than
  // with 1). Jobs run in-process are not affected.
  int io_threads = 16;
  absl::Duration heartbeat_interval = absl::Seconds(1);
  int heartbeat_liveness = 3;  // missed heartbeats before a peer is lost
  // The direct path: how long a LEASE's routes and tickets hold.
  absl::Duration direct_lease = absl::Seconds(30);
};

class Server {
 public:
  // Binds every endpoint, registers the `workers` built-in on `engine`, and
  // starts serving. Errors name the endpoint and the reason.
  static absl::StatusOr<std::unique_ptr<Server>> Start(Engine& engine, ServerOptions options);
  // Stops serving (see Stop).
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Closes the sockets: in-flight remote jobs fail with 126, clients' jobs are
  // cancelled. Idempotent.
  void Stop();

  // The endpoints as bound (a tcp port 0 resolved to the real port).
  std::vector<std::string> endpoints() const;

  // Waits until every name in `names` is served by at least one worker.
  // Error after `timeout`: `timed out after 5s waiting for workers to serve: a, b`.
  absl::Status WaitForJobs(const std::vector<std::string>& names, absl::Duration timeout);

  std::vector<WorkerInfo> Workers();

  // Start-up is over (see ServerOptions::starting): from now on a name with no
  // handler is 127.
  void SetReady();

  class Impl;

 private:
  explicit Server(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace berth::remote

#endif  // BERTH_ENGINE_REMOTE_SERVER_H_
