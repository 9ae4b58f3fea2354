// What a container cannot do: mount, mknod a block device, load modules,
// write kernel knobs, read masked kernel state, or exceed its memory and pids
// limits — and that the host is unaffected when it tries.
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "doctest/doctest.h"
#include "execdriver/capabilities.h"
#include "execdriver/container.h"
#include "tests/execdriver/sandbox.h"
#include "tests/support/process.h"

namespace berth::execdriver {
namespace {

using testing::RunOutput;
using testing::Sandbox;

TEST_CASE("confinement: no mount, no block device, default capabilities, read-only and masked /proc") {
  if (testing::SkipContainerTest()) return;
  Sandbox box;
  RunOutput r =
      box.Run(box.MakeSpec({"sh", "-c",
                            "mkdir -p /mnt; mount -t tmpfs x /mnt 2>/dev/null && echo mount=ok || echo mount=denied\n"
                            "mknod /tmp/sda b 8 0 2>/dev/null && echo block=ok || echo block=denied\n"
                            "mknod /tmp/null c 1 3 2>/dev/null && echo null=ok || echo null=denied\n"
                            "grep -E '^Cap(Bnd|Eff|Prm|Inh)' /proc/self/status | sort\n"
                            "(echo h > /proc/sysrq-trigger) 2>/dev/null && echo sysrq=ok || echo sysrq=denied\n"
                            "(echo 1 > /proc/sys/kernel/panic) 2>/dev/null && echo procsys=ok || echo procsys=denied\n"
                            "echo kcore=$(cat /proc/kcore | wc -c)\n"
                            "(echo x > /sys/kernel/uevent_helper) 2>/dev/null && echo sys=ok || echo sys=denied\n"
                            "ls /dev | tr '\\n' ' '; echo\n"
                            "stat -c '%a %u %g' /dev/null /dev/pts/ptmx; readlink /dev/ptmx; readlink /dev/fd\n"
                            "grep -c ' /dev/shm ' /proc/mounts\n"}));
  REQUIRE_MESSAGE(r.start.ok(), r.start.ToString());
  std::string mask = absl::StrFormat("%016x", DefaultCapabilityMask());
  CHECK(mask == "00000000a80425fb");  // Docker 1.x's 14
  const uint64_t module_bit = DefaultCapabilityMask() & (uint64_t{1} << CAP_SYS_MODULE);
  CHECK(module_bit == 0);
  const std::string expected =
      "mount=denied\nblock=denied\nnull=ok\n"
      "CapBnd:\t" +
      mask + "\nCapEff:\t" + mask + "\nCapInh:\t" + mask + "\nCapPrm:\t" + mask +
      "\n"
      "sysrq=denied\nprocsys=denied\nkcore=0\nsys=denied\n"
      "fd full null ptmx pts random shm stderr stdin stdout tty urandom zero \n"
      "666 0 0\n666 0 0\npts/ptmx\n/proc/self/fd\n1\n";
  CHECK(r.out == expected);
  CHECK(kDefaultCapabilities.size() == 14);
}

TEST_CASE("confinement: memory limit — an allocation past it is OOM-killed (137, oom_killed)") {
  if (testing::SkipContainerTest()) return;
  Sandbox box;
  Spec spec = box.MakeSpec({"dd", "if=/dev/zero", "of=/dev/null", "bs=64M", "count=1"});
  spec.resources.memory_bytes = 32 << 20;
  RunOutput r = box.Run(std::move(spec));
  REQUIRE_MESSAGE(r.start.ok(), r.start.ToString());
  CHECK(r.status.code == 137);
  CHECK(r.status.oom_killed);

  Spec small = box.MakeSpec({"dd", "if=/dev/zero", "of=/dev/null", "bs=1M", "count=1"});
  small.resources.memory_bytes = 32 << 20;
  RunOutput fits = box.Run(std::move(small));
  CHECK(fits.status.code == 0);
  CHECK(!fits.status.oom_killed);
}

TEST_CASE("confinement: pids limit — a fork bomb stays within it, is destroyed, the host is fine") {
  if (testing::SkipContainerTest()) return;
  Sandbox box;
  // busybox sh exits when fork fails, so the forking shell is not the init:
  // its sleeps are left to init, which then becomes a sleep itself.
  Spec spec = box.MakeSpec({"sh", "-c", "sh -c 'for i in $(seq 200); do sleep 30 & done' 2>/dev/null; exec sleep 30"});
  spec.resources.pids_limit = 64;
  std::string id = spec.id;
  auto c = Container::Create(std::move(spec));
  REQUIRE_MESSAGE(c.ok(), c.status().ToString());
  REQUIRE((*c)->Start().ok());
  std::string group = box.CgroupDirs(id)[2];
  // pids.events counts the forks the limit refused.
  auto refused = [&] {
    int64_t n = 0;
    std::string events = testing::ReadFileOrEmpty(group + "/pids.events");
    return absl::SimpleAtoi(absl::StripAsciiWhitespace(absl::StripPrefix(events, "max ")), &n) ? n : 0;
  };
  int64_t most = 0;
  absl::Time until = absl::Now() + absl::Seconds(10);
  while (absl::Now() < until && (refused() == 0 || most < 60)) {
    auto stats = (*c)->Stats();
    REQUIRE(stats.ok());
    most = std::max(most, stats->pids_current);
    absl::SleepFor(absl::Milliseconds(5));
  }
  CHECK(refused() > 0);
  CHECK(most >= 60);
  CHECK(most <= 64);
  CHECK((*c)->Pids()->size() <= 64);
  CHECK(testing::ReadFileOrEmpty(group + "/pids.max") == "64\n");
  CHECK(testing::RunCommand({"/bin/true"}).status == 0);  // the host still forks
  absl::Time t0 = absl::Now();
  REQUIRE((*c)->Destroy().ok());
  MESSAGE("destroying 64 processes took " << absl::Now() - t0);
  CHECK((*c)->Wait().code == 137);
  CHECK(testing::ZombieChildren().empty());
}

TEST_CASE("confinement: only fds 0, 1, 2 reach the program; no signal blocked or ignored") {
  if (testing::SkipContainerTest()) return;
  Sandbox box;
  // A descriptor berthd leaked without O_CLOEXEC, and signal state a daemon
  // typically has: neither may reach the container.
  int leaked = ::open("/dev/null", O_RDONLY);
  REQUIRE(leaked >= 3);
  sigset_t usr1, old;
  sigemptyset(&usr1);
  sigaddset(&usr1, SIGUSR1);
  ::pthread_sigmask(SIG_BLOCK, &usr1, &old);
  void (*old_pipe)(int) = ::signal(SIGPIPE, SIG_IGN);
  RunOutput r = box.Run(box.MakeSpec({"sh", "-c", "grep -E '^Sig(Blk|Ign)' /proc/self/status; exec ls /proc/self/fd"}));
  ::signal(SIGPIPE, old_pipe);
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ::close(leaked);
  REQUIRE_MESSAGE(r.start.ok(), r.start.ToString());
  // ls's own directory is fd 3.
  CHECK(r.out == "SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n0\n1\n2\n3\n");
}

TEST_CASE("confinement: a symlinked /proc in the image stays inside the rootfs; missing mount points are made") {
  if (testing::SkipContainerTest()) return;
  Sandbox box;
  std::filesystem::remove(box.rootfs() + "/proc");
  std::filesystem::remove(box.rootfs() + "/sys");
  std::filesystem::create_directory(box.rootfs() + "/elsewhere");
  std::filesystem::create_symlink("/elsewhere", box.rootfs() + "/proc");
  RunOutput r = box.Run(box.MakeSpec({"sh", "-c", "cut -d' ' -f1 /elsewhere/1/stat; ls -d /sys/class"}));
  REQUIRE_MESSAGE(r.start.ok(), r.start.ToString());
  CHECK(r.out == "1\n/sys/class\n");
  CHECK(std::filesystem::is_empty(box.rootfs() + "/elsewhere"));  // seen from the host: nothing

  // A link to a host path resolves to a path inside the rootfs that does
  // not exist: the container fails to start, the host path is untouched.
  testing::TempDir host;
  std::filesystem::remove(box.rootfs() + "/proc");
  std::filesystem::create_symlink(host.path(), box.rootfs() + "/proc");
  auto c = Container::Create(box.MakeSpec({"true"}));
  REQUIRE(c.ok());
  CHECK((*c)->Start().message() == "container init: mount proc on /proc: No such file or directory");
  CHECK(std::filesystem::is_empty(host.path()));
  CHECK(testing::ZombieChildren().empty());
}

}  // namespace
}  // namespace berth::execdriver
