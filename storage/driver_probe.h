// Probes that tell, truthfully and without side effects, whether a graph
// driver can work on this machine, and if not, why. They read the kernel's
// own answers (/proc/filesystems, /proc/misc, the module tree) and statfs
// the driver home (or its nearest existing ancestor) for the backing file
// system.
//
// Every "cannot be used here" answer is a FailedPrecondition status whose
// message starts with the driver name; driver selection skips those and
// moves on. berth implements vfs and overlay layers; for aufs, btrfs and
// devicemapper the probe explains both what the kernel lacks and, where the
// kernel would be fine, that berth has no layer driver for them.
#ifndef BERTH_STORAGE_DRIVER_PROBE_H_
#define BERTH_STORAGE_DRIVER_PROBE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace berth::storage {

// Where the probes look; tests point these at fakes.
struct ProbeEnv {
  std::string proc = "/proc";
  std::string dev = "/dev";
  std::string modules = "/lib/modules";
  std::string kernel_release;  // "" = uname -r
  // false: act as if overlayfs lacked "lowerdir+" (Linux < 6.8), so the
  // one-page mount option path is used and tested on newer kernels too.
  bool overlay_lowerdir_plus = true;
};

absl::Status ProbeAufs(const std::string& home, const ProbeEnv& env = {});
absl::Status ProbeBtrfs(const std::string& home, const ProbeEnv& env = {});
absl::Status ProbeDevicemapper(const std::string& home,
                               const ProbeEnv& env = {});
// The kernel side of overlay and the backing file system; OverlayDriver::New
// adds a trial mount in the home itself.
absl::Status ProbeOverlay(const std::string& home, const ProbeEnv& env = {});

// FailedPrecondition when overlay cannot use a file system with statfs
// magic `magic` for its layers (overlay, aufs, ecryptfs).
absl::Status CheckOverlayBackingFs(const std::string& home, int64_t magic);

// Whether the kernel (per env.proc/filesystems) lists `fs`.
bool KernelHasFilesystem(const std::string& fs, const ProbeEnv& env = {});

}  // namespace berth::storage

#endif  // BERTH_STORAGE_DRIVER_PROBE_H_
