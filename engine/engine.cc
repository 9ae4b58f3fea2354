#include "engine/engine.h"

#include <algorithm>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/job_line.h"
#include "engine/log.h"
#include "engine/tick_clock.h"

namespace berth {

namespace {

// The `help` built-in (job_help.h).
int HelpJob(Job& job) {
  const Engine& eng = job.engine();
  if (job.args().empty()) {
    std::string out;
    for (const std::string& name : eng.Commands()) {
      std::optional<JobHelp> h = eng.Help(name);
      const std::string summary = h ? h->summary : "";
      const size_t pad = name.size() < 24 ? 24 - name.size() : 1;
      absl::StrAppend(&out, name, summary.empty() ? "" : std::string(pad, ' '), summary, "\n");
    }
    return job.Error(job.Stdout().Write(std::move(out)));
  }
  if (job.args().size() > 1) return job.Errorf("help: want at most one NAME, got %d args", job.args().size());
  const std::string& name = job.args()[0];
  std::optional<JobHelp> h = eng.Help(name);
  if (!h) {
    if (!eng.HasHandler(name)) return job.Errorf("help: no job named '%s'", name);
    h = JobHelp(name, "", "(no description)");
  }
  if (job.env().Get("format") == "json") return job.Error(job.Stdout().WriteEnv(HelpEnv(*h)));
  return job.Error(job.Stdout().Write(HelpText(*h)));
}

// This thread's shard of the per-thread counters (running jobs, lookups).
size_t ThreadShard(size_t shards) {
  static std::atomic<size_t> next{0};
  thread_local const size_t index = next.fetch_add(1, std::memory_order_relaxed);
  return index % shards;
}

}  // namespace

Engine::Engine() : handlers_(new HandlerTable) {
  // The reference engine's only built-in. Registration cannot fail on a new engine.
  (void)Register("commands", [](Job& job) {
    std::string out = absl::StrJoin(job.engine().Commands(), "\n");
    out.push_back('\n');
    (void)job.Stdout().Write(std::move(out));
    return kStatusOk;
  }, HandlerOptions{.nonblocking = true});
  (void)Register("help", HelpJob, HandlerOptions{.nonblocking = true});
  Describe(JobHelp("commands", "", "lists the jobs this engine serves, one name a line"));
  Describe(JobHelp("help", "[NAME]", "without NAME, every job and its summary; with NAME, its args, env and stdin",
                   {{"format", "json: one JSON object instead of text"}}));
}

void Engine::Describe(JobHelp help) {
  absl::MutexLock lock(&help_mu_);
  std::string name = help.name;
  help_.insert_or_assign(std::move(name), std::move(help));
}

std::optional<JobHelp> Engine::Help(absl::string_view name) const {
  absl::MutexLock lock(&help_mu_);
  auto it = help_.find(name);
  if (it == help_.end()) return std::nullopt;
  return it->second;
}

Engine::~Engine() { delete handlers_.load(); }

template <typename Fn>
auto Engine::ReadHandlers(Fn read) const {
  const size_t shard = ThreadShard(kReaderShards);
  // All sequentially consistent: a change that misses this count (its scan
  // came first) published its table before, so the load below sees it.
  const unsigned phase = reader_phase_.load() & 1;
  readers_[shard].n[phase].fetch_add(1);
  auto result = read(*handlers_.load());
  readers_[shard].n[phase].fetch_sub(1, std::memory_order_release);
  return result;
}

template <typename Fn>
auto Engine::ChangeHandlers(Fn change) {
  absl::MutexLock lock(&handlers_mu_);
  const HandlerTable* old = handlers_.load();
  auto fresh = std::make_unique<HandlerTable>(*old);
  auto result = change(*fresh);
  handlers_.store(fresh.release());
  // Grace period: lookups that may hold `old` counted themselves under the
  // current phase; new ones count under the other and see the new table.
  const unsigned phase = reader_phase_.load() & 1;
  reader_phase_.store(phase ^ 1);
  for (ReaderShard& r : readers_) {
    while (r.n[phase].load() != 0) std::this_thread::yield();
  }
  delete old;
  return result;
}

absl::Status Engine::Register(absl::string_view name, Handler handler, HandlerOptions options) {
  if (name.empty()) return absl::InvalidArgumentError("Can't register a handler for an empty command name");
  {
    absl::MutexLock lock(&handlers_mu_);
    if (handlers_.load()->handlers.contains(name)) {
      return absl::AlreadyExistsError(absl::StrCat("Can't overwrite handler for command ", name));
    }
  }
  auto made = std::make_shared<RegisteredHandler>();
  made->fn = std::move(handler);
  made->options = options;
  if (!options.relayed) made->counts = CountsOf(std::string(name));
  std::shared_ptr<const RegisteredHandler> h = std::move(made);
  return ChangeHandlers([&](HandlerTable& t) {
    if (!t.handlers.try_emplace(name, std::move(h)).second) {
      return absl::AlreadyExistsError(absl::StrCat("Can't overwrite handler for command ", name));
    }
    return absl::OkStatus();
  });
}

bool Engine::Unregister(absl::string_view name) {
  return ChangeHandlers([&](HandlerTable& t) { return t.handlers.erase(name) > 0; });
}

void Engine::RegisterCatchall(Handler handler) {
  auto made = std::make_shared<RegisteredHandler>();
  made->fn = std::move(handler);
  made->counts = CountsOf(kCatchallName);
  std::shared_ptr<const RegisteredHandler> h = std::move(made);
  ChangeHandlers([&](HandlerTable& t) {
    t.catchall = std::move(h);
    return true;
  });
}

bool Engine::HasHandler(absl::string_view name) const {
  return ReadHandlers([&](const HandlerTable& t) { return t.handlers.contains(name); });
}

std::vector<std::string> Engine::Commands() const {
  std::vector<std::string> names = ReadHandlers([](const HandlerTable& t) {
    std::vector<std::string> out;
    out.reserve(t.handlers.size());
    for (const auto& [name, h] : t.handlers) out.push_back(name);
    return out;
  });
  std::sort(names.begin(), names.end());
  return names;
}

std::shared_ptr<const RegisteredHandler> Engine::FindHandler(absl::string_view name) const {
  return ReadHandlers([&](const HandlerTable& t) -> std::shared_ptr<const RegisteredHandler> {
    auto it = t.handlers.find(name);
    if (it != t.handlers.end()) return it->second;
    if (name.empty()) return nullptr;
    return t.catchall;
  });
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

size_t Engine::BeginJob(bool* accepted) {
  const size_t shard = ThreadShard(kRunningShards);
  running_[shard].n.fetch_add(1);
  *accepted = !shutdown_.load();
  return shard;
}

void Engine::EndJob(size_t shard) {
  running_[shard].n.fetch_sub(1);
  // Once shutdown has begun, wake Shutdown to count again (a decrement that did
  // not see the flag was made before it was set, so Shutdown's count sees it).
  if (shutdown_.load()) {
    absl::MutexLock lock(&running_mu_);
    running_cv_.SignalAll();
  }
}

int64_t Engine::running_jobs() const {
  int64_t total = 0;
  for (const RunningShard& s : running_) total += s.n.load();
  return total;
}

void Engine::CountJobs() {
  TickClock::Calibrate();  // before any job is timed
  counting_.store(true, std::memory_order_relaxed);
}

JobCounts* Engine::CountsOf(const std::string& name) {
  absl::MutexLock lock(&counts_mu_);
  std::unique_ptr<JobCounts>& counts = counts_[name];
  if (counts == nullptr) counts = std::make_unique<JobCounts>();
  return counts.get();
}

void Engine::ForEachJobCounts(const std::function<void(const std::string&, const JobCounts&)>& fn) const {
  {
    absl::MutexLock lock(&counts_mu_);
    for (const auto& [name, counts] : counts_) fn(name, *counts);
  }
  fn(kNotFoundName, not_found_counts_);
}

void Engine::AddObserver(EngineObserver* observer, ObserverScope scope) {
  TickClock::Calibrate();  // before any job is timed
  absl::MutexLock lock(&observers_mu_);
  Publish(observers_, observer);
  if (scope == ObserverScope::kAll) Publish(job_observers_, observer);
}

void Engine::ObserveInProcessJobs(EngineObserver* observer) {
  absl::MutexLock lock(&observers_mu_);
  Publish(job_observers_, observer);
}

void Engine::Publish(std::atomic<const ObserverList*>& list, EngineObserver* observer) {
  auto fresh = std::make_unique<ObserverList>();
  if (const ObserverList* now = list.load()) *fresh = *now;
  if (std::find(fresh->begin(), fresh->end(), observer) != fresh->end()) return;
  fresh->push_back(observer);
  list.store(fresh.get(), std::memory_order_release);
  observer_lists_.push_back(std::move(fresh));
}

void Engine::OnShutdown(std::function<void()> hook, std::string name) {
  absl::MutexLock lock(&hooks_mu_);
  if (name.empty()) name = absl::StrCat("hook #", hooks_.size() + 1);
  hooks_.push_back(Hook{std::move(hook), std::move(name)});
}

bool Engine::Shutdown() {
  {
    absl::MutexLock lock(&shutdown_mu_);
    if (shutdown_started_) {
      while (!shutdown_done_) shutdown_cv_.Wait(&shutdown_mu_);
      return shutdown_clean_;
    }
    shutdown_started_ = true;
  }
  shutdown_.store(true);

  bool clean = true;
  {
    absl::Time until = absl::Now() + shutdown_options_.job_grace;
    absl::MutexLock lock(&running_mu_);
    while (running_jobs() > 0) {
      if (running_cv_.WaitWithDeadline(&running_mu_, until)) break;
    }
    if (int64_t left = running_jobs(); left > 0) {
      spdlog::warn("shutdown: {} job(s) still running after {}; running shutdown hooks anyway", left,
                   absl::FormatDuration(shutdown_options_.job_grace));
      clean = false;
    }
  }

  clean &= RunHooks();

  absl::MutexLock lock(&shutdown_mu_);
  shutdown_done_ = true;
  shutdown_clean_ = clean;
  shutdown_cv_.SignalAll();
  return clean;
}

bool Engine::RunHooks() {
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
  bool all_done = true;
  for (auto it = hooks.rbegin(); it != hooks.rend(); ++it) {
    if (absl::Now() >= until) {
      spdlog::error("shutdown: hook '{}' skipped: the {} budget is spent", it->name,
                    absl::FormatDuration(shutdown_options_.hook_budget));
      continue;
    }
    auto completion = std::make_shared<Completion>();
    const absl::Time hook_start = absl::Now();
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
    if (const ObserverList* observers = this->observers()) {
      const HookReport report{it->name, hook_start, absl::Now() - hook_start, done};
      for (EngineObserver* o : *observers) o->HookRan(report);
    }
    if (done) {
      worker.join();
    } else {
      spdlog::error("shutdown: hook '{}' did not finish within the {} budget; skipped", it->name,
                    absl::FormatDuration(shutdown_options_.hook_budget));
      worker.detach();
      all_done = false;
    }
  }
  return all_done;
}

}  // namespace berth
