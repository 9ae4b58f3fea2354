#include <filesystem>

#include "tests/execdriver/sandbox.h"

#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "doctest/doctest.h"
#include "execdriver/json_log.h"
#include "tests/support/busybox_rootfs.h"

namespace berth::testing {

using execdriver::Container;

bool SkipContainerTest() {
  std::string why;
  if (::geteuid() != 0) why = "containers need root";
  if (why.empty() && BusyboxBinary().empty()) why = "busybox-static is not installed";
  if (why.empty()) return false;
  const char* ci = std::getenv("CI");
  if (ci != nullptr && std::string(ci) == "true") FAIL("cannot run containers: " << why);
  MESSAGE("skipped: " << why);
  return true;
}

Sandbox::Sandbox() : rootfs_(dir_ / "rootfs") {
  static int sandboxes = 0;
  cgroups_.parent = absl::StrCat("berth-test-", ::getpid(), "-", sandboxes++);
  absl::Status built = BuildBusyboxRootfs(rootfs_);
  REQUIRE_MESSAGE(built.ok(), built.ToString());
}

Sandbox::~Sandbox() {
  absl::Status removed = Container::RemoveCgroupParent(cgroups_);
  CHECK_MESSAGE(removed.ok(), removed.ToString());
}

execdriver::Spec Sandbox::MakeSpec(std::vector<std::string> argv) {
  execdriver::Spec spec;
  spec.id = absl::StrCat("c", next_id_++);
  spec.rootfs = rootfs_;
  spec.argv = std::move(argv);
  spec.hostname = "box";
  spec.log_path = dir_ / (spec.id + "-json.log");
  // The shim's socket and exit file: one directory per container.
  spec.state_dir = dir_ / spec.id;
  std::filesystem::create_directories(spec.state_dir);
  spec.cgroups = cgroups_;
  return spec;
}

RunOutput Sandbox::Run(execdriver::Spec spec, absl::Duration timeout) {
  RunOutput r;
  std::string log_path = spec.log_path;
  absl::StatusOr<std::unique_ptr<Container>> c = Container::Create(std::move(spec));
  REQUIRE_MESSAGE(c.ok(), c.status().ToString());
  r.start = (*c)->Start();
  if (!(*c)->WaitFor(timeout)) {
    MESSAGE("container still running after " << timeout << ": killed");
    (void)(*c)->Signal(SIGKILL);
  }
  r.status = (*c)->Wait();
  absl::Status destroyed = (*c)->Destroy();
  CHECK_MESSAGE(destroyed.ok(), destroyed.ToString());
  absl::StatusOr<std::vector<execdriver::LogEntry>> log = execdriver::ReadJsonLog(log_path);
  REQUIRE_MESSAGE(log.ok(), log.status().ToString());
  for (const execdriver::LogEntry& e : *log) {
    (e.stream == execdriver::Stream::kStdout ? r.out : r.err) += e.log;
  }
  return r;
}

std::vector<std::string> Sandbox::CgroupDirs(const std::string& id) const {
  std::vector<std::string> dirs;
  for (const char* c : {"memory", "cpu", "pids", "devices", "cpuacct", "freezer"}) {
    dirs.push_back(absl::StrCat(cgroups_.mount_root, "/", c, "/", cgroups_.parent, "/", id));
  }
  return dirs;
}

std::set<std::string> HostMounts() {
  std::ifstream in("/proc/self/mountinfo");
  std::set<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.insert(line);
  return lines;
}

std::vector<std::string> NewMounts(const std::set<std::string>& before, const std::string& dir) {
  std::vector<std::string> added;
  for (const std::string& line : HostMounts()) {
    if (before.count(line) > 0) continue;
    bool ours = line.find(dir) != std::string::npos;
    for (const char* type : {" - proc ", " - sysfs ", " - devpts ", " - tmpfs "}) {
      ours = ours || line.find(type) != std::string::npos;
    }
    if (ours) added.push_back(line);
    MESSAGE("new host mount: " << line);
  }
  return added;
}

std::vector<int> ZombieChildren() {
  std::vector<int> zombies;
  DIR* d = ::opendir("/proc");
  if (d == nullptr) return zombies;
  while (struct dirent* e = ::readdir(d)) {
    std::ifstream in(absl::StrCat("/proc/", e->d_name, "/stat"));
    std::string stat;
    if (!std::getline(in, stat)) continue;
    // pid (comm) state ppid …; comm may hold spaces, so parse after ')'.
    size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::vector<std::string> f = absl::StrSplit(stat.substr(close + 2), ' ');
    if (f.size() > 1 && f[0] == "Z" && f[1] == std::to_string(::getpid())) {
      zombies.push_back(std::atoi(e->d_name));
    }
  }
  ::closedir(d);
  return zombies;
}

}  // namespace berth::testing
