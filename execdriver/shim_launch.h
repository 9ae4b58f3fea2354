// ShimLaunch: starting a container's shim (tools/berth-shim) as the parent of
// the container's init. berthd clone()s a plain child (no new namespaces);
// that child starts a session of its own (setsid), clone()s the init into its
// new namespaces (ChildPlan::Main), reports the init's pid on the report
// pipe, moves the descriptors of shim_protocol.h to 3-7, points 0-2 at
// /dev/null (so that nothing of berthd's output is held by the shim), closes
// everything else and execve()s the shim, which therefore stays the init's
// parent. A failure before execve reports a negative errno instead of a pid
// (clone of the init) or closes the report pipe without the ready byte
// (execve); the child then exits 127, and an init already cloned exits as
// soon as the start pipe closes.
//
// Like ChildPlan, everything is prepared in the parent: the child copies a
// multithreaded process and uses raw syscalls only.
#ifndef BERTH_EXECDRIVER_SHIM_LAUNCH_H_
#define BERTH_EXECDRIVER_SHIM_LAUNCH_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "execdriver/child.h"
#include "execdriver/container.h"

namespace berth::execdriver {

class ShimLaunch {
 public:
  // `oom_path`: the cgroup file with the oom_kill count, "" for none.
  ShimLaunch(const Spec& spec, const std::string& shim_path, const std::string& state_dir,
             const std::string& oom_path);

  ChildPlan* init = nullptr;  // what the init runs
  // The shim's descriptors, in berthd: the pipe ends it keeps.
  int stdout_fd = -1;
  int stderr_fd = -1;
  int stdin_fd = -1;   // the stdin pipe's write end, or /dev/null
  int report_fd = -1;  // write end: the init's pid, then the shim's ready byte

  // Entry point for clone(); `arg` is a ShimLaunch*. Never returns.
  static int Main(void* arg);

 private:
  void Run() const;
  std::vector<std::string> argv_s_;
  std::vector<char*> argv_;
  int init_flags_ = 0;  // clone flags of the init: its namespaces
  char* envp_[1] = {nullptr};
  [[noreturn]] void Fail(int err) const;
};

// Where the shim binary is: $BERTH_SHIM, else berth-shim beside the running
// executable. NotFound `berth-shim not found: <path>` when it is not there.
absl::StatusOr<std::string> FindShim();

}  // namespace berth::execdriver

#endif  // BERTH_EXECDRIVER_SHIM_LAUNCH_H_
