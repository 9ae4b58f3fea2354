// engine_bench: the cost of one in-process job against the same work done as a
// direct function call, measured in the same run.
//
// The job: `allocate_port c0ffee` with env HostIP, HostPort, ContainerPort, Proto;
// the handler reads HostIP and HostPort and writes them back as an env; the caller
// decodes stdout as an env and checks HostPort == 8080.
//
// The same job is measured again on an engine watched as berthd watches its
// own (handlers/observe/observability.h: job metrics, trace recorder, worker
// events; the jobs counted as engine/job_counts.h says), alternating
// rounds with the plain engine; the closing line gives both p50s and their
// ratio (metrics_ratio), and the ratio of the batch means (metrics_mean_ratio),
// which spreads the cost of the jobs that are timed (one in 16 of these) over
// all of them.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "engine/engine.h"
#include "engine/runtime.h"
#include "handlers/observe/observability.h"

namespace berth {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kIterations = 200000;
constexpr int kWarmup = 20000;

int AllocatePortHandler(Job& job) {
  const Env& in = job.env();
  Env out;
  out.Reserve(2);
  (void)out.Set("HostIP", in.GetView("HostIP"));
  (void)out.Set("HostPort", in.GetView("HostPort"));
  return job.Error(job.Stdout().WriteEnv(std::move(out)));
}

void FillEnv(Env& env) {
  env.Reserve(4);
  (void)env.Set("HostIP", "0.0.0.0");
  (void)env.Set("HostPort", "8080");
  (void)env.Set("ContainerPort", "80");
  (void)env.Set("Proto", "tcp");
}

bool OneJob(Engine& eng) {
  std::unique_ptr<Job> job = eng.NewJob("allocate_port", {"c0ffee"});
  FillEnv(job->env());
  std::shared_ptr<Env> result = job->Stdout().AddEnv();
  if (!job->Run().ok()) return false;
  return result->GetView("HostPort") == "8080";
}

// The same work without the engine: build the env, call the function, read the
// result env.
__attribute__((noinline)) Env AllocatePortDirect(const std::string& id, const Env& in) {
  Env out;
  out.Reserve(2);
  if (id.empty()) return out;
  (void)out.Set("HostIP", in.GetView("HostIP"));
  (void)out.Set("HostPort", in.GetView("HostPort"));
  return out;
}

bool OneDirect() {
  std::string id = "c0ffee";
  Env env;
  FillEnv(env);
  Env result = AllocatePortDirect(id, env);
  return result.GetView("HostPort") == "8080";
}

struct Stats {
  double p50_us;
  double p99_us;
  double per_s;
};

template <typename Fn>
Stats Measure(Fn fn) {
  for (int i = 0; i < kWarmup; ++i) {
    if (!fn()) std::abort();
  }
  std::vector<int64_t> ns(kIterations);
  auto start = Clock::now();
  for (int i = 0; i < kIterations; ++i) {
    auto t0 = Clock::now();
    bool ok = fn();
    auto t1 = Clock::now();
    if (!ok) {
      std::fprintf(stderr, "engine_bench: wrong result\n");
      std::exit(1);
    }
    ns[i] = std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
  }
  double total_s = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(ns.begin(), ns.end());
  return Stats{ns[kIterations / 2] / 1000.0, ns[kIterations * 99 / 100] / 1000.0, kIterations / total_s};
}

// Batch timing (no per-iteration clock reads), to cross-check the p50.
template <typename Fn>
double BatchMeanUs(Fn fn) {
  auto start = Clock::now();
  for (int i = 0; i < kIterations; ++i) {
    if (!fn()) std::abort();
  }
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count() / kIterations;
}

template <typename Fn>
double Throughput(Fn one, int threads) {
  std::atomic<bool> go{false};
  std::vector<std::thread> pool;
  auto start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      while (!go.load()) {
      }
      for (int i = 0; i < kIterations; ++i) {
        if (!one()) std::abort();
      }
    });
  }
  start = Clock::now();
  go = true;
  for (auto& th : pool) th.join();
  double s = std::chrono::duration<double>(Clock::now() - start).count();
  return threads * kIterations / s;
}

}  // namespace
}  // namespace berth

int main(int argc, char** argv) {
  using namespace berth;
  CLI::App app{"engine_bench: an in-process job (allocate_port) beside the same work as a direct call;\n"
               "p50, p99 and throughput of each, the ratio last. Takes no arguments."};
  CLI11_PARSE(app, argc, argv);
  ConfigureProductionRuntime();
  Engine eng;
  if (!eng.Register("allocate_port", AllocatePortHandler).ok()) return 1;

  Engine observed;
  if (!observed.Register("allocate_port", AllocatePortHandler).ok()) return 1;
  EventLog events;
  Observability watching(events);
  watching.Attach(observed);

  Stats direct = Measure(OneDirect);
  // Alternating rounds, the best p50 of each: the machine's noise hits both.
  Stats job = Measure([&] { return OneJob(eng); });
  Stats with_metrics = Measure([&] { return OneJob(observed); });
  for (int round = 0; round < 5; ++round) {
    Stats a = Measure([&] { return OneJob(eng); });
    Stats b = Measure([&] { return OneJob(observed); });
    if (a.p50_us < job.p50_us) job = a;
    if (b.p50_us < with_metrics.p50_us) with_metrics = b;
  }
  double job_batch = BatchMeanUs([&] { return OneJob(eng); });
  double metrics_batch = BatchMeanUs([&] { return OneJob(observed); });
  for (int round = 0; round < 5; ++round) {
    job_batch = std::min(job_batch, BatchMeanUs([&] { return OneJob(eng); }));
    metrics_batch = std::min(metrics_batch, BatchMeanUs([&] { return OneJob(observed); }));
  }
  double direct_batch = BatchMeanUs(OneDirect);
  double two = Throughput([&] { return OneJob(eng); }, 2);
  double two_direct = Throughput(OneDirect, 2);

  std::printf("direct call:     p50 %.3f us  p99 %.3f us  %.0f calls/s  (batch mean %.3f us)\n",
              direct.p50_us, direct.p99_us, direct.per_s, direct_batch);
  std::printf("in-process job:  p50 %.3f us  p99 %.3f us  %.0f jobs/s  (batch mean %.3f us)\n",
              job.p50_us, job.p99_us, job.per_s, job_batch);
  std::printf("2 threads:       %.0f jobs/s  (direct calls: %.0f calls/s, %.2fx one thread's)\n", two,
              two_direct, two_direct * direct_batch / 1e6);
  std::printf("with job metrics: p50 %.3f us  p99 %.3f us  %.0f jobs/s  (batch mean %.3f us)\n",
              with_metrics.p50_us, with_metrics.p99_us, with_metrics.per_s, metrics_batch);
  std::printf("engine_bench p50_us=%.3f p99_us=%.3f jobs_per_s=%.0f direct_ratio=%.2f metrics_p50_us=%.3f "
              "metrics_ratio=%.3f metrics_mean_ratio=%.3f\n",
              job.p50_us, job.p99_us, job.per_s, job.p50_us / direct.p50_us, with_metrics.p50_us,
              with_metrics.p50_us / job.p50_us, metrics_batch / job_batch);
  return 0;
}
