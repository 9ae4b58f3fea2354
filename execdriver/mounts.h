// The file system a container's init sees: the rootfs made its root with
// pivot_root, then a fixed table of mounts, device nodes and links, then
// Docker's masked and read-only paths.
//
// Every path in the table is absolute and applied after pivot_root, so it is
// resolved inside the new root: a symlink in the image such as
// `/proc -> /somewhere` can only send a mount to another place inside the
// rootfs. Missing mount points are created; masked or read-only paths that do
// not exist (older kernels) are skipped.
//
// All mounts live in the container's own mount namespace and vanish with it;
// the host's mount table is never changed.
//
// EnterRootfs and ApplyMountOp run in the cloned child: raw syscalls only.
#ifndef BERTH_EXECDRIVER_MOUNTS_H_
#define BERTH_EXECDRIVER_MOUNTS_H_

#include <sys/types.h>

#include <cstddef>
#include <string>

namespace berth::execdriver {

struct MountOp {
  enum Kind {
    kMkdir,     // target, mode; an existing entry is fine
    kMount,     // source, target, fstype, flags, data
    kMknod,     // target, mode (with S_IFCHR), major, minor
    kSymlink,   // source (link text), target
    kMask,      // target: /dev/null bound over a file, read-only tmpfs over a dir
    kReadOnly,  // target: bound onto itself and remounted read-only
  };
  Kind kind;
  const char* source;
  const char* target;
  const char* fstype;
  unsigned long flags;
  const char* data;
  mode_t mode;
  unsigned major;
  unsigned minor;
};

// The table, in order.
extern const MountOp kContainerMounts[];
extern const size_t kContainerMountCount;

// Steps of EnterRootfs, for the error a failure reports.
enum RootfsStep { kRootPrivate = 1, kRootBind, kRootChdir, kRootPivot, kRootDetach };

// Makes "/" rprivate, binds `rootfs` onto itself, pivot_root(".", ".") and
// detaches the old root (no put_old directory needed). Returns 0, or the
// errno with *step set.
int EnterRootfs(const char* rootfs, int* step);

// Applies one op; 0 or errno. The umask must be 0 (nodes get exact modes).
int ApplyMountOp(const MountOp& op);

// "mount proc on /proc" and so on, for error messages (parent side).
std::string DescribeMountOp(const MountOp& op);
std::string DescribeRootfsStep(int step, const std::string& rootfs);

}  // namespace berth::execdriver

#endif  // BERTH_EXECDRIVER_MOUNTS_H_
