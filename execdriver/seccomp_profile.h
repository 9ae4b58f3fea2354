// The default seccomp filter of a container's init, and no_new_privs.
//
// The profile follows Docker's later default (its default.json) for the
// capabilities a berth container has (kDefaultCapabilities): every syscall
// Docker's profile refuses to such a container fails with EPERM here —
// kernel modules, kexec, bpf, perf_event_open, the mount family (mount,
// umount2, pivot_root, fsopen, fsmount, move_mount, open_tree, …), ptrace and
// process_vm_*, keyrings, namespace changes (setns, unshare, clone with a
// CLONE_NEW* flag), clock and time setting, swap, reboot, quotas, NUMA memory
// policy, userfaultfd, io_uring — and clone3 fails with ENOSYS, as in Docker,
// so that libc falls back to clone, whose flags the filter can read.
//
// Unlike Docker's profile, which allows a list and refuses the rest, this one
// refuses a list and allows the rest: a syscall newer than the list is
// allowed. Syscalls of the x86 (i386) and x32 ABIs are filtered alike; any
// other ABI kills the process.
//
// The program is compiled once per process with libseccomp (DefaultFilter);
// the Apply function runs in the cloned child between clone and execve, so it
// uses raw syscalls only and returns an errno.
#ifndef BERTH_EXECDRIVER_SECCOMP_PROFILE_H_
#define BERTH_EXECDRIVER_SECCOMP_PROFILE_H_

#include <linux/filter.h>

#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace berth::execdriver {

// A compiled classic-BPF program for SECCOMP_SET_MODE_FILTER.
struct SeccompFilter {
  std::vector<sock_filter> program;
};

// The default profile, compiled on first use and shared (immutable) after.
// Errors: Internal `seccomp: <libseccomp step>: <strerror>`.
absl::StatusOr<const SeccompFilter*> DefaultSeccompFilter();

// The syscall names the default profile refuses with EPERM (whatever the
// arguments), for the documentation and the tests.
absl::Span<const char* const> DefaultDeniedSyscalls();

// Child side, last before execve once the credentials are final. Each
// returns 0 or an errno. SetNoNewPrivs: execve can then gain no privilege (by
// set-user-ID bits or file capabilities), and the filter can be loaded
// without CAP_SYS_ADMIN.
int SetNoNewPrivs();
int LoadSeccompFilter(const SeccompFilter& filter);

}  // namespace berth::execdriver

#endif  // BERTH_EXECDRIVER_SECCOMP_PROFILE_H_
