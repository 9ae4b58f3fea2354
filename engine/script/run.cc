#include "engine/script/run.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/script/pipeline.h"

namespace berth {
namespace {

class Runner {
 public:
  Runner(Engine& engine, const Script& script, const ScriptOptions& options, ScriptVars vars)
      : engine_(engine), script_(script), options_(options), vars_(std::move(vars)) {}

  ScriptResult Run() {
    for (const ScriptStatement& st : script_.statements) {
      if (options_.cancel != nullptr && options_.cancel->cancelled()) {
        return Stop(kStatusCancelled, absl::StrCat(script_.file, ":", st.pos.line, ": cancelled"));
      }
      switch (st.kind) {
        case ScriptStatement::Kind::kSet:
          pipefail_ = st.pipefail;
          break;
        case ScriptStatement::Kind::kLet: {
          Outcome out = RunOne(st.pipelines[0], /*capture_env=*/true);
          if (out.status != kStatusOk) return Stop(out.status, out.message);
          bindings_[st.let_name] = std::move(out.env);
          break;
        }
        case ScriptStatement::Kind::kList: {
          Outcome out = RunOne(st.pipelines[0], false);
          if (out.fatal) return Stop(out.status, out.message);
          for (size_t k = 0; k < st.ops.size(); ++k) {
            const bool run_next = st.ops[k] == ScriptOp::kAnd ? out.status == kStatusOk : out.status != kStatusOk;
            if (!run_next) continue;
            out = RunOne(st.pipelines[k + 1], false);
            if (out.fatal) return Stop(out.status, out.message);
          }
          if (out.status != kStatusOk) return Stop(out.status, out.message);
          break;
        }
      }
    }
    return ScriptResult{};
  }

 private:
  struct Outcome {
    int status = kStatusOk;
    // Stops the script whatever follows: a substitution error or a cancel.
    bool fatal = false;
    std::string message;
    Env env;
  };

  Outcome RunOne(const ScriptPipeline& pipeline, bool capture_env) {
    Outcome out;
    std::vector<JobLine> lines;
    lines.reserve(pipeline.jobs.size());
    for (const ScriptJob& job : pipeline.jobs) {
      absl::StatusOr<JobLine> line = ResolveJob(script_, job, vars_, bindings_);
      if (!line.ok()) {
        out.status = kStatusErr;
        out.fatal = true;
        out.message = std::string(line.status().message());
        return out;
      }
      lines.push_back(*std::move(line));
    }
    PipelineOptions po;
    po.stdin_source = options_.stdin_source;
    po.stdout_sink = options_.stdout_sink;
    po.stderr_sink = options_.stderr_sink;
    po.capture_env = capture_env;
    po.pipefail = pipefail_;
    po.pipe_capacity = options_.pipe_capacity;
    po.cancel = options_.cancel;
    PipelineResult r = RunPipeline(engine_, std::move(lines), po);
    out.status = r.status;
    out.fatal = r.cancelled;
    if (r.status != kStatusOk) {
      const ScriptJob& job = pipeline.jobs[r.stage];
      out.message = absl::StrCat(script_.file, ":", job.pos.line, ": ", job.text, ": ", r.error);
    }
    out.env = std::move(r.env);
    return out;
  }

  ScriptResult Stop(int status, std::string message) {
    if (options_.stderr_sink != nullptr) (void)options_.stderr_sink->Write(absl::StrCat(message, "\n"));
    return ScriptResult{status, std::move(message)};
  }

  Engine& engine_;
  const Script& script_;
  const ScriptOptions& options_;
  const ScriptVars vars_;
  ScriptBindings bindings_;
  bool pipefail_ = false;
};

}  // namespace

absl::StatusOr<ScriptResult> RunScript(Engine& engine, const Script& script, const ScriptOptions& options) {
  absl::StatusOr<ScriptVars> vars = CheckScript(script, options.getenv);
  if (!vars.ok()) return vars.status();
  return Runner(engine, script, options, *std::move(vars)).Run();
}

}  // namespace berth
