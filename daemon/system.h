// The host checks and facts of NewDaemon: system checks (step 3), the root
// directory (step 4), sysinfo (step 10) and the containers' DNS (step 11). Each
// takes what it reads as parameters so tests can give it any host.
#ifndef BERTH_DAEMON_SYSTEM_H_
#define BERTH_DAEMON_SYSTEM_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace berth {

struct HostFacts {
  unsigned euid = 0;
  std::string os = "Linux";
  std::string machine;         // uname -m
  std::string kernel_release;  // uname -r
};
HostFacts ReadHostFacts();

struct KernelVersion {
  int major = 0, minor = 0, patch = 0;
  bool operator<(const KernelVersion& o) const;
};
// Parses "6.18.44-fc-v782" → 6.18.44. Error names the text.
absl::StatusOr<KernelVersion> ParseKernelVersion(const std::string& release);

// Step 3: Linux, root (`The berth daemon needs to be run as root`), a supported
// architecture. A kernel older than 3.8.0 only adds a warning to *warnings.
absl::Status CheckSystem(const HostFacts& host, std::vector<std::string>* warnings);

// Step 4: `<root>/tmp` (0700) or $BERTH_TMPDIR becomes TMPDIR; the root is
// created (0700) if missing and resolved to its real path, which is returned.
struct RootDirs {
  std::string root;  // real path
  std::string tmp;
};
absl::StatusOr<RootDirs> PrepareRoot(const std::string& root, const std::string& tmpdir_override);

// Step 10: what the kernel lets containers be limited by.
struct SysInfo {
  bool memory_limit = false;
  bool swap_limit = false;
  bool apparmor = false;
  bool ipv4_forwarding_disabled = false;
};
// Reads the host (`root` "" ) or a fake tree under `root` (tests): mountinfo from
// <root>/proc/self/mountinfo, cgroup files under <root><mount point>, AppArmor at
// <root>/sys/kernel/security/apparmor, <root>/proc/sys/net/ipv4/ip_forward.
SysInfo ReadSysInfo(const std::string& root = "", std::vector<std::string>* warnings = nullptr);

// Step 11: the DNS servers containers use. With `configured` empty and a
// resolv.conf naming only local resolvers (127.x) or none: 8.8.8.8, 8.8.4.4.
std::vector<std::string> ContainerDns(const std::vector<std::string>& configured, const std::string& resolv_conf,
                                      std::vector<std::string>* warnings);

}  // namespace berth

#endif  // BERTH_DAEMON_SYSTEM_H_
