// How berthd and berth-worker end on a command line they cannot parse: the
// same way as `berth` and as a bad configuration file, with status 2.
#ifndef BERTH_TOOLS_USAGE_EXIT_H_
#define BERTH_TOOLS_USAGE_EXIT_H_

#include "CLI/CLI.hpp"

namespace berth {

// For `--help` and `--version` (CLI11 raises them as parse "errors" too):
// prints what they show and returns 0. For anything else (an unknown flag, a
// value out of its range such as `--io-threads: Value 0 not in range 1 to 64`)
// prints `<program>: <what CLI11 says> (see <program> --help)` on stderr and
// returns 2.
int UsageExit(CLI::App& app, const CLI::ParseError& e, const char* program);

}  // namespace berth

#endif  // BERTH_TOOLS_USAGE_EXIT_H_
