#include "engine/remote/server.h"

#include <grp.h>
#include <malloc.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <queue>
#include <random>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/notification.h"
#include "engine/log.h"
#include "engine/remote/executor.h"
#include "engine/remote/job_bridge.h"
#include "engine/remote/listener.h"
#include "engine/remote/local_call.h"
#include "engine/remote/request.h"
#include "engine/remote/outbox.h"
#include "engine/remote/security.h"
#include "engine/remote/thread_pool.h"
#include "engine/remote/wire.h"
#include "engine/remote/zmq_socket.h"
#include <zmq.hpp>

namespace berth::remote {
namespace {

std::string PeerKey(const Peer& p) { return absl::StrCat(p.socket, "/", p.identity); }

std::string Printable(absl::string_view identity) {
  bool text = !identity.empty();
  for (unsigned char c : identity) text &= c >= 0x21 && c < 0x7f;
  if (text) return std::string(identity);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : identity) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

}  // namespace

class Server::Impl : public LocalCallPort {
 public:
  Impl(Engine& engine, ServerOptions options)
      : engine_(engine), options_(std::move(options)), pool_(std::make_unique<ThreadPool>(options_.pool_threads)) {
    starting_ = options_.starting;
    remote_names_.insert(options_.remote_jobs.begin(), options_.remote_jobs.end());
  }

  ~Impl() { Stop(); }

  absl::Status Bind();
  void StartThread() { thread_ = std::thread([this] { Loop(); }); }
  void Stop();
  std::vector<std::string> endpoints() const {
    return listener_ ? listener_->endpoints() : std::vector<std::string>{};
  }
  absl::Status WaitForJobs(const std::vector<std::string>& names, absl::Duration timeout);
  std::vector<WorkerInfo> Workers();
  // The handler of every name a worker serves (see local_call.h).
  int RunRemote(Job& job) { return LocalCall::Run(job, *this); }
  // LocalCallPort: in-process callers, on their own threads.
  bool StartCall(const std::shared_ptr<LocalCall>& call, Frame request) override;
  void CallStdin(const std::shared_ptr<LocalCall>& call, std::string chunk) override;
  void CallStdinEnd(const std::shared_ptr<LocalCall>& call) override;
  void CallCredit(const std::shared_ptr<LocalCall>& call, uint64_t bytes) override;
  void CallCancel(const std::shared_ptr<LocalCall>& call) override;
  void CallDone(const std::shared_ptr<LocalCall>& call) override;
  void SetReady() { starting_.store(false); }

 private:
  // A request of a client: run by the client's executor here, or relayed to
  // a worker.
  struct Session {
    uint64_t dispatch = 0;  // the Forward of a relayed job; 0: run by `exec`
    uint64_t window = 0;    // stream bytes reserved (ServerOptions::max_connection_bytes)
    uint64_t serial = 0;    // tells a reused id's timers from its own
  };
  struct ClientState {
    Peer peer;
    absl::Time last_seen;
    absl::flat_hash_map<uint64_t, Session> sessions;
    uint64_t windows = 0;            // the sum of the sessions' windows
    std::shared_ptr<Executor> exec;  // the jobs run here for this client
  };
  struct Forward {
    uint64_t dispatch = 0;
    std::string client;  // requester's client key, or
    uint64_t client_id = 0;
    std::shared_ptr<LocalCall> local;  // an in-process caller
    Frame request;
    std::string worker;  // worker key; "" while queued
    std::deque<std::string> stdin_copy;  // kept while the job may be dispatched again
    uint64_t stdin_bytes = 0;
    bool stdin_end = false;
    bool replayable = true;  // nothing from a worker has reached the requester yet
    bool answered = false;   // the requester has its END
    absl::Time deadline = absl::InfiniteFuture();
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
  };
  enum class TimerKind { kExecDeadline, kForwardDeadline, kProbe };
  struct Timer {
    absl::Time when;
    TimerKind kind;
    std::string client;
    uint64_t id = 0;
    int socket = 0;
    uint64_t serial = 0;
    bool operator>(const Timer& o) const { return when > o.when; }
  };

  // I/O thread.
  void Loop();
  void ReadRouter(int s);
  void ReadMonitor(int s);
  void OnFrame(const Peer& peer, const void* data, size_t size);
  void OnClientFrame(const Peer& peer, Frame f);
  void OnWorkerFrame(WorkerState& w, Frame f);
  void OnHello(const Peer& peer, Frame f);
  bool SendTo(const Peer& peer, const std::string& payload);
  void ProcessLostPeers();
  void Tick(absl::Time now);
  void FireTimer(const Timer& t);

  ClientState& Client(const Peer& peer);
  // A job left a client's executor: forget its session (the client, if idle,
  // is dropped by DropIdleClients: the executor may still be on the stack).
  void OnExecRemoved(const std::string& key, uint64_t id);
  void DropIdleClients();
  // Why a JOB from `c` cannot start now (126), or "".
  std::string Refusal(const ClientState& c, const Frame& f) const;
  // Ends the live request `id` of client `key` with status 1 and `why` (an
  // invalid frame named it); false if there is no such request to end.
  bool FailSession(const std::string& key, uint64_t id, absl::string_view why);
  // Subtracts `bytes` of worker output from the forward's window; false (and
  // the job ended for its requester) if the worker sent more than granted.
  bool TakeOutputWindow(Forward& fw, const WorkerState& w, uint64_t bytes);
  void CancelOnWorker(Forward& fw);
  // A requester's CANCEL, CREDIT, STDIN or STDIN_END for a relayed job, from a
  // client or an in-process caller alike.
  void RelayCancel(Forward& fw);
  void RelayCredit(Forward& fw, uint64_t bytes);
  void RelayStdin(Forward& fw, bool end, std::string data);
  Forward& NewForward(Frame f);
  void Dispatch(Forward& f);
  void DispatchPending(const std::string& name);
  void ToRequester(Forward& f, FrameType type, std::string data, uint64_t credit = 0);
  // Ends the requester's job; `tail` is a worker's END carrying the job's last
  // output (see Frame::has_tail), or null.
  void AnswerRequester(Forward& f, int status, absl::string_view message, const Frame* tail = nullptr);
  void FinishForward(uint64_t dispatch);
  // Tell the engine's observers (engine/observer.h).
  void ReportEnded(const Forward& fw, int status);
  void ReportWorker(WorkerReport::Kind kind, const WorkerState& w, absl::string_view reason = "");
  void ReportRefused(ErrorCode code);
  void WorkerLost(const std::string& key, absl::string_view reason);
  void ClientLost(const std::string& key);
  void UnserveName(const std::string& name, const std::string& worker_key);
  void PublishServed();

  // Local calls, on the I/O thread.
  void StartLocal(std::shared_ptr<LocalCall> call, Frame req);
  Forward* LocalForward(const LocalCall* call);

  Engine& engine_;
  ServerOptions options_;
  std::unique_ptr<ThreadPool> pool_;
  Outbox outbox_;
  // ZeroMQ I/O threads (ServerOptions::io_threads).
  zmq::context_t ctx_{std::max(options_.io_threads, 1)};
  std::unique_ptr<Listener> listener_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> starting_{false};
  bool stopped_ = false;

  // I/O thread state.
  absl::flat_hash_map<std::string, ClientState> clients_;
  absl::flat_hash_map<uint64_t, Forward> forwards_;
  absl::flat_hash_map<const LocalCall*, uint64_t> local_calls_;
  absl::flat_hash_map<std::string, WorkerState> workers_;
  absl::flat_hash_map<std::string, std::vector<std::string>> served_;  // name → worker keys
  absl::flat_hash_map<std::string, std::deque<uint64_t>> pending_;
  // Names workers serve or will serve: without a worker, 126 rather than 127.
  absl::flat_hash_set<std::string> remote_names_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> timers_;
  std::vector<std::pair<Peer, std::string>> lost_;  // peers whose sends failed
  std::vector<std::string> idle_clients_;             // clients that may have no job left
  uint64_t next_serial_ = 1;
  uint64_t next_dispatch_ = 1;
  size_t rr_ = 0;
  uint64_t frames_since_tick_ = 0;
  bool busy_since_trim_ = false;

  absl::Mutex served_mu_;
  absl::CondVar served_cv_;
  absl::flat_hash_set<std::string> served_names_ ABSL_GUARDED_BY(served_mu_);
};

// ---- binding ----

absl::Status Server::Impl::Bind() {
  ListenOptions lo;
  lo.endpoints = options_.endpoints;
  lo.socket_group = options_.socket_group;
  lo.curve_key_file = options_.curve_key_file;
  lo.authorized_keys_file = options_.authorized_keys_file;
  lo.tuning.heartbeat_interval = options_.heartbeat_interval;
  lo.tuning.heartbeat_liveness = options_.heartbeat_liveness;
  absl::StatusOr<std::unique_ptr<Listener>> listener = Listener::Bind(ctx_, lo);
  if (!listener.ok()) return listener.status();
  listener_ = *std::move(listener);

  // The `workers` built-in: one JSON object per worker, after one for the
  // threads that run in-process jobs. Nonblocking, so that it answers on the
  // I/O thread even while every pool thread is busy.
  (void)engine_.Register("workers", [this](Job& job) {
    Env pool;
    (void)pool.Set("Name", "berthd (in-process)");
    (void)pool.Set("Identity", "");
    (void)pool.SetList("Jobs", {});
    (void)pool.SetInt("Capacity", pool_->size());
    (void)pool.SetInt("InFlight", static_cast<int64_t>(pool_->running()));
    (void)pool.SetInt("Queued", static_cast<int64_t>(pool_->queued()));
    if (absl::Status s = job.Stdout().WriteEnv(pool); !s.ok()) return job.Error(s);
    for (const WorkerInfo& w : Workers()) {
      Env row;
      (void)row.Set("Name", w.name);
      (void)row.Set("Identity", w.identity);
      (void)row.SetList("Jobs", w.jobs);
      (void)row.SetInt("Capacity", w.capacity);
      (void)row.SetInt("InFlight", w.in_flight);
      (void)row.SetInt("Completed", static_cast<int64_t>(w.completed));
      (void)row.SetInt("Failed", static_cast<int64_t>(w.failed));
      (void)row.SetBool("Draining", w.draining);
      if (absl::Status s = job.Stdout().WriteEnv(row); !s.ok()) return job.Error(s);
    }
    return kStatusOk;
  }, HandlerOptions{.nonblocking = true});
  return absl::OkStatus();
}

// ---- public API ----

absl::Status Server::Impl::WaitForJobs(const std::vector<std::string>& names, absl::Duration timeout) {
  absl::Time until = absl::Now() + timeout;
  absl::MutexLock lock(&served_mu_);
  while (true) {
    std::vector<std::string> missing;
    for (const std::string& n : names) {
      if (!served_names_.contains(n)) missing.push_back(n);
    }
    if (missing.empty()) return absl::OkStatus();
    if (served_cv_.WaitWithDeadline(&served_mu_, until)) {
      return absl::DeadlineExceededError(absl::StrCat("timed out after ", absl::FormatDuration(timeout),
                                                      " waiting for workers to serve: ", absl::StrJoin(missing, ", ")));
    }
  }
}

std::vector<WorkerInfo> Server::Impl::Workers() {
  std::vector<WorkerInfo> out;
  absl::Notification done;
  auto collect = [&] {
    for (const auto& [key, w] : workers_) {
      WorkerInfo info;
      info.name = w.name;
      info.identity = Printable(w.peer.identity);
      info.jobs = w.jobs;
      info.capacity = w.capacity;
      info.in_flight = static_cast<uint32_t>(w.in_flight.size());
      info.completed = w.completed;
      info.failed = w.failed;
      info.draining = w.draining;
      out.push_back(std::move(info));
    }
    done.Notify();
  };
  if (std::this_thread::get_id() == thread_.get_id()) {
    collect();  // the `workers` job, inline on the I/O thread
  } else {
    outbox_.Post(collect);
    if (!done.WaitForNotificationWithTimeout(absl::Seconds(5))) return {};
  }
  std::sort(out.begin(), out.end(), [](const WorkerInfo& a, const WorkerInfo& b) {
    return std::tie(a.name, a.identity) < std::tie(b.name, b.identity);
  });
  return out;
}

void Server::Impl::Stop() {
  if (stopped_) return;
  stopped_ = true;
  stopping_ = true;
  outbox_.Post([] {});
  if (thread_.joinable()) thread_.join();
  // Everything the I/O thread still tracked is answered or cancelled.
  for (auto& [d, f] : forwards_) {
    if (!f.answered && f.local) {
      Frame end;
      end.type = FrameType::kEnd;
      end.status = kStatusUnavailable;
      end.message = absl::StrCat(f.request.name, ": the server stopped");
      f.local->Push(std::move(end));
    }
  }
  for (auto& [key, c] : clients_) c.exec->DetachAll();
  // Detached jobs were cancelled; wait for their threads before the outbox goes.
  pool_.reset();
  for (auto& [name, keys] : served_) engine_.Unregister(name);
  {
    absl::MutexLock lock(&served_mu_);
    served_names_.clear();
  }
  engine_.Unregister("workers");
  forwards_.clear();
  clients_.clear();
  workers_.clear();
  if (listener_) listener_->Close();
}

// ---- the I/O loop ----

void Server::Impl::Loop() {
  absl::Time next_tick = absl::Now() + options_.heartbeat_interval;
  std::vector<zmq::pollitem_t> items;
  for (size_t i = 0; i < listener_->size(); ++i) items.push_back({listener_->router(i).handle(), 0, ZMQ_POLLIN, 0});
  for (size_t i = 0; i < listener_->size(); ++i) items.push_back({listener_->monitor(i).handle(), 0, ZMQ_POLLIN, 0});
  items.push_back({nullptr, outbox_.fd(), ZMQ_POLLIN, 0});
  const size_t n_routers = listener_->size();
  std::deque<Outgoing> out;
  constexpr int kMaxPollSkips = 8;
  int poll_skips = 0;
  while (!stopping_.load()) {
    absl::Time now = absl::Now();
    absl::Time wake = next_tick;
    if (!timers_.empty()) wake = std::min(wake, timers_.top().when);
    auto wait_ms = std::max<int64_t>(0, absl::ToInt64Milliseconds(wake - now) + 1);
    // While requests keep arriving, read them without a poll system call, but
    // poll at least every kMaxPollSkips rounds so that the outbox, the monitors
    // and the timers are never starved by a busy socket.
    bool queued = false;
    if (poll_skips < kMaxPollSkips) {
      try {
        for (size_t i = 0; i < n_routers; ++i) {
          items[i].revents = (listener_->router(i).get(zmq::sockopt::events) & ZMQ_POLLIN) ? ZMQ_POLLIN : 0;
          queued |= items[i].revents != 0;
        }
      } catch (const zmq::error_t&) {
        queued = false;  // (EINTR) the poll below sorts it out
      }
    }
    if (queued) {
      ++poll_skips;
      for (size_t i = n_routers; i < items.size(); ++i) items[i].revents = 0;
    } else {
      poll_skips = 0;
      try {
        PollOnce(items.data(), items.size(), std::chrono::milliseconds(wait_ms));
      } catch (const zmq::error_t& e) {
        spdlog::error("server poll failed: {}", e.what());
        return;
      }
    }
    for (size_t i = 0; i < n_routers; ++i) {
      if (items[i].revents & ZMQ_POLLIN) ReadRouter(static_cast<int>(i));
    }
    for (size_t i = 0; i < n_routers; ++i) {
      if (items[n_routers + i].revents & ZMQ_POLLIN) ReadMonitor(static_cast<int>(i));
    }
    if (items.back().revents & ZMQ_POLLIN) {
      outbox_.Drain(&out);
      while (!out.empty()) {
        Outgoing o = std::move(out.front());
        out.pop_front();
        if (o.task) {
          o.task();
        } else if (!o.dropped()) {
          SendTo(o.peer, o.payload);
        }
      }
    }
    now = absl::Now();
    while (!timers_.empty() && timers_.top().when <= now) {
      Timer t = timers_.top();
      timers_.pop();
      FireTimer(t);
    }
    if (now >= next_tick) {
      Tick(now);
      next_tick = now + options_.heartbeat_interval;
      // A quiet tick after a busy one: give the memory freed since back to the
      // system (glibc keeps freed heap otherwise; after a storm of connections
      // berthd stayed at ten times its size). Costs a few ms, once per quiet spell.
      if (frames_since_tick_ == 0 && busy_since_trim_) {
        ::malloc_trim(0);
        busy_since_trim_ = false;
      }
      busy_since_trim_ |= frames_since_tick_ > 0;
      frames_since_tick_ = 0;
    }
    ProcessLostPeers();
  }
}

void Server::Impl::ReadRouter(int s) {
  zmq::socket_t& sock = listener_->router(static_cast<size_t>(s));
  // Bounded batch so that one busy socket cannot starve the others.
  for (int batch = 0; batch < 256; ++batch) {
    zmq::message_t identity;
    if (!sock.recv(identity, zmq::recv_flags::dontwait)) return;
    std::vector<zmq::message_t> parts;
    bool more = identity.more();
    while (more) {
      zmq::message_t part;
      if (!sock.recv(part, zmq::recv_flags::dontwait)) break;
      more = part.more();
      if (parts.size() < 4) parts.push_back(std::move(part));
    }
    Peer peer{s, identity.to_string()};
    if (parts.size() != 1) {
      // berth frames are exactly one part after the routing id.
      SendTo(peer, EncodeError(0, ErrorCode::kBadFrame, absl::StrCat("expected one frame per message, got ", parts.size())));
      ReportRefused(ErrorCode::kBadFrame);
      continue;
    }
    OnFrame(peer, parts[0].data(), parts[0].size());
    ProcessLostPeers();
  }
}

void Server::Impl::ReadMonitor(int s) {
  const bool disconnected = listener_->TakeDisconnects(static_cast<size_t>(s));
  if (disconnected) {
    // Find out which peer went: a send to a vanished routing id fails. The pipe
    // may be torn down a moment after the event, so probe again shortly.
    absl::Time now = absl::Now();
    for (absl::Duration d : {absl::ZeroDuration(), absl::Milliseconds(50), absl::Milliseconds(300)}) {
      timers_.push(Timer{now + d, TimerKind::kProbe, "", 0, s});
    }
  }
}

bool Server::Impl::SendTo(const Peer& peer, const std::string& payload) {
  if (static_cast<size_t>(peer.socket) >= listener_->size()) return false;
  if (const ObserverList* observers = engine_.observers()) {
    for (EngineObserver* o : *observers) o->FrameBytes(false, payload.size());
  }
  zmq::socket_t& sock = listener_->router(static_cast<size_t>(peer.socket));
  try {
    if (!sock.send(zmq::buffer(peer.identity), zmq::send_flags::sndmore | zmq::send_flags::dontwait)) {
      lost_.emplace_back(peer, "it stopped reading");
      return false;
    }
    if (!sock.send(zmq::buffer(payload), zmq::send_flags::dontwait)) {
      lost_.emplace_back(peer, "it stopped reading");
      return false;
    }
  } catch (const zmq::error_t& e) {
    lost_.emplace_back(peer, e.num() == EHOSTUNREACH ? "disconnected" : e.what());
    return false;
  }
  return true;
}

void Server::Impl::ProcessLostPeers() {
  DropIdleClients();
  while (!lost_.empty()) {
    auto [peer, reason] = lost_.back();
    lost_.pop_back();
    std::string key = PeerKey(peer);
    if (workers_.contains(key)) {
      WorkerLost(key, reason);
    } else if (clients_.contains(key)) {
      ClientLost(key);
    }
  }
}

void Server::Impl::OnFrame(const Peer& peer, const void* data, size_t size) {
  ++frames_since_tick_;
  if (const ObserverList* observers = engine_.observers()) {
    for (EngineObserver* o : *observers) o->FrameBytes(true, size);
  }
  absl::StatusOr<Frame> f = DecodeFrame(data, size);
  std::string key = PeerKey(peer);
  if (!f.ok()) {
    spdlog::debug("refused a frame from peer {}: {}", Printable(peer.identity), f.status().message());
    const uint64_t id = PeekFrameId(data, size);
    // An invalid frame naming a live request of a client (a STDIN chunk over
    // the limit, say) ends that request: going on would corrupt its stdin.
    if (id != 0 && !workers_.contains(key) && FailSession(key, id, f.status().message())) return;
    SendTo(peer, EncodeError(id, ErrorCode::kBadFrame, f.status().message()));
    ReportRefused(ErrorCode::kBadFrame);
    return;
  }
  auto w = workers_.find(key);
  if (w != workers_.end()) {
    w->second.last_seen = absl::Now();
    OnWorkerFrame(w->second, *std::move(f));
    return;
  }
  if (f->type == FrameType::kHello) {
    OnHello(peer, *std::move(f));
    return;
  }
  OnClientFrame(peer, *std::move(f));
}

// ---- clients ----

Server::Impl::ClientState& Server::Impl::Client(const Peer& peer) {
  std::string key = PeerKey(peer);
  auto [it, fresh] = clients_.try_emplace(key);
  ClientState& c = it->second;
  if (fresh) {
    c.peer = peer;
    c.exec = Executor::Make(Executor::Context{
        .engine = &engine_,
        .pool = pool_.get(),
        .outbox = &outbox_,
        .peer = peer,
        .send = [this, peer](const std::string& frame) { SendTo(peer, frame); },
        .on_removed = [this, key](uint64_t id) { OnExecRemoved(key, id); },
    });
  }
  return c;
}

void Server::Impl::OnExecRemoved(const std::string& key, uint64_t id) {
  auto c = clients_.find(key);
  if (c == clients_.end()) return;
  auto s = c->second.sessions.find(id);
  if (s != c->second.sessions.end() && s->second.dispatch == 0) {
    c->second.windows -= s->second.window;
    c->second.sessions.erase(s);
  }
  if (c->second.sessions.empty()) idle_clients_.push_back(key);
}

void Server::Impl::DropIdleClients() {
  for (const std::string& key : idle_clients_) {
    auto c = clients_.find(key);
    if (c != clients_.end() && c->second.sessions.empty()) clients_.erase(c);
  }
  idle_clients_.clear();
}

void Server::Impl::OnClientFrame(const Peer& peer, Frame f) {
  std::string key = PeerKey(peer);
  ClientState& c = Client(peer);
  c.last_seen = absl::Now();
  auto drop_if_idle = [&] {
    if (c.sessions.empty()) clients_.erase(key);
  };
  switch (f.type) {
    case FrameType::kHeartbeat:
      drop_if_idle();
      return;
    case FrameType::kJob: {
      if (auto s = c.sessions.find(f.id); s != c.sessions.end()) {
        // The id may be reused as soon as its END has arrived, which can be
        // before the job's removal reached this thread.
        std::shared_ptr<Executor> exec = c.exec;
        if (s->second.dispatch != 0 || !exec->ReapEnded(f.id)) {
          SendTo(peer, EncodeError(f.id, ErrorCode::kIdInUse, absl::StrCat("request id ", f.id, " is already in use")));
          ReportRefused(ErrorCode::kIdInUse);
          return;
        }
      }
      if (std::string why = Refusal(c, f); !why.empty()) {
        SendTo(peer, EncodeEnd(f.id, kStatusUnavailable, why));
        drop_if_idle();
        return;
      }
      const uint64_t window = kInitialCredit + (f.has_stdin ? kInitialCredit : 0);
      if (served_.contains(f.name)) {
        uint64_t id = f.id;
        Forward& fw = NewForward(std::move(f));
        fw.client = key;
        fw.client_id = id;
        c.sessions[id] = Session{fw.dispatch, window, next_serial_++};
        c.windows += window;
        Dispatch(fw);
        return;
      }
      const uint64_t id = f.id;
      const uint64_t deadline_ms = f.deadline_ms;
      std::shared_ptr<Executor> exec = c.exec;
      exec->Start(std::move(f));
      if (!exec->Has(id)) {
        drop_if_idle();  // an inline job, done and sent
        return;
      }
      const uint64_t serial = next_serial_++;
      c.sessions[id] = Session{0, window, serial};
      c.windows += window;
      if (deadline_ms > 0) {
        timers_.push(Timer{absl::Now() + absl::Milliseconds(deadline_ms), TimerKind::kExecDeadline, key, id, 0, serial});
      }
      return;
    }
    case FrameType::kStdin:
    case FrameType::kStdinEnd:
    case FrameType::kCancel:
    case FrameType::kCredit: {
      auto s = c.sessions.find(f.id);
      if (s == c.sessions.end()) {
        // Frames may still arrive for a job that has just ended; only a cancel
        // or stdin for an id never seen is worth nothing either way.
        drop_if_idle();
        return;
      }
      if (s->second.dispatch == 0) {
        std::shared_ptr<Executor> exec = c.exec;
        if (f.type == FrameType::kStdin) {
          exec->OnStdin(f.id, std::move(f.data));
        } else if (f.type == FrameType::kStdinEnd) {
          exec->OnStdinEnd(f.id);
        } else if (f.type == FrameType::kCancel) {
          exec->OnCancel(f.id);
        } else {
          exec->OnCredit(f.id, f.credit);
        }
        return;
      }
      auto fw_it = forwards_.find(s->second.dispatch);
      if (fw_it == forwards_.end()) return;
      Forward& fw = fw_it->second;
      if (f.type == FrameType::kCancel) {
        RelayCancel(fw);
      } else if (f.type == FrameType::kCredit) {
        RelayCredit(fw, f.credit);
      } else {
        RelayStdin(fw, f.type == FrameType::kStdinEnd, std::move(f.data));
      }
      return;
    }
    default:
      ReportRefused(ErrorCode::kNotAllowed);
      SendTo(peer, EncodeError(f.id, ErrorCode::kNotAllowed,
                               absl::StrCat("a client may not send ", FrameTypeName(f.type), " frames")));
      drop_if_idle();
      return;
  }
}

void Server::Impl::ClientLost(const std::string& key) {
  auto c = clients_.find(key);
  if (c == clients_.end()) return;
  spdlog::info("client {} is gone; cancelling its {} job(s)", Printable(c->second.peer.identity),
               c->second.sessions.size());
  std::vector<uint64_t> dispatches;
  c->second.exec->DetachAll();
  for (auto& [id, s] : c->second.sessions) {
    if (s.dispatch != 0) dispatches.push_back(s.dispatch);
  }
  clients_.erase(c);
  for (uint64_t d : dispatches) {
    auto fw = forwards_.find(d);
    if (fw == forwards_.end()) continue;
    fw->second.answered = true;
    fw->second.client.clear();
    if (fw->second.worker.empty()) {
      FinishForward(d);
    } else if (auto w = workers_.find(fw->second.worker); w != workers_.end()) {
      SendTo(w->second.peer, EncodeSimple(FrameType::kCancel, d));
    }
  }
}

std::string Server::Impl::Refusal(const ClientState& c, const Frame& f) const {
  const std::string& name = f.name;
  if (c.sessions.size() >= static_cast<size_t>(std::max(options_.max_connection_jobs, 1))) {
    return absl::StrCat(name, ": this connection has ", c.sessions.size(),
                        " jobs in flight, its limit (berthd --max-connection-jobs); wait for one to end");
  }
  const uint64_t want = kInitialCredit + (f.has_stdin ? kInitialCredit : 0);
  if (c.windows + want > options_.max_connection_bytes) {
    return absl::StrCat(name, ": this connection has ", c.windows >> 20,
                        " MiB of stream windows open, its limit (berthd --max-connection-mib); wait for a job to end");
  }
  if (served_.contains(name)) return "";
  // Only a name that a worker serves (or will), or any name during start-up,
  // needs the engine's answer; the common case costs no handler lookup here.
  const bool remote = remote_names_.contains(name);
  if (!remote && !starting_.load(std::memory_order_relaxed)) return "";
  if (engine_.HasHandler(name)) return "";
  if (remote) return absl::StrCat(name, ": no worker serving ", name, " is connected");
  return absl::StrCat(name, ": berthd is starting");
}

bool Server::Impl::FailSession(const std::string& key, uint64_t id, absl::string_view why) {
  auto c = clients_.find(key);
  if (c == clients_.end()) return false;
  auto s = c->second.sessions.find(id);
  if (s == c->second.sessions.end()) return false;
  if (s->second.dispatch == 0) {
    std::shared_ptr<Executor> exec = c->second.exec;
    return exec->End(id, kStatusErr, why);
  }
  auto fw = forwards_.find(s->second.dispatch);
  if (fw == forwards_.end()) return false;
  Forward& f = fw->second;
  AnswerRequester(f, kStatusErr, absl::StrCat(f.request.name, ": ", why));  // erases the session
  if (f.worker.empty()) {
    FinishForward(f.dispatch);
  } else {
    CancelOnWorker(f);
  }
  return true;
}

bool Server::Impl::TakeOutputWindow(Forward& fw, const WorkerState& w, uint64_t bytes) {
  fw.out_window -= static_cast<int64_t>(bytes);
  if (fw.out_window >= 0) return true;
  if (!fw.answered) {
    spdlog::warn("worker {} sent output of job {} beyond its credit", w.name, fw.request.name);
    AnswerRequester(fw, kStatusErr,
                    absl::StrCat(fw.request.name, ": worker ", w.name, " sent output beyond the granted credit"));
    CancelOnWorker(fw);
  }
  return false;
}

void Server::Impl::CancelOnWorker(Forward& fw) {
  if (fw.worker.empty()) return;
  if (auto w = workers_.find(fw.worker); w != workers_.end()) {
    SendTo(w->second.peer, EncodeSimple(FrameType::kCancel, fw.dispatch));
  }
}

void Server::Impl::RelayCancel(Forward& fw) {
  if (fw.worker.empty()) {
    AnswerRequester(fw, kStatusCancelled, absl::StrCat(fw.request.name, ": cancelled"));
    FinishForward(fw.dispatch);
  } else {
    CancelOnWorker(fw);
  }
}

void Server::Impl::RelayCredit(Forward& fw, uint64_t bytes) {
  bytes = std::min<uint64_t>(bytes, uint64_t{1} << 40);
  fw.out_window = std::min<int64_t>(fw.out_window + static_cast<int64_t>(bytes), int64_t{1} << 40);
  if (fw.worker.empty()) return;
  if (auto w = workers_.find(fw.worker); w != workers_.end()) SendTo(w->second.peer, EncodeCredit(fw.dispatch, bytes));
}

void Server::Impl::RelayStdin(Forward& fw, bool end, std::string data) {
  if (!end) {
    fw.stdin_bytes += data.size();
    if (fw.worker.empty() && fw.stdin_bytes > kInitialCredit) {
      AnswerRequester(fw, kStatusErr, absl::StrCat(fw.request.name, ": stdin exceeds the granted credit"));
      FinishForward(fw.dispatch);
      return;
    }
  } else {
    fw.stdin_end = true;
  }
  // Kept while the job may be dispatched again (queued, or idempotent and
  // nothing returned yet), up to the one window a requester may send unasked.
  if (fw.replayable || fw.worker.empty()) {
    if (fw.stdin_bytes <= kInitialCredit) {
      if (!end) fw.stdin_copy.push_back(data);
    } else {
      fw.replayable = false;
      fw.stdin_copy.clear();
    }
  }
  if (fw.worker.empty()) return;
  if (auto w = workers_.find(fw.worker); w != workers_.end()) {
    SendTo(w->second.peer, end ? EncodeSimple(FrameType::kStdinEnd, fw.dispatch)
                               : EncodeData(FrameType::kStdin, fw.dispatch, data));
  }
}

// ---- forwarding to workers ----

Server::Impl::Forward& Server::Impl::NewForward(Frame f) {
  uint64_t d = next_dispatch_++;
  Forward& fw = forwards_[d];
  fw.dispatch = d;
  if (f.deadline_ms > 0) {
    fw.deadline = absl::Now() + absl::Milliseconds(f.deadline_ms);
    timers_.push(Timer{fw.deadline, TimerKind::kForwardDeadline, "", d, 0});
  }
  if (f.trace_id.empty()) f.trace_id = NewTraceId();
  fw.request = std::move(f);
  if (const ObserverList* observers = engine_.observers()) {
    fw.started = absl::Now();
    JobReport r;
    r.name = fw.request.name;
    r.trace_id = fw.request.trace_id;
    r.relayed = true;
    for (EngineObserver* o : *observers) o->JobStarted(r);
  }
  return fw;
}

void Server::Impl::Dispatch(Forward& fw) {
  const std::string& name = fw.request.name;
  auto served = served_.find(name);
  if (served == served_.end() || served->second.empty()) {
    AnswerRequester(fw, kStatusNotFound, absl::StrCat(name, ": command not found"));
    FinishForward(fw.dispatch);
    return;
  }
  // Least loaded (by share of capacity in use) among workers with room; ties
  // rotate so that equal workers share the load.
  WorkerState* best = nullptr;
  double best_load = 2.0;
  const std::vector<std::string>& keys = served->second;
  for (size_t i = 0; i < keys.size(); ++i) {
    WorkerState& w = workers_[keys[(rr_ + i) % keys.size()]];
    if (w.draining || w.in_flight.size() >= w.capacity) continue;
    double load = static_cast<double>(w.in_flight.size()) / w.capacity;
    if (load < best_load) {
      best_load = load;
      best = &w;
    }
  }
  ++rr_;
  if (best == nullptr) {
    pending_[name].push_back(fw.dispatch);
    return;
  }
  fw.worker = PeerKey(best->peer);
  fw.worker_name = best->name;
  best->in_flight.insert(fw.dispatch);
  uint64_t deadline_ms = 0;
  if (fw.deadline != absl::InfiniteFuture()) {
    deadline_ms = static_cast<uint64_t>(std::max<int64_t>(1, absl::ToInt64Milliseconds(fw.deadline - absl::Now())));
  }
  const Frame& r = fw.request;
  // Workers may fold a job's last output into END: the relay passes it on as
  // is to requesters that accept that and splits it for the others.
  SendTo(best->peer, EncodeJob(r, fw.dispatch, deadline_ms, /*end_tail=*/true));
  for (const std::string& chunk : fw.stdin_copy) SendTo(best->peer, EncodeData(FrameType::kStdin, fw.dispatch, chunk));
  if (fw.stdin_end) SendTo(best->peer, EncodeSimple(FrameType::kStdinEnd, fw.dispatch));
}

void Server::Impl::DispatchPending(const std::string& name) {
  auto p = pending_.find(name);
  while (p != pending_.end() && !p->second.empty()) {
    uint64_t d = p->second.front();
    auto fw = forwards_.find(d);
    if (fw == forwards_.end()) {
      p->second.pop_front();
      continue;
    }
    // Dispatch re-queues at the back when no worker has room.
    p->second.pop_front();
    size_t before = p->second.size();
    Dispatch(fw->second);
    p = pending_.find(name);
    if (p != pending_.end() && p->second.size() > before) {
      // No room: put it back in front, keep FIFO order.
      p->second.pop_back();
      p->second.push_front(d);
      return;
    }
  }
  if (p != pending_.end() && p->second.empty()) pending_.erase(p);
}

void Server::Impl::ToRequester(Forward& fw, FrameType type, std::string data, uint64_t credit) {
  if (fw.answered) return;
  if (fw.local) {
    Frame f;
    f.type = type;
    f.data = std::move(data);
    f.credit = credit;
    fw.local->Push(std::move(f));
    return;
  }
  auto c = clients_.find(fw.client);
  if (c == clients_.end()) return;
  if (type == FrameType::kCredit) {
    SendTo(c->second.peer, EncodeCredit(fw.client_id, credit));
  } else {
    SendTo(c->second.peer, EncodeData(type, fw.client_id, data));
  }
}

void Server::Impl::AnswerRequester(Forward& fw, int status, absl::string_view message, const Frame* tail) {
  if (fw.answered) return;
  if (tail != nullptr && (fw.local || !fw.request.end_tail)) {
    // This requester takes output in STDOUT/STDERR frames only.
    ToRequester(fw, tail->tail_stream, tail->data);
    tail = nullptr;
  }
  fw.answered = true;
  ReportEnded(fw, status);
  if (fw.local) {
    Frame f;
    f.type = FrameType::kEnd;
    f.status = status;
    f.message = std::string(message);
    fw.local->Push(std::move(f));
    return;
  }
  auto c = clients_.find(fw.client);
  if (c == clients_.end()) return;
  SendTo(c->second.peer, tail != nullptr ? EncodeEndWithTail(fw.client_id, status, message, tail->tail_stream,
                                                              tail->data)
                                          : EncodeEnd(fw.client_id, status, message));
  if (auto s = c->second.sessions.find(fw.client_id); s != c->second.sessions.end()) {
    c->second.windows -= s->second.window;
    c->second.sessions.erase(s);
  }
  if (c->second.sessions.empty()) clients_.erase(c);
}

void Server::Impl::ReportEnded(const Forward& fw, int status) {
  const ObserverList* observers = engine_.observers();
  if (observers == nullptr || fw.started == absl::Time()) return;  // started before anyone watched
  JobReport r;
  r.name = fw.request.name;
  r.trace_id = fw.request.trace_id;
  r.worker = fw.worker_name;  // "" if it never reached a worker
  r.relayed = true;
  r.status = status;
  r.duration = absl::Now() - fw.started;
  for (EngineObserver* o : *observers) o->JobEnded(r);
}

void Server::Impl::ReportWorker(WorkerReport::Kind kind, const WorkerState& w, absl::string_view reason) {
  const ObserverList* observers = engine_.observers();
  if (observers == nullptr) return;
  const WorkerReport r{kind, w.name, reason, w.capacity, w.in_flight.size()};
  for (EngineObserver* o : *observers) o->WorkerChanged(r);
}

void Server::Impl::ReportRefused(ErrorCode code) {
  const ObserverList* observers = engine_.observers();
  if (observers == nullptr) return;
  const char* kind = code == ErrorCode::kBadFrame   ? "bad_frame"
                     : code == ErrorCode::kIdInUse  ? "id_in_use"
                     : code == ErrorCode::kNotAllowed ? "not_allowed"
                     : code == ErrorCode::kNamesRefused ? "names_refused"
                                                        : "other";
  for (EngineObserver* o : *observers) o->FrameRefused(kind);
}

void Server::Impl::FinishForward(uint64_t dispatch) {
  auto fw = forwards_.find(dispatch);
  if (fw == forwards_.end()) return;
  if (fw->second.local) local_calls_.erase(fw->second.local.get());
  if (!fw->second.worker.empty()) {
    auto w = workers_.find(fw->second.worker);
    if (w != workers_.end()) w->second.in_flight.erase(dispatch);
  }
  forwards_.erase(fw);
}

void Server::Impl::OnHello(const Peer& peer, Frame f) {
  std::string key = PeerKey(peer);
  WorkerState w;
  w.peer = peer;
  w.name = f.worker_name;
  w.capacity = f.capacity;
  w.last_seen = absl::Now();
  w.idempotent.insert(f.idempotent.begin(), f.idempotent.end());
  std::vector<std::string> refused;
  for (const std::string& name : f.jobs) {
    if (name.empty() || name == "workers" || name == "commands") {
      refused.push_back(name);
      continue;
    }
    auto served = served_.find(name);
    if (served == served_.end()) {
      if (!engine_.Register(name, [this](Job& job) { return RunRemote(job); }, HandlerOptions{.relayed = true})
               .ok()) {
        refused.push_back(name);  // served in-process here
        continue;
      }
      served = served_.try_emplace(name).first;
    }
    served->second.push_back(key);
    w.jobs.push_back(name);
    remote_names_.insert(name);
  }
  spdlog::info("worker {} ({}) serves {} with capacity {}", w.name, Printable(peer.identity),
               absl::StrJoin(w.jobs, ", "), w.capacity);
  if (!refused.empty()) {
    ReportRefused(ErrorCode::kNamesRefused);
    SendTo(peer, EncodeError(0, ErrorCode::kNamesRefused,
                             absl::StrCat("not routed to this worker (served in-process or reserved): ",
                                          absl::StrJoin(refused, ", "))));
  }
  std::vector<std::string> names = w.jobs;
  ReportWorker(WorkerReport::Kind::kHello, w);
  workers_[key] = std::move(w);
  PublishServed();
  for (const std::string& name : names) DispatchPending(name);
}

void Server::Impl::OnWorkerFrame(WorkerState& w, Frame f) {
  switch (f.type) {
    case FrameType::kHeartbeat:
      return;
    case FrameType::kHello: {
      // The worker re-announced itself (it lost us and came back): start over.
      Peer peer = w.peer;
      WorkerLost(PeerKey(peer), "it registered again");
      OnHello(peer, std::move(f));
      return;
    }
    case FrameType::kDrain:
      spdlog::info("worker {} is draining: {} job(s) in flight", w.name, w.in_flight.size());
      w.draining = true;
      ReportWorker(WorkerReport::Kind::kDrain, w);
      return;
    case FrameType::kBye:
      WorkerLost(PeerKey(w.peer), "it left");
      return;
    case FrameType::kStdout:
    case FrameType::kStderr:
    case FrameType::kCredit:
    case FrameType::kEnd:
    case FrameType::kError: {
      auto fw_it = forwards_.find(f.id);
      if (fw_it == forwards_.end() || fw_it->second.worker != PeerKey(w.peer)) {
        if (f.type == FrameType::kError) spdlog::warn("worker {}: {}", w.name, f.message);
        return;
      }
      Forward& fw = fw_it->second;
      if (f.type == FrameType::kEnd || f.type == FrameType::kError) {
        if (f.type == FrameType::kEnd && f.has_tail && !TakeOutputWindow(fw, w, f.data.size())) {
          f.has_tail = false;  // the requester has its END already
        }
        int status = f.type == FrameType::kEnd ? f.status : kStatusErr;
        std::string message = f.type == FrameType::kEnd
                                  ? f.message
                                  : absl::StrCat(fw.request.name, ": worker ", w.name, " refused the job: ", f.message);
        AnswerRequester(fw, status, message, f.type == FrameType::kEnd && f.has_tail ? &f : nullptr);
        ++w.completed;
        if (status != kStatusOk) ++w.failed;
        std::vector<std::string> names = w.jobs;
        FinishForward(f.id);
        for (const std::string& name : names) DispatchPending(name);
        return;
      }
      if (f.type != FrameType::kCredit && !TakeOutputWindow(fw, w, f.data.size())) return;
      fw.replayable = false;
      fw.stdin_copy.clear();
      ToRequester(fw, f.type, std::move(f.data), f.credit);
      return;
    }
    default:
      ReportRefused(ErrorCode::kNotAllowed);
      SendTo(w.peer, EncodeError(f.id, ErrorCode::kNotAllowed,
                                 absl::StrCat("a worker may not send ", FrameTypeName(f.type), " frames")));
      return;
  }
}

void Server::Impl::UnserveName(const std::string& name, const std::string& worker_key) {
  auto served = served_.find(name);
  if (served == served_.end()) return;
  auto& keys = served->second;
  keys.erase(std::remove(keys.begin(), keys.end(), worker_key), keys.end());
  if (!keys.empty()) return;
  served_.erase(served);
  engine_.Unregister(name);
  // Jobs queued for a name nobody serves any more cannot run.
  auto p = pending_.find(name);
  if (p == pending_.end()) return;
  std::deque<uint64_t> queued = std::move(p->second);
  pending_.erase(p);
  for (uint64_t d : queued) {
    auto fw = forwards_.find(d);
    if (fw == forwards_.end()) continue;
    AnswerRequester(fw->second, kStatusUnavailable, absl::StrCat(name, ": no worker serves this job any more"));
    FinishForward(d);
  }
}

void Server::Impl::WorkerLost(const std::string& key, absl::string_view reason) {
  auto it = workers_.find(key);
  if (it == workers_.end()) return;
  WorkerState w = std::move(it->second);
  workers_.erase(it);
  if (!w.in_flight.empty() || reason != "it left") {
    spdlog::warn("worker {} was lost ({}); {} job(s) in flight", w.name, reason, w.in_flight.size());
  }
  ReportWorker(WorkerReport::Kind::kLost, w, reason);
  std::vector<uint64_t> redo;
  for (uint64_t d : w.in_flight) {
    auto fw = forwards_.find(d);
    if (fw == forwards_.end()) continue;
    Forward& f = fw->second;
    f.worker.clear();
    if (f.answered) {
      FinishForward(d);
    } else if (f.replayable && w.idempotent.contains(f.request.name)) {
      redo.push_back(d);
    } else {
      AnswerRequester(f, kStatusUnavailable,
                      absl::StrCat(f.request.name, ": worker ", w.name, " was lost (", reason, ")"));
      FinishForward(d);
    }
  }
  for (const std::string& name : w.jobs) UnserveName(name, key);
  PublishServed();
  for (uint64_t d : redo) {
    auto fw = forwards_.find(d);
    if (fw == forwards_.end()) continue;
    spdlog::info("dispatching idempotent job {} again after losing worker {}", fw->second.request.name, w.name);
    Dispatch(fw->second);
  }
}

void Server::Impl::PublishServed() {
  absl::MutexLock lock(&served_mu_);
  served_names_.clear();
  for (const auto& [name, keys] : served_) served_names_.insert(name);
  served_cv_.SignalAll();
}

// ---- timers ----

void Server::Impl::Tick(absl::Time now) {
  const absl::Duration limit = options_.heartbeat_interval * options_.heartbeat_liveness;
  const std::string beat = EncodeSimple(FrameType::kHeartbeat, 0);
  std::vector<std::string> silent_workers;
  for (auto& [key, w] : workers_) {
    if (now - w.last_seen > limit) {
      silent_workers.push_back(key);
    } else {
      SendTo(w.peer, beat);
    }
  }
  for (const std::string& key : silent_workers) {
    WorkerLost(key, absl::StrCat("no heartbeat for ", absl::FormatDuration(limit)));
  }
  // Clients are not timed out here: one may be busy writing what it received
  // (back-pressure) and send nothing for a while. A vanished client is found
  // through its connection instead (ZMTP heartbeats, the disconnect monitor).
  for (auto& [key, c] : clients_) SendTo(c.peer, beat);
}

void Server::Impl::FireTimer(const Timer& t) {
  switch (t.kind) {
    case TimerKind::kProbe: {
      const std::string beat = EncodeSimple(FrameType::kHeartbeat, 0);
      for (auto& [key, w] : workers_) {
        if (w.peer.socket == t.socket) SendTo(w.peer, beat);
      }
      for (auto& [key, c] : clients_) {
        if (c.peer.socket == t.socket) SendTo(c.peer, beat);
      }
      return;
    }
    case TimerKind::kExecDeadline: {
      auto c = clients_.find(t.client);
      if (c == clients_.end()) return;
      auto s = c->second.sessions.find(t.id);
      if (s == c->second.sessions.end() || s->second.serial != t.serial) return;
      std::shared_ptr<Executor> exec = c->second.exec;
      exec->End(t.id, kStatusDeadlineExceeded, "deadline exceeded");
      return;
    }
    case TimerKind::kForwardDeadline: {
      auto fw = forwards_.find(t.id);
      if (fw == forwards_.end() || fw->second.answered) return;
      Forward& f = fw->second;
      AnswerRequester(f, kStatusDeadlineExceeded, absl::StrCat(f.request.name, ": deadline exceeded"));
      if (f.worker.empty()) {
        auto p = pending_.find(f.request.name);
        if (p != pending_.end()) p->second.erase(std::remove(p->second.begin(), p->second.end(), t.id), p->second.end());
        FinishForward(t.id);
      } else {
        CancelOnWorker(f);  // the worker's END frees its slot later
      }
      return;
    }
  }
}

// ---- in-process callers of worker-served jobs ----

void Server::Impl::StartLocal(std::shared_ptr<LocalCall> call, Frame req) {
  if (!served_.contains(req.name)) {
    Frame end;
    end.type = FrameType::kEnd;
    end.status = remote_names_.contains(req.name) ? kStatusUnavailable : kStatusNotFound;
    end.message = remote_names_.contains(req.name)
                      ? absl::StrCat(req.name, ": no worker serving ", req.name, " is connected")
                      : absl::StrCat(req.name, ": command not found");
    call->Push(std::move(end));
    return;
  }
  Forward& fw = NewForward(std::move(req));
  fw.local = call;
  local_calls_[call.get()] = fw.dispatch;
  Dispatch(fw);
}

Server::Impl::Forward* Server::Impl::LocalForward(const LocalCall* call) {
  auto it = local_calls_.find(call);
  if (it == local_calls_.end()) return nullptr;
  auto fw = forwards_.find(it->second);
  return fw == forwards_.end() ? nullptr : &fw->second;
}

bool Server::Impl::StartCall(const std::shared_ptr<LocalCall>& call, Frame request) {
  if (stopping_.load()) return false;
  outbox_.Post([this, call, req = std::move(request)]() mutable { StartLocal(call, std::move(req)); });
  return true;
}

void Server::Impl::CallStdin(const std::shared_ptr<LocalCall>& call, std::string chunk) {
  outbox_.Post([this, call, data = std::move(chunk)]() mutable {
    if (Forward* fw = LocalForward(call.get())) RelayStdin(*fw, false, std::move(data));
  });
}

void Server::Impl::CallStdinEnd(const std::shared_ptr<LocalCall>& call) {
  outbox_.Post([this, call] {
    if (Forward* fw = LocalForward(call.get())) RelayStdin(*fw, true, std::string());
  });
}

void Server::Impl::CallCredit(const std::shared_ptr<LocalCall>& call, uint64_t bytes) {
  outbox_.Post([this, call, bytes] {
    if (Forward* fw = LocalForward(call.get())) RelayCredit(*fw, bytes);
  });
}

void Server::Impl::CallCancel(const std::shared_ptr<LocalCall>& call) {
  outbox_.Post([this, call] {
    if (Forward* fw = LocalForward(call.get())) RelayCancel(*fw);
  });
}

void Server::Impl::CallDone(const std::shared_ptr<LocalCall>& call) {
  outbox_.Post([this, call] { local_calls_.erase(call.get()); });
}

// ---- Server ----

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() { Stop(); }

absl::StatusOr<std::unique_ptr<Server>> Server::Start(Engine& engine, ServerOptions options) {
  auto impl = std::make_unique<Impl>(engine, std::move(options));
  if (absl::Status s = impl->Bind(); !s.ok()) return s;
  impl->StartThread();
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

void Server::Stop() { impl_->Stop(); }

void Server::SetReady() { impl_->SetReady(); }

std::vector<std::string> Server::endpoints() const { return impl_->endpoints(); }

absl::Status Server::WaitForJobs(const std::vector<std::string>& names, absl::Duration timeout) {
  return impl_->WaitForJobs(names, timeout);
}

std::vector<WorkerInfo> Server::Workers() { return impl_->Workers(); }

}  // namespace berth::remote
