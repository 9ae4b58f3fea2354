#include "engine/script/resolve.h"

#include <cstdlib>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace berth {
namespace {

std::string At(const Script& script, ScriptPos pos) {
  return absl::StrCat(script.file, ":", pos.line, ":", pos.col, ": ");
}

absl::StatusOr<std::string> ResolvePieces(const Script& script, const std::vector<ScriptPiece>& pieces,
                                          const ScriptVars& vars, const ScriptBindings& bindings) {
  std::string out;
  for (const ScriptPiece& p : pieces) {
    if (!p.is_ref) {
      absl::StrAppend(&out, p.literal);
      continue;
    }
    const ScriptRef& ref = p.ref;
    if (ref.kind == ScriptRef::Kind::kVar) {
      auto it = vars.find(ref.name);
      if (it == vars.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat(At(script, ref.pos), "undefined variable '", ref.Text(), "': not set in the environment"));
      }
      absl::StrAppend(&out, it->second);
      continue;
    }
    auto it = bindings.find(ref.name);
    if (it == bindings.end()) {
      return absl::InvalidArgumentError(absl::StrCat(At(script, ref.pos), "undefined reference '", ref.Text(),
                                                     "': no 'let ", ref.name, " = ...' before it"));
    }
    const Env& env = it->second;
    if (!env.Exists(ref.key)) {
      std::vector<std::string> keys;
      for (const auto& [k, v] : env.Map()) keys.push_back(k);
      std::string has = keys.empty() ? "its env is empty" : absl::StrCat("its keys: ", absl::StrJoin(keys, ", "));
      return absl::InvalidArgumentError(absl::StrCat(At(script, ref.pos), ref.Text(), ": '", ref.name,
                                                     "' has no key '", ref.key, "' (", has, ")"));
    }
    absl::StrAppend(&out, env.GetView(ref.key));
  }
  return out;
}

bool UsesLet(const std::vector<ScriptPiece>& pieces) {
  for (const ScriptPiece& p : pieces) {
    if (p.is_ref && p.ref.kind == ScriptRef::Kind::kLet) return true;
  }
  return false;
}

bool UsesLet(const ScriptJob& job) {
  for (const ScriptWord& w : job.words) {
    if (UsesLet(w.pieces)) return true;
  }
  for (const ScriptWord& w : job.env) {
    if (UsesLet(w.key) || UsesLet(w.pieces)) return true;
  }
  return false;
}

// Collects the reference problems of one word's pieces.
void CheckPieces(const Script& script, const std::vector<ScriptPiece>& pieces,
                 const absl::flat_hash_set<std::string>& bound, const ScriptGetenv& getenv, ScriptVars* vars,
                 absl::flat_hash_set<std::string>* missing_vars, std::vector<std::string>* errors) {
  for (const ScriptPiece& p : pieces) {
    if (!p.is_ref) continue;
    const ScriptRef& ref = p.ref;
    if (ref.kind == ScriptRef::Kind::kLet) {
      if (!bound.contains(ref.name)) {
        errors->push_back(absl::StrCat(At(script, ref.pos), "undefined reference '", ref.Text(), "': no 'let ",
                                       ref.name, " = ...' before it"));
      }
      continue;
    }
    if (vars->contains(ref.name)) continue;
    if (!missing_vars->contains(ref.name)) {
      std::optional<std::string> value = getenv(ref.name);
      if (value.has_value()) {
        (*vars)[ref.name] = *std::move(value);
        continue;
      }
      missing_vars->insert(ref.name);
    }
    errors->push_back(
        absl::StrCat(At(script, ref.pos), "undefined variable '", ref.Text(), "': not set in the environment"));
  }
}

}  // namespace

ScriptGetenv ProcessGetenv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

absl::StatusOr<ScriptVars> CheckScript(const Script& script, const ScriptGetenv& getenv_or_null) {
  const ScriptGetenv getenv = getenv_or_null ? getenv_or_null : ProcessGetenv();
  ScriptVars vars;
  absl::flat_hash_set<std::string> missing_vars;
  absl::flat_hash_set<std::string> bound;
  std::vector<std::string> errors;
  for (const ScriptStatement& st : script.statements) {
    for (const ScriptPipeline& p : st.pipelines) {
      for (const ScriptJob& job : p.jobs) {
        const size_t errors_before = errors.size();
        for (const ScriptWord& w : job.words) CheckPieces(script, w.pieces, bound, getenv, &vars, &missing_vars, &errors);
        for (const ScriptWord& w : job.env) {
          CheckPieces(script, w.key, bound, getenv, &vars, &missing_vars, &errors);
          CheckPieces(script, w.pieces, bound, getenv, &vars, &missing_vars, &errors);
        }
        // A job that does not wait for a let resolves now exactly as it will at
        // run time, so its own errors are found before anything runs too.
        if (errors.size() == errors_before && !UsesLet(job)) {
          absl::StatusOr<JobLine> resolved = ResolveJob(script, job, vars, {});
          if (!resolved.ok()) errors.push_back(std::string(resolved.status().message()));
        }
      }
    }
    if (st.kind == ScriptStatement::Kind::kLet) bound.insert(st.let_name);
  }
  if (!errors.empty()) return absl::InvalidArgumentError(absl::StrJoin(errors, "\n"));
  return vars;
}

absl::StatusOr<JobLine> ResolveJob(const Script& script, const ScriptJob& job, const ScriptVars& vars,
                                   const ScriptBindings& bindings) {
  JobLine line;
  for (size_t i = 0; i < job.words.size(); ++i) {
    absl::StatusOr<std::string> text = ResolvePieces(script, job.words[i].pieces, vars, bindings);
    if (!text.ok()) return text.status();
    if (i == 0) {
      if (text->empty()) {
        return absl::InvalidArgumentError(absl::StrCat(At(script, job.words[0].pos),
                                                       "empty job name after substitution in '",
                                                       job.words[0].source, "'"));
      }
      line.name = *std::move(text);
    } else {
      line.args.push_back(*std::move(text));
    }
  }
  for (const ScriptWord& w : job.env) {
    absl::StatusOr<std::string> key = ResolvePieces(script, w.key, vars, bindings);
    if (!key.ok()) return key.status();
    absl::StatusOr<std::string> value = ResolvePieces(script, w.pieces, vars, bindings);
    if (!value.ok()) return value.status();
    if (absl::Status s = line.env.Set(*key, *value); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(At(script, w.pos), s.message(), " in '", w.source, "'"));
    }
  }
  return line;
}

}  // namespace berth
