// Substitutions in job scripts: the static check done before anything runs, and
// the resolution of a job's words into a JobLine when it is about to run.
//
// ${VAR} reads the process environment once, before the script starts (so a
// script sees one consistent environment). ${NAME.KEY} reads the env kept by the
// latest `let NAME = …` that ran; because a let is a statement of its own and a
// failing one stops the script, "a let NAME appears in an earlier statement" is
// the same as "NAME is bound when this runs", so undefined names are found
// statically. Only a KEY missing from the env a let produced is a run-time error.
#ifndef BERTH_ENGINE_SCRIPT_RESOLVE_H_
#define BERTH_ENGINE_SCRIPT_RESOLVE_H_

#include <functional>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "engine/env.h"
#include "engine/job_line.h"
#include "engine/script/script.h"

namespace berth {

// Looks up a process environment variable; nullopt when it is not set (a variable
// set to "" is defined).
using ScriptGetenv = std::function<std::optional<std::string>(const std::string& name)>;

// ::getenv.
ScriptGetenv ProcessGetenv();

// The values of the ${VAR}s a script uses.
using ScriptVars = absl::flat_hash_map<std::string, std::string>;

// The env each let name is bound to.
using ScriptBindings = absl::flat_hash_map<std::string, Env>;

// The static check, over the whole script:
//   ${NAME.KEY} without a `let NAME` in an earlier statement →
//     `undefined reference '${NAME.KEY}': no 'let NAME = ...' before it`
//   ${VAR} not set (getenv gives nullopt; a null getenv means ProcessGetenv) →
//     `undefined variable '${VAR}': not set in the environment`
// and, for every job that does not depend on a let, what resolving it would
// report (an empty job name, an invalid env key). Every problem is reported, in
// script order, one `FILE:LINE:COL: what is wrong` per line. On success returns
// the values of the variables the script uses.
absl::StatusOr<ScriptVars> CheckScript(const Script& script, const ScriptGetenv& getenv = nullptr);

// Makes every substitution in `job`. Errors, as `FILE:LINE:COL: what is wrong`:
//   `${NAME.KEY}: 'NAME' has no key 'KEY' (its keys: A, B)`
//   `empty job name after substitution in '<word>'`
//   `<Env's invalid key message> in '<word>'`
absl::StatusOr<JobLine> ResolveJob(const Script& script, const ScriptJob& job, const ScriptVars& vars,
                                   const ScriptBindings& bindings);

}  // namespace berth

#endif  // BERTH_ENGINE_SCRIPT_RESOLVE_H_
