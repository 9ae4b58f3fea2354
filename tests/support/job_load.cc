// A window of jobs in flight, every END counted; see job_load.h.
#include "tests/support/job_load.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "engine/remote/client.h"
#include "engine/remote/wire.h"
#include "engine/remote/zmq_socket.h"
#include <zmq.hpp>

namespace berth::testing {
namespace {

// Moves the calling thread into /run/netns/<name>; "" on success, else why.
std::string EnterNetns(const std::string& name) {
  const std::string path = "/run/netns/" + name;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::StrCat("cannot open ", path, ": ", std::strerror(errno));
  int r = ::setns(fd, CLONE_NEWNET);
  int err = errno;
  ::close(fd);
  return r == 0 ? "" : absl::StrCat("setns ", path, ": ", std::strerror(err));
}

}  // namespace

JobLoad::JobLoad(JobLoadOptions options) : options_(std::move(options)) {
  thread_ = std::thread([this] { Run(); });
}

JobLoad::~JobLoad() { Stop(absl::ZeroDuration()); }

void JobLoad::Stop(absl::Duration drain) {
  {
    absl::MutexLock l(&mu_);
    drain_until_ = absl::Now() + drain;
  }
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

std::string JobLoad::error() const {
  absl::MutexLock l(&mu_);
  return error_;
}

std::map<uint64_t, JobLoad::Job> JobLoad::jobs() const {
  absl::MutexLock l(&mu_);
  return jobs_;
}

int JobLoad::stray_ends() const {
  absl::MutexLock l(&mu_);
  return stray_ends_;
}

void JobLoad::Fail(std::string why) {
  absl::MutexLock l(&mu_);
  error_ = std::move(why);
}

void JobLoad::Ended(uint64_t id, int status, std::string message) {
  absl::MutexLock l(&mu_);
  auto it = jobs_.find(id);
  if (it == jobs_.end()) {
    ++stray_ends_;
    return;
  }
  if (it->second.ends++ > 0) return;
  it->second.ended = absl::Now();
  it->second.status = status;
  it->second.message = std::move(message);
  --in_flight_;
  ++completed_;
}

bool JobLoad::Over(bool stopping) {
  if (!stopping) return false;
  absl::MutexLock l(&mu_);
  return in_flight_ == 0 || absl::Now() >= drain_until_;
}

void JobLoad::RunDirect() {
  remote::ClientOptions o;
  o.endpoint = options_.endpoint;
  o.server_key = options_.server_key;
  o.client_key_file = options_.client_key;
  o.direct = true;
  absl::StatusOr<std::unique_ptr<remote::Client>> client = remote::Client::Connect(o);
  if (!client.ok()) return Fail(std::string(client.status().message()));
  remote::JobRequest req;
  req.name = options_.name;
  req.args = options_.args;
  while (true) {
    const bool stopping = stop_.load();
    if (Over(stopping)) break;
    while (!stopping && in_flight_ < options_.window) {
      const uint64_t id = (*client)->Start(req);
      absl::MutexLock l(&mu_);
      jobs_[id].sent = absl::Now();
      ++in_flight_;
    }
    for (auto& [id, r] : (*client)->Wait(absl::Milliseconds(20))) Ended(id, r.status, std::move(r.error));
    direct_completed_ = static_cast<int64_t>((*client)->direct_jobs());
  }
}

void JobLoad::Run() {
  if (!options_.netns.empty()) {
    if (std::string e = EnterNetns(options_.netns); !e.empty()) return Fail(e);
  }
  if (options_.direct) return RunDirect();
  zmq::context_t ctx(1);
  zmq::socket_t sock(ctx, zmq::socket_type::dealer);
  remote::ConfigureSocket(sock, remote::SocketTuning{});
  if (!options_.server_key.empty()) {
    absl::Status s = remote::SetCurveClient(sock, options_.server_key, options_.client_key);
    if (!s.ok()) return Fail(std::string(s.message()));
  }
  sock.connect(options_.endpoint);
  remote::Frame job;
  job.type = remote::FrameType::kJob;
  job.job.name = options_.name;
  job.job.args = options_.args;
  uint64_t next_id = 1;
  while (true) {
    const bool stopping = stop_.load();
    if (Over(stopping)) break;
    while (!stopping && in_flight_ < options_.window) {
      job.id = next_id;
      if (!sock.send(zmq::buffer(remote::EncodeFrame(job)), zmq::send_flags::dontwait)) break;
      absl::MutexLock l(&mu_);
      jobs_[next_id++].sent = absl::Now();
      ++in_flight_;
    }
    zmq::pollitem_t item{sock.handle(), 0, ZMQ_POLLIN, 0};
    remote::PollOnce(&item, 1, std::chrono::milliseconds(20));
    zmq::message_t msg;
    while (sock.recv(msg, zmq::recv_flags::dontwait)) {
      absl::StatusOr<remote::Frame> f = remote::DecodeFrame(msg.data(), msg.size());
      if (!f.ok() || f->type != remote::FrameType::kEnd) continue;
      Ended(f->id, f->status, std::move(f->message));
    }
  }
}

}  // namespace berth::testing
