// The default seccomp profile: the syscalls it refuses fail with EPERM (clone3
// with ENOSYS), the ones a program needs work, and in a container the filter
// and no_new_privs are in place unless the spec asks for no filter.
#include "execdriver/seccomp_profile.h"

#include <errno.h>
#include <linux/sched.h>
#include <sched.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "doctest/doctest.h"
#include "execdriver/container.h"
#include "tests/execdriver/sandbox.h"

namespace berth::execdriver {
namespace {

using testing::RunOutput;
using testing::Sandbox;

// Runs `call` in a forked child under the filter; the errno it got (0 for
// success), or -1 if the child died.
template <typename Fn>
int ErrnoUnderFilter(const SeccompFilter& filter, Fn call) {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int err = SetNoNewPrivs();
    if (err == 0) err = LoadSeccompFilter(filter);
    if (err != 0) err = 1000 + err;
    if (err == 0) err = call() < 0 ? errno : 0;
    (void)!::write(fds[1], &err, sizeof(err));
    ::_exit(0);
  }
  ::close(fds[1]);
  int err = -1;
  if (::read(fds[0], &err, sizeof(err)) != sizeof(err)) err = -1;
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return err;
}

TEST_CASE("seccomp: the default profile refuses kexec_load, open_by_handle_at, bpf, mount, ptrace, keyctl, unshare") {
  absl::StatusOr<const SeccompFilter*> filter = DefaultSeccompFilter();
  REQUIRE_MESSAGE(filter.ok(), filter.status().ToString());
  const SeccompFilter& f = **filter;
  CHECK(!f.program.empty());
  absl::Span<const char* const> denied = DefaultDeniedSyscalls();
  for (const char* name : {"kexec_load", "open_by_handle_at", "bpf", "mount", "ptrace", "init_module", "setns",
                           "unshare", "keyctl", "perf_event_open", "userfaultfd", "fsopen", "pivot_root"}) {
    CHECK_MESSAGE(std::find_if(denied.begin(), denied.end(),
                               [&](const char* d) { return std::strcmp(d, name) == 0; }) != denied.end(),
                  name);
  }
  CHECK(ErrnoUnderFilter(f, [] { return ::syscall(SYS_kexec_load, 0, 0, nullptr, 0); }) == EPERM);
  CHECK(ErrnoUnderFilter(f, [] { return ::syscall(SYS_open_by_handle_at, -1, nullptr, 0); }) == EPERM);
  CHECK(ErrnoUnderFilter(f, [] { return ::syscall(SYS_bpf, 0, nullptr, 0); }) == EPERM);
  CHECK(ErrnoUnderFilter(f, [] { return ::syscall(SYS_mount, "none", "/nonexistent", "tmpfs", 0, nullptr); }) == EPERM);
  CHECK(ErrnoUnderFilter(f, [] { return ::syscall(SYS_ptrace, 0, 0, nullptr, nullptr); }) == EPERM);
  CHECK(ErrnoUnderFilter(f, [] { return ::syscall(SYS_keyctl, 0, 0, 0, 0, 0); }) == EPERM);
  CHECK(ErrnoUnderFilter(f, [] { return ::syscall(SYS_unshare, CLONE_NEWUSER); }) == EPERM);
  // clone with a namespace flag is refused; clone3 says ENOSYS so that libc
  // falls back to clone.
  CHECK(ErrnoUnderFilter(f, [] { return ::syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, nullptr, nullptr, nullptr, 0); }) ==
        EPERM);
  CHECK(ErrnoUnderFilter(f, [] { return ::syscall(SYS_clone3, nullptr, 0); }) == ENOSYS);
  // What programs need still works, fork included.
  CHECK(ErrnoUnderFilter(f, [] { return ::syscall(SYS_getpid) > 0 ? 0 : -1; }) == 0);
  CHECK(ErrnoUnderFilter(f, [] {
          pid_t child = ::fork();
          if (child == 0) ::_exit(0);
          int st = 0;
          return child > 0 && ::waitpid(child, &st, 0) == child ? 0 : -1;
        }) == 0);
}

TEST_CASE("seccomp: a container gets no_new_privs and the filter; unshare -U fails with EPERM") {
  if (testing::SkipContainerTest()) return;
  Sandbox box;
  const std::string script =
      "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status\n"
      "unshare -U true 2>&1 && echo unshare=ok\n";
  RunOutput r = box.Run(box.MakeSpec({"sh", "-c", script}));
  REQUIRE_MESSAGE(r.start.ok(), r.start.ToString());
  CHECK(r.out.rfind("NoNewPrivs:\t1\nSeccomp:\t2\n", 0) == 0);
  CHECK_MESSAGE(r.out.find("Operation not permitted") != std::string::npos, r.out);
  CHECK(r.out.find("unshare=ok") == std::string::npos);
}

TEST_CASE("seccomp: without the filter (seccomp=unconfined) the same unshare -U works; no_new_privs stays") {
  if (testing::SkipContainerTest()) return;
  Sandbox box;
  Spec spec = box.MakeSpec({"sh", "-c",
                            "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status\n"
                            "unshare -U true 2>&1 && echo unshare=ok\n"});
  spec.seccomp = false;
  RunOutput r = box.Run(std::move(spec));
  REQUIRE_MESSAGE(r.start.ok(), r.start.ToString());
  CHECK(r.out == "NoNewPrivs:\t1\nSeccomp:\t0\nunshare=ok\n");
}

}  // namespace
}  // namespace berth::execdriver
