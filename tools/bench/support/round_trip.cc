// Round-trip benchmarking shared by the benches; see round_trip.h.
#include "tools/bench/support/round_trip.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "engine/streams.h"

namespace berth::bench {

void Fail(const std::string& what) {
  std::fprintf(stderr, "bench: %s\n", what.c_str());
  std::exit(1);
}

int64_t NanosSince(Clock::time_point t0) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count();
}

RoundTripResult RoundTrip::Summary() {
  std::sort(latencies_ns.begin(), latencies_ns.end());
  RoundTripResult r;
  r.p50_us = latencies_ns[latencies_ns.size() / 2] / 1000.0;
  r.p99_us = latencies_ns[latencies_ns.size() * 99 / 100] / 1000.0;
  r.per_s = pipelined_n / pipelined_s;
  return r;
}

void MeasureInterleaved(const std::vector<RoundTrip*>& trips, const MeasurePlan& plan) {
  for (RoundTrip* t : trips) {
    for (int i = 0; i < plan.warmup; ++i) t->Once();
  }
  const int per_slice = plan.latency_iterations / plan.latency_slices;
  for (int slice = 0; slice < plan.latency_slices; ++slice) {
    for (RoundTrip* t : trips) {
      for (int i = 0; i < per_slice; ++i) t->latencies_ns.push_back(t->Once());
    }
  }
  const int jobs_per_slice = plan.throughput_jobs / plan.throughput_slices;
  for (int slice = 0; slice < plan.throughput_slices; ++slice) {
    for (RoundTrip* t : trips) {
      t->pipelined_s += t->Pipelined(jobs_per_slice);
      t->pipelined_n += jobs_per_slice;
    }
  }
}

void PrintResult(const char* what, const RoundTripResult& r) {
  std::printf("  %-34s p50 %8.1f us  p99 %8.1f us  %9.0f /s\n", what, r.p50_us, r.p99_us, r.per_s);
}

ZmqEcho::ZmqEcho(const std::string& ep, size_t payload_size)
    : s_(ctx_, zmq::socket_type::dealer), msg_(payload_size, 'm') {
  s_.set(zmq::sockopt::linger, 0);
  s_.set(zmq::sockopt::rcvtimeo, 10000);
  s_.connect(ep);
}

int64_t ZmqEcho::Once() {
  auto t0 = Clock::now();
  s_.send(zmq::buffer(msg_));
  Receive();
  return NanosSince(t0);
}

double ZmqEcho::Pipelined(int n) {
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
  return NanosSince(t0) / 1e9;
}

void ZmqEcho::Receive() {
  if (!s_.recv(reply_)) Fail("no echo within 10s");
}

EchoJob::EchoJob(remote::ClientOptions options, std::string arg) : expect_(arg + "\n") {
  auto client = remote::Client::Connect(std::move(options));
  if (!client.ok()) Fail(std::string(client.status().message()));
  client_ = *std::move(client);
  req_.name = "echo";
  req_.args = {std::move(arg)};
  req_.trace_id = "bench";
}

int64_t EchoJob::Once() {
  auto t0 = Clock::now();
  Output out;
  auto buf = out.AddBuffer();
  auto r = client_->Run(req_, nullptr, &out, nullptr);
  int64_t ns = NanosSince(t0);
  if (!r.ok() || r->status != 0 || *buf != expect_) Fail("echo: wrong result");
  return ns;
}

double EchoJob::Pipelined(int n) {
  int sent = 0, got = 0;
  auto t0 = Clock::now();
  while (got < n) {
    while (sent < n && sent - got < kWindow) {
      client_->Start(req_, nullptr, nullptr);
      ++sent;
    }
    for (auto& [id, res] : client_->Wait(absl::Seconds(5))) {
      if (res.status != 0) Fail(absl::StrCat("echo failed: ", res.error));
      ++got;
    }
  }
  return NanosSince(t0) / 1e9;
}

}  // namespace berth::bench
