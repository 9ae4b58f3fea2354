#include "engine/script/pipeline.h"

#include <atomic>
#include <exception>
#include <memory>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace berth {
namespace {

// Passes a job's output on to the script's Output, which outlives the job and
// which the job must not close. Muted once the job has been stopped.
class ForwardSink : public Sink {
 public:
  ForwardSink(Output* out, std::shared_ptr<std::atomic<bool>> muted) : out_(out), muted_(std::move(muted)) {}
  absl::Status Write(absl::string_view data) override {
    if (Muted()) return absl::OkStatus();
    return out_->Write(data);
  }
  absl::Status WriteOwned(std::string&& chunk) override {
    if (Muted()) return absl::OkStatus();
    return out_->Write(std::move(chunk));
  }

 private:
  bool Muted() const { return muted_ != nullptr && muted_->load(std::memory_order_relaxed); }

  Output* out_;
  std::shared_ptr<std::atomic<bool>> muted_;
};

// Reads the script's stdin without ever closing it.
class ForwardSource : public Source {
 public:
  explicit ForwardSource(Input* in) : in_(in) {}
  absl::StatusOr<size_t> Read(char* buf, size_t n) override { return in_->Read(buf, n); }
  absl::StatusOr<bool> ReadChunk(std::string* chunk) override { return in_->ReadChunk(chunk); }

 private:
  Input* in_;
};

class PipelineRun {
 public:
  PipelineRun(Engine& engine, std::vector<JobLine> lines, const PipelineOptions& options) : options_(options) {
    const size_t n = lines.size();
    stages_.resize(n);
    for (size_t i = 0; i < n; ++i) {
      Stage& s = stages_[i];
      s.job = engine.NewJob(lines[i].name, std::move(lines[i].args));
      s.job->env() = std::move(lines[i].env);
      // RunStage closes the streams itself, after it has judged the job's
      // status: see there.
      s.job->set_close_streams(false);
      s.muted = std::make_shared<std::atomic<bool>>(false);
      if (options.stderr_sink != nullptr) {
        s.job->Stderr().Add(std::make_unique<ForwardSink>(options.stderr_sink, s.muted));
      }
    }
    if (options.stdin_source != nullptr) {
      // A fresh job has no source yet, so this cannot fail.
      (void)stages_[0].job->Stdin().Add(std::make_unique<ForwardSource>(options.stdin_source));
    }
    for (size_t i = 0; i + 1 < n; ++i) {
      auto pipe = std::make_shared<Pipe>(options.pipe_capacity);
      (void)stages_[i + 1].job->Stdin().AddPipe(pipe);
      stages_[i].job->Stdout().AddPipe(pipe);
      pipes_.push_back(std::move(pipe));
    }
    Job& last = *stages_.back().job;
    if (options.capture_env) {
      env_ = last.Stdout().AddEnv();
    } else if (options.stdout_sink != nullptr) {
      last.Stdout().Add(std::make_unique<ForwardSink>(options.stdout_sink, nullptr));
    }
  }

  PipelineResult Run() {
    int64_t cancel_id = -1;
    if (options_.cancel != nullptr) cancel_id = options_.cancel->AddCallback([this] { Stop(kNone, true); });
    const size_t n = stages_.size();
    std::vector<std::thread> threads;
    threads.reserve(n - 1);
    size_t started = n - 1;
    for (size_t i = 0; i + 1 < n; ++i) {
      try {
        threads.emplace_back([this, i] { RunStage(i); });
      } catch (const std::exception& e) {
        started = i;
        Unstarted(i, absl::StrCat("cannot start a thread for ", stages_[i].job->name(), ": ", e.what()));
        break;
      }
    }
    if (started == n - 1) {
      RunStage(n - 1);
    } else {
      Unstarted(n - 1, "not started: an earlier job of the pipeline could not start");
    }
    for (std::thread& t : threads) t.join();
    if (cancel_id >= 0) options_.cancel->RemoveCallback(cancel_id);
    return Result();
  }

 private:
  static constexpr size_t kNone = static_cast<size_t>(-1);
  static constexpr absl::string_view kStopReason = "pipeline stopped";

  struct Stage {
    std::unique_ptr<Job> job;
    std::shared_ptr<std::atomic<bool>> muted;
    absl::Status run_status;  // written by the stage's thread before Finish
    int status = kStatusOk;
    bool done = false;
    bool stopped = false;
  };

  void RunStage(size_t i) {
    Job& job = *stages_[i].job;
    absl::Status s = job.Run();
    int status = job.status();
    // Closing stdout tells the next job the input is complete (and, for a let,
    // checks that the env stream did not end inside an object).
    if (absl::Status closed = job.Stdout().Close(); !closed.ok() && status == kStatusOk) {
      status = kStatusErr;
      s = absl::UnknownError(absl::StrCat(job.name(), ": stdout: ", closed.message()));
    }
    Finish(i, std::move(s), status);
    // Only now is stdin closed: when this job's failure stops the pipeline, the
    // job before it sees the stop, not a broken pipe it would report as its own.
    job.Stdin().Close();
    (void)job.Stderr().Close();
  }

  // A stage whose thread could not be created: it fails without running, and the
  // rest of the pipeline is stopped so nothing waits for it.
  void Unstarted(size_t i, std::string why) {
    if (options_.stderr_sink != nullptr) (void)options_.stderr_sink->Write(absl::StrCat(why, "\n"));
    {
      absl::MutexLock lock(&mu_);
      if (unstarted_ == kNone) unstarted_ = i;
    }
    Finish(i, absl::UnknownError(why), kStatusErr);
    Stop(i, false);
    // Closing its streams releases its neighbours' pipes.
    (void)stages_[i].job->Stdout().Close();
    stages_[i].job->Stdin().Close();
  }

  void Finish(size_t i, absl::Status run_status, int status) {
    bool decisive;
    {
      absl::MutexLock lock(&mu_);
      Stage& s = stages_[i];
      s.run_status = std::move(run_status);
      s.status = status;
      s.done = true;
      decisive = status != kStatusOk && !s.stopped && (options_.pipefail || i + 1 == stages_.size());
    }
    if (decisive) Stop(i, false);
  }

  // Stops every job still running except `except`.
  void Stop(size_t except, bool external) {
    std::vector<Job*> to_cancel;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      for (size_t i = 0; i < stages_.size(); ++i) {
        Stage& s = stages_[i];
        if (i == except || s.done) continue;
        s.stopped = true;
        s.muted->store(true, std::memory_order_relaxed);
        to_cancel.push_back(s.job.get());
      }
      if (to_cancel.empty()) return;
      stopping_ = true;
      cancelled_ = external;
    }
    // Pipes first: a job woken by its cancel then finds every pipe failing with
    // the stop's reason, never with a "broken pipe" of its own.
    for (const auto& pipe : pipes_) pipe->Abort(absl::CancelledError(kStopReason));
    for (Job* job : to_cancel) job->Cancel();
  }

  // Whether a stopped stage's failure is the stop showing through (it was
  // cancelled, or failed on an aborted pipe) rather than a failure of its own.
  static bool StopShowsThrough(const Stage& s) {
    return s.stopped && (s.status == kStatusCancelled || absl::StrContains(s.run_status.message(), kStopReason));
  }

  PipelineResult Result() {
    absl::MutexLock lock(&mu_);
    PipelineResult r;
    const size_t last = stages_.size() - 1;
    if (cancelled_) {
      r.status = kStatusCancelled;
      r.stage = last;
      r.error = "cancelled";
      r.cancelled = true;
      return r;
    }
    r.stage = last;
    if (unstarted_ != kNone) {
      r.stage = unstarted_;
    } else if (options_.pipefail) {
      for (size_t i = stages_.size(); i-- > 0;) {
        if (stages_[i].status != kStatusOk && !StopShowsThrough(stages_[i])) {
          r.stage = i;
          break;
        }
      }
    }
    const Stage& s = stages_[r.stage];
    r.status = StopShowsThrough(s) && unstarted_ == kNone ? kStatusOk : s.status;
    if (r.status != kStatusOk) {
      r.error = std::string(s.run_status.message());
      if (r.error.empty()) r.error = absl::StrCat(s.job->name(), ": failed with status ", r.status);
    } else if (env_ != nullptr) {
      r.env = std::move(*env_);
    }
    return r;
  }

  const PipelineOptions& options_;
  std::vector<Stage> stages_;
  std::vector<std::shared_ptr<Pipe>> pipes_;
  std::shared_ptr<Env> env_;

  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  size_t unstarted_ ABSL_GUARDED_BY(mu_) = kNone;  // a job whose thread could not start
};

}  // namespace

PipelineResult RunPipeline(Engine& engine, std::vector<JobLine> stages, const PipelineOptions& options) {
  if (stages.empty()) {
    PipelineResult r;
    r.status = kStatusErr;
    r.error = "empty pipeline";
    return r;
  }
  PipelineRun run(engine, std::move(stages), options);
  return run.Run();
}

}  // namespace berth
