// Cgroups: v1 on this machine's own hierarchies (a parent group per test,
// removed at the end), and v2 against a scratch directory laid out like a
// unified hierarchy — the machine's /sys/fs/cgroup/unified has no
// controllers, so v2's files are checked as written, not as enforced.
#include "execdriver/cgroups.h"

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "doctest/doctest.h"
#include "tests/execdriver/sandbox.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace berth::execdriver {
namespace {

using testing::Process;
using testing::ProcessOptions;
using testing::ReadFileOrEmpty;
using testing::TempDir;
using testing::WriteFileOrDie;

std::string Trimmed(const std::string& path) { return std::string(absl::StripAsciiWhitespace(ReadFileOrEmpty(path))); }

TEST_CASE("cgroups: cpu.shares maps to cpu.weight as runc does") {
  CHECK(CpuSharesToWeight(0) == 0);
  CHECK(CpuSharesToWeight(2) == 1);
  CHECK(CpuSharesToWeight(1024) == 39);
  CHECK(CpuSharesToWeight(262144) == 10000);
}

TEST_CASE("cgroups v2 (scratch tree): controllers enabled, limits written, pid joined, removed") {
  TempDir dir;
  CgroupOptions options;
  options.mount_root = dir / "unified";
  options.parent = "berth";
  std::filesystem::create_directories(options.mount_root);
  WriteFileOrDie(options.mount_root + "/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma\n");
  CHECK(Cgroup::Detect(options) == CgroupOptions::Version::kV2);

  Resources r;
  r.memory_bytes = 32 << 20;
  r.cpu_shares = 512;
  r.pids_limit = 64;
  auto cg = Cgroup::Create(options, "c1", r);
  REQUIRE_MESSAGE(cg.ok(), cg.status().ToString());
  std::string group = options.mount_root + "/berth/c1";
  CHECK((*cg)->Paths() == std::vector<std::string>{group});
  CHECK(ReadFileOrEmpty(options.mount_root + "/cgroup.subtree_control") == "+cpu +memory +pids");
  CHECK(ReadFileOrEmpty(options.mount_root + "/berth/cgroup.subtree_control") == "+cpu +memory +pids");
  CHECK(ReadFileOrEmpty(group + "/memory.max") == "33554432");
  CHECK(ReadFileOrEmpty(group + "/cpu.weight") == "20");
  CHECK(ReadFileOrEmpty(group + "/pids.max") == "64");
  CHECK(!std::filesystem::exists(group + "/devices.deny"));  // v2 has no devices controller

  // A second container of the same id is refused: the group is left over.
  auto again = Cgroup::Create(options, "c1", r);
  CHECK(absl::IsAlreadyExists(again.status()));

  Process sleeper(ProcessOptions{{"/bin/sleep", "60"}, {}, "", ""});
  REQUIRE((*cg)->Join(sleeper.pid()).ok());
  CHECK(ReadFileOrEmpty(group + "/cgroup.procs") == std::to_string(sleeper.pid()));
  CHECK(*(*cg)->Pids() == std::vector<pid_t>{sleeper.pid()});
  WriteFileOrDie(group + "/memory.events", "low 0\nhigh 0\nmax 3\noom 1\noom_kill 2\n");
  CHECK(*(*cg)->OomKillCount() == 2);
  WriteFileOrDie(group + "/memory.current", "12345\n");
  WriteFileOrDie(group + "/cpu.stat", "usage_usec 7\nuser_usec 5\n");
  CHECK((*cg)->Stats()->memory_usage_bytes == 12345);
  CHECK((*cg)->Stats()->cpu_usage_ns == 7000);

  // Destroy kills what cgroup.procs lists.
  REQUIRE((*cg)->Destroy().ok());
  CHECK(sleeper.Wait(absl::Seconds(5)) == 128 + SIGKILL);
  CHECK(!std::filesystem::exists(group));
  CHECK((*cg)->Destroy().ok());  // idempotent
  REQUIRE(Cgroup::RemoveParent(options).ok());
  CHECK(!std::filesystem::exists(options.mount_root + "/berth"));
}

TEST_CASE("cgroups v1: limits and exactly the allowed devices; a stale group is emptied and removed") {
  if (testing::SkipContainerTest()) return;
  CgroupOptions options;
  options.parent = absl::StrCat("berth-test-", ::getpid(), "-cg");
  REQUIRE(Cgroup::Detect(options) == CgroupOptions::Version::kV1);
  // Whatever fails below, the machine's hierarchies are left as they were.
  struct Cleanup {
    const CgroupOptions& options;
    ~Cleanup() {
      (void)Cgroup::RemoveStale(options, "c1");
      (void)Cgroup::RemoveStale(options, "c2");
      (void)Cgroup::RemoveParent(options);
    }
  } cleanup{options};
  Resources r;
  r.memory_bytes = 64 << 20;
  r.cpu_shares = 512;
  r.pids_limit = 10;
  auto cg = Cgroup::Create(options, "c1", r);
  REQUIRE_MESSAGE(cg.ok(), cg.status().ToString());
  std::string root = options.mount_root;
  std::string rel = "/" + options.parent + "/c1";
  CHECK(Trimmed(root + "/memory" + rel + "/memory.limit_in_bytes") == "67108864");
  CHECK(Trimmed(root + "/cpu" + rel + "/cpu.shares") == "512");
  CHECK(Trimmed(root + "/pids" + rel + "/pids.max") == "10");
  std::string expected;
  for (const std::string& rule : kAllowedDevices) expected += rule + "\n";
  CHECK(ReadFileOrEmpty(root + "/devices" + rel + "/devices.list") == expected);

  // Writing an impossible value names controller, file and value.
  Resources bad;
  bad.pids_limit = -5;
  auto refused = Cgroup::Create(options, "c2", bad);
  REQUIRE(!refused.ok());
  CHECK(refused.status().message() == "cgroup pids: cannot write pids.max '-5': Invalid argument");
  CHECK(!std::filesystem::exists(root + "/memory/" + options.parent + "/c2"));

  // A crashed berthd leaves a group with a process in it.
  Process sleeper(ProcessOptions{{"/bin/sleep", "60"}, {}, "", ""});
  REQUIRE((*cg)->Join(sleeper.pid()).ok());
  CHECK(*(*cg)->Pids() == std::vector<pid_t>{sleeper.pid()});
  std::optional<int> waited;
  std::thread reaper([&] { waited = sleeper.Wait(absl::Seconds(20)); });
  absl::Status removed = Container::RemoveStaleCgroup(options, "c1");
  reaper.join();
  CHECK_MESSAGE(removed.ok(), removed.ToString());
  CHECK(waited == 128 + SIGKILL);
  for (const char* c : {"memory", "cpu", "pids", "devices"}) {
    CHECK(!std::filesystem::exists(root + "/" + c + rel));
  }
  CHECK(Container::RemoveStaleCgroup(options, "c1").ok());  // nothing left: fine
  REQUIRE(Container::RemoveCgroupParent(options).ok());
  CHECK(!std::filesystem::exists(root + "/memory/" + options.parent));
}

}  // namespace
}  // namespace berth::execdriver
