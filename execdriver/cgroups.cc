// Cgroup v1 and v2 groups of one container; see cgroups.h.
#include "execdriver/cgroups.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"

namespace berth::execdriver {

const std::vector<std::string> kAllowedDevices = {
    "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm",   "c 1:9 rwm",
    "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm",
};

namespace {

constexpr const char* kRequiredV1[] = {"memory", "cpu", "pids", "devices"};
constexpr const char* kOptionalV1[] = {"cpuacct", "freezer"};
constexpr absl::Duration kEmptyTimeout = absl::Seconds(10);

// Control files are written with O_CREAT so a scratch tree (not cgroupfs)
// works; on cgroupfs the file always exists, or the open fails as it should.
absl::Status WriteControl(absl::string_view controller, const std::string& dir, absl::string_view file,
                          absl::string_view value) {
  std::string path = absl::StrCat(dir, "/", file);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ssize_t n = -1;
  if (fd >= 0) {
    n = ::write(fd, value.data(), value.size());
  }
  int err = errno;
  if (fd >= 0) ::close(fd);
  if (n == static_cast<ssize_t>(value.size())) return absl::OkStatus();
  return absl::InternalError(absl::StrCat("cgroup ", controller.empty() ? "v2" : controller, ": cannot write ", file,
                                          " '", value, "': ", std::strerror(err)));
}

absl::StatusOr<std::string> ReadControl(const std::string& dir, absl::string_view file) {
  std::string path = absl::StrCat(dir, "/", file);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::NotFoundError(absl::StrCat("cgroup: cannot read ", path, ": ", std::strerror(errno)));
  }
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof(buf))) > 0;) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

// The value of `key` in a "key value" per line file (memory.events, cpu.stat).
int64_t KeyedValue(absl::string_view text, absl::string_view key) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    std::pair<absl::string_view, absl::string_view> kv = absl::StrSplit(line, ' ');
    int64_t v = 0;
    if (kv.first == key && absl::SimpleAtoi(kv.second, &v)) return v;
  }
  return 0;
}

int64_t IntValue(const absl::StatusOr<std::string>& text) {
  int64_t v = 0;
  if (text.ok()) (void)absl::SimpleAtoi(absl::StripAsciiWhitespace(*text), &v);
  return v;
}

bool IsCgroupFs(const std::string& dir) {
  struct statfs st;
  if (::statfs(dir.c_str(), &st) != 0) return true;
  return st.f_type == CGROUP_SUPER_MAGIC || st.f_type == CGROUP2_SUPER_MAGIC;
}

// A zombie is dead already: it waits for its parent, not for us.
bool IsZombie(pid_t pid) {
  absl::StatusOr<std::string> stat = ReadControl(absl::StrCat("/proc/", pid), "stat");
  if (!stat.ok()) return true;  // gone
  size_t close = stat->rfind(')');
  return close != std::string::npos && close + 2 < stat->size() && (*stat)[close + 2] == 'Z';
}

// rmdir, retried while the kernel still counts a dying task (EBUSY).
absl::Status RemoveGroupDir(const std::string& dir) {
  absl::Time deadline = absl::Now() + absl::Seconds(2);
  for (;;) {
    if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) return absl::OkStatus();
    int err = errno;
    if (err == ENOTEMPTY && !IsCgroupFs(dir)) {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);  // a scratch tree's regular files
      return absl::OkStatus();
    }
    if (err != EBUSY || absl::Now() > deadline) {
      return absl::InternalError(absl::StrCat("cgroup: cannot remove ", dir, ": ", std::strerror(err)));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
}

absl::Status MakeDir(const std::string& dir, bool exclusive) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(dir).parent_path(), ec);
  if (::mkdir(dir.c_str(), 0755) == 0) return absl::OkStatus();
  if (errno == EEXIST && !exclusive) return absl::OkStatus();
  if (errno == EEXIST) {
    return absl::AlreadyExistsError(absl::StrCat(
        "cgroup ", dir, " already exists (left by a crashed run? Container::RemoveStaleCgroup removes it)"));
  }
  return absl::InternalError(absl::StrCat("cgroup: cannot create ", dir, ": ", std::strerror(errno)));
}

}  // namespace

int64_t CpuSharesToWeight(int64_t shares) {
  if (shares == 0) return 0;
  return 1 + ((shares - 2) * 9999) / 262142;
}

CgroupOptions::Version Cgroup::Detect(const CgroupOptions& options) {
  if (options.version != CgroupOptions::Version::kAuto) return options.version;
  struct stat st;
  std::string probe = options.mount_root + "/cgroup.controllers";
  return ::stat(probe.c_str(), &st) == 0 ? CgroupOptions::Version::kV2 : CgroupOptions::Version::kV1;
}

std::vector<Cgroup::Group> Cgroup::Layout(const CgroupOptions& options, CgroupOptions::Version version,
                                          absl::string_view id) {
  if (version == CgroupOptions::Version::kV2) {
    return {{"", absl::StrCat(options.mount_root, "/", options.parent, "/", id)}};
  }
  std::vector<Group> groups;
  std::set<std::string> hierarchies;  // "cpu" and "cpuacct" are often one mount
  auto add = [&](const char* c, bool required) {
    std::string mount = absl::StrCat(options.mount_root, "/", c);
    std::error_code ec;
    std::string real = std::filesystem::canonical(mount, ec).string();
    if (ec && !required) return;
    if (!ec && !hierarchies.insert(real).second) return;
    groups.push_back({c, absl::StrCat(mount, "/", options.parent, "/", id)});
  };
  for (const char* c : kRequiredV1) add(c, true);
  for (const char* c : kOptionalV1) add(c, false);
  return groups;
}

absl::StatusOr<std::unique_ptr<Cgroup>> Cgroup::Create(const CgroupOptions& options, absl::string_view id,
                                                       const Resources& resources) {
  CgroupOptions::Version version = Detect(options);
  std::vector<Group> groups = Layout(options, version, id);
  std::unique_ptr<Cgroup> cg(new Cgroup(version, {}));
  for (const Group& g : groups) {
    if (absl::Status s = MakeDir(g.path, /*exclusive=*/true); !s.ok()) {
      (void)cg->Destroy();
      return s;
    }
    cg->groups_.push_back(g);
  }
  absl::Status applied =
      version == CgroupOptions::Version::kV2 ? ApplyV2(options, groups[0].path, resources) : ApplyV1(groups, resources);
  if (!applied.ok()) {
    (void)cg->Destroy();
    return applied;
  }
  return cg;
}

absl::Status Cgroup::ApplyV1(const std::vector<Group>& groups, const Resources& r) {
  for (const Group& g : groups) {
    absl::Status s;
    if (g.controller == "memory" && r.memory_bytes != 0) {
      s = WriteControl("memory", g.path, "memory.limit_in_bytes", absl::StrCat(r.memory_bytes));
    } else if (g.controller == "cpu" && r.cpu_shares != 0) {
      s = WriteControl("cpu", g.path, "cpu.shares", absl::StrCat(r.cpu_shares));
    } else if (g.controller == "pids" && r.pids_limit != 0) {
      s = WriteControl("pids", g.path, "pids.max", absl::StrCat(r.pids_limit));
    } else if (g.controller == "devices") {
      s = WriteControl("devices", g.path, "devices.deny", "a");
      for (const std::string& rule : kAllowedDevices) {
        if (s.ok()) s = WriteControl("devices", g.path, "devices.allow", rule);
      }
    }
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status Cgroup::ApplyV2(const CgroupOptions& options, const std::string& dir, const Resources& r) {
  absl::StatusOr<std::string> offered = ReadControl(options.mount_root, "cgroup.controllers");
  std::set<std::string> available;
  if (offered.ok()) available = absl::StrSplit(*offered, absl::ByAnyChar(" \n"), absl::SkipEmpty());
  std::vector<std::string> enable;
  for (const char* c : {"cpu", "memory", "pids"}) {
    if (available.count(c) > 0) enable.push_back(absl::StrCat("+", c));
  }
  std::string parent = absl::StrCat(options.mount_root, "/", options.parent);
  if (!enable.empty()) {
    std::string line = absl::StrJoin(enable, " ");
    for (const std::string& d : {options.mount_root, parent}) {
      if (absl::Status s = WriteControl("", d, "cgroup.subtree_control", line); !s.ok()) return s;
    }
  }
  absl::Status s;
  if (r.memory_bytes != 0) s = WriteControl("", dir, "memory.max", absl::StrCat(r.memory_bytes));
  if (s.ok() && r.cpu_shares != 0) {
    s = WriteControl("", dir, "cpu.weight", absl::StrCat(CpuSharesToWeight(r.cpu_shares)));
  }
  if (s.ok() && r.pids_limit != 0) s = WriteControl("", dir, "pids.max", absl::StrCat(r.pids_limit));
  return s;
}

Cgroup::~Cgroup() = default;

std::vector<std::string> Cgroup::Paths() const {
  std::vector<std::string> out;
  for (const Group& g : groups_) out.push_back(g.path);
  return out;
}

const Cgroup::Group* Cgroup::Find(absl::string_view controller) const {
  for (const Group& g : groups_) {
    if (g.controller == controller || g.controller.empty()) return &g;
  }
  return nullptr;
}

absl::Status Cgroup::Join(pid_t pid) const {
  for (const Group& g : groups_) {
    if (absl::Status s = WriteControl(g.controller, g.path, "cgroup.procs", absl::StrCat(pid)); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<pid_t>> Cgroup::Pids() const {
  const Group* g = Find("pids");
  if (g == nullptr) return absl::FailedPreconditionError("cgroup: no pids group");
  absl::StatusOr<std::string> text = ReadControl(g->path, "cgroup.procs");
  if (!text.ok()) return text.status();
  std::vector<pid_t> pids;
  for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipWhitespace())) {
    pid_t pid = 0;
    if (absl::SimpleAtoi(line, &pid)) pids.push_back(pid);
  }
  return pids;
}

std::unique_ptr<Cgroup> Cgroup::Open(const CgroupOptions& options, absl::string_view id) {
  CgroupOptions::Version version = Detect(options);
  return std::unique_ptr<Cgroup>(new Cgroup(version, Layout(options, version, id)));
}

std::string Cgroup::OomKillFile() const {
  const Group* g = Find("memory");
  if (g == nullptr) return "";
  return absl::StrCat(g->path, "/", version_ == CgroupOptions::Version::kV2 ? "memory.events" : "memory.oom_control");
}

absl::StatusOr<int64_t> Cgroup::OomKillCount() const {
  const Group* g = Find("memory");
  if (g == nullptr) return absl::FailedPreconditionError("cgroup: no memory group");
  absl::StatusOr<std::string> text =
      ReadControl(g->path, version_ == CgroupOptions::Version::kV2 ? "memory.events" : "memory.oom_control");
  if (!text.ok()) return text.status();
  return KeyedValue(*text, "oom_kill");
}

absl::StatusOr<CgroupStats> Cgroup::Stats() const {
  CgroupStats st;
  if (version_ == CgroupOptions::Version::kV2) {
    const std::string& dir = groups_[0].path;
    st.memory_usage_bytes = IntValue(ReadControl(dir, "memory.current"));
    absl::StatusOr<std::string> cpu = ReadControl(dir, "cpu.stat");
    if (cpu.ok()) st.cpu_usage_ns = KeyedValue(*cpu, "usage_usec") * 1000;
    st.pids_current = IntValue(ReadControl(dir, "pids.current"));
    return st;
  }
  if (const Group* g = Find("memory")) {
    st.memory_usage_bytes = IntValue(ReadControl(g->path, "memory.usage_in_bytes"));
    st.memory_limit_bytes = IntValue(ReadControl(g->path, "memory.limit_in_bytes"));
  }
  if (const Group* g = Find("cpuacct")) st.cpu_usage_ns = IntValue(ReadControl(g->path, "cpuacct.usage"));
  if (const Group* g = Find("pids")) st.pids_current = IntValue(ReadControl(g->path, "pids.current"));
  return st;
}

// A PID namespace dies with its init, but a stale group (crashed berthd) may
// hold anything, so every listed process is killed until none is left. A pid
// that no longer exists (ESRCH) or is a zombie counts as gone (a scratch
// tree's cgroup.procs is a plain file that never empties).
absl::Status Cgroup::KillAll() const {
  absl::Time deadline = absl::Now() + kEmptyTimeout;
  for (;;) {
    bool alive = false;
    for (const Group& g : groups_) {
      absl::StatusOr<std::string> text = ReadControl(g.path, "cgroup.procs");
      if (!text.ok()) continue;
      for (absl::string_view line : absl::StrSplit(*text, '\n', absl::SkipWhitespace())) {
        pid_t pid = 0;
        if (!absl::SimpleAtoi(line, &pid) || pid <= 0) continue;
        if ((::kill(pid, SIGKILL) == 0 || errno != ESRCH) && !IsZombie(pid)) alive = true;
      }
    }
    if (!alive) return absl::OkStatus();
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat("cgroup: processes left in ", groups_[0].path, " after SIGKILL"));
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
}

absl::Status Cgroup::Destroy() {
  if (destroyed_) return absl::OkStatus();
  if (absl::Status s = KillAll(); !s.ok()) return s;
  absl::Status result;
  for (const Group& g : groups_) {
    if (absl::Status s = RemoveGroupDir(g.path); !s.ok() && result.ok()) result = s;
  }
  if (result.ok()) destroyed_ = true;
  return result;
}

absl::Status Cgroup::RemoveStale(const CgroupOptions& options, absl::string_view id) {
  CgroupOptions::Version version = Detect(options);
  std::vector<Group> existing;
  for (Group& g : Layout(options, version, id)) {
    struct stat st;
    if (::stat(g.path.c_str(), &st) == 0) existing.push_back(std::move(g));
  }
  if (existing.empty()) return absl::OkStatus();
  Cgroup stale(version, std::move(existing));
  return stale.Destroy();
}

absl::Status Cgroup::RemoveParent(const CgroupOptions& options) {
  CgroupOptions::Version version = Detect(options);
  std::vector<std::string> dirs;
  if (version == CgroupOptions::Version::kV2) {
    dirs.push_back(absl::StrCat(options.mount_root, "/", options.parent));
  } else {
    for (const Group& g : Layout(options, version, "")) {
      dirs.push_back(std::string(absl::StripSuffix(g.path, "/")));
    }
  }
  for (const std::string& dir : dirs) {
    if (::rmdir(dir.c_str()) == 0 || errno == ENOENT) continue;
    if (errno == ENOTEMPTY && !IsCgroupFs(dir)) {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
      continue;
    }
    return absl::FailedPreconditionError(absl::StrCat("cgroup: cannot remove ", dir, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace berth::execdriver
