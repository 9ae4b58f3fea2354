#include "engine/remote/worker.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <random>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/log.h"
#include "engine/remote/direct_endpoint.h"
#include "engine/remote/executor.h"
#include "engine/remote/job_bridge.h"
#include "engine/remote/outbox.h"
#include "engine/remote/security.h"
#include "engine/remote/thread_pool.h"
#include "engine/remote/wire.h"
#include "engine/remote/zmq_socket.h"
#include <zmq.hpp>

namespace berth::remote {
namespace {

constexpr uint64_t kDrainSignal = 1;

// Signals are handled through the control eventfd: a poll they interrupt just
// returns (PollOnce).
void PollIgnoringSignals(zmq::pollitem_t* items, size_t n, int64_t ms) {
  PollOnce(items, n, std::chrono::milliseconds(ms));
}
constexpr uint64_t kStopSignal = 1 << 20;

}  // namespace

class Worker::Impl {
 public:
  Impl(Engine& engine, WorkerOptions options)
      : engine_(engine),
        options_(std::move(options)),
        control_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
        pool_(std::make_unique<ThreadPool>(options_.capacity)) {}
  ~Impl() {
    DetachAll();
    if (direct_) direct_->DetachAll();
    pool_.reset();
    direct_.reset();  // its socket closes before the context ends
    ::close(control_);
  }

  absl::Status Run();
  void Signal(uint64_t what) {
    ssize_t r = ::write(control_, &what, sizeof what);
    (void)r;
  }

 private:
  enum class Outcome { kDrained, kStopped, kLost };

  absl::StatusOr<Outcome> Session();
  absl::Status Configure(zmq::socket_t& sock);
  void Send(zmq::socket_t& sock, const std::string& payload) {
    (void)sock.send(zmq::buffer(payload), zmq::send_flags::dontwait);
  }
  void OnFrame(zmq::socket_t& sock, Frame f);
  // HELLO (and DRAIN when draining): what the server must know of us.
  void Announce(zmq::socket_t& sock) {
    Send(sock, hello_);
    if (draining_) Send(sock, EncodeSimple(FrameType::kDrain, 0));
  }
  static std::string EncodeHello(const WorkerOptions& o, const DirectEndpoint* direct) {
    Frame hello;
    hello.type = FrameType::kHello;
    hello.worker_name = o.name;
    hello.capacity = static_cast<uint32_t>(o.capacity);
    hello.jobs = o.jobs;
    hello.idempotent = o.idempotent;
    if (direct != nullptr) {
      hello.direct_endpoint = direct->endpoint();
      hello.direct_key = direct->public_key();
    }
    return EncodeFrame(hello);
  }
  // Whether one more job fits the capacity, relayed and direct ones together
  // (a job whose END is on its way does not count).
  bool HasRoom() const {
    const size_t capacity = static_cast<size_t>(options_.capacity);
    size_t size = exec_ ? exec_->size() : 0, running = exec_ ? exec_->running() : 0;
    if (direct_) {
      size += direct_->size();
      running += direct_->running();
    }
    return size < capacity || running < capacity;
  }
  // Serves the direct endpoint's socket and the outbox (frames for the server
  // go to `server`, or nowhere when null).
  void ServeDirect(bool readable) {
    if (direct_ && readable) direct_->Read([this] { return HasRoom(); }, draining_);
  }
  void DrainOutbox(zmq::socket_t* server);
  // The direct endpoint's poll item (one poll ignores, without it).
  zmq::pollitem_t DirectItem() {
    if (!direct_) return zmq::pollitem_t{nullptr, -1, 0, 0};
    return zmq::pollitem_t{direct_->socket().handle(), 0, ZMQ_POLLIN, 0};
  }
  // REPORT the direct path's counts to the server.
  void Report(zmq::socket_t& sock);
  void DetachAll() {
    if (exec_) exec_->DetachAll();
  }
  // Reads the control eventfd: returns false to stop; sets draining_.
  bool ReadControl();
  bool SleepInterruptibly(absl::Duration d);

  Engine& engine_;
  WorkerOptions options_;
  int control_;
  std::unique_ptr<ThreadPool> pool_;
  std::string hello_;
  std::unique_ptr<DirectEndpoint> direct_;
  Outbox outbox_;
  zmq::context_t ctx_{1};
  std::shared_ptr<Executor> exec_;  // the jobs of the current session
  bool draining_ = false;
  bool drain_announced_ = false;
  bool stop_ = false;
  absl::Time last_heard_;
};

bool Worker::Impl::ReadControl() {
  uint64_t v = 0;
  if (::read(control_, &v, sizeof v) == sizeof v) {
    if (v >= kStopSignal) stop_ = true;
    if (v % kStopSignal != 0) draining_ = true;
  }
  return !stop_;
}

bool Worker::Impl::SleepInterruptibly(absl::Duration d) {
  // Clients of the direct endpoint are served meanwhile: they need no server.
  const absl::Time until = absl::Now() + d;
  while (true) {
    absl::Time now = absl::Now();
    if (direct_) direct_->Tick(now);
    if (now >= until) return true;
    zmq::pollitem_t items[] = {
        {nullptr, control_, ZMQ_POLLIN, 0},
        {nullptr, outbox_.fd(), ZMQ_POLLIN, 0},
        DirectItem(),
    };
    absl::Time wake = std::min(until, direct_ ? direct_->NextTimer() : until);
    PollIgnoringSignals(items, 3, std::max<int64_t>(0, absl::ToInt64Milliseconds(wake - now) + 1));
    if (items[0].revents & ZMQ_POLLIN) {
      if (!ReadControl() || draining_) return false;
    }
    if (items[1].revents & ZMQ_POLLIN) DrainOutbox(nullptr);
    ServeDirect(items[2].revents & ZMQ_POLLIN);
  }
}

void Worker::Impl::DrainOutbox(zmq::socket_t* server) {
  std::deque<Outgoing> out;
  outbox_.Drain(&out);
  for (Outgoing& o : out) {
    if (o.task) {
      o.task();
    } else if (o.dropped()) {
      continue;
    } else if (o.peer.socket == DirectEndpoint::kSocket) {
      if (direct_) direct_->Send(o.peer.identity, o.payload);
    } else if (server != nullptr) {
      Send(*server, o.payload);
    }
  }
}

void Worker::Impl::Report(zmq::socket_t& sock) {
  if (!direct_) return;
  // Every heartbeat, changed or not: the server may count us fuller than we
  // are (after we refused it a job), and this is what corrects it.
  Frame report;
  report.type = FrameType::kReport;
  report.direct_running = direct_->running();
  report.direct_served = direct_->served();
  Send(sock, EncodeFrame(report));
}

absl::Status Worker::Impl::Configure(zmq::socket_t& sock) {
  ConfigureSocket(sock, SocketTuning{.heartbeat_interval = options_.heartbeat_interval,
                                     .heartbeat_liveness = options_.heartbeat_liveness});
  static thread_local std::mt19937_64 rng(std::random_device{}());
  sock.set(zmq::sockopt::routing_id, absl::StrCat(options_.name, "-", absl::Hex(rng())));
  if (options_.server_key.empty()) return absl::OkStatus();
  return SetCurveClient(sock, options_.server_key, options_.client_key_file);
}

absl::Status Worker::Impl::Run() {
  if (!options_.direct_endpoint.empty() && !direct_) {
    absl::StatusOr<std::unique_ptr<DirectEndpoint>> d =
        DirectEndpoint::Bind(ctx_,
                             DirectOptions{.endpoint = options_.direct_endpoint,
                                           .key_file = options_.client_key_file,
                                           .worker_name = options_.name,
                                           .jobs = options_.jobs,
                                           .heartbeat_interval = options_.heartbeat_interval,
                                           .heartbeat_liveness = options_.heartbeat_liveness},
                             engine_, pool_.get(), &outbox_);
    if (!d.ok()) return d.status();
    direct_ = *std::move(d);
    spdlog::info("worker {}: takes jobs directly at {}", options_.name, direct_->endpoint());
  }
  hello_ = EncodeHello(options_, direct_.get());
  absl::Duration backoff = options_.reconnect_min;
  while (true) {
    absl::StatusOr<Outcome> outcome = Session();
    if (!outcome.ok()) return outcome.status();
    if (*outcome != Outcome::kLost) return absl::OkStatus();
    if (draining_) return absl::OkStatus();  // nothing left to finish for a server that is gone
    spdlog::warn("worker {}: lost the server at {}; connecting again in {}", options_.name, options_.endpoint,
                 absl::FormatDuration(backoff));
    if (!SleepInterruptibly(backoff)) return absl::OkStatus();
    backoff = std::min(backoff * 2, options_.reconnect_max);
    if (last_heard_ != absl::InfinitePast() && absl::Now() - last_heard_ < options_.reconnect_max * 2) {
      // We did talk to a server recently: start the backoff over.
      backoff = options_.reconnect_min;
    }
  }
}

absl::StatusOr<Worker::Impl::Outcome> Worker::Impl::Session() {
  zmq::socket_t sock(ctx_, zmq::socket_type::dealer);
  if (absl::Status s = Configure(sock); !s.ok()) return s;
  exec_ = Executor::Make(Executor::Context{
      .engine = &engine_,
      .pool = pool_.get(),
      .outbox = &outbox_,
      .peer = Peer{0, ""},
      .send = [this, &sock](const std::string& frame) { Send(sock, frame); },
      .on_removed = nullptr,
  });
  // Whatever ends the session stops its jobs first (they send through `sock`).
  struct EndJobs {
    Impl* self;
    ~EndJobs() {
      self->DetachAll();
      self->exec_.reset();
    }
  } end_jobs{this};
  std::string mon = absl::StrCat("inproc://berth-worker-monitor-", reinterpret_cast<uintptr_t>(this), "-",
                                 absl::ToUnixNanos(absl::Now()));
  zmq_socket_monitor(sock.handle(), mon.c_str(), ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED);
  zmq::socket_t monitor(ctx_, zmq::socket_type::pair);
  monitor.set(zmq::sockopt::linger, 0);
  monitor.connect(mon);
  sock.connect(options_.endpoint);

  Announce(sock);
  drain_announced_ = draining_;

  absl::Time start = absl::Now();
  last_heard_ = absl::InfinitePast();
  absl::Time last_beat = start;
  const absl::Duration limit = options_.heartbeat_interval * options_.heartbeat_liveness;
  int handshakes = 0;
  while (true) {
    zmq::pollitem_t items[] = {
        {sock.handle(), 0, ZMQ_POLLIN, 0},
        {monitor.handle(), 0, ZMQ_POLLIN, 0},
        {nullptr, outbox_.fd(), ZMQ_POLLIN, 0},
        {nullptr, control_, ZMQ_POLLIN, 0},
        DirectItem(),
    };
    absl::Time now = absl::Now();
    // Wake for the next heartbeat, or when the server would have been silent
    // too long: a lost server is noticed then, not up to a heartbeat later.
    absl::Time wake = std::min(last_beat + options_.heartbeat_interval,
                               (last_heard_ == absl::InfinitePast() ? start : last_heard_) + limit);
    if (direct_) wake = std::min(wake, direct_->NextTimer());
    int64_t ms = std::max<int64_t>(0, absl::ToInt64Milliseconds(wake - now) + 1);
    PollIgnoringSignals(items, 5, ms);
    if (items[0].revents & ZMQ_POLLIN) {
      for (int batch = 0; batch < 256; ++batch) {
        zmq::message_t msg;
        if (!sock.recv(msg, zmq::recv_flags::dontwait)) break;
        last_heard_ = absl::Now();
        absl::StatusOr<Frame> f = DecodeFrame(msg.data(), msg.size());
        if (!f.ok()) {
          spdlog::warn("worker {}: bad frame from the server: {}", options_.name, f.status().message());
          continue;
        }
        OnFrame(sock, *std::move(f));
      }
    }
    if (items[1].revents & ZMQ_POLLIN) {
      while (true) {
        zmq::message_t event;
        if (!monitor.recv(event, zmq::recv_flags::dontwait)) break;
        uint16_t code = 0;
        if (event.size() >= 2) std::memcpy(&code, event.data(), 2);
        while (event.more()) {
          zmq::message_t rest;
          if (!monitor.recv(rest, zmq::recv_flags::dontwait)) break;
          event = std::move(rest);
        }
        if (code == ZMQ_EVENT_DISCONNECTED) {
          // The server has failed whatever we were running for it.
          DetachAll();
        } else if (code == ZMQ_EVENT_HANDSHAKE_SUCCEEDED && ++handshakes > 1) {
          // Reconnected (the server restarted): announce ourselves again.
          Announce(sock);
        }
      }
    }
    if (items[2].revents & ZMQ_POLLIN) DrainOutbox(&sock);
    ServeDirect(items[4].revents & ZMQ_POLLIN);
    if (items[3].revents & ZMQ_POLLIN) {
      if (!ReadControl()) {
        DetachAll();
        return Outcome::kStopped;
      }
    }
    if (draining_ && !drain_announced_) {
      spdlog::info("worker {}: draining {} job(s)", options_.name, exec_->size());
      Send(sock, EncodeSimple(FrameType::kDrain, 0));
      drain_announced_ = true;
    }
    if (draining_ && exec_->empty() && (!direct_ || direct_->size() == 0)) {
      Send(sock, EncodeSimple(FrameType::kBye, 0));
      sock.set(zmq::sockopt::linger, 1000);  // let BYE (and the last ENDs) leave
      return Outcome::kDrained;
    }
    now = absl::Now();
    if (direct_) direct_->Tick(now);
    if (now - last_beat >= options_.heartbeat_interval) {
      Send(sock, EncodeSimple(FrameType::kHeartbeat, 0));
      Report(sock);
      last_beat = now;
    }
    absl::Time heard = last_heard_ == absl::InfinitePast() ? start : last_heard_;
    if (now - heard > limit) {
      DetachAll();
      return Outcome::kLost;
    }
  }
}

void Worker::Impl::OnFrame(zmq::socket_t& sock, Frame f) {
  switch (f.type) {
    case FrameType::kHeartbeat:
      return;
    case FrameType::kWelcome:
      if (direct_) direct_->Admit(std::move(f.data));
      return;
    case FrameType::kError:
      spdlog::warn("worker {}: the server says: {}", options_.name, f.message);
      if (f.id == 0 && f.error_code == ErrorCode::kForgotten) {
        // The server has ended whatever we ran for it; announce ourselves anew.
        DetachAll();
        Announce(sock);
      }
      return;
    case FrameType::kJob: {
      if (exec_->Has(f.id)) {
        Send(sock, EncodeError(f.id, ErrorCode::kIdInUse, absl::StrCat("job id ", f.id, " is already running here")));
        return;
      }
      if (draining_) {
        Send(sock, EncodeEnd(f.id, kStatusUnavailable,
                             absl::StrCat(f.job.name, ": worker ", options_.name, " is draining")));
        return;
      }
      if (!HasRoom()) {
        // The server sends at most `capacity` jobs at once, less those we last
        // reported taking directly; one that finds us full gets the job back
        // (it did not run) and queues it, rather than it waiting here.
        Send(sock, EncodeRefused(f.id, Refusal::kAtCapacity,
                                 absl::StrCat(f.job.name, ": worker ", options_.name, " is at capacity (",
                                              options_.capacity, " jobs)")));
        return;
      }
      exec_->Start(std::move(f));
      return;
    }
    case FrameType::kStdin:
      exec_->OnStdin(f.id, std::move(f.data));
      return;
    case FrameType::kStdinEnd:
      exec_->OnStdinEnd(f.id);
      return;
    case FrameType::kCredit:
      exec_->OnCredit(f.id, f.credit);
      return;
    case FrameType::kCancel:
      exec_->OnCancel(f.id);
      return;
    default:
      Send(sock, EncodeError(f.id, ErrorCode::kNotAllowed,
                             absl::StrCat("a server may not send ", FrameTypeName(f.type), " frames to a worker")));
      return;
  }
}

Worker::Worker(Engine& engine, WorkerOptions options) : impl_(std::make_unique<Impl>(engine, std::move(options))) {}
Worker::~Worker() = default;
absl::Status Worker::Run() { return impl_->Run(); }
void Worker::Drain() { impl_->Signal(kDrainSignal); }
void Worker::Stop() { impl_->Signal(kStopSignal); }

}  // namespace berth::remote
