// Round-trip benchmarking shared by the benches that put berth's remote jobs
// beside a baseline or a peer (remote_bench, peer_bench): one way of doing a
// round trip is a RoundTrip; MeasureInterleaved runs several in alternating
// slices so that a noisy neighbour's busy second falls on all of them alike.
//
// The servers the benches talk to run in child processes (roles.h).
// Every failure of a measured round trip ends the bench with a message: a
// bench that measured something else than it says is worse than none.
#ifndef BERTH_TOOLS_BENCH_SUPPORT_ROUND_TRIP_H_
#define BERTH_TOOLS_BENCH_SUPPORT_ROUND_TRIP_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/remote/client.h"
#include <zmq.hpp>

namespace berth::bench {

using Clock = std::chrono::steady_clock;
// Jobs kept in flight for the throughput figure.
constexpr int kWindow = 64;

int64_t NanosSince(Clock::time_point t0);
// Ends the bench: `bench: <what>` on stderr, exit status 1.
[[noreturn]] void Fail(const std::string& what);

struct RoundTripResult {
  double p50_us = 0;
  double p99_us = 0;
  double per_s = 0;  // at window kWindow
};

// One way of doing a round trip (a raw echo, a job, a NATS request).
class RoundTrip {
 public:
  virtual ~RoundTrip() = default;
  // One round trip at window 1, returning its duration in ns.
  virtual int64_t Once() = 0;
  // `n` round trips with up to kWindow in flight; returns the seconds taken.
  virtual double Pipelined(int n) = 0;

  RoundTripResult Summary();

  std::vector<int64_t> latencies_ns;
  int64_t pipelined_n = 0;
  double pipelined_s = 0;
};

struct MeasurePlan {
  int warmup = 2000;             // round trips at window 1 before measuring
  int latency_iterations = 20000;
  int latency_slices = 200;       // latency is sampled in many short slices,
  int throughput_jobs = 100000;
  int throughput_slices = 10;     // throughput in fewer long ones
};

// Warm-up, then latency, then throughput, each interleaved over `trips`.
void MeasureInterleaved(const std::vector<RoundTrip*>& trips, const MeasurePlan& plan);

// "  what  p50 … us  p99 … us  … /s"
void PrintResult(const char* what, const RoundTripResult& r);

// ---- round trips ----

// A raw cppzmq DEALER sending `payload_size` bytes to an echo at `ep`.
class ZmqEcho : public RoundTrip {
 public:
  ZmqEcho(const std::string& ep, size_t payload_size);
  int64_t Once() override;
  double Pipelined(int n) override;

 private:
  void Receive();
  zmq::context_t ctx_;
  zmq::socket_t s_;
  std::string msg_;
  zmq::message_t reply_;
};

// berth's `echo <arg>` through a remote::Client connected to `options`.
class EchoJob : public RoundTrip {
 public:
  EchoJob(remote::ClientOptions options, std::string arg);
  int64_t Once() override;
  double Pipelined(int n) override;
  remote::Client& client() { return *client_; }

 private:
  std::unique_ptr<remote::Client> client_;
  remote::JobRequest req_;
  std::string expect_;
};

}  // namespace berth::bench

#endif  // BERTH_TOOLS_BENCH_SUPPORT_ROUND_TRIP_H_
