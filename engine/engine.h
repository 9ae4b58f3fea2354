// Engine: the registry of job handlers and the factory of jobs.
//
// Handlers are registered by name (thread-safe, at any time); a job's handler is
// chosen when the job is created: the exact name, else the catch-all (never for
// ""). Shutdown refuses new jobs, gives running ones a grace period, then runs the
// OnShutdown hooks last-registered-first within a time budget.
#ifndef BERTH_ENGINE_ENGINE_H_
#define BERTH_ENGINE_ENGINE_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/job.h"

namespace berth {

struct ShutdownOptions {
  // How long Shutdown waits for running jobs before it runs the hooks anyway.
  absl::Duration job_grace = absl::Seconds(5);
  // The time all hooks together may take; a hook still running when its share
  // is spent is reported and skipped.
  absl::Duration hook_budget = absl::Seconds(10);
};

class Engine {
 public:
  Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;
  ~Engine();

  // Fails with `Can't overwrite handler for command <name>` if taken.
  absl::Status Register(absl::string_view name, Handler handler, HandlerOptions options = {});
  // Removes a handler; jobs already created with it keep it. False if absent.
  bool Unregister(absl::string_view name);
  // The handler for every name without one of its own (except "").
  void RegisterCatchall(Handler handler);
  bool HasHandler(absl::string_view name) const;
  // Registered names, sorted (the `commands` built-in prints these).
  std::vector<std::string> Commands() const;

  std::unique_ptr<Job> NewJob(absl::string_view name, std::vector<std::string> args = {});
  // Builds a job from a job line (see job_line.h): `name arg… KEY=VALUE…`.
  absl::StatusOr<std::unique_ptr<Job>> ParseJob(absl::string_view line);

  // Registers a hook for Shutdown; `name` identifies it in reports.
  void OnShutdown(std::function<void()> hook, std::string name = "");
  // See the file comment. A second call waits for the first to finish.
  void Shutdown();
  bool IsShutdown() const { return shutdown_.load(); }
  void set_shutdown_options(ShutdownOptions options) { shutdown_options_ = options; }

  // Trace lines (+job / -job) through spdlog.
  void set_logging(bool on) { logging_.store(on, std::memory_order_relaxed); }
  bool logging() const { return logging_.load(std::memory_order_relaxed); }

  // Jobs currently inside Run.
  int64_t running_jobs() const { return running_.load(); }

 private:
  friend class Job;
  struct Hook {
    std::function<void()> fn;
    std::string name;
  };

  // Job::Run brackets every run with these. BeginJob returns false once shutdown
  // has begun (the job is counted either way and must call EndJob).
  bool BeginJob();
  void EndJob();
  std::shared_ptr<const RegisteredHandler> FindHandler(absl::string_view name) const;
  void RunHooks();

  mutable absl::Mutex handlers_mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<const RegisteredHandler>> handlers_
      ABSL_GUARDED_BY(handlers_mu_);
  std::shared_ptr<const RegisteredHandler> catchall_ ABSL_GUARDED_BY(handlers_mu_);

  std::atomic<bool> logging_{false};
  std::atomic<bool> shutdown_{false};
  std::atomic<int64_t> running_{0};
  absl::Mutex running_mu_;
  absl::CondVar running_cv_;

  ShutdownOptions shutdown_options_;
  absl::Mutex hooks_mu_;
  std::vector<Hook> hooks_ ABSL_GUARDED_BY(hooks_mu_);
  absl::Mutex shutdown_mu_;
  absl::CondVar shutdown_cv_;
  bool shutdown_started_ ABSL_GUARDED_BY(shutdown_mu_) = false;
  bool shutdown_done_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace berth

#endif  // BERTH_ENGINE_ENGINE_H_
