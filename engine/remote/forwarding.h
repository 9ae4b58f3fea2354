// Forwarding: an engine whose every job runs on a remote server.
//
// InstallForwarding registers a catch-all handler that sends each job (name,
// args, env, stdin) to the server and streams its stdout and stderr back into
// the local job's streams, with the remote status as the local one. Code written
// against the Engine API — the job-script executor in particular — then runs
// against berthd unchanged; a pipe between two forwarded jobs streams through
// this process.
#ifndef BERTH_ENGINE_REMOTE_FORWARDING_H_
#define BERTH_ENGINE_REMOTE_FORWARDING_H_

#include <string>

#include "engine/engine.h"
#include "engine/remote/client.h"

namespace berth::remote {

// Jobs of one pipeline run on several threads at once, and a Client serves one
// thread at a time: each job takes an idle connection from the handler's pool,
// or opens one, and gives it back when it ends. So a script's jobs in a row
// share one connection (and, with ClientOptions::direct, its leases).
//
// Trace ids: a job with BERTH_TRACE_ID in its env keeps it. Otherwise, with
// `trace_prefix`, the jobs get PREFIX.1, PREFIX.2, … in the order this engine
// forwards them (jobs of one pipeline start together, so their numbers follow
// the order they reach the handler); without, each a fresh id.
void InstallForwarding(Engine& engine, ClientOptions options, std::string trace_prefix = "");

}  // namespace berth::remote

#endif  // BERTH_ENGINE_REMOTE_FORWARDING_H_
