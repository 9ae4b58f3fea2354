// A minimal container image for tests, built from Debian's busybox-static
// (/usr/bin/busybox, a static binary, so the rootfs needs no libraries):
//
//   bin/busybox and a hard link to it in bin/ for every applet (`busybox
//   --list`), sbin/ for the applets busybox installs there;
//   etc/passwd   root (0:0), nobody (65534:65534), app (1000:1000)
//   etc/group    root, app (with app as a member of "staff", gid 50), nogroup
//   empty proc/, sys/, dev/, tmp/ (1777), root/, home/app/.
#ifndef BERTH_TESTS_SUPPORT_BUSYBOX_ROOTFS_H_
#define BERTH_TESTS_SUPPORT_BUSYBOX_ROOTFS_H_

#include <string>

#include "absl/status/status.h"

namespace berth::testing {

// The busybox binary to copy, or "" if busybox-static is not installed
// (`apt-get install busybox-static`).
std::string BusyboxBinary();

// Creates the rootfs in `dir` (created if missing).
absl::Status BuildBusyboxRootfs(const std::string& dir);

// Writes the rootfs as an uncompressed tar at `tar_path` (numeric owners, as
// `docker import` expects); builds it in a temporary directory first.
absl::Status WriteBusyboxTar(const std::string& tar_path);

}  // namespace berth::testing

#endif  // BERTH_TESTS_SUPPORT_BUSYBOX_ROOTFS_H_
