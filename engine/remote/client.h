// Client: runs jobs on a berth server over ZeroMQ.
//
//   auto client = Client::Connect({.endpoint = "ipc:///run/berth/berth.sock"});
//   JobRequest req{.name = "echo", .args = {"hello"}};
//   Output out;  out.AddFd(1);
//   absl::StatusOr<JobResult> r = (*client)->Run(req, nullptr, &out, &err);
//   // r->status is the job's status; r->error its error text.
//
// Run streams stdin to the job as the server grants credit and writes stdout and
// stderr chunks to the given Outputs as they arrive. Start/Wait run many jobs at
// once on one connection. A Client is used from one thread at a time.
//
// Failures of the transport itself are job results, as for any remote job:
// 126 when the server cannot be reached or goes silent (no heartbeat for 3 s),
// 124 when the deadline passes without an answer, 130 after a cancel.
//
// With ClientOptions::direct, a job may go straight to a worker (see
// direct_lanes.h). A worker that refuses it (REFUSED: it did not run) has it
// sent through the relay at once; a worker silent for 3 s with jobs of ours
// ends them with 126 `<name>: lost contact with worker W at ENDPOINT (...)`,
// except jobs the lease calls idempotent of which no output arrived yet, which
// run again through the relay.
//
// ClientOptions::on_end sees each job as it ends: which path it took (the
// relay, or straight to a worker) is known only here.
#ifndef BERTH_ENGINE_REMOTE_CLIENT_H_
#define BERTH_ENGINE_REMOTE_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "engine/env.h"
#include "engine/remote/request.h"
#include "engine/streams.h"

namespace berth::remote {

// One job of a client that ended, as ClientOptions::on_end sees it. Views are
// valid during the call only.
struct CallReport {
  absl::string_view name;
  // The request's trace id: the one it was given, or the fresh one the client
  // made for it.
  absl::string_view trace_id;
  absl::Time start;          // its JOB frame was about to be sent
  absl::Duration duration;   // from `start` until its END arrived (or the client ended it: lost, deadline)
  int status = 0;
  // The direct path: the worker that ran it (its name and the endpoint the
  // client reached it at); both "" when it went through the server.
  absl::string_view worker;
  absl::string_view worker_endpoint;
  // The connection it went through: Client::Connect numbers the connections
  // of a process 1, 2, … in the order they are made.
  uint64_t connection = 0;
};

struct ClientOptions {
  std::string endpoint;
  // CURVE (tcp): the server's public key (40 Z85 characters or a key file), and
  // this client's key file (see security.h). With a server key and no client
  // key file, the client uses a fresh keypair (admitted only if the server
  // authorizes every key, which berth's servers never do).
  std::string server_key;
  std::string client_key_file;
  absl::Duration connect_timeout = absl::Seconds(3);
  absl::Duration heartbeat_interval = absl::Seconds(1);
  int heartbeat_liveness = 3;
  // The direct path (docs/protocol.md): ask the server which workers take a
  // name directly, and send its jobs straight to them, one hop, whenever that
  // is possible; the relay through the server otherwise. Results, deadlines,
  // cancel and flow control are the same either way.
  bool direct = false;
  // Called once per job as it ends, on the thread pumping the client (in Run
  // or Wait), before its result is returned. It must be short and must not
  // use the client. Null: not called.
  std::function<void(const CallReport&)> on_end;
};

struct JobResult {
  int status = 0;
  std::string error;  // the job's error text when status != 0
};

class Client {
 public:
  // Connects and completes the handshake (so a missing server, a refused key or
  // a wrong server key is reported here, clearly).
  static absl::StatusOr<std::unique_ptr<Client>> Connect(ClientOptions options);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Runs one job to its end. `stdin` may be null (no stdin); `stdout`/`stderr`
  // may be null (output discarded). When `cancel_fd` becomes readable the job is
  // cancelled. The returned error is for misuse only; transport failures are
  // results (see the file comment).
  absl::StatusOr<JobResult> Run(const JobRequest& request, Source* stdin, Output* stdout, Output* stderr,
                                int cancel_fd = -1);

  // Starts a job without stdin and returns its id; its output goes to the given
  // Outputs (which must outlive the job).
  uint64_t Start(const JobRequest& request, Output* stdout = nullptr, Output* stderr = nullptr);
  // Waits up to `timeout` for jobs to end; returns (id, result) for each that did.
  std::vector<std::pair<uint64_t, JobResult>> Wait(absl::Duration timeout);
  // Cancels a started job (its result arrives through Wait or Run).
  void Cancel(uint64_t id);
  size_t in_flight() const;
  // Jobs that ended straight from a worker (ClientOptions::direct).
  uint64_t direct_jobs() const;

  const std::string& endpoint() const;

  class Impl;

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace berth::remote

#endif  // BERTH_ENGINE_REMOTE_CLIENT_H_
