// Fuzz target: job scripts (lexer, parser, static check, plan).
//
// Besides "never crash", it checks the plan's promise (engine/script/plan.h):
// a plan parses again, and its plan is itself.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>

#include "engine/script/parser.h"
#include "engine/script/plan.h"

namespace {

// Every variable is set, to a value that needs quoting.
std::optional<std::string> AnyVar(const std::string& name) { return "v a|l;u'e#" + name; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<berth::Script> script = berth::ParseScript(text, "fuzz");
  if (!script.ok()) {
    // Every syntax error says where it is.
    if (script.status().message().substr(0, 5) != "fuzz:") std::abort();
    return 0;
  }
  absl::StatusOr<std::string> plan = berth::PlanScript(*script, AnyVar);
  if (!plan.ok()) return 0;
  absl::StatusOr<berth::Script> again = berth::ParseScript(*plan, "plan");
  if (!again.ok()) std::abort();
  absl::StatusOr<std::string> plan2 = berth::PlanScript(*again, AnyVar);
  if (!plan2.ok() || *plan2 != *plan) std::abort();
  return 0;
}
