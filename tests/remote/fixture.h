// Test fixtures of the remote suites (remote_test.cc, direct_test.cc): a real
// server in this process, clients, in-process workers and a raw requester,
// over real ZeroMQ sockets, with jobs that report what they saw.
#ifndef BERTH_TESTS_REMOTE_FIXTURE_H_
#define BERTH_TESTS_REMOTE_FIXTURE_H_

#include <doctest/doctest.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/engine.h"
#include "engine/remote/client.h"
#include "engine/remote/server.h"
#include "engine/remote/wire.h"
#include "engine/remote/worker.h"
#include "handlers/util.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"
#include <zmq.hpp>

namespace berth::remote {

using berth::testing::TempDir;

// The bytes of a JOB frame, field by field.
inline std::string JobBytes(uint64_t id, std::string name, std::vector<std::string> args, Env env, uint64_t deadline_ms,
                     std::string trace_id, bool has_stdin, bool end_tail = false) {
  JobRequest job;
  job.name = std::move(name);
  job.args = std::move(args);
  job.env = std::move(env);
  if (deadline_ms > 0) job.timeout = absl::Milliseconds(deadline_ms);
  job.trace_id = std::move(trace_id);
  return EncodeJob(id, job, has_stdin, end_tail);
}
using berth::testing::WaitFor;

// Records cancellations seen by the `wait_cancel` handler.
struct Observed {
  std::atomic<int> cancels{0};
  std::atomic<int> started{0};
};

inline void InstallTestJobs(Engine& eng, Observed* seen) {
  REQUIRE(UtilGroup().install(eng).ok());
  REQUIRE(eng.Register("wait_cancel", [seen](Job& job) {
    seen->started++;
    if (job.WaitCancelled(absl::Seconds(30))) {
      seen->cancels++;
      return job.Error(absl::CancelledError("wait_cancel: cancelled"));
    }
    return job.Errorf("wait_cancel: never cancelled");
  }).ok());
}

struct Fixture {
  TempDir dir;
  Engine engine;
  Observed seen;
  std::unique_ptr<Server> server;
  std::string ipc, tcp;

  // With local_jobs false the server's engine serves no jobs of its own, so
  // that workers can serve them.
  explicit Fixture(ServerOptions opts = {}, bool local_jobs = true) {
    if (local_jobs) InstallTestJobs(engine, &seen);
    if (opts.endpoints.empty()) {
      opts.endpoints = {"ipc://" + dir.path() + "/run/berth.sock", "tcp://127.0.0.1:0"};
    }
    opts.heartbeat_interval = absl::Milliseconds(200);
    auto s = Server::Start(engine, opts);
    REQUIRE_MESSAGE(s.ok(), s.status().ToString());
    server = *std::move(s);
    ipc = server->endpoints()[0];
    if (server->endpoints().size() > 1) tcp = server->endpoints()[1];
  }
  std::unique_ptr<Client> Connect(const std::string& ep, ClientOptions o = {}) {
    o.endpoint = ep;
    o.heartbeat_interval = absl::Milliseconds(200);
    auto c = Client::Connect(o);
    REQUIRE_MESSAGE(c.ok(), c.status().ToString());
    return *std::move(c);
  }
};

struct Outcome {
  JobResult result;
  std::string out, err;
};

inline Outcome Call(Client& c, JobRequest req, std::string input = "", bool with_stdin = false) {
  Output out, err;
  auto o = out.AddBuffer();
  auto e = err.AddBuffer();
  Input in;
  std::unique_ptr<Source> src;
  if (with_stdin) REQUIRE(in.AddString(std::move(input)).ok());
  class InputSource : public Source {
   public:
    explicit InputSource(Input* in) : in_(in) {}
    absl::StatusOr<size_t> Read(char* b, size_t n) override { return in_->Read(b, n); }
    absl::StatusOr<bool> ReadChunk(std::string* c) override { return in_->ReadChunk(c); }
    Input* in_;
  };
  if (with_stdin) src = std::make_unique<InputSource>(&in);
  auto r = c.Run(req, src.get(), &out, &err);
  REQUIRE(r.ok());
  return Outcome{*r, *o, *e};
}

inline JobRequest Req(std::string name, std::vector<std::string> args = {}) {
  JobRequest r;
  r.name = std::move(name);
  r.args = std::move(args);
  return r;
}

struct InProcessWorker {
  Engine engine;
  Observed seen;
  std::unique_ptr<Worker> worker;
  std::thread thread;
  absl::Status result;
  std::atomic<int> held{0};

  InProcessWorker(const std::string& endpoint, std::string name, int capacity,
                  std::vector<std::string> idempotent = {}, std::string direct_endpoint = "") {
    InstallTestJobs(engine, &seen);
    REQUIRE(engine.Register("hold", [this](Job& job) {
      held++;
      job.WaitCancelled(absl::Milliseconds(150));
      return job.Error(job.Stdout().Write(absl::StrCat("held by ", job.env().Get("Worker"), "\n")));
    }).ok());
    REQUIRE(engine.Register("whoami", [name](Job& job) {
      return job.Error(job.Stdout().Write(name + "\n"));
    }).ok());
    WorkerOptions o;
    o.endpoint = endpoint;
    o.name = name;
    o.capacity = capacity;
    o.jobs = {"hold", "whoami", "wait_cancel", "cat", "echo", "fail"};
    o.idempotent = std::move(idempotent);
    o.direct_endpoint = std::move(direct_endpoint);
    o.heartbeat_interval = absl::Milliseconds(200);
    worker = std::make_unique<Worker>(engine, o);
    thread = std::thread([this] { result = worker->Run(); });
  }
  ~InProcessWorker() { Stop(); }
  void Stop() {
    if (thread.joinable()) {
      worker->Stop();
      thread.join();
    }
  }
};

struct RawRequester {
  zmq::context_t ctx;
  zmq::socket_t sock{ctx, zmq::socket_type::dealer};
  explicit RawRequester(const std::string& ep) {
    sock.set(zmq::sockopt::linger, 0);
    sock.connect(ep);
  }
  // Sends a JOB for `args` and returns every frame up to and including END.
  std::vector<Frame> Run(uint64_t id, const std::string& name, std::vector<std::string> args, bool end_tail) {
    sock.send(zmq::buffer(JobBytes(id, name, args, Env(), 0, "", false, end_tail)));
    std::vector<Frame> got;
    while (got.empty() || got.back().type != FrameType::kEnd) {
      zmq::pollitem_t item{sock.handle(), 0, ZMQ_POLLIN, 0};
      REQUIRE_MESSAGE(zmq::poll(&item, 1, std::chrono::seconds(10)) == 1, "no END for ", name);
      zmq::message_t m;
      REQUIRE(sock.recv(m));
      auto f = DecodeFrame(m.data(), m.size());
      REQUIRE_MESSAGE(f.ok(), f.status().ToString());
      CHECK(f->id == id);
      got.push_back(*std::move(f));
    }
    return got;
  }
};

// Runs `c` until at least one of its jobs has ended (within 5 s); those.
inline std::vector<std::pair<uint64_t, JobResult>> WaitForEnds(Client& c) {
  std::vector<std::pair<uint64_t, JobResult>> done;
  REQUIRE(WaitFor([&] {
    done = c.Wait(absl::Milliseconds(20));
    return !done.empty();
  }, absl::Seconds(5)));
  return done;
}

// Runs `c` until `count` says `n` (within 5 s): jobs seen by a handler.
inline void WaitForCount(Client& c, const std::atomic<int>& count, int n) {
  REQUIRE(WaitFor([&] {
    (void)c.Wait(absl::Milliseconds(10));
    return count.load() == n;
  }, absl::Seconds(5)));
}

}  // namespace berth::remote

#endif  // BERTH_TESTS_REMOTE_FIXTURE_H_
