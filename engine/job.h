// Job: one invocation of a named handler — name, args, env, three streams and an
// integer status.
//
// Created by Engine::NewJob (which picks the handler at creation), configured by
// the caller (env, stdin source, stdout/stderr sinks), then Run once. Run's order
// is the contract (docs/engine.md, "Jobs and statuses"): shutdown check, already-run check, not-found,
// handler (exceptions become status 1), stream close, error text = last stderr line.
#ifndef BERTH_ENGINE_JOB_H_
#define BERTH_ENGINE_JOB_H_

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "engine/env.h"
#include "engine/observer.h"
#include "engine/status.h"
#include "engine/streams.h"

namespace berth {

class Engine;
class Job;
class JobCounts;

// A handler returns the job's status (kStatusOk, kStatusErr, ...).
using Handler = std::function<int(Job&)>;

struct HandlerOptions {
  // The handler neither blocks nor waits on anything outside the process (no
  // stdin, no sleeping, no locks held by others), and finishes in microseconds.
  // A server may then run it on its I/O thread instead of handing it to a pool
  // thread, saving two thread switches per job.
  bool nonblocking = false;
  // The handler relays the job to another process, whose server reports it to
  // the engine's observers (engine/observer.h): Job::Run does not.
  bool relayed = false;
};

// A handler as the engine keeps it. Cache-line aligned so that, allocated by
// make_shared, it does not share a line with its reference count, which every
// job on every core updates.
struct alignas(64) RegisteredHandler {
  Handler fn;
  HandlerOptions options;
  // Where the engine counts this handler's jobs (its name's; null for a
  // relayed handler, whose jobs the relaying server reports).
  JobCounts* counts = nullptr;
};

class Job {
 public:
  Job(const Job&) = delete;
  Job& operator=(const Job&) = delete;
  ~Job();

  const std::string& name() const { return name_; }
  const std::vector<std::string>& args() const { return args_; }
  std::vector<std::string>& mutable_args() { return args_; }
  Env& env() { return env_; }
  const Env& env() const { return env_; }
  Output& Stdout() { return stdout_; }
  Output& Stderr() { return stderr_; }
  Input& Stdin() { return stdin_; }
  Engine& engine() const { return *engine_; }
  int status() const { return status_; }
  // Whether a handler (exact or catch-all) was found when the job was created.
  bool has_handler() const { return handler_ != nullptr; }
  // Whether the job's handler was registered as nonblocking.
  bool nonblocking() const { return handler_ != nullptr && handler_->options.nonblocking; }

  // Runs the job once; see the file comment. Returns OK for status 0, otherwise an
  // error whose message is the last line the job wrote to stderr.
  absl::Status Run();

  // By default Run closes the three streams when the handler returns.
  void set_close_streams(bool close) { close_streams_ = close; }

  // Writes a formatted line to stderr and returns kStatusErr, for `return job.Errorf(...)`.
  template <typename... Args>
  int Errorf(const absl::FormatSpec<Args...>& format, const Args&... args) {
    return Error(absl::StrFormat(format, args...));
  }
  // Writes `message` as a line to stderr and returns kStatusErr.
  int Error(absl::string_view message);
  // Writes the status's message to stderr and returns the job status matching its
  // code (so a NotFound error becomes 127, Cancelled 130, ...; other codes 1).
  int Error(const absl::Status& status);
  template <typename... Args>
  absl::Status Printf(const absl::FormatSpec<Args...>& format, const Args&... args) {
    return stdout_.Write(absl::StrFormat(format, args...));
  }
  // Logs through the engine's logger, prefixed with the job's call string.
  template <typename... Args>
  void Logf(const absl::FormatSpec<Args...>& format, const Args&... args) {
    Log(absl::StrFormat(format, args...));
  }
  void Log(absl::string_view message) const;

  // `name(arg1, arg2)`, as trace lines show it.
  std::string CallString() const;

  // Cancellation: thread-safe; a handler observes it with cancelled() or by
  // waiting in WaitCancelled, and can register callbacks (e.g. to abort a pipe).
  void Cancel();
  bool cancelled() const { return cancelled_.load(std::memory_order_acquire); }
  // Waits up to `timeout`; true if cancelled.
  bool WaitCancelled(absl::Duration timeout);
  // Runs `fn` once when the job is cancelled (at once if it already is).
  void OnCancel(std::function<void()> fn);

  // The job whose handler is running on this thread (the innermost, when a
  // job runs jobs), or null: for log sinks that name the job of each record
  // (berthd's journal and JSON logs). Valid until that handler returns.
  static const Job* Current();
  // What the job acts on (berthd's container jobs: the container's id), for
  // those log records; "" by default. Set by the handler, on its thread.
  void set_log_subject(std::string subject) { log_subject_ = std::move(subject); }
  const std::string& log_subject() const { return log_subject_; }

  // The time by which the caller wants the job done (InfiniteFuture if none).
  absl::Time deadline() const { return deadline_; }
  void set_deadline(absl::Time deadline) { deadline_ = deadline; }

 private:
  friend class Engine;
  Job(Engine* engine, absl::string_view name, std::vector<std::string> args,
      std::shared_ptr<const RegisteredHandler> handler);

  // What observers are told about this job; Report tells them it ended
  // with `status`, `start` being its TickClock reading at the start.
  JobReport NewReport() const;
  void Report(const ObserverList& observers, uint64_t start, int status) const;

  Engine* const engine_;
  const std::string name_;
  std::vector<std::string> args_;
  Env env_;
  Output stdout_;
  Output stderr_;
  Input stdin_;
  std::shared_ptr<const RegisteredHandler> handler_;
  int status_ = kStatusOk;
  std::atomic<bool> started_{false};
  bool close_streams_ = true;
  absl::Time deadline_ = absl::InfiniteFuture();
  std::string log_subject_;

  std::atomic<bool> cancelled_{false};
  absl::Mutex cancel_mu_;
  absl::CondVar cancel_cv_;
  std::vector<std::function<void()>> on_cancel_ ABSL_GUARDED_BY(cancel_mu_);
};

}  // namespace berth

#endif  // BERTH_ENGINE_JOB_H_
