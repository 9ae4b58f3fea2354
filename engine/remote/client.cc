#include "engine/remote/client.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
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


}  // namespace

class Client::Impl {
 public:
  struct Call {
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
  };

  explicit Impl(ClientOptions options) : options_(std::move(options)) {}
  ~Impl() {
    calls_.clear();
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
  size_t in_flight() const {
    size_t n = 0;
    for (const auto& [id, c] : calls_) n += c.done ? 0 : 1;
    return n;
  }
  const std::string& endpoint() const { return options_.endpoint; }

 private:
  void Send(const std::string& payload) {
    // The server reads as fast as it routes; a full queue means it is gone or
    // stuck, which the heartbeat check reports.
    (void)sock_->send(zmq::buffer(payload), zmq::send_flags::dontwait);
  }
  void OnFrame(Frame f);
  void FeedStdin(uint64_t id, Call& c);
  void Fail(Call& c, int status, std::string message) {
    if (c.done) return;
    c.done = true;
    c.result = JobResult{status, std::move(message)};
    c.pump.reset();
  }

  ClientOptions options_;
  zmq::context_t ctx_{1};
  std::unique_ptr<zmq::socket_t> sock_;
  std::unique_ptr<zmq::socket_t> monitor_;
  absl::flat_hash_map<uint64_t, Call> calls_;
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
        monitor_.reset();
        last_heard_ = absl::Now();
        last_beat_ = last_heard_;
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
  c.name = req.name;
  c.stdout = out;
  c.stderr = err;
  if (req.timeout != absl::InfiniteDuration()) {
    // The server answers a deadline itself; this only covers a server that went
    // silent, one heartbeat period after the deadline.
    c.give_up = absl::Now() + req.timeout + options_.heartbeat_interval * options_.heartbeat_liveness;
  }
  if (req.trace_id.empty()) {
    JobRequest traced = req;
    traced.trace_id = NewTraceId();
    Send(EncodeJob(id, traced, stdin != nullptr, /*end_tail=*/true));
  } else {
    Send(EncodeJob(id, req, stdin != nullptr, /*end_tail=*/true));
  }
  if (stdin != nullptr) {
    c.stdin_done = false;
    c.pump = std::make_unique<StdinPump>(stdin);
  }
  return id;
}

void Client::Impl::FeedStdin(uint64_t id, Call& c) {
  if (c.stdin_done || !c.pump || c.done) return;
  std::string chunk;
  bool eof = false;
  while (c.pump->Take(c.stdin_credit, &chunk, &eof)) {
    c.stdin_credit -= chunk.size();
    Send(EncodeData(FrameType::kStdin, id, chunk));
  }
  if (eof) {
    Send(EncodeSimple(FrameType::kStdinEnd, id));
    c.stdin_done = true;
  }
}

void Client::Impl::OnFrame(Frame f) {
  last_heard_ = absl::Now();
  if (f.type == FrameType::kHeartbeat) return;
  auto it = calls_.find(f.id);
  if (it == calls_.end() || it->second.done) return;
  Call& c = it->second;
  switch (f.type) {
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
        Send(EncodeCredit(f.id, c.consumed));
        c.consumed = 0;
      }
      return;
    }
    case FrameType::kCredit:
      c.stdin_credit += f.credit;
      FeedStdin(f.id, c);
      return;
    case FrameType::kEnd:
      if (f.has_tail) {
        // The job's last output chunk, folded into END (we asked for that).
        Output* out = f.tail_stream == FrameType::kStdout ? c.stdout : c.stderr;
        if (out != nullptr) (void)out->Write(std::move(f.data));
      }
      Fail(c, f.status, std::move(f.message));
      return;
    case FrameType::kError:
      Fail(c, kStatusErr, absl::StrCat(c.name, ": the server refused the request: ", f.message));
      return;
    default:
      return;
  }
}

void Client::Impl::Pump(absl::Duration timeout, int cancel_fd, uint64_t wait_id) {
  absl::Time until = absl::Now() + timeout;
  std::vector<zmq::pollitem_t> items;
  std::vector<uint64_t> pump_ids;
  while (true) {
    items.clear();
    pump_ids.clear();
    items.push_back({sock_->handle(), 0, ZMQ_POLLIN, 0});
    if (cancel_fd >= 0) items.push_back({nullptr, cancel_fd, ZMQ_POLLIN, 0});
    for (auto& [id, c] : calls_) {
      if (!c.done && !c.stdin_done && c.pump) {
        items.push_back({nullptr, c.pump->fd(), ZMQ_POLLIN, 0});
        pump_ids.push_back(id);
      }
    }
    absl::Time now = absl::Now();
    absl::Time wake = std::min(until, last_beat_ + options_.heartbeat_interval);
    int64_t ms = std::max<int64_t>(0, absl::ToInt64Milliseconds(wake - now) + 1);
    // With nothing but the socket to watch, frames already queued on it (the
    // common case while many jobs are in flight) are read without a poll
    // system call. With a cancel fd or stdin to feed, always poll, so that a
    // steady stream of output cannot starve them.
    if (items.size() == 1 && (sock_->get(zmq::sockopt::events) & ZMQ_POLLIN)) {
      items[0].revents = ZMQ_POLLIN;
    } else {
      PollOnce(items.data(), items.size(), std::chrono::milliseconds(ms));
    }
    bool progressed = false;
    if (items[0].revents & ZMQ_POLLIN) {
      for (int batch = 0; batch < 256; ++batch) {
        zmq::message_t msg;
        if (!sock_->recv(msg, zmq::recv_flags::dontwait)) break;
        absl::StatusOr<Frame> f = DecodeFrame(msg.data(), msg.size());
        if (f.ok()) OnFrame(*std::move(f));
        progressed = true;
      }
      // Writing what arrived may have blocked (a slow reader downstream); the
      // server was alive when these frames came, so silence counts from now.
      last_heard_ = absl::Now();
    }
    size_t idx = 1;
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
      if (in_flight() > 0) Send(EncodeSimple(FrameType::kHeartbeat, 0));
      last_beat_ = now;
    }
    for (auto& [id, c] : calls_) {
      if (c.done) continue;
      if (now - last_heard_ > limit) {
        Fail(c, kStatusUnavailable,
             absl::StrCat(c.name, ": lost contact with ", options_.endpoint, " (no heartbeat for ",
                          absl::FormatDuration(limit), ")"));
      } else if (now > c.give_up) {
        Send(EncodeSimple(FrameType::kCancel, id));
        Fail(c, kStatusDeadlineExceeded,
             absl::StrCat(c.name, ": deadline exceeded (no answer from ", options_.endpoint, ")"));
      } else if (c.cancelled && now - c.cancel_sent > limit) {
        Fail(c, kStatusCancelled, absl::StrCat(c.name, ": cancelled"));
      }
    }
    // Return once the awaited job (or, with wait_id 0, any job) has ended.
    bool done = false;
    if (wait_id != 0) {
      done = Done(wait_id);
    } else {
      for (auto& [id, c] : calls_) done |= c.done;
    }
    if (done || now >= until) return;
    (void)progressed;
  }
}

void Client::Impl::Cancel(uint64_t id) {
  auto it = calls_.find(id);
  if (it == calls_.end() || it->second.done || it->second.cancelled) return;
  it->second.cancelled = true;
  it->second.cancel_sent = absl::Now();
  Send(EncodeSimple(FrameType::kCancel, id));
}

JobResult Client::Impl::Finish(uint64_t id) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return JobResult{kStatusErr, "unknown job"};
  JobResult r = std::move(it->second.result);
  calls_.erase(it);
  return r;
}

std::vector<std::pair<uint64_t, JobResult>> Client::Impl::TakeFinished() {
  std::vector<std::pair<uint64_t, JobResult>> out;
  for (auto it = calls_.begin(); it != calls_.end();) {
    if (it->second.done) {
      out.emplace_back(it->first, std::move(it->second.result));
      calls_.erase(it++);
    } else {
      ++it;
    }
  }
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

const std::string& Client::endpoint() const { return impl_->endpoint(); }

}  // namespace berth::remote
