// remote_bench: the cost of remote jobs against raw ZeroMQ round trips, for ipc
// and tcp loopback, measured in the same run.
//
//   (a) raw cppzmq DEALER→ROUTER echo of a 128-byte message: the floor;
//   (b) a job handled in-process by a berth server (`echo` of a 120-byte arg);
//   (c) the same job routed through the server to a worker process;
//   (d) for reference, the floor of (c): a raw cppzmq ROUTER/ROUTER relay
//       between the client and a raw DEALER echo process, two hops each way.
// (b) and (c) serve the util group's `echo`, exactly as berthd and berth-worker do.
// Window 1 gives latency (p50, p99); window 64 gives throughput. Each server runs
// in its own process (this binary, re-executed), as berthd and berth-worker would.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "engine/engine.h"
#include "engine/remote/client.h"
#include "engine/remote/server.h"
#include "engine/remote/worker.h"
#include "engine/runtime.h"
#include "handlers/util.h"
#include <zmq.hpp>

namespace berth {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kLatencyIterations = 20000;
constexpr int kThroughputJobs = 100000;
constexpr int kWindow = 64;
// Latency is sampled in many short slices, throughput in fewer long ones (each
// slice fills and drains the window once).
constexpr int kSlices = 200;
constexpr int kThroughputSlices = 10;
const std::string kPayload(120, 'p');

// Installs the util group (echo among it), as berthd and berth-worker do.
bool InstallUtil(Engine& eng) {
  absl::Status s = UtilGroup().install(eng);
  if (!s.ok()) std::fprintf(stderr, "remote_bench: %s\n", std::string(s.message()).c_str());
  return s.ok();
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

// The relay of (d): clients on `front`, one echo worker on `back`. The worker
// announces itself with an empty message; then each request travels
// [client id, body] to it and back.
int RawRelay(const std::string& front_ep, const std::string& back_ep) {
  zmq::context_t ctx;
  zmq::socket_t front(ctx, zmq::socket_type::router), back(ctx, zmq::socket_type::router);
  front.set(zmq::sockopt::linger, 0);
  back.set(zmq::sockopt::linger, 0);
  front.bind(front_ep);
  back.bind(back_ep);
  back.set(zmq::sockopt::router_mandatory, 1);  // a vanished worker is an error, not a silent drop
  back.set(zmq::sockopt::rcvtimeo, 10000);
  zmq::message_t worker, hello;
  if (!back.recv(worker) || !back.recv(hello)) {  // the worker's hello
    std::fprintf(stderr, "remote_bench: the raw worker did not say hello within 10s\n");
    return 1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  zmq::pollitem_t items[] = {{front.handle(), 0, ZMQ_POLLIN, 0}, {back.handle(), 0, ZMQ_POLLIN, 0}};
  while (true) {
    zmq::poll(items, 2, std::chrono::milliseconds(-1));
    zmq::message_t id, client, body;
    while (front.recv(client, zmq::recv_flags::dontwait)) {
      (void)front.recv(body);
      back.send(zmq::buffer(worker.data(), worker.size()), zmq::send_flags::sndmore);
      back.send(client, zmq::send_flags::sndmore);
      back.send(body, zmq::send_flags::dontwait);
    }
    while (back.recv(id, zmq::recv_flags::dontwait)) {
      (void)back.recv(client);
      (void)back.recv(body);
      front.send(client, zmq::send_flags::sndmore);
      front.send(body, zmq::send_flags::dontwait);
    }
  }
}

int RawWorker(const std::string& back_ep) {
  zmq::context_t ctx;
  zmq::socket_t d(ctx, zmq::socket_type::dealer);
  d.set(zmq::sockopt::linger, 0);
  d.connect(back_ep);
  d.send(zmq::message_t(), zmq::send_flags::none);
  while (true) {
    zmq::message_t client, body;
    (void)d.recv(client);
    (void)d.recv(body);
    d.send(client, zmq::send_flags::sndmore);
    d.send(body, zmq::send_flags::none);
  }
}

int JobServer(const std::string& ep, bool local_echo) {
  Engine eng;
  if (local_echo && !InstallUtil(eng)) return 1;
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
  if (!InstallUtil(eng)) return 1;
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
void Spawn(Child& c, const std::string& role, const std::string& ep, bool wait_ready = true,
           const std::string& second_ep = "") {
  int fds[2];
  if (::pipe(fds) != 0) std::abort();
  c.pid = ::fork();
  if (c.pid == 0) {
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    if (second_ep.empty()) {
      execl("/proc/self/exe", "remote_bench", role.c_str(), ep.c_str(), nullptr);
    } else {
      execl("/proc/self/exe", "remote_bench", role.c_str(), ep.c_str(), second_ep.c_str(), nullptr);
    }
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

// One way of doing a round trip (a raw echo or a job), measured in slices so
// that the three kinds can be interleaved: the machine's background noise then
// falls on all of them alike instead of on whichever ran during a busy second.
class Bench {
 public:
  virtual ~Bench() = default;
  // One round trip at window 1, returning its duration in ns.
  virtual int64_t RoundTrip() = 0;
  // `n` round trips with up to kWindow in flight; returns the seconds taken.
  virtual double Pipelined(int n) = 0;

  std::vector<int64_t> latencies_ns;
  int64_t pipelined_jobs = 0;
  double pipelined_s = 0;

  Result Summary() {
    std::sort(latencies_ns.begin(), latencies_ns.end());
    Result r;
    r.p50_us = latencies_ns[latencies_ns.size() / 2] / 1000.0;
    r.p99_us = latencies_ns[latencies_ns.size() * 99 / 100] / 1000.0;
    r.per_s = pipelined_jobs / pipelined_s;
    return r;
  }
};

int64_t Since(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
}

class RawBench : public Bench {
 public:
  explicit RawBench(const std::string& ep) : s_(ctx_, zmq::socket_type::dealer), msg_(128, 'm') {
    s_.set(zmq::sockopt::linger, 0);
    s_.set(zmq::sockopt::rcvtimeo, 10000);
    s_.connect(ep);
  }
  int64_t RoundTrip() override {
    auto t0 = Clock::now();
    s_.send(zmq::buffer(msg_));
    Receive();
    return Since(t0);
  }
  double Pipelined(int n) override {
    int sent = 0, got = 0;
    auto t0 = Clock::now();
    while (got < n) {
      while (sent < n && sent - got < kWindow) {
        s_.send(zmq::buffer(msg_));
        ++sent;
      }
      Receive();
      ++got;
    }
    return Since(t0) / 1e9;
  }

 private:
  void Receive() {
    if (!s_.recv(reply_)) {
      std::fprintf(stderr, "remote_bench: no echo within 10s\n");
      std::exit(1);
    }
  }
  zmq::context_t ctx_;
  zmq::socket_t s_;
  std::string msg_;
  zmq::message_t reply_;
};

class JobBench : public Bench {
 public:
  explicit JobBench(const std::string& ep) {
    remote::ClientOptions o;
    o.endpoint = ep;
    auto client = remote::Client::Connect(o);
    if (!client.ok()) {
      std::fprintf(stderr, "remote_bench: %s\n", std::string(client.status().message()).c_str());
      std::exit(1);
    }
    client_ = *std::move(client);
    req_.name = "echo";
    req_.args = {kPayload};
    req_.trace_id = "bench";
  }
  int64_t RoundTrip() override {
    auto t0 = Clock::now();
    Output out;
    auto buf = out.AddBuffer();
    auto r = client_->Run(req_, nullptr, &out, nullptr);
    int64_t ns = Since(t0);
    if (!r.ok() || r->status != 0 || *buf != expect_) {
      std::fprintf(stderr, "remote_bench: wrong result\n");
      std::exit(1);
    }
    return ns;
  }
  double Pipelined(int n) override {
    int sent = 0, got = 0;
    auto t0 = Clock::now();
    while (got < n) {
      while (sent < n && sent - got < kWindow) {
        client_->Start(req_, nullptr, nullptr);
        ++sent;
      }
      for (auto& [id, res] : client_->Wait(absl::Seconds(5))) {
        if (res.status != 0) {
          std::fprintf(stderr, "remote_bench: job failed: %s\n", res.error.c_str());
          std::exit(1);
        }
        ++got;
      }
    }
    return Since(t0) / 1e9;
  }

 private:
  std::unique_ptr<remote::Client> client_;
  remote::JobRequest req_;
  const std::string expect_ = kPayload + "\n";
};

// Runs the benches in interleaved slices: warm-up, then latency, then throughput.
void Measure(const std::vector<Bench*>& benches) {
  for (Bench* b : benches) {
    for (int i = 0; i < 2000; ++i) b->RoundTrip();
  }
  for (int slice = 0; slice < kSlices; ++slice) {
    for (Bench* b : benches) {
      for (int i = 0; i < kLatencyIterations / kSlices; ++i) b->latencies_ns.push_back(b->RoundTrip());
    }
  }
  for (int slice = 0; slice < kThroughputSlices; ++slice) {
    for (Bench* b : benches) {
      b->pipelined_s += b->Pipelined(kThroughputJobs / kThroughputSlices);
      b->pipelined_jobs += kThroughputJobs / kThroughputSlices;
    }
  }
}

void Print(const char* what, const Result& r) {
  std::printf("  %-28s p50 %8.1f us  p99 %8.1f us  %9.0f /s\n", what, r.p50_us, r.p99_us, r.per_s);
}

int Parent() {
  // The server refuses a socket directory others can write (such as /tmp):
  // the ipc sockets live in a private directory of their own.
  char dir_template[] = "/tmp/berth-remote-bench-XXXXXX";
  const char* dir = ::mkdtemp(dir_template);
  if (dir == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::string ipc_dir = dir;
  struct RemoveDir {
    std::string path;
    ~RemoveDir() { std::filesystem::remove_all(path); }
  } remove_dir{ipc_dir};
  for (const char* transport : {"ipc", "tcp"}) {
    std::string base = std::string(transport) == "ipc"
                           ? absl::StrCat("ipc://", ipc_dir, "/bench")
                           : std::string("tcp://127.0.0.1:");
    auto ep = [&](int n) {
      return std::string(transport) == "ipc" ? absl::StrCat(base, "-", n, ".sock")
                                             : absl::StrCat(base, 36000 + (::getpid() % 1000) * 5 + n);
    };
    Child raw_srv, job_srv, relay_srv, worker;
    Spawn(raw_srv, "raw", ep(0));
    Spawn(job_srv, "server", ep(1));
    // The relay waits for the worker before saying ready.
    Spawn(worker, "worker", ep(2), false);
    Child raw_relay, raw_worker;
    Spawn(raw_worker, "rawworker", ep(4), false);
    Spawn(raw_relay, "rawrelay", ep(3), true, ep(4));
    Spawn(relay_srv, "relay", ep(2));
    RawBench raw(ep(0));
    JobBench direct(ep(1));
    JobBench relayed(ep(2));
    RawBench raw_two_hops(ep(3));
    Measure({&raw, &direct, &relayed, &raw_two_hops});
    Result a = raw.Summary(), b = direct.Summary(), c = relayed.Summary(), d = raw_two_hops.Summary();
    std::printf("%s (payload %zu bytes, window 1 latency, window %d throughput, interleaved)\n", transport,
                kPayload.size(), kWindow);
    Print("(a) raw DEALER->ROUTER echo", a);
    Print("(b) in-process job", b);
    Print("(c) job on a worker process", c);
    Print("(d) raw two-hop relay", d);
    std::printf("  (c)/(d) %.2f: what berth adds to the two hops themselves\n", c.p50_us / d.p50_us);
    std::printf("remote_bench %s direct_ratio=%.2f worker_ratio=%.2f throughput_ratio=%.2f\n", transport,
                b.p50_us / a.p50_us, c.p50_us / a.p50_us, b.per_s / a.per_s);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace
}  // namespace berth

int main(int argc, char** argv) {
  berth::ConfigureProductionRuntime();
  if (argc == 4 && std::string(argv[1]) == "rawrelay") return berth::RawRelay(argv[2], argv[3]);
  if (argc == 3) {
    std::string role = argv[1];
    if (role == "raw") return berth::RawEchoServer(argv[2]);
    if (role == "rawworker") return berth::RawWorker(argv[2]);
    if (role == "server") return berth::JobServer(argv[2], true);
    if (role == "relay") return berth::JobServer(argv[2], false);
    if (role == "worker") return berth::WorkerProcess(argv[2]);
  }
  CLI::App app{"remote_bench: remote jobs (in-process on a server, and through a worker) beside raw ZeroMQ\n"
               "round trips, for ipc and tcp loopback; p50, p99, throughput and the ratios. No arguments."};
  CLI11_PARSE(app, argc, argv);
  return berth::Parent();
}
