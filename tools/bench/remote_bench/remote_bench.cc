// remote_bench: the cost of remote jobs against raw ZeroMQ round trips, for ipc
// and tcp loopback, measured in the same run.
//
//   (a) raw cppzmq DEALER→ROUTER echo of a 128-byte message: the floor;
//   (b) a job handled in-process by a berth server (`echo` of a 120-byte arg);
//   (c) the same job routed through the server to a worker process.
// Window 1 gives latency (p50, p99); window 64 gives throughput. Each server runs
// in its own process (this binary, re-executed), as berthd and berth-worker would.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/engine.h"
#include "engine/remote/client.h"
#include "engine/remote/server.h"
#include "engine/remote/worker.h"
#include "engine/runtime.h"
#include <zmq.hpp>

namespace berth {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kLatencyIterations = 20000;
constexpr int kThroughputJobs = 100000;
constexpr int kWindow = 64;
const std::string kPayload(120, 'p');

int EchoHandler(Job& job) {
  std::string line = job.args().empty() ? std::string() : job.args()[0];
  line.push_back('\n');
  return job.Error(job.Stdout().Write(std::move(line)));
}

// ---- child process roles ----

int RawEchoServer(const std::string& ep) {
  zmq::context_t ctx;
  zmq::socket_t router(ctx, zmq::socket_type::router);
  router.set(zmq::sockopt::linger, 0);
  router.bind(ep);
  std::printf("ready\n");
  std::fflush(stdout);
  while (true) {
    zmq::message_t id, body;
    if (!router.recv(id)) continue;
    if (!router.recv(body)) continue;
    router.send(id, zmq::send_flags::sndmore);
    router.send(body, zmq::send_flags::none);
  }
}

int JobServer(const std::string& ep, bool local_echo) {
  Engine eng;
  if (local_echo && !eng.Register("echo", EchoHandler).ok()) return 1;
  remote::ServerOptions o;
  o.endpoints = {ep};
  auto server = remote::Server::Start(eng, o);
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n", std::string(server.status().message()).c_str());
    return 1;
  }
  if (!local_echo && !(*server)->WaitForJobs({"echo"}, absl::Seconds(10)).ok()) return 1;
  std::printf("ready\n");
  std::fflush(stdout);
  while (true) pause();
}

int WorkerProcess(const std::string& ep) {
  Engine eng;
  if (!eng.Register("echo", EchoHandler).ok()) return 1;
  remote::WorkerOptions o;
  o.endpoint = ep;
  o.name = "bench";
  o.jobs = {"echo"};
  o.capacity = 64;
  remote::Worker w(eng, o);
  return w.Run().ok() ? 0 : 1;
}

// ---- parent ----

struct Child {
  pid_t pid = -1;
  ~Child() {
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
};

// Starts this binary in `role` and waits for it to print "ready" (unless
// wait_ready is false).
void Spawn(Child& c, const std::string& role, const std::string& ep, bool wait_ready = true) {
  int fds[2];
  if (::pipe(fds) != 0) std::abort();
  c.pid = ::fork();
  if (c.pid == 0) {
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    execl("/proc/self/exe", "remote_bench", role.c_str(), ep.c_str(), nullptr);
    _exit(127);
  }
  ::close(fds[1]);
  if (wait_ready) {
    char buf[16] = {};
    ssize_t n = ::read(fds[0], buf, sizeof buf - 1);
    if (n <= 0) {
      std::fprintf(stderr, "remote_bench: %s did not start\n", role.c_str());
      std::exit(1);
    }
  }
  ::close(fds[0]);
}

struct Result {
  double p50_us = 0;
  double p99_us = 0;
  double per_s = 0;
};

Result Percentiles(std::vector<int64_t>& ns) {
  std::sort(ns.begin(), ns.end());
  return Result{ns[ns.size() / 2] / 1000.0, ns[ns.size() * 99 / 100] / 1000.0, 0};
}

Result RawBench(const std::string& ep) {
  zmq::context_t ctx;
  zmq::socket_t s(ctx, zmq::socket_type::dealer);
  s.set(zmq::sockopt::linger, 0);
  s.connect(ep);
  std::string msg(128, 'm');
  zmq::message_t reply;
  for (int i = 0; i < 2000; ++i) {
    s.send(zmq::buffer(msg));
    (void)s.recv(reply);
  }
  std::vector<int64_t> ns(kLatencyIterations);
  for (int i = 0; i < kLatencyIterations; ++i) {
    auto t0 = Clock::now();
    s.send(zmq::buffer(msg));
    (void)s.recv(reply);
    ns[static_cast<size_t>(i)] = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
  }
  Result r = Percentiles(ns);
  int sent = 0, got = 0;
  auto start = Clock::now();
  while (got < kThroughputJobs) {
    while (sent < kThroughputJobs && sent - got < kWindow) {
      s.send(zmq::buffer(msg));
      ++sent;
    }
    (void)s.recv(reply);
    ++got;
  }
  r.per_s = kThroughputJobs / std::chrono::duration<double>(Clock::now() - start).count();
  return r;
}

Result JobBench(const std::string& ep) {
  remote::ClientOptions o;
  o.endpoint = ep;
  auto client = remote::Client::Connect(o);
  if (!client.ok()) {
    std::fprintf(stderr, "remote_bench: %s\n", std::string(client.status().message()).c_str());
    std::exit(1);
  }
  remote::Client& c = **client;
  remote::JobRequest req;
  req.name = "echo";
  req.args = {kPayload};
  req.trace_id = "bench";
  const std::string expect = kPayload + "\n";
  auto one = [&] {
    Output out;
    auto buf = out.AddBuffer();
    auto r = c.Run(req, nullptr, &out, nullptr);
    if (!r.ok() || r->status != 0 || *buf != expect) {
      std::fprintf(stderr, "remote_bench: wrong result\n");
      std::exit(1);
    }
  };
  for (int i = 0; i < 2000; ++i) one();
  std::vector<int64_t> ns(kLatencyIterations);
  for (int i = 0; i < kLatencyIterations; ++i) {
    auto t0 = Clock::now();
    one();
    ns[static_cast<size_t>(i)] = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
  }
  Result r = Percentiles(ns);
  int sent = 0, got = 0;
  std::vector<std::unique_ptr<Output>> outs;
  auto start = Clock::now();
  while (got < kThroughputJobs) {
    while (sent < kThroughputJobs && sent - got < kWindow) {
      c.Start(req, nullptr, nullptr);
      ++sent;
    }
    for (auto& [id, res] : c.Wait(absl::Seconds(5))) {
      if (res.status != 0) std::exit(1);
      ++got;
    }
  }
  r.per_s = kThroughputJobs / std::chrono::duration<double>(Clock::now() - start).count();
  return r;
}

void Print(const char* what, const Result& r) {
  std::printf("  %-28s p50 %8.1f us  p99 %8.1f us  %9.0f /s\n", what, r.p50_us, r.p99_us, r.per_s);
}

int Parent() {
  for (const char* transport : {"ipc", "tcp"}) {
    std::string base = std::string(transport) == "ipc"
                           ? absl::StrCat("ipc:///tmp/berth-remote-bench-", ::getpid())
                           : std::string("tcp://127.0.0.1:");
    auto ep = [&](int n) {
      return std::string(transport) == "ipc" ? absl::StrCat(base, "-", n, ".sock")
                                             : absl::StrCat(base, 36000 + (::getpid() % 1000) * 3 + n);
    };
    Result raw, direct, worker;
    {
      Child srv;
      Spawn(srv, "raw", ep(0));
      raw = RawBench(ep(0));
    }
    {
      Child srv;
      Spawn(srv, "server", ep(1));
      direct = JobBench(ep(1));
    }
    {
      Child srv, wrk;
      // The server waits for the worker before saying ready.
      Spawn(wrk, "worker", ep(2), false);
      Spawn(srv, "relay", ep(2));
      worker = JobBench(ep(2));
    }
    std::printf("%s (payload %zu bytes, window 1 latency, window %d throughput)\n", transport, kPayload.size(),
                kWindow);
    Print("(a) raw DEALER->ROUTER echo", raw);
    Print("(b) in-process job", direct);
    Print("(c) job on a worker process", worker);
    std::printf("remote_bench %s direct_ratio=%.2f worker_ratio=%.2f throughput_ratio=%.2f\n", transport,
                direct.p50_us / raw.p50_us, worker.p50_us / raw.p50_us, direct.per_s / raw.per_s);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace
}  // namespace berth

int main(int argc, char** argv) {
  berth::ConfigureProductionRuntime();
  if (argc == 3) {
    std::string role = argv[1];
    if (role == "raw") return berth::RawEchoServer(argv[2]);
    if (role == "server") return berth::JobServer(argv[2], true);
    if (role == "relay") return berth::JobServer(argv[2], false);
    if (role == "worker") return berth::WorkerProcess(argv[2]);
  }
  return berth::Parent();
}
