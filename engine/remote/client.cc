#include "engine/remote/client.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "engine/log.h"
#include "engine/remote/direct_lanes.h"
#include "engine/remote/security.h"
#include "engine/status.h"
#include "engine/remote/wire.h"
#include "engine/remote/zmq_socket.h"
#include <zmq.hpp>

namespace berth::remote {
namespace {

// Reads a Source on its own thread into a small queue the client loop drains as
// credit allows; an eventfd tells the loop that something is queued.
class StdinPump {
 public:
  explicit StdinPump(Source* src) : src_(src), fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    thread_ = std::thread([this, src] {
      std::string chunk;
      while (true) {
        absl::StatusOr<bool> more = src->ReadChunk(&chunk);
        absl::MutexLock lock(&mu_);
        if (!more.ok() || !*more) {
          eof_ = true;
          Wake();
          return;
        }
        for (size_t off = 0; off < chunk.size(); off += kMaxChunkBytes) {
          queue_.push_back(chunk.substr(off, kMaxChunkBytes));
        }
        Wake();
        while (queue_.size() >= 4 && !stop_) cv_.Wait(&mu_);
        if (stop_) return;
      }
    });
  }
  ~StdinPump() {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
      cv_.SignalAll();
    }
    // The job is over: release a read blocked on the source.
    src_->Close();
    thread_.join();
    ::close(fd_);
  }
  int fd() const { return fd_; }
  // Takes the next chunk if it fits in `credit`; sets *eof at end of input.
  bool Take(uint64_t credit, std::string* chunk, bool* eof) {
    uint64_t n;
    ssize_t r = ::read(fd_, &n, sizeof n);
    (void)r;
    absl::MutexLock lock(&mu_);
    *eof = false;
    if (!queue_.empty()) {
      if (queue_.front().size() > credit) {
        Wake();  // still pending
        return false;
      }
      *chunk = std::move(queue_.front());
      queue_.pop_front();
      cv_.SignalAll();
      if (!queue_.empty() || eof_) Wake();
      return true;
    }
    *eof = eof_;
    return false;
  }

 private:
  void Wake() {
    uint64_t one = 1;
    ssize_t r = ::write(fd_, &one, sizeof one);
    (void)r;
  }

  Source* src_;
  int fd_;
  absl::Mutex mu_;
  absl::CondVar cv_;
  std::deque<std::string> queue_;
  bool eof_ = false;
  bool stop_ = false;
  std::thread thread_;
};

// Connections this process made (CallReport::connection): process-wide, so
// that every Client's numbers differ.
std::atomic<uint64_t> connections_made{0};

// How often at most Pump walks every call for deadlines and silence: often
// enough for timeouts counted in seconds, rare enough that a window of jobs in
// flight is not walked at each frame.
constexpr absl::Duration kSweepEvery = absl::Milliseconds(10);

}  // namespace

class Client::Impl {
 public:
  // What a job sent straight to a worker needs to go through the relay
  // instead, kept until something of it comes back (then it ran there).
  struct Replay {
    JobRequest request;
    std::vector<std::string> stdin_sent;  // at most one window
    bool stdin_end_sent = false;
  };

  // A job from its start until its result is taken. Kept small: a window of
  // them is walked and moved on the hot path.
  struct Call {
    uint64_t id = 0;
    std::string name;
    Output* stdout = nullptr;
    Output* stderr = nullptr;
    std::unique_ptr<StdinPump> pump;
    uint64_t stdin_credit = kInitialCredit;
    bool stdin_done = true;
    uint64_t consumed = 0;
    absl::Time give_up = absl::InfiniteFuture();  // local backstop for the deadline
    bool cancelled = false;
    absl::Time cancel_sent;
    bool done = false;
    JobResult result;
    // For CallReport (set only with ClientOptions::on_end).
    std::string trace_id;
    absl::Time start;
    // The direct path: the lane the job runs on (null: the relay), and while
    // nothing of it has come back, what is needed to send it elsewhere.
    Lane* lane = nullptr;
    bool has_stdin = false;
    std::unique_ptr<Replay> replay;
  };

  explicit Impl(ClientOptions options) : options_(std::move(options)) {}
  ~Impl() {
    calls_.clear();
    lanes_.reset();
    if (monitor_) monitor_->close();
    if (sock_) sock_->close();
  }

  absl::Status Connect();
  uint64_t StartCall(const JobRequest& req, Source* stdin, Output* out, Output* err);
  void Pump(absl::Duration timeout, int cancel_fd, uint64_t wait_id);
  std::vector<std::pair<uint64_t, JobResult>> TakeFinished();
  void Cancel(uint64_t id);
  JobResult Finish(uint64_t id);
  bool Done(uint64_t id) const {
    auto it = calls_.find(id);
    return it == calls_.end() || it->second.done;
  }
  size_t in_flight() const { return calls_.size() - ended_.size(); }
  const std::string& endpoint() const { return options_.endpoint; }
  uint64_t direct_jobs() const { return direct_jobs_; }

 private:
  void Send(const std::string& payload) {
    // The server reads as fast as it routes; a full queue means it is gone or
    // stuck, which the heartbeat check reports.
    (void)sock_->send(zmq::buffer(payload), zmq::send_flags::dontwait);
  }
  // Sends a frame of job `c` where the job runs: its lane, or the server.
  void SendFor(const Call& c, const std::string& payload) {
    if (c.lane == nullptr) {
      Send(payload);
    } else {
      (void)c.lane->sock->send(zmq::buffer(payload), zmq::send_flags::dontwait);
    }
  }
  // Sends JOB `id` through the relay (counting the server's silence from now
  // when it was idle).
  void SendToServer(uint64_t id, const Call& c, const JobRequest& req);
  // Sends JOB `id` straight to a worker, if a lease names one with room and
  // its connection is up.
  bool SendDirect(uint64_t id, Call& c, const JobRequest& req);
  // Job `id` did not run on its lane (REFUSED), or its lane's worker was lost
  // before anything of an idempotent job came back: it goes through the relay.
  void Relay(uint64_t id, Call& c);
  void LaneLost(Lane* lane, absl::Duration silence);
  void OnFrame(Frame f, Lane* from);
  // Reads what is queued on `sock` (`from`: the lane, or null for the server).
  void Read(zmq::socket_t& sock, Lane* from);
  void FeedStdin(uint64_t id, Call& c);
  // Ends each call whose deadline passed, whose cancel went unanswered, or
  // whose connection went silent (`limit`: heartbeat interval × liveness).
  void Sweep(absl::Time now, absl::Duration limit);
  void Fail(Call& c, int status, std::string message) {
    if (c.done) return;
    c.done = true;
    c.result = JobResult{status, std::move(message)};
    Report(c);
    if (c.pump) {
      c.pump.reset();
      --feeding_;
    }
    if (c.lane != nullptr) {
      --c.lane->in_flight;
    } else {
      --relayed_;
    }
    c.lane = nullptr;
    c.replay.reset();
    ended_.push_back(c.id);
  }

  // Tells ClientOptions::on_end that `c` ended (before its lane is let go).
  void Report(const Call& c) const {
    if (!options_.on_end) return;
    options_.on_end(CallReport{.name = c.name,
                               .trace_id = c.trace_id,
                               .start = c.start,
                               .duration = absl::Now() - c.start,
                               .status = c.result.status,
                               .worker = c.lane != nullptr ? absl::string_view(c.lane->worker_name) : "",
                               .worker_endpoint = c.lane != nullptr ? absl::string_view(c.lane->endpoint) : "",
                               .connection = connection_});
  }

  ClientOptions options_;
  uint64_t connection_ = 0;  // this connection's number in the process (CallReport::connection)
  zmq::context_t ctx_{1};
  std::unique_ptr<zmq::socket_t> sock_;
  std::unique_ptr<zmq::socket_t> monitor_;
  std::unique_ptr<DirectLanes> lanes_;  // with ClientOptions::direct
  uint64_t direct_jobs_ = 0;
  size_t relayed_ = 0;  // jobs not ended that run through the server
  absl::flat_hash_map<uint64_t, Call> calls_;
  std::vector<uint64_t> ended_;  // ids in calls_ that ended, oldest first
  size_t feeding_ = 0;           // calls with a stdin pump (not ended)
  absl::Time next_sweep_;        // when Pump next runs Sweep: at most every kSweepEvery
  bool sweep_owed_ = false;      // Pump skipped a Sweep as too soon: it wakes for it
  uint64_t next_id_ = 1;
  absl::Time last_heard_;
  absl::Time last_beat_;
};

absl::Status Client::Impl::Connect() {
  const std::string& ep = options_.endpoint;
  if (absl::StartsWith(ep, "ipc://")) {
    if (absl::Status s = CheckIpcPath(ep); !s.ok()) return s;
  } else if (!absl::StartsWith(ep, "tcp://")) {
    return absl::InvalidArgumentError(absl::StrCat("unsupported endpoint '", ep, "': use ipc:///path or tcp://host:port"));
  }
  sock_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::dealer);
  ConfigureSocket(*sock_, SocketTuning{.heartbeat_interval = options_.heartbeat_interval,
                                       .heartbeat_liveness = options_.heartbeat_liveness});
  const bool curve = !options_.server_key.empty();
  if (curve) {
    if (absl::Status s = SetCurveClient(*sock_, options_.server_key, options_.client_key_file); !s.ok()) return s;
  }
  const char* mon = "inproc://berth-client-monitor";
  if (zmq_socket_monitor(sock_->handle(), mon,
                         ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                             ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL) != 0) {
    return absl::InternalError(absl::StrCat("cannot monitor the connection: ", zmq_strerror(zmq_errno())));
  }
  monitor_ = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::pair);
  monitor_->set(zmq::sockopt::linger, 0);
  monitor_->connect(mon);
  try {
    sock_->connect(ep);
  } catch (const zmq::error_t& e) {
    return absl::InvalidArgumentError(absl::StrCat("cannot connect to ", ep, ": ", e.what()));
  }
  absl::Time until = absl::Now() + options_.connect_timeout;
  while (true) {
    auto left = absl::ToInt64Milliseconds(until - absl::Now());
    if (left <= 0) break;
    zmq::pollitem_t item{monitor_->handle(), 0, ZMQ_POLLIN, 0};
    PollOnce(&item, 1, std::chrono::milliseconds(left));
    zmq::message_t event;
    if (!monitor_->recv(event, zmq::recv_flags::dontwait)) continue;
    uint16_t code = 0;
    uint32_t value = 0;
    if (event.size() >= 6) {
      std::memcpy(&code, event.data(), 2);
      std::memcpy(&value, static_cast<const char*>(event.data()) + 2, 4);
    }
    while (event.more()) {
      zmq::message_t rest;
      if (!monitor_->recv(rest, zmq::recv_flags::dontwait)) break;
      event = std::move(rest);
    }
    switch (code) {
      case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
        // Stop monitoring before closing the monitor's end: events left with
        // nowhere to go kept the socket from connecting again after the
        // server restarted.
        zmq_socket_monitor(sock_->handle(), nullptr, 0);
        monitor_.reset();
        last_heard_ = absl::Now();
        last_beat_ = last_heard_;
        connection_ = connections_made.fetch_add(1, std::memory_order_relaxed) + 1;
        if (options_.direct) {
          lanes_ = std::make_unique<DirectLanes>(
              ctx_, DirectLanes::Options{.client_key_file = options_.client_key_file,
                                         .heartbeat_interval = options_.heartbeat_interval,
                                         .heartbeat_liveness = options_.heartbeat_liveness});
        }
        return absl::OkStatus();
      case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        return absl::PermissionDeniedError(absl::StrCat(
            ep, " refused this client's key (status ", value, "): it is not in the server's authorized keys"));
      case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
      case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        return absl::UnavailableError(absl::StrCat(
            "handshake with ", ep, " failed", curve ? ": is the server key right, and does the server use CURVE?" : ""));
      default:
        break;
    }
  }
  return absl::UnavailableError(absl::StrCat("cannot connect to ", ep, ": no answer within ",
                                             absl::FormatDuration(options_.connect_timeout),
                                             curve ? " (check the server key)" : ""));
}

uint64_t Client::Impl::StartCall(const JobRequest& req, Source* stdin, Output* out, Output* err) {
  uint64_t id = next_id_++;
  Call& c = calls_[id];
  c.id = id;
  c.name = req.name;
  c.stdout = out;
  c.stderr = err;
  if (req.timeout != absl::InfiniteDuration()) {
    // The server answers a deadline itself; this only covers a server that went
    // silent, one heartbeat period after the deadline.
    c.give_up = absl::Now() + req.timeout + options_.heartbeat_interval * options_.heartbeat_liveness;
  }
  c.has_stdin = stdin != nullptr;
  JobRequest traced;
  const JobRequest* r = &req;
  if (req.trace_id.empty()) {
    traced = req;
    traced.trace_id = NewTraceId();
    r = &traced;
  }
  if (options_.on_end) {  // only a report needs them
    c.trace_id = r->trace_id;
    c.start = absl::Now();
  }
  if (!SendDirect(id, c, *r)) SendToServer(id, c, *r);
  if (stdin != nullptr) {
    c.stdin_done = false;
    c.pump = std::make_unique<StdinPump>(stdin);
    ++feeding_;
  }
  return id;
}

void Client::Impl::SendToServer(uint64_t id, const Call& c, const JobRequest& req) {
  // The server heartbeats only clients with jobs there: its silence counts
  // from the first of them.
  if (relayed_++ == 0) last_heard_ = absl::Now();
  Send(EncodeJob(id, req, c.has_stdin, /*end_tail=*/true));
}

bool Client::Impl::SendDirect(uint64_t id, Call& c, const JobRequest& req) {
  if (!lanes_) return false;
  const absl::Time now = absl::Now();
  if (lanes_->WantRoute(req.name, now)) {
    const uint64_t ask = next_id_++;
    Frame route;
    route.type = FrameType::kRoute;
    route.id = ask;
    route.job.name = req.name;
    lanes_->Asked(ask, req.name);
    Send(EncodeFrame(route));
  }
  Lane* lane = lanes_->Pick(req.name, now);
  if (lane == nullptr) return false;
  if (!lane->sock->send(zmq::buffer(EncodeTicketedJob(id, req, c.has_stdin, /*end_tail=*/true, lane->ticket)),
                        zmq::send_flags::dontwait)) {
    return false;  // its connection is not up (ZMQ_IMMEDIATE)
  }
  if (lane->in_flight++ == 0) {
    lane->last_heard = now;  // the worker heartbeats us from now on
    lane->last_beat = now;
  }
  c.lane = lane;
  c.replay = std::make_unique<Replay>(Replay{.request = req, .stdin_sent = {}, .stdin_end_sent = false});
  return true;
}

void Client::Impl::Relay(uint64_t id, Call& c) {
  --c.lane->in_flight;
  c.lane = nullptr;
  std::unique_ptr<Replay> replay = std::move(c.replay);
  SendToServer(id, c, replay->request);
  uint64_t resent = 0;
  for (const std::string& chunk : replay->stdin_sent) {
    resent += chunk.size();
    Send(EncodeData(FrameType::kStdin, id, chunk));
  }
  if (replay->stdin_end_sent) Send(EncodeSimple(FrameType::kStdinEnd, id));
  // The relay's window starts afresh, less what went again.
  c.stdin_credit = kInitialCredit - std::min(resent, kInitialCredit);
  if (c.cancelled) Send(EncodeSimple(FrameType::kCancel, id));
  FeedStdin(id, c);
}

void Client::Impl::LaneLost(Lane* lane, absl::Duration silence) {
  for (auto& [id, c] : calls_) {
    if (c.done || c.lane != lane) continue;
    if (c.replay && lanes_->Idempotent(c.name)) {
      spdlog::info("running idempotent job {} again through the relay after losing worker {}", c.name,
                   lane->worker_name);
      Relay(id, c);
      continue;
    }
    Fail(c, kStatusUnavailable,
         absl::StrCat(c.name, ": lost contact with worker ", lane->worker_name, " at ", lane->endpoint,
                      " (no heartbeat for ", absl::FormatDuration(silence), ")"));
  }
  lanes_->Drop(lane);  // no job is on it now
}

void Client::Impl::FeedStdin(uint64_t id, Call& c) {
  if (c.stdin_done || !c.pump || c.done) return;
  std::string chunk;
  bool eof = false;
  while (c.pump->Take(c.stdin_credit, &chunk, &eof)) {
    c.stdin_credit -= chunk.size();
    SendFor(c, EncodeData(FrameType::kStdin, id, chunk));
    // Kept while the job may go elsewhere: at most one window, since a worker
    // grants more only once it runs the job.
    if (c.replay) c.replay->stdin_sent.push_back(std::move(chunk));
  }
  if (eof) {
    SendFor(c, EncodeSimple(FrameType::kStdinEnd, id));
    c.stdin_done = true;
    if (c.replay) c.replay->stdin_end_sent = true;
  }
}

void Client::Impl::OnFrame(Frame f, Lane* from) {
  const absl::Time now = absl::Now();
  if (from == nullptr) {
    last_heard_ = now;
  } else {
    from->last_heard = now;
  }
  if (f.type == FrameType::kHeartbeat) return;
  if (from == nullptr && lanes_ && (f.type == FrameType::kLease || f.type == FrameType::kError) &&
      lanes_->OnAnswer(f, now)) {
    return;
  }
  auto it = calls_.find(f.id);
  if (it == calls_.end() || it->second.done || it->second.lane != from) return;
  Call& c = it->second;
  if (from != nullptr && f.type != FrameType::kRefused && f.type != FrameType::kCredit) {
    c.replay.reset();  // output came: it ran there
  }
  switch (f.type) {
    case FrameType::kRefused:
      if (from == nullptr) return;
      if (f.refusal == Refusal::kNotAdmitted) lanes_->Forget(c.name);  // ask for a new lease
      if (!c.replay) {  // its output came: running it again would repeat it
        Fail(c, kStatusUnavailable,
             absl::StrCat(c.name, ": worker ", from->worker_name, " refused the job after its output had come"));
        return;
      }
      spdlog::debug("{}; through the relay", f.message);
      Relay(f.id, c);
      return;
    case FrameType::kStdout:
    case FrameType::kStderr: {
      Output* out = f.type == FrameType::kStdout ? c.stdout : c.stderr;
      size_t n = f.data.size();
      if (out != nullptr && !out->Write(std::move(f.data)).ok() && !c.cancelled) {
        // Our own output is gone (e.g. a closed pipe): stop the job.
        Cancel(f.id);
      }
      c.consumed += n;
      if (c.consumed >= kCreditGrantBytes) {
        SendFor(c, EncodeCredit(f.id, c.consumed));
        c.consumed = 0;
      }
      return;
    }
    case FrameType::kCredit:
      c.stdin_credit += f.credit;
      FeedStdin(f.id, c);
      return;
    case FrameType::kEnd:
      if (from != nullptr) ++direct_jobs_;
      if (f.has_tail) {
        // The job's last output chunk, folded into END (we asked for that).
        Output* out = f.tail_stream == FrameType::kStdout ? c.stdout : c.stderr;
        if (out != nullptr) (void)out->Write(std::move(f.data));
      }
      Fail(c, f.status, std::move(f.message));
      return;
    case FrameType::kError:
      Fail(c, kStatusErr, absl::StrCat(c.name, from == nullptr ? ": the server" : ": the worker",
                                       " refused the request: ", f.message));
      return;
    default:
      return;
  }
}

void Client::Impl::Read(zmq::socket_t& sock, Lane* from) {
  for (int batch = 0; batch < 256; ++batch) {
    zmq::message_t msg;
    if (!sock.recv(msg, zmq::recv_flags::dontwait)) break;
    absl::StatusOr<Frame> f = DecodeFrame(msg.data(), msg.size());
    if (f.ok()) OnFrame(*std::move(f), from);
  }
  // Writing what arrived may have blocked (a slow reader downstream); the
  // peer was alive when these frames came, so silence counts from now.
  if (from == nullptr) {
    last_heard_ = absl::Now();
  } else {
    from->last_heard = absl::Now();
  }
}

void Client::Impl::Pump(absl::Duration timeout, int cancel_fd, uint64_t wait_id) {
  absl::Time until = absl::Now() + timeout;
  std::vector<zmq::pollitem_t> items;
  std::vector<uint64_t> pump_ids;
  std::vector<Lane*> lanes;
  while (true) {
    items.clear();
    pump_ids.clear();
    lanes.clear();
    // The sockets first: the server's, then each lane's.
    items.push_back({sock_->handle(), 0, ZMQ_POLLIN, 0});
    if (lanes_) {
      for (Lane* lane : lanes_->lanes()) {
        lanes.push_back(lane);
        items.push_back({lane->sock->handle(), 0, ZMQ_POLLIN, 0});
      }
    }
    const size_t sockets = items.size();
    if (cancel_fd >= 0) items.push_back({nullptr, cancel_fd, ZMQ_POLLIN, 0});
    if (feeding_ > 0) {
      for (auto& [id, c] : calls_) {
        if (!c.done && !c.stdin_done && c.pump) {
          items.push_back({nullptr, c.pump->fd(), ZMQ_POLLIN, 0});
          pump_ids.push_back(id);
        }
      }
    }
    absl::Time now = absl::Now();
    absl::Time wake = std::min(until, last_beat_ + options_.heartbeat_interval);
    if (sweep_owed_) wake = std::min(wake, next_sweep_);
    int64_t ms = std::max<int64_t>(0, absl::ToInt64Milliseconds(wake - now) + 1);
    // With nothing but sockets to watch, frames already queued on them (the
    // common case while many jobs are in flight) are read without a poll
    // system call. With a cancel fd or stdin to feed, always poll, so that a
    // steady stream of output cannot starve them.
    bool queued = false;
    if (items.size() == sockets) {
      for (size_t i = 0; i < sockets; ++i) {
        zmq::socket_ref ref(zmq::from_handle, items[i].socket);
        if (ref.get(zmq::sockopt::events) & ZMQ_POLLIN) {
          items[i].revents = ZMQ_POLLIN;
          queued = true;
        }
      }
    }
    if (!queued) PollOnce(items.data(), items.size(), std::chrono::milliseconds(ms));
    if (items[0].revents & ZMQ_POLLIN) Read(*sock_, nullptr);
    for (size_t i = 1; i < sockets; ++i) {
      if (items[i].revents & ZMQ_POLLIN) Read(*lanes[i - 1]->sock, lanes[i - 1]);
    }
    size_t idx = sockets;
    if (cancel_fd >= 0) {
      if (items[idx].revents & ZMQ_POLLIN) {
        auto it = calls_.find(wait_id);
        if (it != calls_.end() && !it->second.cancelled) Cancel(wait_id);
      }
      ++idx;
    }
    for (uint64_t id : pump_ids) {
      if (items[idx++].revents & ZMQ_POLLIN) FeedStdin(id, calls_[id]);
    }
    now = absl::Now();
    const absl::Duration limit = options_.heartbeat_interval * options_.heartbeat_liveness;
    if (now - last_beat_ >= options_.heartbeat_interval) {
      if (relayed_ > 0) Send(EncodeSimple(FrameType::kHeartbeat, 0));
      last_beat_ = now;
    }
    for (Lane* lane : lanes) {
      if (lane->in_flight == 0) continue;
      if (now - lane->last_heard > limit) {
        LaneLost(lane, limit);  // frees `lane`
      } else if (now - lane->last_beat >= options_.heartbeat_interval) {
        (void)lane->sock->send(zmq::buffer(EncodeSimple(FrameType::kHeartbeat, 0)), zmq::send_flags::dontwait);
        lane->last_beat = now;
      }
    }
    // Only a skipped sweep adds a wake-up: a client waiting on a long job
    // sweeps when its poll times out, not every kSweepEvery.
    sweep_owed_ = now < next_sweep_;
    if (!sweep_owed_) {
      Sweep(now, limit);
      next_sweep_ = now + kSweepEvery;
    }
    // Return once the awaited job (or, with wait_id 0, any job) has ended.
    const bool done = wait_id != 0 ? Done(wait_id) : !ended_.empty();
    if (done || now >= until) return;
  }
}

void Client::Impl::Sweep(absl::Time now, absl::Duration limit) {
  for (auto& [id, c] : calls_) {
    if (c.done) continue;
    if (c.lane == nullptr && now - last_heard_ > limit) {
      Fail(c, kStatusUnavailable,
           absl::StrCat(c.name, ": lost contact with ", options_.endpoint, " (no heartbeat for ",
                        absl::FormatDuration(limit), ")"));
    } else if (now > c.give_up) {
      SendFor(c, EncodeSimple(FrameType::kCancel, id));
      Fail(c, kStatusDeadlineExceeded,
           absl::StrCat(c.name, ": deadline exceeded (no answer from ",
                        c.lane == nullptr ? options_.endpoint : c.lane->endpoint, ")"));
    } else if (c.cancelled && now - c.cancel_sent > limit) {
      Fail(c, kStatusCancelled, absl::StrCat(c.name, ": cancelled"));
    }
  }
}

void Client::Impl::Cancel(uint64_t id) {
  auto it = calls_.find(id);
  if (it == calls_.end() || it->second.done || it->second.cancelled) return;
  it->second.cancelled = true;
  it->second.cancel_sent = absl::Now();
  SendFor(it->second, EncodeSimple(FrameType::kCancel, id));
}

JobResult Client::Impl::Finish(uint64_t id) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return JobResult{kStatusErr, "unknown job"};
  JobResult r = std::move(it->second.result);
  calls_.erase(it);
  if (auto e = std::find(ended_.begin(), ended_.end(), id); e != ended_.end()) ended_.erase(e);
  return r;
}

std::vector<std::pair<uint64_t, JobResult>> Client::Impl::TakeFinished() {
  std::vector<std::pair<uint64_t, JobResult>> out;
  out.reserve(ended_.size());
  for (uint64_t id : ended_) {
    auto it = calls_.find(id);
    out.emplace_back(id, std::move(it->second.result));
    calls_.erase(it);
  }
  ended_.clear();
  return out;
}

// ---- Client ----

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

absl::StatusOr<std::unique_ptr<Client>> Client::Connect(ClientOptions options) {
  auto impl = std::make_unique<Impl>(std::move(options));
  if (absl::Status s = impl->Connect(); !s.ok()) return s;
  return std::unique_ptr<Client>(new Client(std::move(impl)));
}

absl::StatusOr<JobResult> Client::Run(const JobRequest& request, Source* stdin, Output* stdout, Output* stderr,
                                      int cancel_fd) {
  if (request.name.empty()) return absl::InvalidArgumentError("a job needs a name");
  uint64_t id = impl_->StartCall(request, stdin, stdout, stderr);
  while (!impl_->Done(id)) impl_->Pump(absl::Seconds(1), cancel_fd, id);
  return impl_->Finish(id);
}

uint64_t Client::Start(const JobRequest& request, Output* stdout, Output* stderr) {
  return impl_->StartCall(request, nullptr, stdout, stderr);
}

std::vector<std::pair<uint64_t, JobResult>> Client::Wait(absl::Duration timeout) {
  std::vector<std::pair<uint64_t, JobResult>> done = impl_->TakeFinished();
  if (!done.empty()) return done;
  impl_->Pump(timeout, -1, 0);
  return impl_->TakeFinished();
}

void Client::Cancel(uint64_t id) { impl_->Cancel(id); }

size_t Client::in_flight() const { return impl_->in_flight(); }

uint64_t Client::direct_jobs() const { return impl_->direct_jobs(); }

const std::string& Client::endpoint() const { return impl_->endpoint(); }

}  // namespace berth::remote
