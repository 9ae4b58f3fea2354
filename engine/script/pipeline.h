// RunPipeline: runs `a | b | c` against an Engine, one thread per job, with each
// job's stdout streaming into the next job's stdin through a bounded engine Pipe
// (so a fast producer waits for a slow consumer, and memory stays bounded).
//
// Status, as a shell: the last job's; with pipefail, the last non-zero one.
//
// Stopping: as soon as the pipeline's failure is certain — the last job failed,
// or with pipefail any job failed — the jobs still running are stopped: each is
// cancelled (Job::Cancel) and every pipe between them is aborted, so no job stays
// blocked on a pipe. A stopped job whose failure is the stop showing through
// (status 130, or an error carrying the abort's reason "pipeline stopped") does
// not count towards the status: a job cancelled because another failed is not
// the failure. A stopped job that fails for a reason of its own still counts, so
// the status does not depend on which job happened to fail first. Stopped jobs'
// stderr is no longer forwarded, so the caller sees why the pipeline failed and
// not the echoes of stopping it. Without pipefail a failure in the middle does not
// decide the outcome: the jobs after it see the end of their input and the jobs
// before it a broken pipe when they next write, as in a shell.
//
// Only the Engine/Job API is used, so the same code runs jobs in-process or
// through an engine that forwards them to a remote daemon.
#ifndef BERTH_ENGINE_SCRIPT_PIPELINE_H_
#define BERTH_ENGINE_SCRIPT_PIPELINE_H_

#include <cstddef>
#include <string>
#include <vector>

#include "engine/engine.h"
#include "engine/env.h"
#include "engine/job_line.h"
#include "engine/pipe.h"
#include "engine/script/cancel.h"
#include "engine/status.h"
#include "engine/streams.h"

namespace berth {

struct PipelineOptions {
  // Read by the first job; never closed, so later pipelines can read on.
  Input* stdin_source = nullptr;
  // The last job's stdout (unless capture_env); null discards it. Never closed.
  Output* stdout_sink = nullptr;
  // Every job's stderr; null discards it. Never closed.
  Output* stderr_sink = nullptr;
  // Decode the last job's stdout as JSON objects and return the last one in
  // PipelineResult::env instead of forwarding it.
  bool capture_env = false;
  bool pipefail = false;
  size_t pipe_capacity = kDefaultPipeCapacity;
  // Stops the pipeline when cancelled; may be null.
  ScriptCancel* cancel = nullptr;
};

struct PipelineResult {
  int status = kStatusOk;
  // The job whose status is the pipeline's: when status != 0, the one that failed.
  size_t stage = 0;
  // That job's error text (the last line it wrote to stderr) when status != 0.
  std::string error;
  // Stopped through PipelineOptions::cancel (status is then 130).
  bool cancelled = false;
  // capture_env: the last JSON object the last job wrote.
  Env env;
};

// Runs `stages` (at least one) and returns when every job has returned.
PipelineResult RunPipeline(Engine& engine, std::vector<JobLine> stages, const PipelineOptions& options);

}  // namespace berth

#endif  // BERTH_ENGINE_SCRIPT_PIPELINE_H_
