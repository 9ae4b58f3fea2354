// What runs in a container's init between clone() and execve().
//
// The parent is multithreaded, so the cloned child may use raw syscalls
// only: no allocation, no locks, no std::string. ChildPlan::Build therefore
// prepares every path, argv, env and candidate executable as C strings in
// the parent; ChildMain only reads them.
//
// The child's order: wait for Start (a byte on the start pipe; EOF means the
// container was destroyed first, and the child exits); stdio onto 0, 1, 2 and
// every other fd closed; the host trees of the binds opened, and in a user
// namespace the device nodes (the host's: it may not mknod) and new /proc
// and /sys instances (binds.h);
// EnterRootfs; in a user namespace, becoming its root (userns.h); the binds
// attached; the mount table (mounts.h);
// hostname; loopback up; working dir created and entered; bounding set
// dropped; setgroups, setgid, setuid; PR_SET_PDEATHSIG SIGKILL (the init
// dies with its parent, the shim); capability sets; umask 022; every fd
// above 2 marked close-on-exec (close_range); no_new_privs; the seccomp
// filter (compiled by the parent, seccomp_profile.h); execve of each
// candidate path. The filter refuses none of the syscalls that follow it.
//
// A failure writes one ChildError to the error pipe (close-on-exec) and
// exits 127; a successful execve closes the pipe, so the parent reads EOF.
#ifndef BERTH_EXECDRIVER_CHILD_H_
#define BERTH_EXECDRIVER_CHILD_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "execdriver/capabilities.h"
#include "execdriver/container.h"
#include "execdriver/seccomp_profile.h"
#include "execdriver/user.h"

namespace berth::execdriver {

enum class ChildStep : int32_t {
  kFds = 1,
  kRootfs,  // index: a RootfsStep
  kMount,   // index: into kContainerMounts
  kHostname,
  kLoopback,
  kWorkdir,
  kBounding,
  kSetgroups,
  kSetgid,
  kSetuid,
  kCapset,
  kCloseRange,
  kNoNewPrivs,
  kSeccomp,
  kNotFound,  // no candidate exists
  kExec,      // index: into the candidates
  kBindOpen,     // index: into the binds; open_tree of the host path
  kBindAttach,   // index: into the binds
  kEarlyMount,   // index: into kContainerMounts; made before pivot_root in a user namespace
  kUsernsRoot,   // setresuid/setresgid 0 in the new user namespace
};

struct ChildError {
  ChildStep step;
  int32_t err;
  int32_t index;
};

// The default search path when the container's env has no PATH.
inline constexpr char kDefaultPath[] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

class ChildPlan {
 public:
  // Fails if argv is empty or the user cannot be resolved.
  static absl::StatusOr<std::unique_ptr<ChildPlan>> Build(const Spec& spec);

  // Set by the container before clone: the child's ends of its pipes.
  int start_fd = -1;  // read end; a byte means Start
  int error_fd = -1;  // write end, O_CLOEXEC
  int stdio[3] = {-1, -1, -1};

  // The error the child reported, as the user reads it.
  absl::Status Describe(const ChildError& error) const;

  // Entry point for clone(); `arg` is a ChildPlan*. Never returns.
  static int Main(void* arg);

 private:
  ChildPlan() = default;
  void Run() const;
  [[noreturn]] void Fail(ChildStep step, int err, int index = 0) const;
  int SetUpFds() const;
  std::string StepName(const ChildError& error) const;
  void Exec() const;
  void OpenHostTrees() const;
  void AttachBinds() const;
  int ApplyMount(size_t i) const;

  // Storage; the pointer arrays below point into these and are filled last.
  std::vector<std::string> argv_s_, env_s_, candidates_s_, workdir_s_;
  std::vector<char*> argv_, env_;
  std::vector<const char*> candidates_, workdir_;  // workdir_: prefixes, shortest first
  std::string rootfs_, hostname_, argv0_;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  std::vector<gid_t> groups_;
  CapabilityPlan caps_;
  const SeccompFilter* seccomp_ = nullptr;  // null: unconfined
  // Binds and the user namespace (binds.h, userns.h). The descriptors are
  // sized by Build and filled in the child's own copy of this plan.
  std::vector<BindMount> binds_;
  bool userns_ = false;
  mutable std::vector<int> bind_fds_, early_fds_;  // early_fds_: by kContainerMounts index
};

// Writes all of `data` to `fd`, again after EINTR, silently giving up on an
// error: for the children between clone() and execve() (raw syscalls only).
void WriteAll(int fd, const void* data, size_t size);

}  // namespace berth::execdriver

#endif  // BERTH_EXECDRIVER_CHILD_H_
