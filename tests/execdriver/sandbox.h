// Sandbox: what a container test needs — a busybox rootfs in a temp dir, its
// own cgroup parent (berth-test-<pid>-<n>, removed at the end) and a way to
// run a container to its end and read its json-file log.
#ifndef BERTH_TESTS_EXECDRIVER_SANDBOX_H_
#define BERTH_TESTS_EXECDRIVER_SANDBOX_H_

#include <set>
#include <string>
#include <vector>

#include "execdriver/container.h"
#include "tests/support/temp_dir.h"

namespace berth::testing {

// True (after a MESSAGE) when the test cannot run here: not root, or no
// busybox. Under CI=true it FAILs instead.
bool SkipContainerTest();

struct RunOutput {
  execdriver::ExitStatus status;
  std::string out;  // stdout, from the json-file log
  std::string err;  // stderr, likewise
  absl::Status start;
};

class Sandbox {
 public:
  Sandbox();
  ~Sandbox();  // removes the cgroup parent
  const std::string& rootfs() const { return rootfs_; }
  const TempDir& dir() const { return dir_; }
  const execdriver::CgroupOptions& cgroups() const { return cgroups_; }
  // A spec for `argv` with a fresh id, this sandbox's rootfs, cgroups and a
  // log file of its own.
  execdriver::Spec MakeSpec(std::vector<std::string> argv);
  // Create, Start, Wait (up to `timeout`, then SIGKILL), Destroy.
  RunOutput Run(execdriver::Spec spec, absl::Duration timeout = absl::Seconds(30));
  // The container's v1 group directories (for "nothing is left" checks).
  std::vector<std::string> CgroupDirs(const std::string& id) const;

 private:
  TempDir dir_;
  std::string rootfs_;
  execdriver::CgroupOptions cgroups_;
  int next_id_ = 0;
};

// Lines of /proc/self/mountinfo.
std::set<std::string> HostMounts();
// Lines of mountinfo not in `before` that a container could have made: any
// under `dir` (its rootfs) or of the types a container mounts. Other suites
// running at the same time may mount elsewhere (overlay, netns files).
std::vector<std::string> NewMounts(const std::set<std::string>& before, const std::string& dir);
// Children of this process in state Z.
std::vector<int> ZombieChildren();

}  // namespace berth::testing

#endif  // BERTH_TESTS_EXECDRIVER_SANDBOX_H_
