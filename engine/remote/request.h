// JobRequest: what one process asks another to run, and its two conversions.
//
// A request is a job's name, args and env, the time it may take, and its trace
// id. It travels in a JOB frame (wire.h: Frame::job, with the per-sending
// fields has_stdin and end_tail beside it). This file turns an engine Job into
// a request (a job this process hands to another: `berth` forwarding, the
// server's in-process callers of jobs that workers serve) and a request into an
// engine Job (a job this process runs for another: the executor, executor.h).
// Nothing else converts between the two.
#ifndef BERTH_ENGINE_REMOTE_REQUEST_H_
#define BERTH_ENGINE_REMOTE_REQUEST_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "engine/engine.h"
#include "engine/env.h"

namespace berth::remote {

// Env key under which a remote job finds the trace id of its request.
inline constexpr char kTraceIdKey[] = "BERTH_TRACE_ID";

struct JobRequest {
  std::string name;
  std::vector<std::string> args;
  Env env;
  // The job must finish within this time (status 124 otherwise). On the wire
  // whole milliseconds, at least 1.
  absl::Duration timeout = absl::InfiniteDuration();
  // Carried into the job's env as BERTH_TRACE_ID; whoever first sees it empty
  // (the client, the server) gives it a fresh one.
  std::string trace_id;
};

// The request for `job`: its name, args and env, the time left before its
// deadline, and its trace id (BERTH_TRACE_ID, or a fresh one).
JobRequest RequestFromJob(Job& job);

// The engine job a request asks for: name, args, env, the trace id as
// BERTH_TRACE_ID (a fresh one when the request has none), and the deadline.
// Takes the request's fields (moves them out).
std::unique_ptr<Job> JobFromRequest(Engine& engine, JobRequest& request);

// A fresh random trace id (16 hex digits).
std::string NewTraceId();

}  // namespace berth::remote

#endif  // BERTH_ENGINE_REMOTE_REQUEST_H_
