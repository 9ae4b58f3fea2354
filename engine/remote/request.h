// A job request between processes and its two conversions.
//
// On the wire a request is a JOB frame (wire.h: Frame with type kJob — name,
// args, env, time left, trace id, whether stdin follows). This file turns an
// engine Job into such a request (a job this process hands to another: the
// server's in-process callers of jobs that workers serve) and a request into an
// engine Job (a job this process runs for another: the executor, executor.h).
// Nothing else converts between the two.
#ifndef BERTH_ENGINE_REMOTE_REQUEST_H_
#define BERTH_ENGINE_REMOTE_REQUEST_H_

#include <memory>

#include "engine/engine.h"
#include "engine/remote/wire.h"

namespace berth::remote {

// Env key under which a remote job finds the trace id of its request.
inline constexpr char kTraceIdKey[] = "BERTH_TRACE_ID";

// The request for `job`: its name, args and env, the time left before its
// deadline (at least 1 ms; 0 without one), its trace id (BERTH_TRACE_ID, or a
// fresh one), and has_stdin when the job has a stdin source. The id is 0: the
// sender chooses it.
Frame RequestFromJob(Job& job);

// The engine job a request asks for: name, args, env, the trace id as
// BERTH_TRACE_ID (a fresh one when the request has none), and the deadline.
// Takes the request's fields (moves them out).
std::unique_ptr<Job> JobFromRequest(Engine& engine, Frame& request);

}  // namespace berth::remote

#endif  // BERTH_ENGINE_REMOTE_REQUEST_H_
