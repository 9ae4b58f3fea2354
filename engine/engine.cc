#include "engine/engine.h"

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/job_line.h"
#include "engine/log.h"

namespace berth {

Engine::Engine() {
  // The reference engine's only built-in. Registration cannot fail on a new engine.
  (void)Register("commands", [](Job& job) {
    std::string out = absl::StrJoin(job.engine().Commands(), "\n");
    out.push_back('\n');
    (void)job.Stdout().Write(std::move(out));
    return kStatusOk;
  }, HandlerOptions{.nonblocking = true});
}

Engine::~Engine() = default;

absl::Status Engine::Register(absl::string_view name, Handler handler, HandlerOptions options) {
  if (name.empty()) return absl::InvalidArgumentError("Can't register a handler for an empty command name");
  absl::MutexLock lock(&handlers_mu_);
  auto [it, inserted] = handlers_.try_emplace(name, nullptr);
  if (!inserted) return absl::AlreadyExistsError(absl::StrCat("Can't overwrite handler for command ", name));
  it->second = std::make_shared<const RegisteredHandler>(RegisteredHandler{std::move(handler), options});
  return absl::OkStatus();
}

bool Engine::Unregister(absl::string_view name) {
  absl::MutexLock lock(&handlers_mu_);
  return handlers_.erase(name) > 0;
}

void Engine::RegisterCatchall(Handler handler) {
  auto h = std::make_shared<const RegisteredHandler>(RegisteredHandler{std::move(handler), {}});
  absl::MutexLock lock(&handlers_mu_);
  catchall_ = std::move(h);
}

bool Engine::HasHandler(absl::string_view name) const {
  absl::ReaderMutexLock lock(&handlers_mu_);
  return handlers_.contains(name);
}

std::vector<std::string> Engine::Commands() const {
  std::vector<std::string> names;
  {
    absl::ReaderMutexLock lock(&handlers_mu_);
    names.reserve(handlers_.size());
    for (const auto& [name, h] : handlers_) names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::shared_ptr<const RegisteredHandler> Engine::FindHandler(absl::string_view name) const {
  absl::ReaderMutexLock lock(&handlers_mu_);
  auto it = handlers_.find(name);
  if (it != handlers_.end()) return it->second;
  if (name.empty()) return nullptr;
  return catchall_;
}

std::unique_ptr<Job> Engine::NewJob(absl::string_view name, std::vector<std::string> args) {
  return std::unique_ptr<Job>(new Job(this, name, std::move(args), FindHandler(name)));
}

absl::StatusOr<std::unique_ptr<Job>> Engine::ParseJob(absl::string_view line) {
  absl::StatusOr<JobLine> parsed = ParseJobLine(line);
  if (!parsed.ok()) return parsed.status();
  std::unique_ptr<Job> job = NewJob(parsed->name, std::move(parsed->args));
  job->env() = std::move(parsed->env);
  return job;
}

bool Engine::BeginJob() {
  running_.fetch_add(1);
  return !shutdown_.load();
}

void Engine::EndJob() {
  if (running_.fetch_sub(1) == 1 && shutdown_.load()) {
    absl::MutexLock lock(&running_mu_);
    running_cv_.SignalAll();
  }
}

void Engine::OnShutdown(std::function<void()> hook, std::string name) {
  absl::MutexLock lock(&hooks_mu_);
  if (name.empty()) name = absl::StrCat("hook #", hooks_.size() + 1);
  hooks_.push_back(Hook{std::move(hook), std::move(name)});
}

void Engine::Shutdown() {
  {
    absl::MutexLock lock(&shutdown_mu_);
    if (shutdown_started_) {
      while (!shutdown_done_) shutdown_cv_.Wait(&shutdown_mu_);
      return;
    }
    shutdown_started_ = true;
  }
  shutdown_.store(true);

  {
    absl::Time until = absl::Now() + shutdown_options_.job_grace;
    absl::MutexLock lock(&running_mu_);
    while (running_.load() > 0) {
      if (running_cv_.WaitWithDeadline(&running_mu_, until)) break;
    }
    if (int64_t left = running_.load(); left > 0) {
      spdlog::warn("shutdown: {} job(s) still running after {}; running shutdown hooks anyway", left,
                   absl::FormatDuration(shutdown_options_.job_grace));
    }
  }

  RunHooks();

  absl::MutexLock lock(&shutdown_mu_);
  shutdown_done_ = true;
  shutdown_cv_.SignalAll();
}

void Engine::RunHooks() {
  std::vector<Hook> hooks;
  {
    absl::MutexLock lock(&hooks_mu_);
    hooks.swap(hooks_);
  }
  // Each hook runs on its own thread so that one that hangs can be abandoned
  // when the budget is spent instead of blocking the rest of the shutdown.
  struct Completion {
    absl::Mutex mu;
    absl::CondVar cv;
    bool done ABSL_GUARDED_BY(mu) = false;
  };
  const absl::Time until = absl::Now() + shutdown_options_.hook_budget;
  for (auto it = hooks.rbegin(); it != hooks.rend(); ++it) {
    if (absl::Now() >= until) {
      spdlog::error("shutdown: hook '{}' skipped: the {} budget is spent", it->name,
                    absl::FormatDuration(shutdown_options_.hook_budget));
      continue;
    }
    auto completion = std::make_shared<Completion>();
    std::thread worker([fn = std::move(it->fn), completion, name = it->name] {
      try {
        fn();
      } catch (const std::exception& e) {
        spdlog::error("shutdown: hook '{}' failed: {}", name, e.what());
      } catch (...) {
        spdlog::error("shutdown: hook '{}' failed", name);
      }
      absl::MutexLock lock(&completion->mu);
      completion->done = true;
      completion->cv.SignalAll();
    });
    bool done = false;
    {
      absl::MutexLock lock(&completion->mu);
      while (!completion->done) {
        if (completion->cv.WaitWithDeadline(&completion->mu, until)) break;
      }
      done = completion->done;
    }
    if (done) {
      worker.join();
    } else {
      spdlog::error("shutdown: hook '{}' did not finish within the {} budget; skipped", it->name,
                    absl::FormatDuration(shutdown_options_.hook_budget));
      worker.detach();
    }
  }
}

}  // namespace berth
