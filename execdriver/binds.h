// Bind mounts of host paths into a container (Docker 1.x's HostConfig.Binds,
// `/host/path:/container/path[:ro|rw]`), and the detached-mount mechanism
// they share with device nodes, /proc and /sys in a user namespace.
//
// The host side of each mount is taken before pivot_root, as a detached copy
// of the host's mount tree at that path (open_tree(OPEN_TREE_CLONE |
// AT_RECURSIVE), made read-only with mount_setattr for `ro`); it is attached
// after pivot_root, so the container path resolves inside the rootfs: a
// symlink in the image (`/data -> /etc`, or `/data -> /srv/x` naming a host
// path) is followed inside the rootfs and can only send the mount to another
// place in it, never onto a host path. Missing directories of the
// container path are created (0755); the last component is created as a
// directory or an empty file, as the host path is one or the other.
//
// OpenMountTree, NewDetachedMount and AttachMountTree run in the cloned
// child: raw syscalls only, no allocation.
#ifndef BERTH_EXECDRIVER_BINDS_H_
#define BERTH_EXECDRIVER_BINDS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace berth::execdriver {

struct BindMount {
  std::string source;  // absolute host path
  std::string target;  // absolute container path, cleaned, not "/"
  bool read_only = false;
  bool source_is_dir = true;  // filled by ParseBind from the host path
};

// Parses and checks one `/host:/container[:ro|rw]` against the host. Errors
// name the value:
//   `Binds: want /HOST:/CONTAINER[:ro|rw], got 'x'`
//   `Binds: mode must be ro or rw, got 'x' in '/a:/b:x'`
//   `Binds: the host path must be absolute, got 'a' in 'a:/b'`
//   `Binds: the container path must be absolute and not /, got 'b' in '/a:b'`
//   `Binds: the container path may not contain '..', got '/b/../c' in '/a:/b/../c'`
//   `Binds: host path /nope does not exist (in '/nope:/b'): No such file or directory`
// The container path is cleaned (`//data/` → `/data`).
absl::StatusOr<BindMount> ParseBind(absl::string_view spec);

// A detached copy of the host's mount tree at `path` (read-only if asked):
// the descriptor, or -errno.
int OpenMountTree(const char* path, bool read_only);

// A new, detached mount of the pseudo filesystem `fstype` ("proc", "sysfs")
// with the MS_NOSUID, MS_NODEV, MS_NOEXEC and MS_RDONLY bits of `flags`: the
// descriptor, or -errno. In a user namespace the kernel lets proc and sysfs
// be mounted only while a full instance is visible in the mount namespace,
// that is, before pivot_root detaches the host's; made then, attached after.
int NewDetachedMount(const char* fstype, unsigned long flags);

// Creates `target` (and missing parents) and moves the tree `fd` onto it;
// 0 or errno. Closes `fd` either way.
int AttachMountTree(int fd, const char* target, bool is_dir);

}  // namespace berth::execdriver

#endif  // BERTH_EXECDRIVER_BINDS_H_
