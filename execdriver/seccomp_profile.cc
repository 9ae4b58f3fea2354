// The default seccomp profile; see seccomp_profile.h.
#include "execdriver/seccomp_profile.h"

#include <errno.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"

namespace berth::execdriver {
namespace {

// What Docker's default profile leaves out of its allow list for a container
// without CAP_SYS_ADMIN, CAP_SYS_PTRACE, CAP_SYS_MODULE, CAP_SYS_TIME,
// CAP_SYS_BOOT, CAP_SYS_RAWIO, CAP_SYS_NICE (NUMA), CAP_SYS_PACCT,
// CAP_SYSLOG, CAP_SYS_TTY_CONFIG and CAP_BPF/CAP_PERFMON: none of which berth
// gives. Names libseccomp does not know are skipped.
constexpr const char* kDenied[] = {
    // kernel modules and kexec
    "create_module", "delete_module", "finit_module", "init_module", "query_module", "get_kernel_syms",
    "kexec_file_load", "kexec_load",
    // bpf, perf, tracing other processes
    "bpf", "perf_event_open", "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "lookup_dcookie",
    // filesystems and mounts
    "mount", "umount", "umount2", "pivot_root", "fsopen", "fsconfig", "fsmount", "fspick", "move_mount",
    "open_tree", "mount_setattr", "name_to_handle_at", "open_by_handle_at", "quotactl", "quotactl_fd", "nfsservctl",
    "swapon", "swapoff", "sysfs", "_sysctl", "uselib", "ustat", "acct",
    // namespaces
    "setns", "unshare",
    // keyrings
    "add_key", "keyctl", "request_key",
    // time
    "clock_adjtime", "clock_settime", "settimeofday", "stime",
    // the machine
    "reboot", "syslog", "vhangup", "ioperm", "iopl", "vm86", "vm86old",
    // NUMA memory policy
    "get_mempolicy", "set_mempolicy", "mbind", "move_pages",
    // newer kernel interfaces Docker later refused
    "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
};

// clone() creating a namespace needs CAP_SYS_ADMIN in Docker's profile.
constexpr uint64_t kNamespaceFlags[] = {CLONE_NEWNS,  CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC,
                                        CLONE_NEWUSER, CLONE_NEWPID,    CLONE_NEWNET};

struct ContextDeleter {
  void operator()(scmp_filter_ctx ctx) const { seccomp_release(ctx); }
};
using Context = std::unique_ptr<void, ContextDeleter>;

absl::Status Failed(absl::string_view step, int rc) {
  return absl::InternalError(absl::StrCat("seccomp: ", step, ": ", std::strerror(-rc)));
}

absl::StatusOr<SeccompFilter> Compile() {
  Context ctx(seccomp_init(SCMP_ACT_ALLOW));
  if (ctx == nullptr) return absl::InternalError("seccomp: seccomp_init failed");
  for (uint32_t arch : {SCMP_ARCH_X86, SCMP_ARCH_X32}) {
    if (seccomp_arch_native() != SCMP_ARCH_X86_64) break;
    if (int rc = seccomp_arch_add(ctx.get(), arch); rc != 0 && rc != -EEXIST) return Failed("add arch", rc);
  }
  for (const char* name : kDenied) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue;
    if (int rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(EPERM), nr, 0); rc != 0) {
      return Failed(absl::StrCat("deny ", name), rc);
    }
  }
  for (uint64_t flag : kNamespaceFlags) {
    int rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
                              SCMP_A0(SCMP_CMP_MASKED_EQ, flag, flag));
    if (rc != 0) return Failed("deny clone with a namespace flag", rc);
  }
  if (int nr = seccomp_syscall_resolve_name("clone3"); nr != __NR_SCMP_ERROR) {
    if (int rc = seccomp_rule_add(ctx.get(), SCMP_ACT_ERRNO(ENOSYS), nr, 0); rc != 0) return Failed("clone3", rc);
  }
  int fd = ::memfd_create("berth-seccomp", MFD_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat("seccomp: memfd_create: ", std::strerror(errno)));
  SeccompFilter out;
  int rc = seccomp_export_bpf(ctx.get(), fd);
  struct stat st;
  if (rc == 0 && ::fstat(fd, &st) != 0) rc = -errno;
  if (rc == 0) {
    out.program.resize(static_cast<size_t>(st.st_size) / sizeof(sock_filter));
    size_t want = out.program.size() * sizeof(sock_filter);
    if (::pread(fd, out.program.data(), want, 0) != static_cast<ssize_t>(want)) rc = -EIO;
  }
  ::close(fd);
  if (rc != 0) return Failed("export the program", rc);
  if (out.program.empty() || out.program.size() > BPF_MAXINSNS) {
    return absl::InternalError(absl::StrCat("seccomp: the program has ", out.program.size(), " instructions"));
  }
  return out;
}

}  // namespace

absl::StatusOr<const SeccompFilter*> DefaultSeccompFilter() {
  // Compiled once: the profile is a constant, and compiling costs more than
  // the rest of a container's set-up in the child.
  static const absl::StatusOr<SeccompFilter>* const compiled = new absl::StatusOr<SeccompFilter>(Compile());
  if (!compiled->ok()) return compiled->status();
  return &**compiled;
}

absl::Span<const char* const> DefaultDeniedSyscalls() { return kDenied; }

int SetNoNewPrivs() { return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 ? 0 : errno; }

int LoadSeccompFilter(const SeccompFilter& filter) {
  sock_fprog prog;
  prog.len = static_cast<unsigned short>(filter.program.size());
  prog.filter = const_cast<sock_filter*>(filter.program.data());
  return ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0 ? 0 : errno;
}

}  // namespace berth::execdriver
