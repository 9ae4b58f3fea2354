#include "engine/script/plan.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "engine/job_line.h"

namespace berth {
namespace {

// Literal text (with ${VAR}s substituted) is quoted; a ${NAME.KEY} is appended
// as written, which re-parses as the same substitution.
std::string Render(const std::vector<ScriptPiece>& pieces, const ScriptVars& vars) {
  std::string out;
  std::string literal;
  auto flush = [&] {
    if (!literal.empty()) absl::StrAppend(&out, QuoteWord(literal));
    literal.clear();
  };
  for (const ScriptPiece& p : pieces) {
    if (!p.is_ref) {
      absl::StrAppend(&literal, p.literal);
    } else if (p.ref.kind == ScriptRef::Kind::kVar) {
      absl::StrAppend(&literal, vars.at(p.ref.name));
    } else {
      flush();
      absl::StrAppend(&out, p.ref.Text());
    }
  }
  flush();
  return out;
}

std::string RenderJob(const ScriptJob& job, const ScriptVars& vars) {
  std::string out;
  for (size_t i = 0; i < job.words.size(); ++i) {
    std::string word = Render(job.words[i].pieces, vars);
    if (word.empty()) word = "''";
    // A job named like a keyword stays a job when the plan is read back.
    if (i == 0 && (word == "let" || word == "set")) word = absl::StrCat("'", word, "'");
    if (i > 0) out.push_back(' ');
    absl::StrAppend(&out, word);
  }
  for (const ScriptWord& w : job.env) {
    absl::StrAppend(&out, " ", Render(w.key, vars), "=", Render(w.pieces, vars));
  }
  return out;
}

std::string RenderPipeline(const ScriptPipeline& p, const ScriptVars& vars) {
  std::string out;
  for (size_t i = 0; i < p.jobs.size(); ++i) {
    if (i > 0) out.append(" | ");
    absl::StrAppend(&out, RenderJob(p.jobs[i], vars));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> PlanScript(const Script& script, const ScriptGetenv& getenv) {
  absl::StatusOr<ScriptVars> vars = CheckScript(script, getenv);
  if (!vars.ok()) return vars.status();
  std::string out;
  for (const ScriptStatement& st : script.statements) {
    switch (st.kind) {
      case ScriptStatement::Kind::kSet:
        out.append(st.pipefail ? "set -o pipefail" : "set +o pipefail");
        break;
      case ScriptStatement::Kind::kLet:
        absl::StrAppend(&out, "let ", st.let_name, " = ", RenderPipeline(st.pipelines[0], *vars));
        break;
      case ScriptStatement::Kind::kList:
        for (size_t i = 0; i < st.pipelines.size(); ++i) {
          if (i > 0) out.append(st.ops[i - 1] == ScriptOp::kAnd ? " && " : " || ");
          absl::StrAppend(&out, RenderPipeline(st.pipelines[i], *vars));
        }
        break;
    }
    out.push_back('\n');
  }
  return out;
}

}  // namespace berth
