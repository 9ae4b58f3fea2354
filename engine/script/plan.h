// PlanScript: what `berth run -n` prints — the script after the static check,
// one statement per line, with every ${VAR} substituted and every word quoted
// with QuoteWord; a ${NAME.KEY} is left as written, because its value exists
// only once the let has run. Each job is printed as `name arg… KEY=VALUE…`.
//
// The plan is itself a script: parsing and planning it again gives the same
// text, and running it does what running the original does.
#ifndef BERTH_ENGINE_SCRIPT_PLAN_H_
#define BERTH_ENGINE_SCRIPT_PLAN_H_

#include <string>

#include "absl/status/statusor.h"
#include "engine/script/resolve.h"
#include "engine/script/script.h"

namespace berth {

// Fails with CheckScript's error when the script refers to something undefined.
absl::StatusOr<std::string> PlanScript(const Script& script, const ScriptGetenv& getenv = nullptr);

}  // namespace berth

#endif  // BERTH_ENGINE_SCRIPT_PLAN_H_
