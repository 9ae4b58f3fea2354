// RunScript: the job-script executor behind `berth run` (docs/scripts.md).
//
// Statements run in order. A list `p1 && p2 || p3` runs its pipelines left to
// right as a shell does; its status is that of the last pipeline that ran. A
// statement that ends with a non-zero status stops the script with that status
// (unlike a shell's `set -e`, a failure in `a && b` is not "handled": only a
// `||` handles a failure, by running its right side). `let NAME = PIPELINE` runs
// the pipeline with its last job's stdout decoded as an env and binds it to
// NAME; `set -o pipefail` / `set +o pipefail` switch pipefail for the pipelines
// that follow. Jobs are created with Engine::NewJob only, so a script runs the
// same against an in-process engine and against one that forwards to berthd.
#ifndef BERTH_ENGINE_SCRIPT_RUN_H_
#define BERTH_ENGINE_SCRIPT_RUN_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "engine/engine.h"
#include "engine/pipe.h"
#include "engine/script/cancel.h"
#include "engine/script/resolve.h"
#include "engine/script/script.h"
#include "engine/streams.h"

namespace berth {

struct ScriptOptions {
  // The stdout of each pipeline that is not a let's; null discards it.
  Output* stdout_sink = nullptr;
  // Every job's stderr, then the script's own error line; null discards them.
  Output* stderr_sink = nullptr;
  // Offered to the first job of every pipeline; never closed. Null: no stdin.
  Input* stdin_source = nullptr;
  // Where ${VAR} is looked up; null: the process environment.
  ScriptGetenv getenv;
  // Lets another thread stop the script (status 130); may be null.
  ScriptCancel* cancel = nullptr;
  size_t pipe_capacity = kDefaultPipeCapacity;
};

struct ScriptResult {
  // 0, or the status the script stopped with: the failing job's, 1 for a
  // substitution that failed at run time, 130 when cancelled.
  int status = 0;
  // When status != 0, why, as also written to stderr_sink:
  //   `FILE:LINE: <job as written>: <the job's error text>` for a failed job,
  //   `FILE:LINE:COL: <what is wrong>` for a substitution that failed.
  std::string error;
};

// Checks the script (CheckScript: undefined references are refused before any
// job runs; that error is returned as a Status), then runs it.
absl::StatusOr<ScriptResult> RunScript(Engine& engine, const Script& script, const ScriptOptions& options = {});

}  // namespace berth

#endif  // BERTH_ENGINE_SCRIPT_RUN_H_
