#include "engine/job.h"

#include <exception>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/engine.h"
#include "engine/log.h"
#include "engine/tick_clock.h"

namespace berth {
namespace {

thread_local const Job* current_job = nullptr;

}  // namespace

const Job* Job::Current() { return current_job; }

Job::Job(Engine* engine, absl::string_view name, std::vector<std::string> args,
         std::shared_ptr<const RegisteredHandler> handler)
    : engine_(engine), name_(name), args_(std::move(args)), handler_(std::move(handler)) {
  stderr_.TrackLastLine();
}

Job::~Job() = default;

std::string Job::CallString() const { return absl::StrCat(name_, "(", absl::StrJoin(args_, ", "), ")"); }

int Job::Error(absl::string_view message) {
  std::string line(message);
  if (line.empty() || line.back() != '\n') line.push_back('\n');
  (void)stderr_.Write(std::move(line));
  return kStatusErr;
}

int Job::Error(const absl::Status& status) {
  if (status.ok()) return kStatusOk;
  (void)Error(status.message());
  return JobStatusFromStatus(status);
}

void Job::Log(absl::string_view message) const { spdlog::info("[{}] {}", CallString(), message); }

absl::Status Job::Run() {
  Engine& eng = *engine_;
  // Counted before the shutdown check so that Shutdown, which sets the flag and
  // then waits for the count to drain, never misses a job that slipped past it.
  bool accepted = false;
  const size_t shard = eng.BeginJob(&accepted);
  if (!accepted && !env_.GetBool("overrideShutdown")) {
    eng.EndJob(shard);
    status_ = kStatusUnavailable;
    return absl::UnavailableError("engine is shutdown");
  }
  if (started_.exchange(true)) {
    eng.EndJob(shard);
    return absl::FailedPreconditionError(absl::StrCat(name_, ": job has already completed"));
  }

  // Counted and observed runs only: with neither, these are two loads from
  // one cache line.
  JobCounts* counts = eng.counting_jobs() ? (handler_ != nullptr ? handler_->counts : &eng.not_found_counts_) : nullptr;
  JobCounts::Run counted{};
  if (counts != nullptr) counted = counts->Begin();
  const ObserverList* observers = eng.job_observers();
  if (observers != nullptr && handler_ != nullptr && handler_->options.relayed) observers = nullptr;
  uint64_t start = 0;
  if (observers != nullptr) {
    start = TickClock::Now();
    const JobReport report = NewReport();
    for (EngineObserver* o : *observers) o->JobStarted(report);
  }

  if (handler_ == nullptr) {
    (void)stderr_.Write(absl::StrCat(name_, ": command not found\n"));
    status_ = kStatusNotFound;
  } else {
    const Job* const outer = current_job;
    current_job = this;
    const bool trace = eng.logging();
    if (trace) spdlog::info("+job {}", CallString());
    try {
      status_ = handler_->fn(*this);
    } catch (const std::exception& e) {
      (void)Error(e.what());
      status_ = kStatusErr;
    } catch (...) {
      (void)Error(absl::StrCat(name_, ": handler threw a non-standard exception"));
      status_ = kStatusErr;
    }
    if (trace) {
      spdlog::info("-job {} = {} ({})", CallString(), status_ == kStatusOk ? "OK" : "ERR", status_);
    }
    current_job = outer;
  }

  absl::Status close_error;
  if (close_streams_) {
    close_error = stdout_.Close();
    (void)stderr_.Close();
    stdin_.Close();
  }
  const int ended = status_ == kStatusOk && !close_error.ok() ? kStatusErr : status_;
  if (counts != nullptr) counts->End(counted, ended);
  if (observers != nullptr) Report(*observers, start, ended);
  eng.EndJob(shard);

  if (status_ == kStatusOk && !close_error.ok()) {
    // The handler succeeded but its output could not be delivered or decoded.
    status_ = kStatusErr;
    return absl::UnknownError(absl::StrCat(name_, ": stdout: ", close_error.message()));
  }
  if (status_ == kStatusOk) return absl::OkStatus();
  std::string message = stderr_.LastLine();
  if (message.empty()) message = absl::StrCat(name_, ": failed with status ", status_);
  return StatusFromJobStatus(status_, message);
}

JobReport Job::NewReport() const {
  JobReport report;
  report.name = name_;
  report.env = &env_;
  report.handler = handler_.get();
  report.found = handler_ != nullptr;
  return report;
}

void Job::Report(const ObserverList& observers, uint64_t start, int status) const {
  JobReport report = NewReport();
  report.status = status;
  report.duration = TickClock::Between(start, TickClock::Now());
  for (EngineObserver* o : observers) o->JobEnded(report);
}

void Job::Cancel() {
  std::vector<std::function<void()>> callbacks;
  {
    absl::MutexLock lock(&cancel_mu_);
    if (cancelled_.exchange(true, std::memory_order_acq_rel)) return;
    callbacks.swap(on_cancel_);
    cancel_cv_.SignalAll();
  }
  for (auto& fn : callbacks) fn();
}

bool Job::WaitCancelled(absl::Duration timeout) {
  // The deadline is enforced by whoever set it (the server cancels the job when
  // it passes), so that a job never mistakes its deadline for success.
  absl::Time until = absl::Now() + timeout;
  absl::MutexLock lock(&cancel_mu_);
  while (!cancelled_.load(std::memory_order_acquire)) {
    if (cancel_cv_.WaitWithDeadline(&cancel_mu_, until)) break;
  }
  return cancelled_.load(std::memory_order_acquire);
}

void Job::OnCancel(std::function<void()> fn) {
  {
    absl::MutexLock lock(&cancel_mu_);
    if (!cancelled_.load(std::memory_order_acquire)) {
      on_cancel_.push_back(std::move(fn));
      return;
    }
  }
  fn();
}

}  // namespace berth
