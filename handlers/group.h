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
#include "engine/job_help.h"

namespace berth {

struct HandlerGroup {
  std::string name;
  // The job names the group registers (for workers' announcements and docs):
  // JobNames(help).
  std::vector<std::string> jobs;
  // Each job's `help` (job_help.h), described on a process's engine whether the
  // process runs the group or leaves it to workers (DescribeGroups).
  std::vector<JobHelp> help;
  std::function<absl::Status(Engine&)> install;
};

inline std::vector<std::string> JobNames(const std::vector<JobHelp>& help) {
  std::vector<std::string> names;
  for (const JobHelp& h : help) names.push_back(h.name);
  return names;
}

inline void DescribeGroups(Engine& engine, const std::vector<HandlerGroup>& groups) {
  for (const HandlerGroup& g : groups) {
    for (const JobHelp& h : g.help) engine.Describe(h);
  }
}

}  // namespace berth

#endif  // BERTH_HANDLERS_GROUP_H_
