#include "handlers/observe/trace_recorder.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

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
  const std::string tmp = absl::StrCat(path, ".tmp.", ::getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      return absl::InternalError(absl::StrCat("trace: cannot write ", tmp));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return absl::InternalError(absl::StrCat("trace: cannot rename ", tmp, " to ", path));
  }
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
  const absl::Time start = absl::Now() - r.duration;
  std::string track = !r.relayed ? absl::StrCat("thread ", std::hash<std::thread::id>()(std::this_thread::get_id()) % 100000)
                                       : absl::StrCat("worker ", r.worker);
  absl::MutexLock lock(&mu_);
  if (!recording_) return;
  Add(Span{r.found ? std::string(r.name) : "(not found)", "job", std::move(track), Micros(start),
           absl::ToInt64Microseconds(r.duration),
           {{"trace_id", std::string(r.TraceId())},
            {"status", absl::StrCat(r.status)},
            {"where", !r.relayed ? "in-process" : absl::StrCat("worker ", r.worker)}}});
}

std::string TraceRecorder::Render() const {
  nlohmann::json events = nlohmann::json::array();
  std::map<std::string, int> tids;
  // Fixed tracks first, so viewers list them on top in this order.
  tids["NewDaemon"] = 1;
  tids["shutdown"] = 2;
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
