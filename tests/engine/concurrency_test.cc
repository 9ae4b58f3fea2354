// Jobs created and run from many threads at once; Shutdown racing running jobs.
#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "engine/engine.h"

namespace berth {
namespace {

TEST_CASE("8 threads x 10k jobs, with handlers registered and removed meanwhile") {
  Engine eng;
  std::atomic<int64_t> handled{0};
  REQUIRE(eng.Register("count", [&](Job& job) {
    handled.fetch_add(1);
    Env out;
    (void)out.Set("N", job.args()[0]);
    return job.Error(job.Stdout().WriteEnv(std::move(out)));
  }).ok());
  constexpr int kThreads = 8;
  constexpr int kJobs = 10000;
  std::atomic<int> wrong{0};
  std::atomic<bool> stop{false};
  std::thread churn([&] {
    // Registration is thread-safe: churn other names while jobs run.
    for (int i = 0; !stop.load(); ++i) {
      std::string name = "tmp" + std::to_string(i % 16);
      (void)eng.Register(name, [](Job&) { return kStatusOk; });
      eng.Unregister(name);
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kJobs; ++i) {
        std::string n = std::to_string(t * kJobs + i);
        auto job = eng.NewJob("count", {n});
        auto env = job->Stdout().AddEnv();
        if (!job->Run().ok() || env->Get("N") != n) wrong.fetch_add(1);
        if (i % 8 == 0) {
          // A churned name: found and run, or not found; never anything else.
          auto churned = eng.NewJob("tmp" + std::to_string(i % 16));
          (void)churned->Run();
          if (churned->status() != kStatusOk && churned->status() != kStatusNotFound) wrong.fetch_add(1);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  stop = true;
  churn.join();
  CHECK(wrong.load() == 0);
  CHECK(handled.load() == kThreads * kJobs);
  CHECK(eng.running_jobs() == 0);
}

TEST_CASE("Shutdown racing running jobs: each job completes or is refused; none is lost or hangs") {
  for (int round = 0; round < 5; ++round) {
    Engine eng;
    eng.set_shutdown_options({absl::Seconds(10), absl::Seconds(10)});
    std::atomic<int64_t> completed{0};
    std::atomic<int64_t> refused{0};
    std::atomic<int64_t> other{0};
    std::atomic<int64_t> submitted{0};
    std::atomic<int64_t> handled{0};
    std::atomic<int64_t> handled_at_hook{-1};
    REQUIRE(eng.Register("work", [&](Job& job) {
      // A little real work so that jobs overlap the shutdown.
      uint64_t h = 1469598103934665603ull;
      for (int i = 0; i < 2000; ++i) h = (h ^ static_cast<uint64_t>(i)) * 1099511628211ull;
      (void)job.Printf("%d", static_cast<int>(h & 1));
      handled.fetch_add(1);
      return kStatusOk;
    }).ok());
    eng.OnShutdown([&] { handled_at_hook = handled.load(); });
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] {
        while (!go.load()) std::this_thread::yield();
        while (true) {
          submitted.fetch_add(1);
          auto job = eng.NewJob("work");
          absl::Status s = job->Run();
          if (s.ok()) {
            completed.fetch_add(1);
          } else if (s.message() == "engine is shutdown") {
            refused.fetch_add(1);
            return;
          } else {
            other.fetch_add(1);
            return;
          }
        }
      });
    }
    go = true;
    while (completed.load() < 1000) std::this_thread::yield();
    eng.Shutdown();
    for (auto& th : threads) th.join();
    CHECK(other.load() == 0);
    CHECK(refused.load() == 4);
    CHECK(completed.load() + refused.load() == submitted.load());
    // Every accepted job had finished before the hooks ran.
    CHECK(handled_at_hook.load() == completed.load());
    CHECK(handled.load() == completed.load());
  }
}

}  // namespace
}  // namespace berth
