// BashCompletion: the bash completion script for berth, generated from the
// CLI11 definitions of its subcommands and flags (so it cannot drift from them).
// `berth completion bash` prints it; the build installs that output as
// share/bash-completion/completions/berth.
//
// The script completes subcommands and flags; after `berth job` it completes the
// names of the jobs the server serves (`berth commands`, against the -H given
// on the line or BERTH_HOST), and after a job's NAME, file names.
#ifndef BERTH_TOOLS_BERTH_COMPLETION_H_
#define BERTH_TOOLS_BERTH_COMPLETION_H_

#include <string>

#include "CLI/CLI.hpp"

namespace berth {

std::string BashCompletion(CLI::App& app);

}  // namespace berth

#endif  // BERTH_TOOLS_BERTH_COMPLETION_H_
