// Layer diff application; see layer_apply.h.
#include "storage/layer_apply.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "storage/fs_util.h"

namespace berth::storage {
namespace {

constexpr absl::string_view kWhiteoutPrefix = ".wh.";
constexpr absl::string_view kWhiteoutMetaPrefix = ".wh..wh.";
constexpr absl::string_view kOpaqueMarker = ".wh..wh..opq";
constexpr const char* kOverlayOpaqueXattr = "trusted.overlay.opaque";

// Opens `rel` below `root_fd`, refusing any resolution that leaves it.
int OpenBeneath(int root_fd, const std::string& rel, int flags) {
  open_how how{};
  how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
  how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
  const char* path = rel.empty() ? "." : rel.c_str();
  for (int attempt = 0; attempt < 8; ++attempt) {
    long fd = syscall(SYS_openat2, root_fd, path, &how, sizeof(how));
    if (fd >= 0) return static_cast<int>(fd);
    if (errno != EAGAIN && errno != EINTR) return -1;
  }
  return -1;
}

std::pair<std::string, std::string> SplitParent(const std::string& rel) {
  size_t slash = rel.find_last_of('/');
  if (slash == std::string::npos) return {"", rel};
  return {rel.substr(0, slash), rel.substr(slash + 1)};
}

class Applier {
 public:
  Applier(std::string target, const ApplyOptions& options)
      : target_(std::move(target)), options_(options) {}

  absl::StatusOr<int64_t> Run(ByteSource source) {
    if (!options_.dry_run) {
      root_.Reset(open(target_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
      if (!root_.valid()) {
        return ErrnoStatus(errno, absl::StrCat("open layer ", target_));
      }
    }
    TarReader reader(std::move(source), options_.tar);
    int64_t entries = 0;
    while (true) {
      TarEntry entry;
      absl::StatusOr<bool> more = reader.Next(&entry);
      if (!more.ok()) return more.status();
      if (!*more) break;
      if (++entries > options_.max_entries) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "layer has more than ", options_.max_entries, " entries"));
      }
      absl::Status s = ApplyEntry(reader, entry);
      if (!s.ok()) return s;
    }
    if (!options_.dry_run) {
      absl::Status s = FinishDirectories();
      if (!s.ok()) return s;
    }
    return size_;
  }

 private:
  struct DeferredDir {
    std::string rel;
    uint32_t mode;
    timespec times[2];
  };

  absl::Status EntryError(const TarEntry& e, absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("tar entry \"", e.name, "\": ", why));
  }

  absl::Status EntryErrno(const TarEntry& e, int err, absl::string_view what) {
    absl::Status s = ErrnoStatus(err, what);
    return absl::Status(s.code(),
                        absl::StrCat("tar entry \"", e.name, "\": ", s.message()));
  }

  // Opens the directory `rel`, creating missing components when `create`.
  // A missing directory without `create` yields fd -1 and errno ENOENT.
  absl::StatusOr<UniqueFd> OpenDir(const TarEntry& e, const std::string& rel,
                                   bool create) {
    UniqueFd fd(OpenBeneath(root_.get(), rel, O_PATH | O_DIRECTORY));
    if (fd.valid()) return fd;
    if (errno == ENOENT && create) return MakeParents(e, rel);
    if (errno == ENOENT && !create) return UniqueFd();
    return DirError(e, rel, errno);
  }

  absl::Status DirError(const TarEntry& e, const std::string& rel, int err) {
    if (err == EXDEV) {
      return EntryError(e, absl::StrCat("\"", rel,
                                        "\" leads outside the layer through a "
                                        "symlink; refusing to follow it"));
    }
    if (err == ENOTDIR) {
      return EntryError(e, absl::StrCat("\"", rel, "\" is not a directory"));
    }
    if (err == ENOSYS) {
      return absl::UnimplementedError(
          "this kernel lacks openat2 (Linux 5.6+), which berth needs to "
          "extract layers safely");
    }
    return EntryErrno(e, err, absl::StrCat("open ", rel));
  }

  absl::StatusOr<UniqueFd> MakeParents(const TarEntry& e,
                                       const std::string& rel) {
    std::vector<absl::string_view> parts = absl::StrSplit(rel, '/');
    UniqueFd cur(OpenBeneath(root_.get(), "", O_PATH | O_DIRECTORY));
    if (!cur.valid()) return DirError(e, "", errno);
    std::string prefix;
    for (absl::string_view part : parts) {
      prefix = prefix.empty() ? std::string(part) : absl::StrCat(prefix, "/", part);
      UniqueFd next(OpenBeneath(root_.get(), prefix, O_PATH | O_DIRECTORY));
      if (!next.valid()) {
        if (errno != ENOENT) return DirError(e, prefix, errno);
        std::string name(part);
        if (mkdirat(cur.get(), name.c_str(), 0755) != 0 && errno != EEXIST) {
          return EntryErrno(e, errno, absl::StrCat("mkdir ", prefix));
        }
        if (options_.ids.active()) {
          fchownat(cur.get(), name.c_str(), options_.ids.uid_base,
                   options_.ids.gid_base, AT_SYMLINK_NOFOLLOW);
        }
        InheritLowerAttributes(cur.get(), name, prefix);
        next.Reset(OpenBeneath(root_.get(), prefix, O_PATH | O_DIRECTORY));
        if (!next.valid() && errno == ENOENT) {
          // mkdir met an existing name that still does not resolve.
          return EntryError(e, absl::StrCat("\"", prefix,
                                            "\" is a symlink that leads to "
                                            "nothing in the layer"));
        }
        if (!next.valid()) return DirError(e, prefix, errno);
      }
      cur = std::move(next);
    }
    return cur;
  }

  // A directory made up for a diff takes the attributes the lower layers
  // give it, so the merged view does not change them behind the user.
  void InheritLowerAttributes(int parent_fd, const std::string& name,
                              const std::string& rel) {
    for (const std::string& lower : options_.lower_dirs) {
      struct stat st;
      if (lstat(JoinPath(lower, rel).c_str(), &st) != 0) continue;
      if (!S_ISDIR(st.st_mode)) return;
      fchownat(parent_fd, name.c_str(), st.st_uid, st.st_gid,
               AT_SYMLINK_NOFOLLOW);
      fchmodat(parent_fd, name.c_str(), st.st_mode & 07777, 0);
      return;
    }
  }

  absl::Status Drain(TarReader& reader) {
    char buf[65536];
    while (true) {
      absl::StatusOr<size_t> n = reader.Read(buf, sizeof(buf));
      if (!n.ok()) return n.status();
      if (*n == 0) return absl::OkStatus();
    }
  }

  absl::Status ApplyEntry(TarReader& reader, const TarEntry& e) {
    absl::StatusOr<std::string> rel = CleanArchivePath(e.name);
    if (!rel.ok()) return EntryError(e, rel.status().message());
    if (e.type == kTarRegular) {
      size_ += e.size;
      if (size_ > options_.max_total_bytes) {
        return absl::ResourceExhaustedError(absl::StrCat(
            "layer data exceeds ", options_.max_total_bytes, " bytes"));
      }
    }
    if (rel->empty()) return Drain(reader);  // the layer root itself
    auto [parent, base] = SplitParent(*rel);

    if (absl::StartsWith(base, kWhiteoutPrefix)) {
      if (options_.dry_run) return Drain(reader);
      if (base == kOpaqueMarker) return Opaque(e, parent);
      // Other ".wh..wh." names are AUFS bookkeeping, not content.
      if (absl::StartsWith(base, kWhiteoutMetaPrefix)) return Drain(reader);
      std::string victim = base.substr(kWhiteoutPrefix.size());
      if (victim.empty() || victim == "." || victim == "..") {
        return EntryError(e, "whiteout names no file");
      }
      return Whiteout(e, parent, victim);
    }
    for (absl::string_view part : absl::StrSplit(*rel, '/')) {
      if (absl::StartsWith(part, kWhiteoutMetaPrefix)) return Drain(reader);
    }

    std::string link_rel;
    if (e.type == kTarHardLink) {
      absl::StatusOr<std::string> target = CleanArchivePath(e.link_name);
      if (!target.ok()) {
        return EntryError(e, absl::StrCat("hard link target: ",
                                          target.status().message()));
      }
      if (target->empty()) {
        return EntryError(e, "hard link to the layer root");
      }
      link_rel = *target;
    }
    switch (e.type) {
      case kTarRegular:
      case kTarHardLink:
      case kTarSymlink:
      case kTarCharDevice:
      case kTarBlockDevice:
      case kTarDirectory:
      case kTarFifo:
        break;
      default:
        return EntryError(e, absl::StrCat("unsupported entry type '",
                                          std::string(1, e.type), "'"));
    }
    if (options_.dry_run) return Drain(reader);
    if (e.type == kTarHardLink && link_rel == *rel) return Drain(reader);

    absl::StatusOr<UniqueFd> parent_fd = OpenDir(e, parent, true);
    if (!parent_fd.ok()) return parent_fd.status();
    int pfd = parent_fd->get();
    const char* name = base.c_str();

    struct stat existing;
    if (fstatat(pfd, name, &existing, AT_SYMLINK_NOFOLLOW) == 0) {
      if (!(S_ISDIR(existing.st_mode) && e.type == kTarDirectory)) {
        absl::Status s = RemoveTreeAt(pfd, base);
        if (!s.ok()) return EntryError(e, s.message());
      }
    } else if (errno != ENOENT) {
      return EntryErrno(e, errno, absl::StrCat("stat ", *rel));
    }
    created_.insert(*rel);

    switch (e.type) {
      case kTarDirectory: {
        if (mkdirat(pfd, name, 0700) != 0 && errno != EEXIST) {
          return EntryErrno(e, errno, absl::StrCat("mkdir ", *rel));
        }
        UniqueFd dir(openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
                                           O_CLOEXEC));
        if (!dir.valid()) return EntryErrno(e, errno, absl::StrCat("open ", *rel));
        absl::Status s = Chown(e, dir.get(), nullptr);
        if (s.ok()) s = SetXattrs(e, dir.get(), "");
        if (!s.ok()) return s;
        DeferredDir d{*rel, e.mode, {e.has_atime ? e.atime : e.mtime, e.mtime}};
        dirs_.push_back(std::move(d));
        return Drain(reader);
      }
      case kTarRegular: {
        UniqueFd file(openat(pfd, name,
                             O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                             0600));
        if (!file.valid()) {
          return EntryErrno(e, errno, absl::StrCat("create ", *rel));
        }
        absl::Status s = CopyData(e, reader, file.get());
        if (s.ok()) s = Chown(e, file.get(), nullptr);
        if (s.ok() && fchmod(file.get(), e.mode) != 0) {
          s = EntryErrno(e, errno, absl::StrCat("chmod ", *rel));
        }
        if (s.ok()) s = SetXattrs(e, file.get(), "");
        if (!s.ok()) return s;
        timespec times[2] = {e.has_atime ? e.atime : e.mtime, e.mtime};
        if (futimens(file.get(), times) != 0) {
          return EntryErrno(e, errno, absl::StrCat("set times of ", *rel));
        }
        return absl::OkStatus();
      }
      case kTarHardLink: {
        auto [link_parent, link_base] = SplitParent(link_rel);
        absl::StatusOr<UniqueFd> target_dir = OpenDir(e, link_parent, false);
        if (!target_dir.ok()) return target_dir.status();
        if (!target_dir->valid() ||
            linkat(target_dir->get(), link_base.c_str(), pfd, name, 0) != 0) {
          int err = target_dir->valid() ? errno : ENOENT;
          if (err == ENOENT) {
            return EntryError(e, absl::StrCat("hard link target \"",
                                              e.link_name,
                                              "\" does not exist in the layer"));
          }
          return EntryErrno(e, err, absl::StrCat("link ", *rel));
        }
        return Drain(reader);
      }
      case kTarSymlink: {
        if (symlinkat(e.link_name.c_str(), pfd, name) != 0) {
          return EntryErrno(e, errno, absl::StrCat("symlink ", *rel));
        }
        break;
      }
      default: {
        mode_t type = e.type == kTarCharDevice   ? S_IFCHR
                      : e.type == kTarBlockDevice ? S_IFBLK
                                                  : S_IFIFO;
        if (mknodat(pfd, name, type | 0600,
                    makedev(e.dev_major, e.dev_minor)) != 0) {
          return EntryErrno(e, errno, absl::StrCat("mknod ", *rel));
        }
        break;
      }
    }
    // Symlinks and special files: attributes by name, never following.
    absl::Status s = Chown(e, -1, &base, pfd);
    if (!s.ok()) return s;
    if (e.type != kTarSymlink && fchmodat(pfd, name, e.mode, 0) != 0) {
      return EntryErrno(e, errno, absl::StrCat("chmod ", *rel));
    }
    s = SetXattrs(e, -1, JoinPath(target_, *rel));
    if (!s.ok()) return s;
    timespec times[2] = {e.has_atime ? e.atime : e.mtime, e.mtime};
    if (utimensat(pfd, name, times, AT_SYMLINK_NOFOLLOW) != 0) {
      return EntryErrno(e, errno, absl::StrCat("set times of ", *rel));
    }
    return Drain(reader);
  }

  absl::Status CopyData(const TarEntry& e, TarReader& reader, int fd) {
    std::vector<char> buf(128 * 1024);
    while (true) {
      absl::StatusOr<size_t> n = reader.Read(buf.data(), buf.size());
      if (!n.ok()) return n.status();
      if (*n == 0) return absl::OkStatus();
      size_t done = 0;
      while (done < *n) {
        ssize_t w = write(fd, buf.data() + done, *n - done);
        if (w < 0) {
          if (errno == EINTR) continue;
          return EntryErrno(e, errno, "write");
        }
        done += static_cast<size_t>(w);
      }
    }
  }

  // Ownership by descriptor (fd >= 0) or by name in `dirfd`.
  absl::Status Chown(const TarEntry& e, int fd, const std::string* name,
                     int dirfd = -1) {
    if (e.uid > 0xfffffffe || e.gid > 0xfffffffe) {
      return EntryError(e, "uid or gid out of range");
    }
    absl::StatusOr<uid_t> uid = ShiftUid(options_.ids, e.uid);
    if (!uid.ok()) return EntryError(e, uid.status().message());
    absl::StatusOr<gid_t> gid = ShiftGid(options_.ids, e.gid);
    if (!gid.ok()) return EntryError(e, gid.status().message());
    int rc = fd >= 0 ? fchown(fd, *uid, *gid)
                     : fchownat(dirfd, name->c_str(), *uid, *gid,
                                AT_SYMLINK_NOFOLLOW);
    if (rc != 0) {
      // Without root, files simply belong to the caller.
      if (errno == EPERM && geteuid() != 0) return absl::OkStatus();
      return EntryErrno(e, errno, "chown");
    }
    return absl::OkStatus();
  }

  absl::Status SetXattrs(const TarEntry& e, int fd, const std::string& path) {
    for (const auto& [key, value] : e.xattrs) {
      // A diff must not forge overlay metadata (opaque, redirect, ...).
      if (absl::StartsWith(key, "trusted.overlay.")) continue;
      int rc = fd >= 0 ? fsetxattr(fd, key.c_str(), value.data(), value.size(), 0)
                       : lsetxattr(path.c_str(), key.c_str(), value.data(),
                                   value.size(), 0);
      if (rc != 0) {
        // Not every backing file system takes every namespace.
        if (errno == ENOTSUP) continue;
        return EntryErrno(e, errno, absl::StrCat("set xattr ", key));
      }
    }
    return absl::OkStatus();
  }

  absl::Status Whiteout(const TarEntry& e, const std::string& parent,
                        const std::string& victim) {
    bool overlay = options_.whiteouts == WhiteoutFormat::kOverlay;
    absl::StatusOr<UniqueFd> dir = OpenDir(e, parent, overlay);
    if (!dir.ok()) return dir.status();
    if (!dir->valid()) return absl::OkStatus();  // nothing there to delete
    absl::Status s = RemoveTreeAt(dir->get(), victim);
    if (!s.ok()) return EntryError(e, s.message());
    std::string rel = parent.empty() ? victim : absl::StrCat(parent, "/", victim);
    created_.erase(rel);
    if (!overlay) return absl::OkStatus();
    if (mknodat(dir->get(), victim.c_str(), S_IFCHR, makedev(0, 0)) != 0) {
      return EntryErrno(e, errno, absl::StrCat("create whiteout for ", rel));
    }
    return absl::OkStatus();
  }

  absl::Status Opaque(const TarEntry& e, const std::string& parent) {
    absl::StatusOr<UniqueFd> dir = OpenDir(e, parent, true);
    if (!dir.ok()) return dir.status();
    if (options_.whiteouts == WhiteoutFormat::kOverlay) {
      UniqueFd real(OpenBeneath(root_.get(), parent, O_RDONLY | O_DIRECTORY));
      if (!real.valid()) return DirError(e, parent, errno);
      if (fsetxattr(real.get(), kOverlayOpaqueXattr, "y", 1, 0) != 0) {
        return EntryErrno(e, errno,
                          absl::StrCat("mark ", parent.empty() ? "/" : parent,
                                       " opaque"));
      }
      return absl::OkStatus();
    }
    return RemoveNotCreated(e, dir->get(), parent);
  }

  // An opaque directory in a plain layer keeps only what this diff put in.
  absl::Status RemoveNotCreated(const TarEntry& e, int dir_fd,
                                const std::string& rel) {
    UniqueFd readable(openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!readable.valid()) return EntryErrno(e, errno, absl::StrCat("open ", rel));
    std::vector<std::pair<std::string, bool>> names;
    DIR* d = fdopendir(readable.Release());
    if (d == nullptr) return EntryErrno(e, errno, absl::StrCat("opendir ", rel));
    while (struct dirent* ent = readdir(d)) {
      absl::string_view n = ent->d_name;
      if (n == "." || n == "..") continue;
      names.emplace_back(std::string(n), ent->d_type == DT_DIR);
    }
    closedir(d);
    for (const auto& [name, is_dir] : names) {
      std::string child = rel.empty() ? name : absl::StrCat(rel, "/", name);
      if (!created_.contains(child)) {
        absl::Status s = RemoveTreeAt(dir_fd, name);
        if (!s.ok()) return EntryError(e, s.message());
      } else if (is_dir) {
        UniqueFd sub(openat(dir_fd, name.c_str(),
                            O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (!sub.valid()) continue;
        absl::Status s = RemoveNotCreated(e, sub.get(), child);
        if (!s.ok()) return s;
      }
    }
    return absl::OkStatus();
  }

  // Directory modes and times go last: writing their contents would
  // change the times, and a read-only mode could block the writes.
  absl::Status FinishDirectories() {
    for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it) {
      auto [parent, base] = SplitParent(it->rel);
      UniqueFd pfd(OpenBeneath(root_.get(), parent, O_PATH | O_DIRECTORY));
      if (!pfd.valid()) continue;  // removed by a later whiteout
      struct stat st;
      if (fstatat(pfd.get(), base.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 ||
          !S_ISDIR(st.st_mode)) {
        continue;
      }
      if (fchmodat(pfd.get(), base.c_str(), it->mode, 0) != 0) {
        return ErrnoStatus(errno, absl::StrCat("chmod ", it->rel));
      }
      if (utimensat(pfd.get(), base.c_str(), it->times, AT_SYMLINK_NOFOLLOW) !=
          0) {
        return ErrnoStatus(errno, absl::StrCat("set times of ", it->rel));
      }
    }
    return absl::OkStatus();
  }

  const std::string target_;
  const ApplyOptions& options_;
  UniqueFd root_;
  int64_t size_ = 0;
  absl::flat_hash_set<std::string> created_;
  std::vector<DeferredDir> dirs_;
};

}  // namespace

absl::StatusOr<std::string> CleanArchivePath(absl::string_view name) {
  std::vector<absl::string_view> parts;
  for (absl::string_view part : absl::StrSplit(name, '/', absl::SkipEmpty())) {
    if (part == ".") continue;
    if (part == "..") {
      if (parts.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("path \"", name, "\" escapes the layer root"));
      }
      parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  return absl::StrJoin(parts, "/");
}

absl::StatusOr<int64_t> ApplyLayer(const std::string& target_dir,
                                   ByteSource source,
                                   const ApplyOptions& options) {
  Applier applier(target_dir, options);
  return applier.Run(std::move(source));
}

}  // namespace berth::storage
