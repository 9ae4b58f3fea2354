// Bind mounts into a container; see binds.h.
#include "execdriver/binds.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace berth::execdriver {
namespace {

absl::Status BindError(absl::string_view what, absl::string_view spec) {
  return absl::InvalidArgumentError(absl::StrCat("Binds: ", what, " in '", spec, "'"));
}

}  // namespace

absl::StatusOr<BindMount> ParseBind(absl::string_view spec) {
  std::vector<std::string> f = absl::StrSplit(spec, ':');
  if (f.size() < 2 || f.size() > 3) {
    return absl::InvalidArgumentError(absl::StrCat("Binds: want /HOST:/CONTAINER[:ro|rw], got '", spec, "'"));
  }
  BindMount b;
  if (f.size() == 3) {
    if (f[2] != "ro" && f[2] != "rw") return BindError(absl::StrCat("mode must be ro or rw, got '", f[2], "'"), spec);
    b.read_only = f[2] == "ro";
  }
  if (f[0].empty() || f[0][0] != '/') {
    return BindError(absl::StrCat("the host path must be absolute, got '", f[0], "'"), spec);
  }
  std::vector<absl::string_view> parts = absl::StrSplit(f[1], '/', absl::SkipEmpty());
  if (f[1].empty() || f[1][0] != '/' || parts.empty()) {
    return BindError(absl::StrCat("the container path must be absolute and not /, got '", f[1], "'"), spec);
  }
  for (absl::string_view p : parts) {
    if (p == "..") return BindError(absl::StrCat("the container path may not contain '..', got '", f[1], "'"), spec);
  }
  std::vector<absl::string_view> kept;
  for (absl::string_view p : parts) {
    if (p != ".") kept.push_back(p);
  }
  b.target = absl::StrCat("/", absl::StrJoin(kept, "/"));
  if (kept.empty() || b.target.size() >= PATH_MAX) {
    return BindError(absl::StrCat("the container path must be absolute and not /, got '", f[1], "'"), spec);
  }
  struct stat st;
  if (::stat(f[0].c_str(), &st) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("Binds: host path ", f[0], " does not exist (in '", spec, "'): ", std::strerror(errno)));
  }
  b.source = f[0];
  b.source_is_dir = S_ISDIR(st.st_mode);
  return b;
}

int OpenMountTree(const char* path, bool read_only) {
  int fd = ::open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
  if (fd < 0) return -errno;
  if (read_only) {
    struct mount_attr attr;
    std::memset(&attr, 0, sizeof(attr));
    attr.attr_set = MOUNT_ATTR_RDONLY;
    if (::mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof(attr)) != 0) {
      int err = errno;
      ::close(fd);
      return -err;
    }
  }
  return fd;
}

int NewDetachedMount(const char* fstype, unsigned long flags) {
  int fs = ::fsopen(fstype, FSOPEN_CLOEXEC);
  if (fs < 0) return -errno;
  unsigned int attrs = ((flags & MS_NOSUID) ? MOUNT_ATTR_NOSUID : 0) | ((flags & MS_NODEV) ? MOUNT_ATTR_NODEV : 0) |
                       ((flags & MS_NOEXEC) ? MOUNT_ATTR_NOEXEC : 0) | ((flags & MS_RDONLY) ? MOUNT_ATTR_RDONLY : 0);
  int fd = -1;
  if (::fsconfig(fs, FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) == 0) fd = ::fsmount(fs, FSMOUNT_CLOEXEC, attrs);
  int err = errno;
  ::close(fs);
  return fd >= 0 ? fd : -err;
}

int AttachMountTree(int fd, const char* target, bool is_dir) {
  char path[PATH_MAX];
  size_t n = std::strlen(target);
  int err = 0;
  if (n == 0 || n >= sizeof(path)) err = ENAMETOOLONG;
  if (err == 0) std::memcpy(path, target, n + 1);
  // Parents, one component at a time (the path is cleaned and absolute).
  for (size_t i = 1; err == 0 && i < n; ++i) {
    if (path[i] != '/') continue;
    path[i] = '\0';
    if (::mkdir(path, 0755) != 0 && errno != EEXIST) err = errno;
    path[i] = '/';
  }
  if (err == 0 && is_dir && ::mkdir(path, 0755) != 0 && errno != EEXIST) err = errno;
  if (err == 0 && !is_dir) {
    int f = ::open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (f < 0 && errno != EISDIR) err = errno;
    if (f >= 0) ::close(f);
  }
  // After pivot_root a link resolves inside the rootfs, so following one is safe.
  if (err == 0 && ::move_mount(fd, "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_SYMLINKS) != 0) {
    err = errno;
  }
  ::close(fd);
  return err;
}

}  // namespace berth::execdriver
