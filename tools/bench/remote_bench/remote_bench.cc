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
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "engine/remote/client.h"
#include "engine/runtime.h"
#include "tools/bench/support/roles.h"
#include "tools/bench/support/round_trip.h"
#include <zmq.hpp>

namespace berth {
namespace {

using bench::Child;
using bench::kWindow;
using bench::RoundTripResult;
const std::string kPayload(120, 'p');

// ---- child process roles ----

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

void Spawn(Child& c, const std::string& role, const std::string& ep, bool wait_ready = true,
           const std::string& extra = "") {
  std::vector<std::string> args = {role, ep};
  if (!extra.empty()) args.push_back(extra);
  bench::SpawnRole(c, "remote_bench", args, wait_ready);
}

remote::ClientOptions At(const std::string& ep) {
  remote::ClientOptions o;
  o.endpoint = ep;
  return o;
}

// `io_threads` > 0: the servers of (b) and (c) run that many ZeroMQ I/O
// threads instead of berthd's default.
int Parent(int io_threads) {
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
    const std::string iot = io_threads > 0 ? std::to_string(io_threads) : "";
    Spawn(job_srv, "server", ep(1), true, iot);
    // The relay waits for the worker before saying ready.
    Spawn(worker, "worker", ep(2), false);
    Child raw_relay, raw_worker;
    Spawn(raw_worker, "rawworker", ep(4), false);
    Spawn(raw_relay, "rawrelay", ep(3), true, ep(4));
    Spawn(relay_srv, "relay", ep(2), true, iot);
    bench::ZmqEcho raw(ep(0), 128);
    bench::EchoJob direct(At(ep(1)), kPayload);
    bench::EchoJob relayed(At(ep(2)), kPayload);
    bench::ZmqEcho raw_two_hops(ep(3), 128);
    bench::MeasureInterleaved({&raw, &direct, &relayed, &raw_two_hops}, bench::MeasurePlan{});
    RoundTripResult a = raw.Summary(), b = direct.Summary(), c = relayed.Summary(), d = raw_two_hops.Summary();
    const std::string servers = iot.empty() ? "" : absl::StrCat(", servers with ", iot, " I/O threads");
    std::printf("%s (payload %zu bytes, window 1 latency, window %d throughput, interleaved%s)\n", transport,
                kPayload.size(), kWindow, servers.c_str());
    bench::PrintResult("(a) raw DEALER->ROUTER echo", a);
    bench::PrintResult("(b) in-process job", b);
    bench::PrintResult("(c) job on a worker process", c);
    bench::PrintResult("(d) raw two-hop relay", d);
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
  if (argc == 3 || argc == 4) {
    std::string role = argv[1];
    if (role == "raw") return berth::bench::RunZmqEchoServer(argv[2]);
    if (role == "rawworker") return berth::RawWorker(argv[2]);
    const int io_threads = argc == 4 ? std::atoi(argv[3]) : 0;
    if (role == "server") return berth::bench::RunJobServer(argv[2], true, io_threads);
    if (role == "relay") return berth::bench::RunJobServer(argv[2], false, io_threads);
    if (role == "worker") return berth::bench::RunEchoWorker(argv[2]);
  }
  CLI::App app{"remote_bench: remote jobs (in-process on a server, and through a worker) beside raw ZeroMQ\n"
               "round trips, for ipc and tcp loopback; p50, p99, throughput and the ratios."};
  int io_threads = 0;
  app.add_option("--io-threads", io_threads,
                 "ZeroMQ I/O threads of the servers of (b) and (c) (default: berthd's, see berthd --io-threads)")
      ->check(CLI::Range(1, 64));
  CLI11_PARSE(app, argc, argv);
  return berth::Parent(io_threads);
}
