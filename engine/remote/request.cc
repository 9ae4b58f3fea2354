#include "engine/remote/request.h"

#include <algorithm>

#include "absl/time/clock.h"

namespace berth::remote {

Frame RequestFromJob(Job& job) {
  Frame req;
  req.type = FrameType::kJob;
  req.name = job.name();
  req.args = job.args();
  req.env = job.env();
  if (job.deadline() != absl::InfiniteFuture()) {
    req.deadline_ms =
        static_cast<uint64_t>(std::max<int64_t>(1, absl::ToInt64Milliseconds(job.deadline() - absl::Now())));
  }
  req.trace_id = job.env().Get(kTraceIdKey);
  if (req.trace_id.empty()) req.trace_id = NewTraceId();
  req.has_stdin = job.Stdin().has_source();
  return req;
}

std::unique_ptr<Job> JobFromRequest(Engine& engine, Frame& request) {
  std::unique_ptr<Job> job = engine.NewJob(request.name, std::move(request.args));
  job->env() = std::move(request.env);
  (void)job->env().Set(kTraceIdKey, request.trace_id.empty() ? NewTraceId() : request.trace_id);
  if (request.deadline_ms > 0) job->set_deadline(absl::Now() + absl::Milliseconds(request.deadline_ms));
  return job;
}

}  // namespace berth::remote
