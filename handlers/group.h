// Handler groups: each group of jobs (util, network, storage, daemon) is installed
// on an engine by one Installer, so a process chooses which groups it serves
// in-process and which it leaves to workers (`--remote-handlers`).
#ifndef BERTH_HANDLERS_GROUP_H_
#define BERTH_HANDLERS_GROUP_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "engine/engine.h"

namespace berth {

struct HandlerGroup {
  std::string name;
  // The job names the group registers (for workers' announcements and docs).
  std::vector<std::string> jobs;
  std::function<absl::Status(Engine&)> install;
};

}  // namespace berth

#endif  // BERTH_HANDLERS_GROUP_H_
