// ParseScript: job-script text to a Script (grammar in engine/script/script.h).
//
// Parsing is syntax only; which names a script refers to, and whether they are
// defined, is CheckScript's job (engine/script/check.h).
#ifndef BERTH_ENGINE_SCRIPT_PARSER_H_
#define BERTH_ENGINE_SCRIPT_PARSER_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/script/script.h"

namespace berth {

// Parses `text`. The first syntax error is returned as InvalidArgument with the
// message `FILE:LINE:COL: what is wrong`, FILE being `file_name` (use "-e" for a
// script given on the command line).
absl::StatusOr<Script> ParseScript(absl::string_view text, std::string file_name);

}  // namespace berth

#endif  // BERTH_ENGINE_SCRIPT_PARSER_H_
