// Engine: the registry of job handlers and the factory of jobs.
//
// Handlers are registered by name (thread-safe, at any time); a job's handler is
// chosen when the job is created: the exact name, else the catch-all (never for
// ""). Shutdown refuses new jobs, gives running ones a grace period, then runs the
// OnShutdown hooks last-registered-first within a time budget.
#ifndef BERTH_ENGINE_ENGINE_H_
#define BERTH_ENGINE_ENGINE_H_

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
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
#include "engine/job_counts.h"
#include "engine/job_help.h"
#include "engine/observer.h"

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
  // The names under which ForEachJobCounts gives the catch-all handler's
  // jobs and those of names without a handler.
  static constexpr char kCatchallName[] = "(catch-all)";
  static constexpr char kNotFoundName[] = "(not found)";

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

  // Describes a job for the `help` built-in (job_help.h), whether or not this
  // engine has its handler; a second description of a name replaces the first.
  void Describe(JobHelp help);
  // The description of `name`, if any.
  std::optional<JobHelp> Help(absl::string_view name) const;

  std::unique_ptr<Job> NewJob(absl::string_view name, std::vector<std::string> args = {});
  // Builds a job from a job line (see job_line.h): `name arg… KEY=VALUE…`.
  absl::StatusOr<std::unique_ptr<Job>> ParseJob(absl::string_view line);

  // Registers a hook for Shutdown; `name` identifies it in reports.
  void OnShutdown(std::function<void()> hook, std::string name = "");
  // See the file comment. A second call waits for the first to finish and
  // returns the same. True when nothing is left running: every job ended
  // within the grace period and no hook was abandoned while it ran (one
  // skipped before it started does not count). False means a job or a hook
  // may still be running on another thread and using what it was given: the
  // caller must not destroy that (berthd exits at once instead of unwinding).
  bool Shutdown();
  bool IsShutdown() const { return shutdown_.load(); }
  void set_shutdown_options(ShutdownOptions options) { shutdown_options_ = options; }

  // Trace lines (+job / -job) through spdlog.
  void set_logging(bool on) { logging_.store(on, std::memory_order_relaxed); }
  bool logging() const { return logging_.load(std::memory_order_relaxed); }

  // Jobs currently inside Run.
  int64_t running_jobs() const;

  // Counts the jobs run in-process from now on, by name (engine/job_counts.h):
  // started, ended by status, run time. Off until the first call, then on for
  // good. Thread-safe.
  void CountJobs();
  bool counting_jobs() const { return counting_.load(std::memory_order_relaxed); }
  // Calls `fn` with the counts of each name: every name ever registered
  // (except relayed handlers'), "(catch-all)" for the catch-all handler's
  // jobs and "(not found)" for names without a handler. A name unregistered
  // and registered again keeps its counts. In no particular order.
  void ForEachJobCounts(const std::function<void(const std::string& name, const JobCounts& counts)>& fn) const;

  // Adds an observer (see engine/observer.h for the contract: never removed,
  // must outlive the engine's jobs). Thread-safe.
  void AddObserver(EngineObserver* observer, ObserverScope scope = ObserverScope::kAll);
  // Tells an observer added with kNotInProcessJobs of in-process jobs too
  // from now on; nothing if it is told already.
  void ObserveInProcessJobs(EngineObserver* observer);
  // The observers now, or null when there are none.
  const ObserverList* observers() const { return observers_.load(std::memory_order_acquire); }
  // Those told of in-process jobs, or null: what Job::Run calls.
  const ObserverList* job_observers() const { return job_observers_.load(std::memory_order_acquire); }

 private:
  friend class Job;
  struct Hook {
    std::function<void()> fn;
    std::string name;
  };

  // Job::Run brackets every run with these. BeginJob counts the run on the
  // calling thread's shard of the counter and returns that shard; `*accepted`
  // is false once shutdown has begun (the run is counted either way and must be
  // ended with EndJob(shard)).
  size_t BeginJob(bool* accepted);
  void EndJob(size_t shard);
  std::shared_ptr<const RegisteredHandler> FindHandler(absl::string_view name) const;
  // The counts of `name`, made on its first call; never freed.
  JobCounts* CountsOf(const std::string& name);
  // Publishes `list` with `observer` added, unless it holds it already.
  void Publish(std::atomic<const ObserverList*>& list, EngineObserver* observer)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(observers_mu_);
  // Runs the hooks (see Shutdown); false if one was abandoned.
  bool RunHooks();

  // Read on every job: kept on a cache line of their own, apart from the
  // lock word every lookup writes.
  alignas(64) std::atomic<bool> logging_{false};
  std::atomic<bool> shutdown_{false};
  std::atomic<bool> counting_{false};
  std::atomic<const ObserverList*> job_observers_{nullptr};
  std::atomic<const ObserverList*> observers_{nullptr};
  // Every list ever published (a job may still read an old one): a handful.
  absl::Mutex observers_mu_;
  std::vector<std::unique_ptr<const ObserverList>> observer_lists_ ABSL_GUARDED_BY(observers_mu_);

  // The handlers, read on every job without a lock: the current table is
  // immutable; a change copies it, publishes the copy, waits until no lookup
  // can still be reading the old one (a grace period, below) and frees it.
  // Changes are rare (start-up, workers arriving and leaving); lookups are not.
  struct HandlerTable {
    absl::flat_hash_map<std::string, std::shared_ptr<const RegisteredHandler>> handlers;
    std::shared_ptr<const RegisteredHandler> catchall;
  };
  // Runs `read` on the current table inside a read-side section.
  template <typename Fn>
  auto ReadHandlers(Fn read) const;
  // Replaces the table with `change` applied to a copy of it (under
  // handlers_mu_), then frees the old table after a grace period.
  template <typename Fn>
  auto ChangeHandlers(Fn change);

  absl::Mutex handlers_mu_;  // serializes changes
  std::atomic<const HandlerTable*> handlers_;
  // Lookups in progress, per thread shard and phase. A change flips the phase
  // and waits for the old phase's counts to drain: lookups that began later
  // see the new table, so the wait is bounded by the lookups already running.
  struct alignas(64) ReaderShard {
    std::atomic<int64_t> n[2] = {0, 0};
  };
  static constexpr size_t kReaderShards = 16;
  mutable std::array<ReaderShard, kReaderShards> readers_;
  std::atomic<unsigned> reader_phase_{0};

  // Running jobs, counted on per-thread shards each on its own cache line:
  // one shared counter, written twice per job, made two threads running jobs
  // slower than one.
  struct alignas(64) RunningShard {
    std::atomic<int64_t> n{0};
  };
  static constexpr size_t kRunningShards = 16;
  std::array<RunningShard, kRunningShards> running_;
  absl::Mutex running_mu_;
  absl::CondVar running_cv_;

  // Job counts by name (CountJobs), and those of names without a handler.
  mutable absl::Mutex counts_mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<JobCounts>> counts_ ABSL_GUARDED_BY(counts_mu_);
  JobCounts not_found_counts_;

  mutable absl::Mutex help_mu_;
  absl::flat_hash_map<std::string, JobHelp> help_ ABSL_GUARDED_BY(help_mu_);

  ShutdownOptions shutdown_options_;
  absl::Mutex hooks_mu_;
  std::vector<Hook> hooks_ ABSL_GUARDED_BY(hooks_mu_);
  absl::Mutex shutdown_mu_;
  absl::CondVar shutdown_cv_;
  bool shutdown_started_ ABSL_GUARDED_BY(shutdown_mu_) = false;
  bool shutdown_done_ ABSL_GUARDED_BY(shutdown_mu_) = false;
  bool shutdown_clean_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace berth

#endif  // BERTH_ENGINE_ENGINE_H_
