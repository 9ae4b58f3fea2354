// JobHelp: what a job takes and does, as `help NAME` tells a user.
//
// Help is kept apart from handlers: a process describes every job it knows of,
// including those that workers serve (berthd knows its handler groups whether it
// runs them or not), so `help` answers the same wherever a job runs. Describing
// a job costs the job path nothing.
//
// The `help` built-in (engine.h) prints:
//   help            one line per registered job: NAME, then its summary
//   help NAME       Usage: NAME USAGE / the summary / Env: KEY  meaning... /
//                   Stdin: ...; with env format=json one JSON object
//                   {"Name","Usage","Summary","Env":{KEY:meaning},"Stdin"},
//                   Stdin one of "none", "optional", "required"
// A name that is neither registered nor described ends with status 1:
// `help: no job named 'X'`.
#ifndef BERTH_ENGINE_JOB_HELP_H_
#define BERTH_ENGINE_JOB_HELP_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "engine/env.h"

namespace berth {

// Whether a job reads its stdin. A client refuses to send a terminal as the
// stdin of a job that requires one (it would wait for input nobody types).
enum class StdinUse { kNone, kOptional, kRequired };

absl::string_view StdinUseName(StdinUse use);

using EnvHelp = std::vector<std::pair<std::string, std::string>>;

struct JobHelp {
  JobHelp() = default;
  JobHelp(std::string name_in, std::string usage_in, std::string summary_in, EnvHelp env_in = {},
          StdinUse stdin_in = StdinUse::kNone)
      : name(std::move(name_in)),
        usage(std::move(usage_in)),
        summary(std::move(summary_in)),
        env(std::move(env_in)),
        stdin_use(stdin_in) {}

  std::string name;
  std::string usage;    // the args after the name, e.g. "ID [ID]..."; "" = none
  std::string summary;  // one line: what the job does and prints
  EnvHelp env;          // KEY → meaning, in order
  StdinUse stdin_use = StdinUse::kNone;
};

// The text `help NAME` prints.
std::string HelpText(const JobHelp& help);
// The object `help NAME` writes with format=json.
Env HelpEnv(const JobHelp& help);

}  // namespace berth

#endif  // BERTH_ENGINE_JOB_HELP_H_
