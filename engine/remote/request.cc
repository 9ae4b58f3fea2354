#include "engine/remote/request.h"

#include <random>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace berth::remote {

JobRequest RequestFromJob(Job& job) {
  JobRequest req;
  req.name = job.name();
  req.args = job.args();
  req.env = job.env();
  if (job.deadline() != absl::InfiniteFuture()) req.timeout = job.deadline() - absl::Now();
  req.trace_id = job.env().Get(kTraceIdKey);
  if (req.trace_id.empty()) req.trace_id = NewTraceId();
  return req;
}

std::unique_ptr<Job> JobFromRequest(Engine& engine, JobRequest& request) {
  std::unique_ptr<Job> job = engine.NewJob(request.name, std::move(request.args));
  job->env() = std::move(request.env);
  (void)job->env().Set(kTraceIdKey, request.trace_id.empty() ? NewTraceId() : request.trace_id);
  if (request.timeout != absl::InfiniteDuration()) job->set_deadline(absl::Now() + request.timeout);
  return job;
}

std::string NewTraceId() {
  static thread_local std::mt19937_64 rng(std::random_device{}());
  return absl::StrCat(absl::Hex(rng(), absl::kZeroPad16));
}

}  // namespace berth::remote
