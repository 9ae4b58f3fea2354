// The container's mount table and pivot_root; see mounts.h.
#include "execdriver/mounts.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"

namespace berth::execdriver {
namespace {

constexpr unsigned long kNoSuidDevExec = MS_NOSUID | MS_NODEV | MS_NOEXEC;

constexpr MountOp Mkdir(const char* target, mode_t mode) {
  return {MountOp::kMkdir, nullptr, target, nullptr, 0, nullptr, mode, 0, 0};
}
constexpr MountOp Mount(const char* source, const char* target, const char* fstype, unsigned long flags,
                        const char* data) {
  return {MountOp::kMount, source, target, fstype, flags, data, 0, 0, 0};
}
constexpr MountOp CharDev(const char* target, unsigned major, unsigned minor) {
  return {MountOp::kMknod, nullptr, target, nullptr, 0, nullptr, S_IFCHR | 0666, major, minor};
}
constexpr MountOp Symlink(const char* text, const char* target) {
  return {MountOp::kSymlink, text, target, nullptr, 0, nullptr, 0, 0, 0};
}
constexpr MountOp Mask(const char* target) { return {MountOp::kMask, nullptr, target, nullptr, 0, nullptr, 0, 0, 0}; }
constexpr MountOp ReadOnly(const char* target) {
  return {MountOp::kReadOnly, nullptr, target, nullptr, 0, nullptr, 0, 0, 0};
}

bool IsDir(const char* path, bool* exists) {
  struct stat st;
  *exists = ::stat(path, &st) == 0;
  return *exists && S_ISDIR(st.st_mode);
}

int Check(int rc) { return rc == 0 ? 0 : errno; }

}  // namespace

const MountOp kContainerMounts[] = {
    Mkdir("/proc", 0555),
    Mount("proc", "/proc", "proc", kNoSuidDevExec, nullptr),
    Mkdir("/sys", 0555),
    Mount("sysfs", "/sys", "sysfs", kNoSuidDevExec | MS_RDONLY, nullptr),
    Mkdir("/dev", 0755),
    Mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k"),
    CharDev("/dev/null", 1, 3),
    CharDev("/dev/zero", 1, 5),
    CharDev("/dev/full", 1, 7),
    CharDev("/dev/random", 1, 8),
    CharDev("/dev/urandom", 1, 9),
    CharDev("/dev/tty", 5, 0),
    Mkdir("/dev/pts", 0755),
    Mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620,gid=5"),
    Symlink("pts/ptmx", "/dev/ptmx"),
    Mkdir("/dev/shm", 01777),
    Mount("shm", "/dev/shm", "tmpfs", kNoSuidDevExec, "mode=1777,size=65536k"),
    Symlink("/proc/self/fd", "/dev/fd"),
    Symlink("/proc/self/fd/0", "/dev/stdin"),
    Symlink("/proc/self/fd/1", "/dev/stdout"),
    Symlink("/proc/self/fd/2", "/dev/stderr"),
    // Kernel state a container must not read.
    Mask("/proc/kcore"),
    Mask("/proc/latency_stats"),
    Mask("/proc/timer_list"),
    Mask("/proc/timer_stats"),
    Mask("/proc/sched_debug"),
    Mask("/proc/keys"),
    Mask("/proc/scsi"),
    Mask("/sys/firmware"),
    // Kernel knobs a container may read but not turn.
    ReadOnly("/proc/asound"),
    ReadOnly("/proc/bus"),
    ReadOnly("/proc/fs"),
    ReadOnly("/proc/irq"),
    ReadOnly("/proc/sys"),
    ReadOnly("/proc/sysrq-trigger"),
};
const size_t kContainerMountCount = sizeof(kContainerMounts) / sizeof(kContainerMounts[0]);

int EnterRootfs(const char* rootfs, int* step) {
  *step = kRootPrivate;
  // Without this, mounts below would propagate back to the host's namespace.
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return errno;
  *step = kRootBind;
  if (::mount(rootfs, rootfs, nullptr, MS_BIND | MS_REC, nullptr) != 0) return errno;
  *step = kRootChdir;
  if (::chdir(rootfs) != 0) return errno;
  *step = kRootPivot;
  if (::syscall(SYS_pivot_root, ".", ".") != 0) return errno;
  // The old root is now stacked on "."; detaching it leaves the rootfs.
  *step = kRootDetach;
  if (::umount2(".", MNT_DETACH) != 0) return errno;
  *step = kRootChdir;
  return Check(::chdir("/"));
}

int ApplyMountOp(const MountOp& op) {
  bool exists = false;
  switch (op.kind) {
    case MountOp::kMkdir:
      return ::mkdir(op.target, op.mode) == 0 || errno == EEXIST ? 0 : errno;
    case MountOp::kMount:
      return Check(::mount(op.source, op.target, op.fstype, op.flags, op.data));
    case MountOp::kMknod:
      return Check(::mknod(op.target, op.mode, makedev(op.major, op.minor)));
    case MountOp::kSymlink:
      return ::symlink(op.source, op.target) == 0 || errno == EEXIST ? 0 : errno;
    case MountOp::kMask:
      if (IsDir(op.target, &exists)) {
        return Check(::mount("tmpfs", op.target, "tmpfs", MS_RDONLY, "size=0"));
      }
      return exists ? Check(::mount("/dev/null", op.target, nullptr, MS_BIND, nullptr)) : 0;
    case MountOp::kReadOnly:
      (void)IsDir(op.target, &exists);
      if (!exists) return 0;
      if (::mount(op.target, op.target, nullptr, MS_BIND | MS_REC, nullptr) != 0) return errno;
      return Check(::mount(op.target, op.target, nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY | kNoSuidDevExec, nullptr));
  }
  return EINVAL;
}

std::string DescribeMountOp(const MountOp& op) {
  switch (op.kind) {
    case MountOp::kMkdir:
      return absl::StrCat("mkdir ", op.target);
    case MountOp::kMount:
      return absl::StrCat("mount ", op.fstype, " on ", op.target);
    case MountOp::kMknod:
      return absl::StrCat("mknod ", op.target);
    case MountOp::kSymlink:
      return absl::StrCat("symlink ", op.target, " -> ", op.source);
    case MountOp::kMask:
      return absl::StrCat("mask ", op.target);
    case MountOp::kReadOnly:
      return absl::StrCat("remount ", op.target, " read-only");
  }
  return "mount";
}

std::string DescribeRootfsStep(int step, const std::string& rootfs) {
  switch (step) {
    case kRootPrivate:
      return "make / rprivate";
    case kRootBind:
      return absl::StrCat("bind mount rootfs ", rootfs);
    case kRootChdir:
      return absl::StrCat("chdir to rootfs ", rootfs);
    case kRootPivot:
      return absl::StrCat("pivot_root to ", rootfs);
    case kRootDetach:
      return "detach the old root";
  }
  return "enter rootfs";
}

}  // namespace berth::execdriver
