#include "engine/remote/server.h"

#include <malloc.h>

#include <array>
#include <cerrno>
#include <deque>
#include <queue>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "engine/log.h"
#include "engine/remote/connections.h"
#include "engine/remote/deadline_queue.h"
#include "engine/remote/dispatcher.h"
#include "engine/remote/executor.h"
#include "engine/remote/listener.h"
#include "engine/remote/local_call.h"
#include "engine/remote/outbox.h"
#include "engine/remote/reports.h"
#include "engine/remote/thread_pool.h"
#include "engine/remote/wire.h"
#include "engine/remote/zmq_socket.h"
#include <zmq.hpp>

namespace berth::remote {
class Server::Impl : public LocalCallPort, private Dispatcher::Port {
 public:
  Impl(Engine& engine, ServerOptions options)
      : engine_(engine),
        options_(std::move(options)),
        pool_(std::make_unique<ThreadPool>(options_.pool_threads)),
        dispatcher_(engine, *this,
                    Dispatcher::Options{
                        .remote_jobs = options_.remote_jobs,
                        .heartbeat_interval = options_.heartbeat_interval,
                        .heartbeat_liveness = options_.heartbeat_liveness,
                        .handler = [this](Job& job) { return LocalCall::Run(job, *this); },
                        .direct_lease = options_.direct_lease,
                    }) {
    starting_ = options_.starting;
  }

  ~Impl() { Stop(); }

  absl::Status Bind();
  void StartThread() { thread_ = std::thread([this] { Loop(); }); }
  void Stop();
  std::vector<std::string> endpoints() const {
    return listener_ ? listener_->endpoints() : std::vector<std::string>{};
  }
  absl::Status WaitForJobs(const std::vector<std::string>& names, absl::Duration timeout) {
    return dispatcher_.WaitForJobs(names, timeout);
  }
  std::vector<WorkerInfo> Workers();
  // LocalCallPort: in-process callers, on their own threads.
  bool StartCall(const std::shared_ptr<LocalCall>& call, JobRequest request, bool has_stdin) override;
  void CallStdin(const std::shared_ptr<LocalCall>& call, std::string chunk) override;
  void CallStdinEnd(const std::shared_ptr<LocalCall>& call) override;
  void CallCredit(const std::shared_ptr<LocalCall>& call, uint64_t bytes) override;
  void CallCancel(const std::shared_ptr<LocalCall>& call) override;
  void CallDone(const std::shared_ptr<LocalCall>& call) override;
  void SetReady() { starting_.store(false); }

 private:
  // A job run by a client's executor: the client's key and the job's id. Its
  // deadline leaves exec_deadlines_ with its session, so one that comes due
  // names a session still there.
  struct ExecJob {
    std::string client;
    uint64_t id = 0;
  };
  // A request of a client: run by the client's executor here, or relayed to
  // a worker by the dispatcher.
  struct Session {
    uint64_t dispatch = 0;  // the dispatcher's id of a relayed job; 0: run by `exec`
    uint64_t window = 0;    // stream bytes reserved (ServerOptions::max_connection_bytes)
    uint64_t serial = 0;    // tells a reused id's relayed session from the one before
    // Its deadline in exec_deadlines_ (run by `exec` only), removed when it ends.
    DeadlineQueue<ExecJob>::Handle deadline;
  };
  struct ClientState {
    Peer peer;
    absl::flat_hash_map<uint64_t, Session> sessions;
    uint64_t windows = 0;            // the sum of the sessions' windows
    std::shared_ptr<Executor> exec;  // the jobs run here for this client
  };
  // A probe of router `socket`'s peers (ScheduleProbes).
  struct Probe {
    absl::Time when;
    int socket = 0;
    bool operator>(const Probe& o) const { return when > o.when; }
  };

  // I/O thread.
  void Loop();
  void ReadRouter(int s);
  void ReadMonitor(int s);
  // After connections of router `s` went: probes its peers (FireProbe).
  void ScheduleProbes(int s);
  // `fd`: the connection it came from (ZMQ_SRCFD), or -1.
  void OnFrame(const Peer& peer, const void* data, size_t size, int fd);
  // `key`: PeerKey(peer).
  void OnClientFrame(const Peer& peer, const std::string& key, Frame f);
  void OnClientJob(const std::string& key, ClientState& c, Frame f);
  bool SendTo(const Peer& peer, const std::string& payload);
  void ProcessLostPeers();
  void Tick(absl::Time now);
  void FireProbe(const Probe& p);
  // A job's deadline came before its end: 124.
  void ExecDeadline(const ExecJob& j);
  // Dispatcher::Port.
  void SendToPeer(const Peer& peer, const std::string& payload) override { SendTo(peer, payload); }
  void SendToClient(const std::string& key, const std::string& payload) override;
  void ClientRequestEnded(const std::string& key, uint64_t id) override;

  // The state of the client at `peer`, made by its first JOB. A client with no
  // job left keeps it until the next Tick (its next job, usually close behind,
  // then costs no new executor); Tick drops it if it still has none.
  ClientState& Client(const Peer& peer, const std::string& key);
  // A job left a client's executor: forget its session.
  void OnExecRemoved(const std::string& key, uint64_t id);
  void ClientLost(const std::string& key);
  // Why a JOB from `c` cannot start now (126), or "".
  std::string OverLimits(const ClientState& c, const Frame& f) const;
  // Ends the live request `id` of client `key` with status 1 and `why` (an
  // invalid frame named it); false if there is no such request to end.
  bool FailSession(const std::string& key, uint64_t id, absl::string_view why);

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
  Dispatcher dispatcher_;
  Connections connections_{engine_};
  absl::flat_hash_map<std::string, ClientState> clients_;
  std::priority_queue<Probe, std::vector<Probe>, std::greater<Probe>> probes_;
  DeadlineQueue<ExecJob> exec_deadlines_;
  std::vector<std::pair<Peer, std::string>> lost_;  // peers whose sends failed
  absl::flat_hash_map<int, std::array<absl::Time, 3>> probe_due_;  // by router: each delay's last probe
  uint64_t next_serial_ = 1;
  uint64_t frames_since_tick_ = 0;
  bool busy_since_trim_ = false;
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
      (void)row.Set("DirectEndpoint", w.direct_endpoint);
      (void)row.SetInt("DirectRunning", static_cast<int64_t>(w.direct_running));
      (void)row.SetInt("DirectServed", static_cast<int64_t>(w.direct_served));
      if (absl::Status s = job.Stdout().WriteEnv(row); !s.ok()) return job.Error(s);
    }
    return kStatusOk;
  }, HandlerOptions{.nonblocking = true});
  return absl::OkStatus();
}

// ---- public API ----

std::vector<WorkerInfo> Server::Impl::Workers() {
  if (std::this_thread::get_id() == thread_.get_id()) return dispatcher_.Workers();  // the `workers` job
  std::vector<WorkerInfo> out;
  absl::Notification done;
  outbox_.Post([&] {
    out = dispatcher_.Workers();
    done.Notify();
  });
  if (!done.WaitForNotificationWithTimeout(absl::Seconds(5))) return {};
  return out;
}

void Server::Impl::Stop() {
  if (stopped_) return;
  stopped_ = true;
  stopping_ = true;
  outbox_.Post([] {});
  if (thread_.joinable()) thread_.join();
  // Everything the I/O thread still tracked is answered or cancelled.
  dispatcher_.Stop();
  for (auto& [key, c] : clients_) c.exec->DetachAll();
  // Detached jobs were cancelled; wait for their threads before the outbox goes.
  pool_.reset();
  engine_.Unregister("workers");
  clients_.clear();
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
    if (!probes_.empty()) wake = std::min(wake, probes_.top().when);
    wake = std::min(wake, exec_deadlines_.Next());
    wake = std::min(wake, dispatcher_.NextTimer());
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
    while (!probes_.empty() && probes_.top().when <= now) {
      Probe p = probes_.top();
      probes_.pop();
      FireProbe(p);
    }
    exec_deadlines_.PopDue(now, [this](const ExecJob& j) { ExecDeadline(j); });
    dispatcher_.FireTimers(now);
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
    // berth frames are exactly one part after the routing id; the rest of a
    // longer message is read and counted, not kept.
    zmq::message_t frame, extra;
    size_t parts = 0;
    bool more = identity.more();
    while (more) {
      zmq::message_t& part = parts == 0 ? frame : extra;
      if (!sock.recv(part, zmq::recv_flags::dontwait)) break;
      more = part.more();
      ++parts;
    }
    Peer peer{s, identity.to_string()};
    if (parts != 1) {
      SendTo(peer, EncodeError(0, ErrorCode::kBadFrame, absl::StrCat("expected one frame per message, got ", parts)));
      ReportRefused(engine_, ErrorCode::kBadFrame);
      continue;
    }
    // The connection's descriptor, or -1 (zmq_msg_get: message_t::get throws
    // for a message that has none).
    OnFrame(peer, frame.data(), frame.size(), zmq_msg_get(frame.handle(), ZMQ_SRCFD));
    ProcessLostPeers();
  }
}

void Server::Impl::ReadMonitor(int s) {
  bool disconnected = false;
  for (const Listener::Event& e : listener_->TakeEvents(static_cast<size_t>(s))) {
    if (e.accepted) {
      connections_.Accepted(s, e.fd);
    } else {
      connections_.Gone(s, e.fd);
      disconnected = true;
    }
  }
  if (disconnected) ScheduleProbes(s);
}

void Server::Impl::ScheduleProbes(int s) {
  // Find out which peer went: a send to a vanished routing id fails. The pipe
  // may be torn down a moment after the event, so probe again shortly. Each
  // probe is a HEARTBEAT to every client and worker on the socket, so probes
  // land on a grid of kProbeGrain and one serves every connection gone before
  // it: 5,000 silent connections leaving at once asked some 3,500 probes.
  constexpr absl::Duration kProbeGrain = absl::Milliseconds(10);
  constexpr absl::Duration kDelays[] = {absl::ZeroDuration(), absl::Milliseconds(50), absl::Milliseconds(300)};
  const absl::Time now = absl::Now();
  std::array<absl::Time, 3>& due = probe_due_[s];
  for (size_t i = 0; i < due.size(); ++i) {
    const absl::Time when = absl::UnixEpoch() + absl::Ceil(now + kDelays[i] - absl::UnixEpoch(), kProbeGrain);
    if (when == due[i]) continue;
    due[i] = when;
    probes_.push(Probe{when, s});
  }
}

bool Server::Impl::SendTo(const Peer& peer, const std::string& payload) {
  if (static_cast<size_t>(peer.socket) >= listener_->size()) return false;
  ReportFrameOut(engine_, payload);
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
  while (!lost_.empty()) {
    auto [peer, reason] = lost_.back();
    lost_.pop_back();
    std::string key = PeerKey(peer);
    if (dispatcher_.IsWorker(key)) {
      dispatcher_.WorkerLost(key, reason);
    } else if (clients_.contains(key)) {
      ClientLost(key);
    }
  }
}

void Server::Impl::OnFrame(const Peer& peer, const void* data, size_t size, int fd) {
  ++frames_since_tick_;
  absl::StatusOr<Frame> f = DecodeFrame(data, size);
  ReportFrameIn(engine_, size, f.ok() ? &*f : nullptr);
  const std::string key = PeerKey(peer);
  const bool from_worker = dispatcher_.IsWorker(key);
  if (fd >= 0) {
    // The monitor tells of a connection before its first frame can be read.
    if (!connections_.Known(peer.socket, fd)) ReadMonitor(peer.socket);
    const bool worker = from_worker || (f.ok() && f->type == FrameType::kHello);
    connections_.Frame(peer.socket, fd, worker ? ConnectionKind::kWorker : ConnectionKind::kClient, key);
  }
  if (!f.ok()) {
    spdlog::debug("refused a frame from peer {}: {}", PrintableIdentity(peer.identity), f.status().message());
    const uint64_t id = PeekFrameId(data, size);
    // An invalid frame naming a live request of a client (a STDIN chunk over
    // the limit, say) ends that request: going on would corrupt its stdin.
    if (id != 0 && !from_worker && FailSession(key, id, f.status().message())) return;
    SendTo(peer, EncodeError(id, ErrorCode::kBadFrame, f.status().message()));
    ReportRefused(engine_, ErrorCode::kBadFrame);
    return;
  }
  if (from_worker) {
    dispatcher_.OnWorkerFrame(key, *std::move(f));
    return;
  }
  if (f->type == FrameType::kHello) {
    dispatcher_.OnHello(peer, *std::move(f));
    return;
  }
  OnClientFrame(peer, key, *std::move(f));
}

// ---- clients ----

Server::Impl::ClientState& Server::Impl::Client(const Peer& peer, const std::string& key) {
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
    exec_deadlines_.Remove(s->second.deadline);
    c->second.sessions.erase(s);
  }
}

void Server::Impl::OnClientFrame(const Peer& peer, const std::string& key, Frame f) {
  switch (f.type) {
    case FrameType::kHeartbeat:
      return;
    case FrameType::kJob:
      OnClientJob(key, Client(peer, key), std::move(f));
      return;
    case FrameType::kRoute:
      SendTo(peer, dispatcher_.Lease(f.id, f.job.name));
      return;
    case FrameType::kStdin:
    case FrameType::kStdinEnd:
    case FrameType::kCancel:
    case FrameType::kCredit: {
      // Frames may still arrive for a job that has just ended; only a cancel
      // or stdin for an id never seen is worth nothing either way.
      auto cs = clients_.find(key);
      if (cs == clients_.end()) return;
      ClientState& c = cs->second;
      auto s = c.sessions.find(f.id);
      if (s == c.sessions.end()) return;
      if (s->second.dispatch != 0) {
        dispatcher_.FromClient(s->second.dispatch, std::move(f));
        return;
      }
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
    default:
      ReportRefused(engine_, ErrorCode::kNotAllowed);
      SendTo(peer, EncodeError(f.id, ErrorCode::kNotAllowed,
                               absl::StrCat("a client may not send ", FrameTypeName(f.type), " frames")));
      return;
  }
}

void Server::Impl::OnClientJob(const std::string& key, ClientState& c, Frame f) {
  const uint64_t id = f.id;
  if (auto s = c.sessions.find(id); s != c.sessions.end()) {
    // The id may be reused as soon as its END has arrived, which can be
    // before the job's removal reached this thread.
    std::shared_ptr<Executor> exec = c.exec;
    if (s->second.dispatch != 0 || !exec->ReapEnded(id)) {
      SendTo(c.peer, EncodeError(id, ErrorCode::kIdInUse, absl::StrCat("request id ", id, " is already in use")));
      ReportRefused(engine_, ErrorCode::kIdInUse);
      return;
    }
  }
  if (std::string why = OverLimits(c, f); !why.empty()) {
    SendTo(c.peer, EncodeEnd(id, kStatusUnavailable, why));
    return;
  }
  const uint64_t window = kInitialCredit + (f.has_stdin ? kInitialCredit : 0);
  const uint64_t serial = next_serial_++;
  if (dispatcher_.Serves(f.job.name)) {
    // The session comes first: the dispatcher may answer at once (and end it).
    c.sessions[id] = Session{0, window, serial, {}};
    c.windows += window;
    const uint64_t d = dispatcher_.StartForClient(key, std::move(f));
    auto cs = clients_.find(key);
    if (cs == clients_.end()) return;
    if (auto s = cs->second.sessions.find(id); s != cs->second.sessions.end() && s->second.serial == serial) {
      s->second.dispatch = d;
    }
    return;
  }
  const absl::Duration timeout = f.job.timeout;
  std::shared_ptr<Executor> exec = c.exec;
  exec->Start(std::move(f));
  if (!exec->Has(id)) return;  // an inline job, done and sent
  Session& session = c.sessions[id];
  session = Session{0, window, serial, {}};
  c.windows += window;
  if (timeout != absl::InfiniteDuration()) {
    session.deadline = exec_deadlines_.Add(absl::Now() + timeout, ExecJob{key, id});
  }
}

void Server::Impl::SendToClient(const std::string& key, const std::string& payload) {
  if (auto c = clients_.find(key); c != clients_.end()) SendTo(c->second.peer, payload);
}

void Server::Impl::ClientRequestEnded(const std::string& key, uint64_t id) {
  auto c = clients_.find(key);
  if (c == clients_.end()) return;
  if (auto s = c->second.sessions.find(id); s != c->second.sessions.end()) {
    c->second.windows -= s->second.window;
    exec_deadlines_.Remove(s->second.deadline);
    c->second.sessions.erase(s);
  }
}

void Server::Impl::ClientLost(const std::string& key) {
  auto c = clients_.find(key);
  if (c == clients_.end()) return;
  if (!c->second.sessions.empty()) {
    spdlog::info("client {} is gone; cancelling its {} job(s)", PrintableIdentity(c->second.peer.identity),
                 c->second.sessions.size());
  }
  std::vector<uint64_t> dispatches;
  c->second.exec->DetachAll();
  for (auto& [id, s] : c->second.sessions) {
    if (s.dispatch != 0) dispatches.push_back(s.dispatch);
    exec_deadlines_.Remove(s.deadline);
  }
  clients_.erase(c);
  for (uint64_t d : dispatches) dispatcher_.ClientGone(d);
}

std::string Server::Impl::OverLimits(const ClientState& c, const Frame& f) const {
  const std::string& name = f.job.name;
  if (c.sessions.size() >= static_cast<size_t>(std::max(options_.max_connection_jobs, 1))) {
    return absl::StrCat(name, ": this connection has ", c.sessions.size(),
                        " jobs in flight, its limit (berthd --max-connection-jobs); wait for one to end");
  }
  const uint64_t want = kInitialCredit + (f.has_stdin ? kInitialCredit : 0);
  if (c.windows + want > options_.max_connection_bytes) {
    return absl::StrCat(name, ": this connection has ", c.windows >> 20,
                        " MiB of stream windows open, its limit (berthd --max-connection-mib); wait for a job to end");
  }
  if (dispatcher_.Serves(name)) return "";
  // Only a name that a worker serves (or will), or any name during start-up,
  // needs the engine's answer; the common case costs no handler lookup here.
  const bool remote = dispatcher_.WillServe(name);
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
  if (s->second.dispatch != 0) {
    dispatcher_.Fail(s->second.dispatch, why);  // ends the session
    return true;
  }
  std::shared_ptr<Executor> exec = c->second.exec;
  return exec->End(id, kStatusErr, why);
}

// ---- timers ----

void Server::Impl::Tick(absl::Time now) {
  dispatcher_.Tick(now);
  // Clients are not timed out here: one may be busy writing what it received
  // (back-pressure) and send nothing for a while. A vanished client is found
  // through its connection instead (ZMTP heartbeats, the disconnect monitor).
  // Only clients with jobs here are heartbeaten; the others are forgotten.
  const std::string beat = EncodeSimple(FrameType::kHeartbeat, 0);
  for (auto it = clients_.begin(); it != clients_.end();) {
    if (it->second.sessions.empty()) {
      clients_.erase(it++);
      continue;
    }
    SendTo(it->second.peer, beat);
    ++it;
  }
}

void Server::Impl::FireProbe(const Probe& p) {
  dispatcher_.Probe(p.socket);
  const std::string beat = EncodeSimple(FrameType::kHeartbeat, 0);
  for (auto& [key, c] : clients_) {
    if (c.peer.socket == p.socket && !c.sessions.empty()) SendTo(c.peer, beat);
  }
}

void Server::Impl::ExecDeadline(const ExecJob& j) {
  auto c = clients_.find(j.client);
  if (c == clients_.end()) return;
  if (!c->second.sessions.contains(j.id)) return;
  std::shared_ptr<Executor> exec = c->second.exec;
  exec->End(j.id, kStatusDeadlineExceeded, "deadline exceeded");
}

// ---- in-process callers of worker-served jobs ----

bool Server::Impl::StartCall(const std::shared_ptr<LocalCall>& call, JobRequest request, bool has_stdin) {
  if (stopping_.load()) return false;
  outbox_.Post([this, call, req = std::move(request), has_stdin]() mutable {
    dispatcher_.StartLocal(call, std::move(req), has_stdin);
  });
  return true;
}

void Server::Impl::CallStdin(const std::shared_ptr<LocalCall>& call, std::string chunk) {
  Frame f;
  f.type = FrameType::kStdin;
  f.data = std::move(chunk);
  outbox_.Post([this, call, f = std::move(f)]() mutable { dispatcher_.FromLocal(call.get(), std::move(f)); });
}

void Server::Impl::CallStdinEnd(const std::shared_ptr<LocalCall>& call) {
  outbox_.Post([this, call] {
    Frame f;
    f.type = FrameType::kStdinEnd;
    dispatcher_.FromLocal(call.get(), std::move(f));
  });
}

void Server::Impl::CallCredit(const std::shared_ptr<LocalCall>& call, uint64_t bytes) {
  outbox_.Post([this, call, bytes] {
    Frame f;
    f.type = FrameType::kCredit;
    f.credit = bytes;
    dispatcher_.FromLocal(call.get(), std::move(f));
  });
}

void Server::Impl::CallCancel(const std::shared_ptr<LocalCall>& call) {
  outbox_.Post([this, call] {
    Frame f;
    f.type = FrameType::kCancel;
    dispatcher_.FromLocal(call.get(), std::move(f));
  });
}

void Server::Impl::CallDone(const std::shared_ptr<LocalCall>& call) {
  outbox_.Post([this, call] { dispatcher_.LocalDone(call.get()); });
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
