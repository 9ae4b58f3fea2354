// Capabilities of a container's init: the bounding set reduced to
// kDefaultCapabilities (container.h), and effective, permitted and
// inheritable set to them for root; a non-root user ends with none.
//
// The plan is computed in the parent (it reads /proc/sys/kernel/cap_last_cap);
// the Apply functions run in the cloned child between clone and execve, so
// they use only raw syscalls (no allocation, no locks) and return an errno.
#ifndef BERTH_EXECDRIVER_CAPABILITIES_H_
#define BERTH_EXECDRIVER_CAPABILITIES_H_

#include <cstdint>

#include "absl/status/statusor.h"

namespace berth::execdriver {

struct CapabilityPlan {
  int drop[64] = {};  // capabilities to remove from the bounding set
  int drop_count = 0;
  uint32_t effective[2] = {};  // the two 32-bit words of capset v3
  uint32_t permitted[2] = {};
  uint32_t inheritable[2] = {};
};

// The 64-bit mask of kDefaultCapabilities (as CapBnd in /proc/<pid>/status).
uint64_t DefaultCapabilityMask();

// `root`: the process runs as uid 0 and keeps the default set.
absl::StatusOr<CapabilityPlan> PlanCapabilities(bool root);

// Child side. Bounding set first (it needs CAP_SETPCAP, so before setuid);
// the sets after setuid (which clears them for a non-root uid anyway).
int DropBoundingSet(const CapabilityPlan& plan);
int ApplyCapabilitySets(const CapabilityPlan& plan);

}  // namespace berth::execdriver

#endif  // BERTH_EXECDRIVER_CAPABILITIES_H_
