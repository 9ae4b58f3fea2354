// The container's init between clone() and execve(); see child.h. Everything on
// the child's side of this file runs after clone() in a copy of a multithreaded
// process: raw syscalls only.
#include "execdriver/child.h"

#include <fcntl.h>
#include <net/if.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "execdriver/mounts.h"
#include "execdriver/userns.h"

namespace berth::execdriver {
namespace {

// The child's fixed descriptors once SetUpFds has run.
constexpr int kStartFd = 3;
constexpr int kErrorFd = 4;

std::string EnvValue(const std::vector<std::string>& env, absl::string_view key) {
  for (const std::string& kv : env) {
    if (absl::StartsWith(kv, key) && kv.size() > key.size() && kv[key.size()] == '=') {
      return kv.substr(key.size() + 1);
    }
  }
  return "";
}

bool HasKey(const std::vector<std::string>& env, absl::string_view key) {
  for (const std::string& kv : env) {
    if (absl::StartsWith(kv, absl::StrCat(key, "="))) return true;
  }
  return false;
}


int LoopbackUp() {
  int s = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return errno;
  struct ifreq ifr;
  std::memset(&ifr, 0, sizeof(ifr));
  std::memcpy(ifr.ifr_name, "lo", 3);
  int err = 0;
  if (::ioctl(s, SIOCGIFFLAGS, &ifr) != 0) {
    err = errno;
  } else {
    ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
    if (::ioctl(s, SIOCSIFFLAGS, &ifr) != 0) err = errno;
  }
  ::close(s);
  return err;
}

template <typename T>
std::vector<T> Pointers(std::vector<std::string>& strings) {
  std::vector<T> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

void WriteAll(int fd, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    ssize_t n = ::write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    p += n;
    size -= static_cast<size_t>(n);
  }
}

absl::StatusOr<std::unique_ptr<ChildPlan>> ChildPlan::Build(const Spec& spec) {
  if (spec.argv.empty() || spec.argv[0].empty()) {
    return absl::InvalidArgumentError("no command specified");
  }
  absl::StatusOr<ExecUser> user = ResolveUser(spec.rootfs, spec.user);
  if (!user.ok()) return user.status();
  absl::StatusOr<CapabilityPlan> caps = PlanCapabilities(user->uid == 0);
  if (!caps.ok()) return caps.status();

  std::unique_ptr<ChildPlan> plan(new ChildPlan());
  if (spec.seccomp) {
    absl::StatusOr<const SeccompFilter*> filter = DefaultSeccompFilter();
    if (!filter.ok()) return filter.status();
    plan->seccomp_ = *filter;
  }
  plan->rootfs_ = spec.rootfs;
  plan->hostname_ = spec.hostname;
  plan->argv0_ = spec.argv[0];
  plan->uid_ = user->uid;
  plan->gid_ = user->gid;
  plan->groups_ = user->groups;
  plan->caps_ = *caps;
  plan->argv_s_ = spec.argv;
  plan->env_s_ = spec.env;
  // As Docker does: a program finds PATH, HOME and HOSTNAME even when the
  // image and the user set none.
  if (!HasKey(spec.env, "PATH")) plan->env_s_.push_back(absl::StrCat("PATH=", kDefaultPath));
  if (!HasKey(spec.env, "HOME")) plan->env_s_.push_back(absl::StrCat("HOME=", user->home));
  if (!HasKey(spec.env, "HOSTNAME") && !spec.hostname.empty()) {
    plan->env_s_.push_back(absl::StrCat("HOSTNAME=", spec.hostname));
  }
  if (absl::StrContains(spec.argv[0], '/')) {
    plan->candidates_s_.push_back(spec.argv[0]);
  } else {
    for (absl::string_view dir : absl::StrSplit(EnvValue(plan->env_s_, "PATH"), ':')) {
      plan->candidates_s_.push_back(absl::StrCat(dir.empty() ? "." : dir, "/", spec.argv[0]));
    }
  }
  std::string prefix;
  for (absl::string_view part : absl::StrSplit(spec.working_dir, '/', absl::SkipEmpty())) {
    absl::StrAppend(&prefix, "/", part);
    plan->workdir_s_.push_back(prefix);
  }
  plan->argv_ = Pointers<char*>(plan->argv_s_);
  plan->env_ = Pointers<char*>(plan->env_s_);
  plan->candidates_ = Pointers<const char*>(plan->candidates_s_);
  plan->workdir_ = Pointers<const char*>(plan->workdir_s_);
  plan->binds_ = spec.binds;
  plan->userns_ = spec.userns.enabled();
  plan->bind_fds_.assign(spec.binds.size(), -1);
  plan->early_fds_.assign(kContainerMountCount, -1);
  return plan;
}

int ChildPlan::Main(void* arg) {
  static_cast<const ChildPlan*>(arg)->Run();
  return 127;  // not reached: Run ends in execve or _exit
}

void ChildPlan::Fail(ChildStep step, int err, int index) const {
  ChildError e{step, err, index};
  WriteAll(kErrorFd, &e, sizeof(e));
  ::_exit(127);
}

// Moves the five descriptors the child needs to 0-4 and closes the rest, so
// pipe ends of other containers created concurrently are not held open.
int ChildPlan::SetUpFds() const {
  const int wanted[5] = {stdio[0], stdio[1], stdio[2], start_fd, error_fd};
  int moved[5];
  for (int i = 0; i < 5; ++i) {
    moved[i] = ::fcntl(wanted[i], F_DUPFD_CLOEXEC, 10);
    if (moved[i] < 0) return errno;
  }
  for (int i = 0; i < 5; ++i) {
    // dup3 keeps O_CLOEXEC only on the pipes that must not reach the program.
    if (::dup3(moved[i], i, i < 3 ? 0 : O_CLOEXEC) < 0) return errno;
  }
  return ::close_range(5, ~0U, 0) == 0 ? 0 : errno;
}

// Uses raw syscalls for the credentials: glibc's setuid() would try to
// signal the parent's other threads, which do not exist in this process.
void ChildPlan::Run() const {
  if (int err = SetUpFds(); err != 0) {
    ChildError e{ChildStep::kFds, err, 0};
    WriteAll(error_fd, &e, sizeof(e));
    ::_exit(127);
  }
  // The parent blocked every signal around clone() so that none of its
  // handlers runs here; the program gets default dispositions (an ignored
  // SIGPIPE in berthd must not become an ignored SIGPIPE in the container).
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) (void)::signal(sig, SIG_DFL);
  }
  char go = 0;
  ssize_t n;
  do {
    n = ::read(kStartFd, &go, 1);
  } while (n < 0 && errno == EINTR);
  if (n != 1) ::_exit(0);  // destroyed before Start, or the parent died
  ::close(kStartFd);

  OpenHostTrees();
  int step = 0;
  if (int err = EnterRootfs(rootfs_.c_str(), &step); err != 0) Fail(ChildStep::kRootfs, err, step);
  // Still host root until here, so the path to the rootfs was walkable; from
  // now on, what the init creates belongs to the namespace's root.
  if (userns_) {
    if (int err = BecomeUsernsRoot(); err != 0) Fail(ChildStep::kUsernsRoot, err);
  }
  ::umask(0);
  AttachBinds();
  for (size_t i = 0; i < kContainerMountCount; ++i) {
    if (int err = ApplyMount(i); err != 0) Fail(ChildStep::kMount, err, static_cast<int>(i));
  }
  if (!hostname_.empty() && ::sethostname(hostname_.data(), hostname_.size()) != 0) {
    Fail(ChildStep::kHostname, errno);
  }
  if (int err = LoopbackUp(); err != 0) Fail(ChildStep::kLoopback, err);
  ::umask(022);
  for (const char* const* p = workdir_.data(); *p != nullptr; ++p) {
    if (::mkdir(*p, 0755) != 0 && errno != EEXIST) Fail(ChildStep::kWorkdir, errno);
  }
  if (::chdir(workdir_.size() > 1 ? workdir_[workdir_.size() - 2] : "/") != 0) {
    Fail(ChildStep::kWorkdir, errno);
  }
  if (int err = DropBoundingSet(caps_); err != 0) Fail(ChildStep::kBounding, err);
  if (::syscall(SYS_setgroups, groups_.size(), groups_.data()) != 0) Fail(ChildStep::kSetgroups, errno);
  if (::syscall(SYS_setresgid, gid_, gid_, gid_) != 0) Fail(ChildStep::kSetgid, errno);
  if (::syscall(SYS_setresuid, uid_, uid_, uid_) != 0) Fail(ChildStep::kSetuid, errno);
  // The init dies with its shim (its parent), so a killed shim leaves no
  // container behind. After setresuid, which would clear it.
  (void)::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (int err = ApplyCapabilitySets(caps_); err != 0) Fail(ChildStep::kCapset, err);
  if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) Fail(ChildStep::kCloseRange, errno);
  if (int err = SetNoNewPrivs(); err != 0) Fail(ChildStep::kNoNewPrivs, err);
  if (seccomp_ != nullptr) {
    if (int err = LoadSeccompFilter(*seccomp_); err != 0) Fail(ChildStep::kSeccomp, err);
  }
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  Exec();
}

// Before pivot_root, while the host's tree is there: the binds' sources and,
// in a user namespace, the host's device nodes (mknod is refused there) and
// the new proc and sysfs (refused once the host's are out of sight).
void ChildPlan::OpenHostTrees() const {
  for (size_t i = 0; i < binds_.size(); ++i) {
    int fd = OpenMountTree(binds_[i].source.c_str(), binds_[i].read_only);
    if (fd < 0) Fail(ChildStep::kBindOpen, -fd, static_cast<int>(i));
    bind_fds_[i] = fd;
  }
  if (!userns_) return;
  for (size_t i = 0; i < kContainerMountCount; ++i) {
    const MountOp& op = kContainerMounts[i];
    bool pseudo_fs = op.kind == MountOp::kMount &&
                     (std::strcmp(op.fstype, "proc") == 0 || std::strcmp(op.fstype, "sysfs") == 0);
    if (op.kind != MountOp::kMknod && !pseudo_fs) continue;
    int fd = pseudo_fs ? NewDetachedMount(op.fstype, op.flags) : OpenMountTree(op.target, false);
    if (fd < 0) Fail(ChildStep::kEarlyMount, -fd, static_cast<int>(i));
    early_fds_[i] = fd;
  }
}

void ChildPlan::AttachBinds() const {
  for (size_t i = 0; i < binds_.size(); ++i) {
    int err = AttachMountTree(bind_fds_[i], binds_[i].target.c_str(), binds_[i].source_is_dir);
    if (err != 0) Fail(ChildStep::kBindAttach, err, static_cast<int>(i));
  }
}

// What OpenHostTrees made early is attached in its place in the table: a
// device node onto an empty file, proc and sysfs onto their directories.
int ChildPlan::ApplyMount(size_t i) const {
  const MountOp& op = kContainerMounts[i];
  if (early_fds_[i] >= 0) return AttachMountTree(early_fds_[i], op.target, op.kind == MountOp::kMount);
  return ApplyMountOp(op);
}

// Tries each candidate as execvp does: a missing one is skipped, a denied
// one remembered in case no other exists.
void ChildPlan::Exec() const {
  int denied = -1;
  for (size_t i = 0; candidates_[i] != nullptr; ++i) {
    ::execve(candidates_[i], argv_.data(), env_.data());
    int err = errno;
    if (err == ENOENT || err == ENOTDIR) continue;
    if (err == EACCES) {
      if (denied < 0) denied = static_cast<int>(i);
      continue;
    }
    Fail(ChildStep::kExec, err, static_cast<int>(i));
  }
  if (denied >= 0) Fail(ChildStep::kExec, EACCES, denied);
  if (absl::StrContains(argv0_, '/')) Fail(ChildStep::kExec, ENOENT, 0);
  Fail(ChildStep::kNotFound, ENOENT);
}

// The set-up step, for `container init: <step>: <errno>`.
std::string ChildPlan::StepName(const ChildError& e) const {
  switch (e.step) {
    case ChildStep::kFds:
      return "set up stdio";
    case ChildStep::kRootfs:
      return DescribeRootfsStep(e.index, rootfs_);
    case ChildStep::kMount:
      if (e.index >= 0 && static_cast<size_t>(e.index) < kContainerMountCount) {
        return DescribeMountOp(kContainerMounts[e.index]);
      }
      return "mount";
    case ChildStep::kHostname:
      return absl::StrCat("sethostname '", hostname_, "'");
    case ChildStep::kLoopback:
      return "bring up lo";
    case ChildStep::kWorkdir:
      return absl::StrCat("working dir ", workdir_s_.empty() ? "/" : workdir_s_.back());
    case ChildStep::kBounding:
      return "drop capabilities from the bounding set";
    case ChildStep::kSetgroups:
      return "setgroups";
    case ChildStep::kSetgid:
      return absl::StrCat("setgid ", gid_);
    case ChildStep::kSetuid:
      return absl::StrCat("setuid ", uid_);
    case ChildStep::kCapset:
      return "capset";
    case ChildStep::kCloseRange:
      return "close_range";
    case ChildStep::kNoNewPrivs:
      return "set no_new_privs";
    case ChildStep::kSeccomp:
      return "load the seccomp filter";
    case ChildStep::kBindOpen:
    case ChildStep::kBindAttach:
      if (e.index >= 0 && static_cast<size_t>(e.index) < binds_.size()) {
        const BindMount& b = binds_[e.index];
        return e.step == ChildStep::kBindOpen ? absl::StrCat("open bind source ", b.source)
                                              : absl::StrCat("bind mount ", b.source, " on ", b.target);
      }
      return "bind mount";
    case ChildStep::kEarlyMount:
      if (e.index >= 0 && static_cast<size_t>(e.index) < kContainerMountCount) {
        return absl::StrCat("prepare (before pivot_root) ", DescribeMountOp(kContainerMounts[e.index]));
      }
      return "prepare a mount";
    case ChildStep::kUsernsRoot:
      return "become root of the user namespace";
    default:
      return "set-up";
  }
}

absl::Status ChildPlan::Describe(const ChildError& e) const {
  std::string why = std::strerror(e.err);
  if (e.step == ChildStep::kNotFound) {
    return absl::NotFoundError(absl::StrCat("exec: \"", argv0_, "\": executable file not found in $PATH"));
  }
  if (e.step == ChildStep::kExec) {
    size_t i = static_cast<size_t>(e.index);
    std::string msg = absl::StrCat("exec: \"", i < candidates_s_.size() ? candidates_s_[i] : argv0_, "\": ", why);
    if (e.err == ENOENT) return absl::NotFoundError(msg);
    if (e.err == EACCES) return absl::PermissionDeniedError(msg);
    return absl::InternalError(msg);
  }
  return absl::InternalError(absl::StrCat("container init: ", StepName(e), ": ", why));
}

}  // namespace berth::execdriver
