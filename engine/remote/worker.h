// Worker: hosts handlers out of process for a berth server.
//
// A worker connects (DEALER) to the server, announces the job names it serves and
// how many jobs it runs at once (HELLO), heartbeats, and runs the jobs the server
// sends it on its engine, streaming their output back under the server's credit.
// When the server goes silent (3 heartbeats) or restarts, the worker cancels what
// it was running (the server has already failed those jobs) and connects again
// with backoff. When the server says it counted the worker lost while their
// connection survived (ERROR code 5, after a network cut), the worker cancels
// the same way and says HELLO again on that connection.
// Drain() finishes the jobs in flight, takes no new ones, says BYE and returns.
//
// With a direct endpoint (WorkerOptions::direct_endpoint), the worker also
// takes jobs straight from clients that berthd vouched for (direct_endpoint.h):
// they share its capacity with the relayed ones, and it REPORTs them to the
// server every heartbeat interval. A relayed JOB
// that finds the worker full is answered REFUSED (at capacity), and the server
// queues it again.
#ifndef BERTH_ENGINE_REMOTE_WORKER_H_
#define BERTH_ENGINE_REMOTE_WORKER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "engine/engine.h"

namespace berth::remote {

struct WorkerOptions {
  std::string endpoint;
  std::string name;                     // how `berth workers` shows this worker
  std::vector<std::string> jobs;        // the names served
  std::vector<std::string> idempotent;  // names the server may dispatch again
  int capacity = 8;                     // jobs run at once
  // Where clients may send jobs directly ("": nowhere); see DirectOptions
  // for the forms. With client_key_file, CURVE under that keypair.
  std::string direct_endpoint;
  std::string server_key;               // CURVE, as for ClientOptions
  std::string client_key_file;
  absl::Duration heartbeat_interval = absl::Seconds(1);
  int heartbeat_liveness = 3;
  absl::Duration reconnect_min = absl::Milliseconds(100);
  absl::Duration reconnect_max = absl::Seconds(5);
};

class Worker {
 public:
  Worker(Engine& engine, WorkerOptions options);
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Serves until drained or stopped. Errors only for bad options (a bad key).
  absl::Status Run();
  // Async-signal-safe: both only write to an eventfd.
  void Drain();
  void Stop();

  class Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace berth::remote

#endif  // BERTH_ENGINE_REMOTE_WORKER_H_
