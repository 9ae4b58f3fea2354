// Starting the shim as the init's parent; see shim_launch.h. The child's side
// runs after clone() in a copy of a multithreaded process: raw syscalls only.
#include "execdriver/shim_launch.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "execdriver/shim_protocol.h"

namespace berth::execdriver {
namespace {

constexpr size_t kInitStackSize = 256 * 1024;
constexpr int kNamespaces = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET;

}  // namespace

ShimLaunch::ShimLaunch(const Spec& spec, const std::string& shim_path, const std::string& state_dir,
                       const std::string& oom_path)
    : init_flags_(kNamespaces | (spec.userns.enabled() ? CLONE_NEWUSER : 0)) {
  argv_s_ = {shim_path, spec.id, state_dir, spec.log_path.empty() ? "-" : spec.log_path,
             oom_path.empty() ? "-" : oom_path};
  for (std::string& s : argv_s_) argv_.push_back(s.data());
  argv_.push_back(nullptr);
}

int ShimLaunch::Main(void* arg) {
  static_cast<const ShimLaunch*>(arg)->Run();
  return 127;
}

void ShimLaunch::Fail(int err) const {
  int32_t report = -err;
  WriteAll(report_fd, &report, sizeof(report));
  ::_exit(127);
}

void ShimLaunch::Run() const {
  (void)::setsid();
  void* stack = ::mmap(nullptr, kInitStackSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) Fail(errno);
  int init_pidfd = -1;
  pid_t pid = ::clone(&ChildPlan::Main, static_cast<char*>(stack) + kInitStackSize,
                      init_flags_ | CLONE_PIDFD | SIGCHLD, init, &init_pidfd);
  if (pid < 0) Fail(errno);
  int32_t report = pid;
  WriteAll(report_fd, &report, sizeof(report));
  // To 3-7 by way of fds above them, so that no source is overwritten early.
  const int wanted[5] = {init_pidfd, stdout_fd, stderr_fd, stdin_fd, report_fd};
  int moved[5];
  for (int i = 0; i < 5; ++i) {
    if ((moved[i] = ::fcntl(wanted[i], F_DUPFD_CLOEXEC, 16)) < 0) ::_exit(127);
  }
  for (int i = 0; i < 5; ++i) {
    if (::dup3(moved[i], kShimPidFd + i, 0) < 0) ::_exit(127);
  }
  int devnull = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  for (int fd = 0; fd < 3 && devnull >= 0; ++fd) (void)::dup3(devnull, fd, 0);
  (void)::close_range(kShimReadyFd + 1, ~0U, 0);
  ::execve(argv_[0], argv_.data(), const_cast<char* const*>(envp_));
  ::_exit(127);
}

absl::StatusOr<std::string> FindShim() {
  std::string path;
  if (const char* env = std::getenv("BERTH_SHIM"); env != nullptr && *env != '\0') {
    path = env;
  } else {
    std::error_code ec;
    std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", ec);
    path = (self.parent_path() / "berth-shim").string();
  }
  if (::access(path.c_str(), X_OK) != 0) return absl::NotFoundError(absl::StrCat("berth-shim not found: ", path));
  return path;
}

}  // namespace berth::execdriver
