// Dispatcher: the jobs a server relays to its workers.
//
// Workers announce the names they serve and their capacity (HELLO). Each name
// is registered on the engine as a handler (LocalCall::Run through the server),
// so in-process callers reach workers the way clients do. A request for such a
// name — from a client connection or an in-process caller, the "requester" —
// becomes a Forward: it goes to the least loaded worker with room (by share of
// capacity in use; equal workers take turns), or waits in the name's FIFO
// queue until one has room. From then on the dispatcher relays frames both
// ways under the relay's own id (the dispatch id), with no buffering of its own:
// credit flows end to end, and a worker's output beyond the credit granted ends
// the job with status 1.
//
// Faults, each answered to the requester exactly once and nothing sent for the
// request after its END:
//  - a worker lost (disconnected, silent for heartbeat_liveness heartbeats,
//    BYE, a second HELLO): its jobs end 126 `<name>: worker W was lost (why)`,
//    except idempotent ones of which nothing reached the requester yet, which
//    are dispatched again (with the stdin kept for that, up to one window);
//  - the last worker serving a name gone: queued jobs end 126
//    `<name>: no worker serves this job any more`;
//  - a deadline: 124 `<name>: deadline exceeded`, and CANCEL to the worker;
//  - the requester gone: CANCEL to the worker, its END dropped;
//  - the worker refused the job (REFUSED: at capacity with jobs it took
//    directly): it goes back to the front of its queue, and that worker
//    counts as full until it reports or ends a job.
//
// The direct path (docs/protocol.md): a worker that announces an endpoint of
// its own gets an admission key (WELCOME); a client's ROUTE is answered with
// a LEASE naming the workers that serve the name directly, each with a ticket
// minted with that worker's key (ticket.h). Workers REPORT the jobs they run
// directly: those count in their load here and in `workers`.
//
// Threads: everything runs on the server's I/O thread, except WaitForJobs,
// which any thread may call.
#ifndef BERTH_ENGINE_REMOTE_DISPATCHER_H_
#define BERTH_ENGINE_REMOTE_DISPATCHER_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "engine/observer.h"
#include "engine/remote/deadline_queue.h"
#include "engine/remote/local_call.h"
#include "engine/remote/outbox.h"
#include "engine/remote/wire.h"

namespace berth::remote {

// Registry and counters of one worker, as the `workers` job reports them.
struct WorkerInfo {
  std::string name;
  std::string identity;
  std::vector<std::string> jobs;
  uint32_t capacity = 0;
  uint32_t in_flight = 0;
  uint64_t completed = 0;
  uint64_t failed = 0;
  bool draining = false;
  // The direct path: where the worker takes jobs directly ("" if it does
  // not), and the jobs it reports running and run there.
  std::string direct_endpoint;
  uint64_t direct_running = 0;
  uint64_t direct_served = 0;
};

// The key of a peer in the server's maps: socket index and routing id.
std::string PeerKey(const Peer& peer);
// A routing id as text: itself when printable, else hex.
std::string PrintableIdentity(absl::string_view identity);

class Dispatcher {
 public:
  // What the dispatcher needs of the server, on the I/O thread.
  class Port {
   public:
    virtual ~Port() = default;
    // Sends one frame to a worker. A failed send is reported back through
    // WorkerLost (later, never from inside this call).
    virtual void SendToPeer(const Peer& peer, const std::string& payload) = 0;
    // Sends one frame to client `key` (nothing if it is gone).
    virtual void SendToClient(const std::string& key, const std::string& payload) = 0;
    // Client `key`'s request `id` has its END: its session is over.
    virtual void ClientRequestEnded(const std::string& key, uint64_t id) = 0;
  };

  struct Options {
    // Names workers will serve: without a worker, 126 rather than 127.
    std::vector<std::string> remote_jobs;
    absl::Duration heartbeat_interval = absl::Seconds(1);
    int heartbeat_liveness = 3;
    // The handler registered for each served name.
    Handler handler;
    // How long the routes of a LEASE (and their tickets) hold.
    absl::Duration direct_lease = absl::Seconds(30);
  };

  Dispatcher(Engine& engine, Port& port, Options options);
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // ---- workers ----
  bool IsWorker(const std::string& key) const { return workers_.contains(key); }
  // A HELLO from a peer that is not a worker yet.
  void OnHello(const Peer& peer, Frame hello);
  // Any frame from worker `key` (IsWorker).
  void OnWorkerFrame(const std::string& key, Frame f);
  // The worker's connection is gone or broke the protocol.
  void WorkerLost(const std::string& key, absl::string_view reason);
  std::vector<WorkerInfo> Workers() const;
  // A client's ROUTE `id` for `name`: the LEASE to answer it with (leases.cc).
  std::string Lease(uint64_t id, const std::string& name);

  // ---- requests ----
  // A connected worker serves `name`.
  bool Serves(const std::string& name) const { return served_.contains(name); }
  // A worker serves or will serve `name` (Options::remote_jobs, or served once).
  bool WillServe(const std::string& name) const { return remote_names_.contains(name); }
  // Starts relaying client `key`'s JOB (its id is the client's); returns the
  // dispatch id that the client's later frames for it go to.
  uint64_t StartForClient(const std::string& key, Frame job);
  // A client's CANCEL, CREDIT, STDIN or STDIN_END for dispatch `d`.
  void FromClient(uint64_t d, Frame f);
  // Ends dispatch `d` for its requester with status 1 `<name>: why` (the
  // requester sent an invalid frame for it).
  void Fail(uint64_t d, absl::string_view why);
  // Dispatch `d`'s client is gone: the job is cancelled, nothing is answered.
  void ClientGone(uint64_t d);
  // In-process callers (see local_call.h): the same, keyed by the call.
  void StartLocal(std::shared_ptr<LocalCall> call, JobRequest job, bool has_stdin);
  void FromLocal(const LocalCall* call, Frame f);
  void LocalDone(const LocalCall* call) { local_calls_.erase(call); }

  // ---- time ----
  // When FireTimers has work next (InfiniteFuture: none).
  absl::Time NextTimer() const;
  void FireTimers(absl::Time now);
  // Once per heartbeat interval: heartbeats to workers, silent ones lost.
  // A worker silent for heartbeat_interval × heartbeat_liveness is lost at
  // that moment (NextTimer includes it), not at the next tick: so its jobs end
  // within that time of its last frame, however the ticks fall.
  void Tick(absl::Time now);
  // Heartbeats to the workers on `socket` (a send to a vanished peer fails).
  void Probe(int socket);

  // Waits until every name in `names` is served by at least one worker. Any
  // thread. Error after `timeout`:
  // `timed out after 5s waiting for workers to serve: a, b`.
  absl::Status WaitForJobs(const std::vector<std::string>& names, absl::Duration timeout);

  // The server stops: in-process callers get 126 `<name>: the server stopped`,
  // every served name is unregistered.
  void Stop();

 private:
  struct Forward {
    uint64_t dispatch = 0;
    std::string client;  // requester's client key, or
    uint64_t client_id = 0;
    std::shared_ptr<LocalCall> local;  // an in-process caller
    JobRequest request;
    bool has_stdin = false;
    bool end_tail = false;  // the requester accepts END frames with a tail
    std::string worker;                  // worker key; "" while queued
    std::deque<std::string> stdin_copy;  // kept while the job may be dispatched again
    uint64_t stdin_bytes = 0;
    bool stdin_end = false;
    bool replayable = true;  // nothing from a worker has reached the requester yet
    bool answered = false;   // the requester has its END
    absl::Time deadline = absl::InfiniteFuture();
    DeadlineQueue<uint64_t>::Handle deadline_entry;  // in deadlines_, until the forward goes
    // Output the worker may still send: the starting window plus the
    // requester's grants, less what it sent. Below zero, it broke the protocol.
    int64_t out_window = static_cast<int64_t>(kInitialCredit);
    // For the engine's observers (engine/observer.h).
    absl::Time started;
    std::string worker_name;
  };
  struct WorkerState {
    Peer peer;
    std::string name;
    uint32_t capacity = 1;
    std::vector<std::string> jobs;  // names this server routes to it
    absl::flat_hash_set<std::string> idempotent;
    bool draining = false;
    absl::Time last_seen;
    absl::flat_hash_set<uint64_t> in_flight;
    uint64_t completed = 0;
    uint64_t failed = 0;
    // The direct path: endpoint and CURVE public key ("" without), the key
    // that checks its tickets, and what it last reported.
    std::string direct_endpoint;
    std::string direct_key;
    std::string admission_key;
    uint64_t direct_running = 0;
    uint64_t direct_served = 0;
    // Jobs counted against capacity: those relayed and those taken directly.
    size_t load() const { return in_flight.size() + direct_running; }
  };
  Forward& NewForward(JobRequest job);
  Forward* Find(uint64_t d);
  void Dispatch(Forward& fw);
  void DispatchPending(const std::string& name);
  void DispatchPendingOf(const std::vector<std::string>& names);
  // A requester's CANCEL, CREDIT, STDIN or STDIN_END, whoever the requester.
  void FromRequester(Forward& fw, Frame f);
  void RelayStdin(Forward& fw, bool end, std::string data);
  // Sends one frame to the forward's worker, if it has one.
  void SendToWorker(const Forward& fw, const std::string& payload);
  void ToRequester(Forward& fw, FrameType type, std::string data, uint64_t credit = 0);
  // Ends the requester's job; `tail` is a worker's END carrying the job's last
  // output (see Frame::has_tail), or null.
  void AnswerRequester(Forward& fw, int status, absl::string_view message, const Frame* tail = nullptr);
  // Answers and forgets a forward that no worker is running.
  void EndQueued(Forward& fw, int status, absl::string_view message);
  void FinishForward(uint64_t dispatch);
  // Subtracts `bytes` of worker output from the forward's window; false (and
  // the job ended for its requester) if the worker sent more than granted.
  bool TakeOutputWindow(Forward& fw, const WorkerState& w, uint64_t bytes);
  void OnWorkerOutput(WorkerState& w, Frame f);
  // The worker refused relayed job `d` (at capacity): queue it again.
  void Requeue(WorkerState& w, uint64_t d);
  void UnserveName(const std::string& name, const std::string& worker_key);
  // Tell the engine's observers (engine/observer.h).
  void ReportEnded(const Forward& fw, int status);
  void ReportWorker(WorkerReport::Kind kind, const WorkerState& w, absl::string_view reason = "");
  absl::Duration SilenceLimit() const { return options_.heartbeat_interval * options_.heartbeat_liveness; }
  // Loses the workers silent for SilenceLimit(); sets silence_check_ to when
  // the next one would be.
  void LoseSilentWorkers(absl::Time now);
  void PublishServed();

  Engine& engine_;
  Port& port_;
  Options options_;

  absl::flat_hash_map<uint64_t, Forward> forwards_;
  absl::flat_hash_map<const LocalCall*, uint64_t> local_calls_;
  absl::flat_hash_map<std::string, WorkerState> workers_;
  absl::flat_hash_map<std::string, std::vector<std::string>> served_;  // name → worker keys
  absl::flat_hash_map<std::string, std::deque<uint64_t>> pending_;
  absl::flat_hash_set<std::string> remote_names_;
  DeadlineQueue<uint64_t> deadlines_;  // of the forwards with one, by dispatch id
  // When the quietest worker reaches SilenceLimit() (it may have spoken since:
  // then the check finds nothing and moves on).
  absl::Time silence_check_ = absl::InfiniteFuture();
  uint64_t next_dispatch_ = 1;
  size_t rr_ = 0;

  absl::Mutex served_mu_;
  absl::CondVar served_cv_;
  absl::flat_hash_set<std::string> served_names_ ABSL_GUARDED_BY(served_mu_);
};

}  // namespace berth::remote

#endif  // BERTH_ENGINE_REMOTE_DISPATCHER_H_
