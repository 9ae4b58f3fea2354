// POSIX helpers for the storage library; see fs_util.h.
#include "storage/fs_util.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace berth::storage {

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) Reset(other.Release());
  return *this;
}

UniqueFd::~UniqueFd() { Reset(); }

void UniqueFd::Reset(int fd) {
  if (fd_ >= 0) close(fd_);
  fd_ = fd;
}

absl::Status ErrnoStatus(int err, absl::string_view what) {
  std::string message = absl::StrCat(what, ": ", strerror(err));
  switch (err) {
    case ENOENT:
      return absl::NotFoundError(message);
    case EEXIST:
    case ENOTEMPTY:
      return absl::AlreadyExistsError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    case ENOSPC:
    case EDQUOT:
    case EMFILE:
    case ENFILE:
      return absl::ResourceExhaustedError(message);
    case EINVAL:
      return absl::InvalidArgumentError(message);
    default:
      return absl::InternalError(message);
  }
}

std::string JoinPath(absl::string_view a, absl::string_view b) {
  if (a.empty()) return std::string(b);
  if (b.empty()) return std::string(a);
  bool a_slash = a.back() == '/';
  bool b_slash = b.front() == '/';
  if (a_slash && b_slash) return absl::StrCat(a, b.substr(1));
  if (a_slash || b_slash) return absl::StrCat(a, b);
  return absl::StrCat(a, "/", b);
}

bool IsHexId(absl::string_view id) {
  if (id.size() != 64) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

absl::Status MkdirAll(const std::string& path, mode_t mode) {
  if (path.empty()) return absl::InvalidArgumentError("mkdir: empty path");
  struct stat st;
  if (stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return absl::OkStatus();
    return absl::FailedPreconditionError(
        absl::StrCat("mkdir ", path, ": exists and is not a directory"));
  }
  size_t slash = path.find_last_of('/');
  if (slash != std::string::npos && slash > 0) {
    absl::Status parent = MkdirAll(path.substr(0, slash), mode);
    if (!parent.ok()) return parent;
  }
  if (mkdir(path.c_str(), mode) != 0 && errno != EEXIST) {
    return ErrnoStatus(errno, absl::StrCat("mkdir ", path));
  }
  return absl::OkStatus();
}

namespace {

// Whether the directory `fd` is the root of a mount (statx knows for sure on
// bind mounts of the same file system, where st_dev alone cannot tell).
bool IsMountRoot(int fd, dev_t parent_dev) {
  struct statx stx;
  if (statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &stx) != 0) return false;
  if ((stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
      (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT)) {
    return true;
  }
  return makedev(stx.stx_dev_major, stx.stx_dev_minor) != parent_dev;
}

absl::Status RemoveDirContents(int fd, const std::string& shown_path,
                               dev_t dev) {
  // Read every name first so the directory stream is not mutated while read.
  std::vector<std::string> names;
  {
    int dup_fd = dup(fd);
    if (dup_fd < 0) return ErrnoStatus(errno, absl::StrCat("dup ", shown_path));
    DIR* dir = fdopendir(dup_fd);
    if (dir == nullptr) {
      close(dup_fd);
      return ErrnoStatus(errno, absl::StrCat("opendir ", shown_path));
    }
    errno = 0;
    while (struct dirent* ent = readdir(dir)) {
      absl::string_view n = ent->d_name;
      if (n == "." || n == "..") continue;
      names.emplace_back(n);
    }
    int err = errno;
    closedir(dir);
    if (err != 0) return ErrnoStatus(err, absl::StrCat("readdir ", shown_path));
  }
  for (const std::string& name : names) {
    struct stat st;
    if (fstatat(fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) continue;
      return ErrnoStatus(errno, absl::StrCat("stat ", shown_path, "/", name));
    }
    std::string child_path = absl::StrCat(shown_path, "/", name);
    if (!S_ISDIR(st.st_mode)) {
      if (unlinkat(fd, name.c_str(), 0) != 0 && errno != ENOENT) {
        return ErrnoStatus(errno, absl::StrCat("unlink ", child_path));
      }
      continue;
    }
    UniqueFd child(openat(fd, name.c_str(),
                          O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!child.valid()) {
      return ErrnoStatus(errno, absl::StrCat("open ", child_path));
    }
    if (IsMountRoot(child.get(), dev)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "refusing to remove ", child_path,
          ": it is a mount point (unmount it first)"));
    }
    absl::Status s = RemoveDirContents(child.get(), child_path, dev);
    if (!s.ok()) return s;
    child.Reset();
    if (unlinkat(fd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
      return ErrnoStatus(errno, absl::StrCat("rmdir ", child_path));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status RemoveTreeAt(int dirfd, const std::string& name) {
  struct stat parent_st;
  if (fstat(dirfd, &parent_st) != 0) return ErrnoStatus(errno, "fstat");
  struct stat st;
  if (fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoStatus(errno, absl::StrCat("stat ", name));
  }
  if (!S_ISDIR(st.st_mode)) {
    if (unlinkat(dirfd, name.c_str(), 0) != 0 && errno != ENOENT) {
      return ErrnoStatus(errno, absl::StrCat("unlink ", name));
    }
    return absl::OkStatus();
  }
  UniqueFd fd(openat(dirfd, name.c_str(),
                     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(errno, absl::StrCat("open ", name));
  if (IsMountRoot(fd.get(), parent_st.st_dev)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "refusing to remove ", name, ": it is a mount point (unmount it first)"));
  }
  absl::Status s = RemoveDirContents(fd.get(), name, st.st_dev);
  if (!s.ok()) return s;
  fd.Reset();
  if (unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, absl::StrCat("rmdir ", name));
  }
  return absl::OkStatus();
}

absl::Status RemoveTree(const std::string& path) {
  if (path.empty() || path == "/") {
    return absl::InvalidArgumentError(
        absl::StrCat("refusing to remove '", path, "'"));
  }
  std::string trimmed = path;
  while (trimmed.size() > 1 && trimmed.back() == '/') trimmed.pop_back();
  size_t slash = trimmed.find_last_of('/');
  std::string parent = slash == std::string::npos ? "."
                       : slash == 0             ? "/"
                                                : trimmed.substr(0, slash);
  std::string name =
      slash == std::string::npos ? trimmed : trimmed.substr(slash + 1);
  UniqueFd parent_fd(
      open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!parent_fd.valid()) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoStatus(errno, absl::StrCat("open ", parent));
  }
  absl::Status s = RemoveTreeAt(parent_fd.get(), name);
  if (!s.ok()) {
    return absl::Status(s.code(),
                        absl::StrCat("remove ", path, ": ", s.message()));
  }
  return s;
}

absl::StatusOr<std::string> ReadFileToString(const std::string& path,
                                             size_t max_bytes) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(errno, absl::StrCat("open ", path));
  std::string out;
  char buf[16384];
  while (true) {
    ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus(errno, absl::StrCat("read ", path));
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > max_bytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat("read ", path, ": larger than ", max_bytes, " bytes"));
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

absl::StatusOr<int64_t> FilesystemMagic(const std::string& path) {
  std::string probe = path.empty() ? "." : path;
  while (true) {
    struct statfs sfs;
    if (statfs(probe.c_str(), &sfs) == 0) {
      return static_cast<int64_t>(static_cast<uint32_t>(sfs.f_type));
    }
    if (errno != ENOENT) {
      return ErrnoStatus(errno, absl::StrCat("statfs ", probe));
    }
    while (probe.size() > 1 && probe.back() == '/') probe.pop_back();
    size_t slash = probe.find_last_of('/');
    if (slash == std::string::npos) {
      probe = ".";
    } else if (slash == 0) {
      probe = "/";
    } else {
      probe.resize(slash);
    }
  }
}

std::string FilesystemName(int64_t magic) {
  switch (magic) {
    case kExtMagic:
      return "ext2/ext3/ext4";
    case kBtrfsMagic:
      return "btrfs";
    case kOverlayMagic:
      return "overlay";
    case kAufsMagic:
      return "aufs";
    case kEcryptfsMagic:
      return "ecryptfs";
    case kZfsMagic:
      return "zfs";
    case kTmpfsMagic:
      return "tmpfs";
    case kXfsMagic:
      return "xfs";
    case 0x6969:
      return "nfs";
    case 0x65735546:
      return "fuse";
    case 0x858458f6:
      return "ramfs";
    case 0x73717368:
      return "squashfs";
    case 0xE0F5E1E2:
      return "erofs";
    default:
      return absl::StrFormat("unknown (0x%x)", magic);
  }
}

absl::StatusOr<bool> FileHasField(const std::string& path,
                                  absl::string_view word) {
  absl::StatusOr<std::string> text = ReadFileToString(path, 1 << 20);
  if (!text.ok()) return text.status();
  for (absl::string_view line : absl::StrSplit(*text, '\n')) {
    for (absl::string_view field :
         absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty())) {
      if (field == word) return true;
    }
  }
  return false;
}

absl::Status SyncDir(const std::string& path) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(errno, absl::StrCat("open ", path));
  if (fsync(fd.get()) != 0) {
    return ErrnoStatus(errno, absl::StrCat("fsync ", path));
  }
  return absl::OkStatus();
}

}  // namespace berth::storage
