// storm_bench: how long a connected client waits for `echo` while storms of
// silent ZeroMQ clients connect to the same berth server and leave again,
// against the same client's echo with no storm, measured in the same run.
//
// The server is a berth remote::Server with berthd's defaults, serving util's
// `echo` in-process on an ipc socket, in a process of its own (this binary
// re-executed, as in remote_bench). The storm runs in another process on the
// same machine: each round it opens --clients DEALERs that connect (the ZMTP
// handshake completes) and send nothing, holds them for a second, then closes
// them all. Meanwhile one remote::Client asks for `echo` every 2 ms; the
// baseline is the same loop for as long before the storm starts.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/remote/client.h"
#include "engine/runtime.h"
#include "tools/bench/support/roles.h"
#include "tools/bench/support/round_trip.h"
#include <zmq.hpp>

namespace berth {
namespace {

using bench::Child;

// The storm process: `rounds` times, `n` silent DEALERs connected for a second.
int Storm(const std::string& ep, int n, int rounds) {
  for (int r = 0; r < rounds; ++r) {
    zmq::context_t ctx;
    ctx.set(zmq::ctxopt::max_sockets, n + 64);
    std::vector<zmq::socket_t> socks;
    socks.reserve(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      socks.emplace_back(ctx, zmq::socket_type::dealer);
      socks.back().set(zmq::sockopt::linger, 0);
      socks.back().connect(ep);
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
    for (auto& s : socks) s.close();
    socks.clear();
    ctx.close();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  return 0;
}

struct Latencies {
  std::vector<double> ms;
  double At(double q) {
    std::sort(ms.begin(), ms.end());
    return ms.empty() ? 0 : ms[std::min(ms.size() - 1, static_cast<size_t>(q * static_cast<double>(ms.size())))];
  }
  void Print(const char* what) {
    const double worst = ms.empty() ? 0 : *std::max_element(ms.begin(), ms.end());
    std::printf("  %-26s %6zu echoes  p50 %7.2f ms  p99 %7.2f ms  worst %7.2f ms\n", what, ms.size(), At(0.5),
                At(0.99), worst);
  }
};

// Echoes every 2 ms until `until` says stop.
template <typename Stop>
Latencies EchoLoop(bench::EchoJob& echo, Stop until) {
  Latencies l;
  while (!until()) {
    l.ms.push_back(static_cast<double>(echo.Once()) / 1e6);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return l;
}

int Parent(int clients, int rounds) {
  // The server refuses a socket directory others can write (such as /tmp).
  char dir_template[] = "/tmp/berth-storm-bench-XXXXXX";
  const char* dir = ::mkdtemp(dir_template);
  if (dir == nullptr) bench::Fail("mkdtemp failed");
  struct RemoveDir {
    std::string path;
    ~RemoveDir() { std::filesystem::remove_all(path); }
  } remove_dir{dir};
  const std::string ep = absl::StrCat("ipc://", dir, "/berth.sock");
  Child server;
  bench::SpawnRole(server, "storm_bench", {"server", ep}, true);
  remote::ClientOptions o;
  o.endpoint = ep;
  bench::EchoJob echo(o, "x");
  for (int i = 0; i < 500; ++i) echo.Once();  // warm-up

  // As long as the storm will last: rounds of 1.5 s.
  const auto span = std::chrono::milliseconds(1500) * rounds;
  const auto base_until = bench::Clock::now() + span;
  Latencies base = EchoLoop(echo, [&] { return bench::Clock::now() >= base_until; });

  Child storm;
  bench::SpawnRole(storm, "storm_bench",
                   {"storm", ep, std::to_string(clients), std::to_string(rounds)}, false);
  Latencies during = EchoLoop(echo, [&] {
    int status = 0;
    if (::waitpid(storm.pid, &status, WNOHANG) != storm.pid) return false;
    storm.pid = -1;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) bench::Fail("the storm process failed");
    return true;
  });
  std::printf("echo of one connected client, ipc, berth server with berthd's defaults; %d rounds of %d silent\n"
              "clients that connect, stay 1 s and leave (storm in its own process on this machine)\n",
              rounds, clients);
  base.Print("no storm");
  during.Print("during the storms");
  const double worst_base = base.At(1.0), worst_storm = during.At(1.0);
  std::printf("storm_bench clients=%d worst_ms=%.2f baseline_worst_ms=%.2f p99_ratio=%.2f worst_ratio=%.2f\n", clients,
              worst_storm, worst_base, during.At(0.99) / base.At(0.99), worst_storm / worst_base);
  return 0;
}

}  // namespace
}  // namespace berth

int main(int argc, char** argv) {
  berth::ConfigureProductionRuntime();
  if (argc == 3 && std::string(argv[1]) == "server") return berth::bench::RunJobServer(argv[2], true);
  if (argc == 5 && std::string(argv[1]) == "storm") {
    int n = 0, rounds = 0;
    if (!absl::SimpleAtoi(argv[3], &n) || !absl::SimpleAtoi(argv[4], &rounds)) return 2;
    return berth::Storm(argv[2], n, rounds);
  }
  CLI::App app{"storm_bench: a connected client's `echo` while storms of silent ZeroMQ clients connect to the\n"
               "same berth server (ipc) and leave, beside the same echo with no storm; p50, p99, worst, ratios."};
  int clients = 5000, rounds = 5;
  app.add_option("--clients", clients, "silent clients per storm")->check(CLI::Range(1, 60000));
  app.add_option("--rounds", rounds, "storms (each: connect, 1 s connected, leave, 0.5 s quiet)")->check(CLI::Range(1, 100));
  CLI11_PARSE(app, argc, argv);
  return berth::Parent(clients, rounds);
}
