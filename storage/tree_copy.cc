// Directory tree copy for the vfs driver; see tree_copy.h.
#include "storage/tree_copy.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "storage/fs_util.h"

namespace berth::storage {
namespace {

class TreeCopier {
 public:
  TreeCopier(std::string src, std::string dst)
      : src_(std::move(src)), dst_(std::move(dst)) {}

  absl::Status Run() {
    struct stat st;
    if (lstat(src_.c_str(), &st) != 0) {
      return ErrnoStatus(errno, absl::StrCat("stat ", src_));
    }
    if (!S_ISDIR(st.st_mode)) {
      return absl::InvalidArgumentError(
          absl::StrCat("copy ", src_, ": not a directory"));
    }
    root_dev_ = st.st_dev;
    if (mkdir(dst_.c_str(), 0700) != 0) {
      return ErrnoStatus(errno, absl::StrCat("mkdir ", dst_));
    }
    UniqueFd src_fd(open(src_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!src_fd.valid()) return ErrnoStatus(errno, absl::StrCat("open ", src_));
    UniqueFd dst_fd(open(dst_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dst_fd.valid()) return ErrnoStatus(errno, absl::StrCat("open ", dst_));
    dst_root_ = dst_fd.get();
    absl::Status s = CopyDirContents(src_fd.get(), dst_fd.get(), "");
    if (!s.ok()) return s;
    return CopyAttributes(dst_fd.get(), nullptr, "", st);
  }

 private:
  std::string SrcPath(const std::string& rel) const {
    return rel.empty() ? src_ : JoinPath(src_, rel);
  }
  std::string DstPath(const std::string& rel) const {
    return rel.empty() ? dst_ : JoinPath(dst_, rel);
  }

  absl::Status CopyDirContents(int src_dir, int dst_dir, const std::string& rel) {
    std::vector<std::string> names;
    {
      int fd = openat(src_dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (fd < 0) return ErrnoStatus(errno, absl::StrCat("open ", SrcPath(rel)));
      DIR* d = fdopendir(fd);
      if (d == nullptr) {
        close(fd);
        return ErrnoStatus(errno, absl::StrCat("opendir ", SrcPath(rel)));
      }
      errno = 0;
      while (struct dirent* ent = readdir(d)) {
        absl::string_view n = ent->d_name;
        if (n != "." && n != "..") names.emplace_back(n);
      }
      int err = errno;
      closedir(d);
      if (err != 0) return ErrnoStatus(err, absl::StrCat("readdir ", SrcPath(rel)));
    }
    for (const std::string& name : names) {
      absl::Status s = CopyEntry(src_dir, dst_dir, name,
                                 rel.empty() ? name : absl::StrCat(rel, "/", name));
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }

  absl::Status CopyEntry(int src_dir, int dst_dir, const std::string& name,
                         const std::string& rel) {
    struct stat st;
    if (fstatat(src_dir, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return ErrnoStatus(errno, absl::StrCat("stat ", SrcPath(rel)));
    }
    const char* n = name.c_str();
    if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
      auto key = std::make_pair(st.st_dev, st.st_ino);
      auto it = links_.find(key);
      if (it != links_.end()) {
        if (linkat(dst_root_, it->second.c_str(), dst_dir, n, 0) != 0) {
          return ErrnoStatus(errno, absl::StrCat("link ", DstPath(rel)));
        }
        return absl::OkStatus();
      }
      links_.emplace(key, rel);
    }
    if (S_ISDIR(st.st_mode)) {
      if (st.st_dev != root_dev_) {
        return absl::FailedPreconditionError(absl::StrCat(
            "copy ", SrcPath(rel), ": is a mount point; refusing to copy it"));
      }
      if (mkdirat(dst_dir, n, 0700) != 0) {
        return ErrnoStatus(errno, absl::StrCat("mkdir ", DstPath(rel)));
      }
      UniqueFd sub_src(openat(src_dir, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                                              O_CLOEXEC));
      if (!sub_src.valid()) {
        return ErrnoStatus(errno, absl::StrCat("open ", SrcPath(rel)));
      }
      UniqueFd sub_dst(openat(dst_dir, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                                              O_CLOEXEC));
      if (!sub_dst.valid()) {
        return ErrnoStatus(errno, absl::StrCat("open ", DstPath(rel)));
      }
      absl::Status s = CopyDirContents(sub_src.get(), sub_dst.get(), rel);
      if (!s.ok()) return s;
      return CopyAttributes(sub_dst.get(), nullptr, rel, st);
    }
    if (S_ISREG(st.st_mode)) {
      UniqueFd in(openat(src_dir, n, O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (!in.valid()) return ErrnoStatus(errno, absl::StrCat("open ", SrcPath(rel)));
      UniqueFd out(openat(dst_dir, n,
                          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                          0600));
      if (!out.valid()) {
        return ErrnoStatus(errno, absl::StrCat("create ", DstPath(rel)));
      }
      absl::Status s = CopyData(in.get(), out.get(), st.st_size, rel);
      if (!s.ok()) return s;
      return CopyAttributes(out.get(), nullptr, rel, st);
    }
    if (S_ISLNK(st.st_mode)) {
      std::vector<char> target(static_cast<size_t>(st.st_size) + 1);
      ssize_t len = readlinkat(src_dir, n, target.data(), target.size());
      if (len < 0) return ErrnoStatus(errno, absl::StrCat("readlink ", SrcPath(rel)));
      if (static_cast<size_t>(len) >= target.size()) {
        return absl::AbortedError(
            absl::StrCat("readlink ", SrcPath(rel), ": changed while copying"));
      }
      target[static_cast<size_t>(len)] = '\0';
      if (symlinkat(target.data(), dst_dir, n) != 0) {
        return ErrnoStatus(errno, absl::StrCat("symlink ", DstPath(rel)));
      }
    } else {
      if (mknodat(dst_dir, n, (st.st_mode & S_IFMT) | 0600, st.st_rdev) != 0) {
        return ErrnoStatus(errno, absl::StrCat("mknod ", DstPath(rel)));
      }
    }
    return CopyAttributes(-1, &name, rel, st, dst_dir);
  }

  absl::Status CopyData(int in, int out, off_t size, const std::string& rel) {
    // A reflink shares the blocks (btrfs, xfs); otherwise the kernel copies.
    if (ioctl(out, FICLONE, in) == 0) return absl::OkStatus();
    off_t left = size;
    bool use_range = true;
    while (left > 0 || !use_range) {
      if (use_range) {
        ssize_t n = copy_file_range(in, nullptr, out, nullptr,
                                    static_cast<size_t>(left), 0);
        if (n < 0) {
          if (errno == EINTR) continue;
          if (errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
              errno == EOPNOTSUPP) {
            use_range = false;
            continue;
          }
          return ErrnoStatus(errno, absl::StrCat("copy ", DstPath(rel)));
        }
        if (n == 0) break;  // the source shrank under us
        left -= n;
        continue;
      }
      char buf[65536];
      ssize_t n = read(in, buf, sizeof(buf));
      if (n < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus(errno, absl::StrCat("read ", SrcPath(rel)));
      }
      if (n == 0) break;
      ssize_t done = 0;
      while (done < n) {
        ssize_t w = write(out, buf + done, static_cast<size_t>(n - done));
        if (w < 0) {
          if (errno == EINTR) continue;
          return ErrnoStatus(errno, absl::StrCat("write ", DstPath(rel)));
        }
        done += w;
      }
    }
    return absl::OkStatus();
  }

  // Owner, then mode (chown clears setuid), xattrs, and times last.
  absl::Status CopyAttributes(int fd, const std::string* name,
                              const std::string& rel, const struct stat& st,
                              int dir_fd = -1) {
    std::string dst = DstPath(rel);
    bool is_link = S_ISLNK(st.st_mode);
    int rc = fd >= 0 ? fchown(fd, st.st_uid, st.st_gid)
                     : fchownat(dir_fd, name->c_str(), st.st_uid, st.st_gid,
                                AT_SYMLINK_NOFOLLOW);
    if (rc != 0 && !(errno == EPERM && geteuid() != 0)) {
      return ErrnoStatus(errno, absl::StrCat("chown ", dst));
    }
    if (!is_link) {
      rc = fd >= 0 ? fchmod(fd, st.st_mode & 07777)
                   : fchmodat(dir_fd, name->c_str(), st.st_mode & 07777, 0);
      if (rc != 0) return ErrnoStatus(errno, absl::StrCat("chmod ", dst));
    }
    absl::Status s = CopyXattrs(SrcPath(rel), dst);
    if (!s.ok()) return s;
    timespec times[2] = {st.st_atim, st.st_mtim};
    rc = fd >= 0 ? futimens(fd, times)
                 : utimensat(dir_fd, name->c_str(), times, AT_SYMLINK_NOFOLLOW);
    if (rc != 0) return ErrnoStatus(errno, absl::StrCat("set times of ", dst));
    return absl::OkStatus();
  }

  absl::Status CopyXattrs(const std::string& src, const std::string& dst) {
    ssize_t len = llistxattr(src.c_str(), nullptr, 0);
    if (len < 0) {
      if (errno == ENOTSUP) return absl::OkStatus();
      return ErrnoStatus(errno, absl::StrCat("list xattrs of ", src));
    }
    if (len == 0) return absl::OkStatus();
    std::vector<char> names(static_cast<size_t>(len));
    len = llistxattr(src.c_str(), names.data(), names.size());
    if (len < 0) return ErrnoStatus(errno, absl::StrCat("list xattrs of ", src));
    for (size_t i = 0; i < static_cast<size_t>(len);) {
      const char* key = names.data() + i;
      i += strlen(key) + 1;
      ssize_t vlen = lgetxattr(src.c_str(), key, nullptr, 0);
      if (vlen < 0) {
        if (errno == ENODATA) continue;
        return ErrnoStatus(errno, absl::StrCat("get xattr ", key, " of ", src));
      }
      std::vector<char> value(static_cast<size_t>(vlen));
      vlen = lgetxattr(src.c_str(), key, value.data(), value.size());
      if (vlen < 0) {
        return ErrnoStatus(errno, absl::StrCat("get xattr ", key, " of ", src));
      }
      if (lsetxattr(dst.c_str(), key, value.data(), static_cast<size_t>(vlen),
                    0) != 0 &&
          errno != ENOTSUP) {
        return ErrnoStatus(errno, absl::StrCat("set xattr ", key, " on ", dst));
      }
    }
    return absl::OkStatus();
  }

  const std::string src_;
  const std::string dst_;
  dev_t root_dev_ = 0;
  int dst_root_ = -1;
  std::map<std::pair<dev_t, ino_t>, std::string> links_;
};

}  // namespace

absl::Status CopyTree(const std::string& src, const std::string& dst) {
  TreeCopier copier(src, dst);
  return copier.Run();
}

}  // namespace berth::storage
