// Capability plan (parent) and its application (child, raw syscalls); see
// capabilities.h.
#include "execdriver/capabilities.h"

#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "execdriver/container.h"

namespace berth::execdriver {

const std::vector<int> kDefaultCapabilities = {
    CAP_CHOWN,  CAP_DAC_OVERRIDE, CAP_FSETID,  CAP_FOWNER,           CAP_MKNOD,      CAP_NET_RAW, CAP_SETGID,
    CAP_SETUID, CAP_SETFCAP,      CAP_SETPCAP, CAP_NET_BIND_SERVICE, CAP_SYS_CHROOT, CAP_KILL,    CAP_AUDIT_WRITE,
};

uint64_t DefaultCapabilityMask() {
  uint64_t mask = 0;
  for (int cap : kDefaultCapabilities) mask |= uint64_t{1} << cap;
  return mask;
}

absl::StatusOr<CapabilityPlan> PlanCapabilities(bool root) {
  int last_cap = -1;
  std::ifstream in("/proc/sys/kernel/cap_last_cap");
  if (!(in >> last_cap) || last_cap < 0 || last_cap >= 64) {
    return absl::InternalError("capabilities: cannot read /proc/sys/kernel/cap_last_cap");
  }
  CapabilityPlan plan;
  uint64_t keep = DefaultCapabilityMask();
  for (int cap = 0; cap <= last_cap; ++cap) {
    if ((keep & (uint64_t{1} << cap)) == 0) plan.drop[plan.drop_count++] = cap;
  }
  if (root) {
    for (int word = 0; word < 2; ++word) {
      uint32_t bits = static_cast<uint32_t>(keep >> (32 * word));
      plan.effective[word] = plan.permitted[word] = plan.inheritable[word] = bits;
    }
  }
  return plan;
}

int DropBoundingSet(const CapabilityPlan& plan) {
  for (int i = 0; i < plan.drop_count; ++i) {
    if (::prctl(PR_CAPBSET_DROP, plan.drop[i], 0, 0, 0) != 0) return errno;
  }
  return 0;
}

int ApplyCapabilitySets(const CapabilityPlan& plan) {
  // Ambient capabilities would survive execve for a non-root user.
  if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) return errno;
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {};
  for (int word = 0; word < 2; ++word) {
    data[word].effective = plan.effective[word];
    data[word].permitted = plan.permitted[word];
    data[word].inheritable = plan.inheritable[word];
  }
  if (::syscall(SYS_capset, &header, data) != 0) return errno;
  return 0;
}

}  // namespace berth::execdriver
