#include "handlers/observe/trace_recorder.h"

#include <unistd.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "storage/atomic_file.h"

namespace berth {

absl::Status TraceRecorder::Start(std::string path) {
  if (path.empty()) return absl::InvalidArgumentError("trace: a file name is needed");
  absl::MutexLock lock(&mu_);
  if (recording_) return absl::FailedPreconditionError(absl::StrCat("trace: already recording into ", path_));
  path_ = std::move(path);
  recording_ = true;
  recording_jobs_.store(true, std::memory_order_relaxed);
  return absl::OkStatus();
}

absl::StatusOr<std::string> TraceRecorder::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (!recording_) return absl::FailedPreconditionError("trace: not recording (start with `trace start FILE`)");
  }
  absl::Status s = Write();
  absl::MutexLock lock(&mu_);
  recording_ = false;
  recording_jobs_.store(false, std::memory_order_relaxed);
  if (!s.ok()) return s;
  return path_;
}

bool TraceRecorder::recording() const {
  absl::MutexLock lock(&mu_);
  return recording_;
}

std::string TraceRecorder::path() const {
  absl::MutexLock lock(&mu_);
  return path_;
}

absl::Status TraceRecorder::Write() {
  std::string text;
  std::string path;
  {
    absl::MutexLock lock(&mu_);
    if (path_.empty()) return absl::FailedPreconditionError("trace: no file to write (start with `trace start FILE`)");
    text = Render();
    path = path_;
  }
  storage::AtomicWriteOptions options;
  options.mode = 0644;
  absl::Status s = storage::WriteFileAtomic(path, text, options);
  if (!s.ok()) return absl::Status(s.code(), absl::StrCat("trace: ", s.message()));
  return absl::OkStatus();
}

void TraceRecorder::Add(Span span) {
  if (span.cat == "job") {
    if (!recording_) return;
    if (job_spans_ >= kMaxJobSpans) {
      ++dropped_;
      return;
    }
    ++job_spans_;
  }
  spans_.push_back(std::move(span));
}

void TraceRecorder::Step(absl::string_view name, absl::Time start, absl::Duration duration, int status) {
  absl::MutexLock lock(&mu_);
  Add(Span{std::string(name), "step", "NewDaemon", Micros(start), absl::ToInt64Microseconds(duration),
           {{"status", absl::StrCat(status)}}});
}

void TraceRecorder::HookRan(const HookReport& r) {
  absl::MutexLock lock(&mu_);
  Add(Span{std::string(r.name), "hook", "shutdown", Micros(r.start), absl::ToInt64Microseconds(r.duration),
           {{"finished", r.finished ? "true" : "false"}}});
}

void TraceRecorder::JobEnded(const JobReport& r) {
  if (!recording_jobs_.load(std::memory_order_relaxed)) return;
  const absl::Duration duration = r.duration;
  std::string track = !r.relayed ? absl::StrCat("thread ", std::hash<std::thread::id>()(std::this_thread::get_id()) % 100000)
                                       : absl::StrCat("worker ", r.worker);
  std::string where = !r.relayed ? "in-process" : track;
  AddJob(JobSpan{r.found ? std::string(r.name) : "(not found)", std::move(track), absl::Now() - duration, duration,
                 std::string(r.TraceId()), r.status, std::move(where)});
}

void TraceRecorder::AddJob(JobSpan j) {
  if (!recording_jobs_.load(std::memory_order_relaxed)) return;
  absl::MutexLock lock(&mu_);
  Add(Span{std::move(j.name), "job", std::move(j.track), Micros(j.start), absl::ToInt64Microseconds(j.duration),
           {{"trace_id", std::move(j.trace_id)}, {"status", absl::StrCat(j.status)}, {"where", std::move(j.where)}}});
}

std::string TraceRecorder::Render() const {
  nlohmann::json events = nlohmann::json::array();
  std::map<std::string, int> tids;
  // Fixed tracks first, so viewers list them on top in this order.
  for (const char* fixed : {"NewDaemon", "shutdown"}) {
    for (const Span& s : spans_) {
      if (s.track != fixed) continue;
      tids.emplace(fixed, static_cast<int>(tids.size()) + 1);
      break;
    }
  }
  const int pid = static_cast<int>(::getpid());
  for (const Span& s : spans_) {
    auto [it, added] = tids.try_emplace(s.track, static_cast<int>(tids.size()) + 1);
    (void)added;
    nlohmann::json e = {{"name", s.name}, {"cat", s.cat},  {"ph", "X"},      {"ts", s.ts_us},
                        {"dur", s.dur_us}, {"pid", pid}, {"tid", it->second}, {"args", s.args}};
    events.push_back(std::move(e));
  }
  for (const auto& [track, tid] : tids) {
    events.push_back({{"name", "thread_name"}, {"ph", "M"}, {"pid", pid}, {"tid", tid}, {"args", {{"name", track}}}});
  }
  events.push_back({{"name", "process_name"}, {"ph", "M"}, {"pid", pid}, {"tid", 0}, {"args", {{"name", producer_}}}});
  nlohmann::json doc = {{"traceEvents", events},
                        {"displayTimeUnit", "ms"},
                        {"otherData",
                         {{"origin_unix_us", absl::ToUnixMicros(origin_)},
                          {"dropped_job_spans", dropped_},
                          {"producer", producer_}}}};
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
}

}  // namespace berth
