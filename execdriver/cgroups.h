// Cgroup: the control groups of one container, on cgroup v1 (one hierarchy
// per controller, each mounted at <mount_root>/<controller>) or v2 (the
// unified hierarchy at <mount_root>). Layout and limits:
//
//   v1  <mount_root>/<c>/<parent>/<id> for c in memory, cpu, pids, devices
//       (required) and cpuacct, freezer (joined when mounted, for metrics).
//       memory.limit_in_bytes, cpu.shares, pids.max; devices: deny "a", then
//       allow exactly kAllowedDevices. There is no blanket mknod rule, so
//       mknod of any other device (a block device, say) fails with EPERM.
//   v2  <mount_root>/<parent>/<id>; "+cpu +memory +pids" (those the root
//       offers in cgroup.controllers) written to the subtree_control of the
//       root and of <parent>; memory.max, cpu.weight (shares mapped as
//       1 + ((shares - 2) * 9999) / 262142), pids.max. v2 has no devices
//       controller (it needs a BPF program); a container on v2 relies on the
//       capability set and its private /dev for device isolation.
//
// Errors name the controller, file and value:
//   `cgroup memory: cannot write memory.limit_in_bytes '4096': Device or resource busy`.
//
// <parent> is shared by every container and never removed by Destroy;
// RemoveParent removes it when empty (for tests and uninstall).
//
// A directory tree that is not a cgroup file system (a test's scratch tree
// laid out like a v2 hierarchy) is accepted: control files are created as
// regular files, and Destroy removes them before the directory.
//
// Thread-safety: const methods may run concurrently; Destroy must not race
// with other calls on the same object.
#ifndef BERTH_EXECDRIVER_CGROUPS_H_
#define BERTH_EXECDRIVER_CGROUPS_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "execdriver/container.h"

namespace berth::execdriver {

// The device rules of a v1 container after "deny a": null, zero, full,
// random, urandom, tty, console, ptmx and every pts.
extern const std::vector<std::string> kAllowedDevices;

// cpu.shares (v1) to cpu.weight (v2), as runc maps it; 0 stays 0 (default).
int64_t CpuSharesToWeight(int64_t shares);

class Cgroup {
 public:
  // Makes the container's groups and writes the limits. AlreadyExists if a
  // group of that id is left over (see RemoveStale).
  static absl::StatusOr<std::unique_ptr<Cgroup>> Create(const CgroupOptions& options, absl::string_view id,
                                                        const Resources& resources);
  // The groups of a container a previous berthd made (live restore); nothing
  // is created or checked.
  static std::unique_ptr<Cgroup> Open(const CgroupOptions& options, absl::string_view id);
  // Kills whatever is left in the groups of `id` from a crashed run and
  // removes them. OK if there were none.
  static absl::Status RemoveStale(const CgroupOptions& options, absl::string_view id);
  // Removes <parent> in every hierarchy; FailedPrecondition if a container
  // group is still in it. OK if it does not exist.
  static absl::Status RemoveParent(const CgroupOptions& options);
  // v1 or v2, with kAuto resolved.
  static CgroupOptions::Version Detect(const CgroupOptions& options);

  ~Cgroup();  // does not Destroy: a leftover group is the caller's to remove
  Cgroup(const Cgroup&) = delete;
  Cgroup& operator=(const Cgroup&) = delete;

  CgroupOptions::Version version() const { return version_; }
  // The container's group directories, one per hierarchy.
  std::vector<std::string> Paths() const;
  // Moves `pid` into every group (cgroup.procs).
  absl::Status Join(pid_t pid) const;
  absl::StatusOr<std::vector<pid_t>> Pids() const;
  // How often the OOM killer killed in the group (memory.oom_control or
  // memory.events "oom_kill").
  absl::StatusOr<int64_t> OomKillCount() const;
  // The file OomKillCount reads ("" without a memory group), for the shim.
  std::string OomKillFile() const;
  absl::StatusOr<CgroupStats> Stats() const;
  // SIGKILLs every process in the groups until they are empty (up to 10 s),
  // then removes the groups. Idempotent.
  absl::Status Destroy();

 private:
  struct Group {
    std::string controller;  // "memory", …; "" on v2
    std::string path;
  };
  Cgroup(CgroupOptions::Version version, std::vector<Group> groups) : version_(version), groups_(std::move(groups)) {}
  static std::vector<Group> Layout(const CgroupOptions& options, CgroupOptions::Version version, absl::string_view id);
  static absl::Status ApplyV1(const std::vector<Group>& groups, const Resources& r);
  static absl::Status ApplyV2(const CgroupOptions& options, const std::string& dir, const Resources& r);
  const Group* Find(absl::string_view controller) const;
  absl::Status KillAll() const;

  CgroupOptions::Version version_;
  std::vector<Group> groups_;
  bool destroyed_ = false;
};

}  // namespace berth::execdriver

#endif  // BERTH_EXECDRIVER_CGROUPS_H_
