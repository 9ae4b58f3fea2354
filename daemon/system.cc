#include "daemon/system.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "net/resolv_conf.h"

namespace berth {
namespace {

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

std::string ReadTrimmed(const std::string& path) {
  std::ifstream in(path);
  std::string s;
  std::getline(in, s);
  return s;
}

absl::Status MkdirAll(const std::string& path, mode_t mode) {
  std::string partial;
  for (absl::string_view part : absl::StrSplit(path, '/', absl::SkipEmpty())) {
    absl::StrAppend(&partial, "/", part);
    if (::mkdir(partial.c_str(), mode) != 0 && errno != EEXIST) {
      return absl::InternalError(absl::StrCat("cannot create ", partial, ": ", std::strerror(errno)));
    }
  }
  return absl::OkStatus();
}

}  // namespace

HostFacts ReadHostFacts() {
  HostFacts h;
  h.euid = ::geteuid();
  struct utsname u;
  if (::uname(&u) == 0) {
    h.os = u.sysname;
    h.machine = u.machine;
    h.kernel_release = u.release;
  }
  return h;
}

bool KernelVersion::operator<(const KernelVersion& o) const {
  return std::tie(major, minor, patch) < std::tie(o.major, o.minor, o.patch);
}

absl::StatusOr<KernelVersion> ParseKernelVersion(const std::string& release) {
  KernelVersion v;
  std::string digits = release.substr(0, release.find_first_not_of("0123456789."));
  std::vector<std::string> parts = absl::StrSplit(digits, '.');
  if (parts.size() < 2 || !absl::SimpleAtoi(parts[0], &v.major) || !absl::SimpleAtoi(parts[1], &v.minor) ||
      (parts.size() > 2 && !parts[2].empty() && !absl::SimpleAtoi(parts[2], &v.patch))) {
    return absl::InvalidArgumentError(absl::StrCat("cannot parse kernel version '", release, "'"));
  }
  return v;
}

absl::Status CheckSystem(const HostFacts& host, std::vector<std::string>* warnings) {
  if (host.os != "Linux") {
    return absl::FailedPreconditionError(absl::StrCat("berthd runs on Linux only (this is ", host.os, ")"));
  }
  if (host.euid != 0) return absl::PermissionDeniedError("The berth daemon needs to be run as root");
  if (host.machine != "x86_64" && host.machine != "aarch64") {
    return absl::FailedPreconditionError(
        absl::StrCat("The berth runtime currently only supports x86_64 and aarch64 (not ", host.machine, ")"));
  }
  absl::StatusOr<KernelVersion> k = ParseKernelVersion(host.kernel_release);
  if (!k.ok()) {
    warnings->push_back(std::string(k.status().message()));
  } else if (*k < KernelVersion{3, 8, 0}) {
    warnings->push_back(absl::StrCat("You are running Linux kernel version ", host.kernel_release,
                                     ", which might be unstable running berth. Please upgrade your kernel to 3.8.0."));
  }
  return absl::OkStatus();
}

absl::StatusOr<RootDirs> PrepareRoot(const std::string& root, const std::string& tmpdir_override) {
  if (root.empty() || root[0] != '/') {
    return absl::InvalidArgumentError(absl::StrCat("the root (-g) must be an absolute path, got '", root, "'"));
  }
  RootDirs dirs;
  if (absl::Status s = MkdirAll(root, 0700); !s.ok()) return s;
  char real[PATH_MAX];
  if (::realpath(root.c_str(), real) == nullptr) {
    return absl::InternalError(absl::StrCat("cannot resolve ", root, ": ", std::strerror(errno)));
  }
  dirs.root = real;
  dirs.tmp = tmpdir_override.empty() ? dirs.root + "/tmp" : tmpdir_override;
  if (absl::Status s = MkdirAll(dirs.tmp, 0700); !s.ok()) return s;
  if (tmpdir_override.empty()) ::chmod(dirs.tmp.c_str(), 0700);
  ::setenv("TMPDIR", dirs.tmp.c_str(), 1);
  return dirs;
}

SysInfo ReadSysInfo(const std::string& root, std::vector<std::string>* warnings) {
  SysInfo info;
  // The memory cgroup: a v1 hierarchy with the memory controller, or v2.
  std::ifstream mounts(root + "/proc/self/mountinfo");
  std::string line;
  std::string memory_dir;
  std::string unified_dir;
  while (std::getline(mounts, line)) {
    // id parent major:minor root mountpoint options - fstype source superoptions
    std::vector<std::string> f = absl::StrSplit(line, ' ');
    auto dash = std::find(f.begin(), f.end(), "-");
    if (f.size() < 5 || dash == f.end() || dash + 3 > f.end()) continue;
    const std::string& mountpoint = f[4];
    const std::string& fstype = *(dash + 1);
    const std::string& super = *(dash + 3);
    if (fstype == "cgroup") {
      for (absl::string_view opt : absl::StrSplit(super, ',')) {
        if (opt == "memory") memory_dir = mountpoint;
      }
    } else if (fstype == "cgroup2") {
      unified_dir = mountpoint;
    }
  }
  if (!memory_dir.empty()) {
    std::string dir = root + memory_dir;
    info.memory_limit = Exists(dir + "/memory.limit_in_bytes") && Exists(dir + "/memory.soft_limit_in_bytes");
    info.swap_limit = Exists(dir + "/memory.memsw.limit_in_bytes");
  } else if (!unified_dir.empty()) {
    std::string dir = root + unified_dir;
    std::string controllers = ReadTrimmed(dir + "/cgroup.controllers");
    info.memory_limit = controllers.find("memory") != std::string::npos;
    info.swap_limit = info.memory_limit && Exists(dir + "/memory.swap.max");
  }
  if (warnings != nullptr) {
    if (!info.memory_limit) warnings->push_back("Your kernel does not support cgroup memory limit.");
    if (info.memory_limit && !info.swap_limit) warnings->push_back("Your kernel does not support cgroup swap limit.");
  }
  info.apparmor = Exists(root + "/sys/kernel/security/apparmor");
  info.ipv4_forwarding_disabled = ReadTrimmed(root + "/proc/sys/net/ipv4/ip_forward") == "0";
  return info;
}

std::vector<std::string> ContainerDns(const std::vector<std::string>& configured, const std::string& resolv_conf,
                                      std::vector<std::string>* warnings) {
  if (!configured.empty()) return configured;
  absl::StatusOr<std::vector<std::string>> servers = net::ReadNameservers(resolv_conf);
  std::vector<std::string> found = servers.ok() ? *servers : std::vector<std::string>();
  if (!net::OnlyLocalNameservers(found)) return found;
  std::vector<std::string> fallback = {"8.8.8.8", "8.8.4.4"};
  if (warnings != nullptr) {
    warnings->push_back(absl::StrCat(
        found.empty() ? "No DNS server found in " + resolv_conf
                      : "Only local DNS resolvers (" + absl::StrJoin(found, ", ") + ") found in " + resolv_conf,
        "; containers cannot use them. Using default external servers: ", absl::StrJoin(fallback, ", ")));
  }
  return fallback;
}

}  // namespace berth
