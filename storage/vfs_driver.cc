// The vfs graph driver; see vfs_driver.h.
#include "storage/vfs_driver.h"

#include <sys/stat.h>

#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "storage/fs_util.h"
#include "storage/layer_apply.h"
#include "storage/tree_copy.h"

namespace berth::storage {

absl::StatusOr<std::unique_ptr<VfsDriver>> VfsDriver::New(
    std::string home, const std::vector<std::string>& options) {
  if (!options.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("vfs: unknown option \"", options.front(),
                     "\" (vfs takes no options)"));
  }
  absl::Status s = MkdirAll(JoinPath(home, "dir"), 0700);
  if (!s.ok()) return s;
  if (chmod(home.c_str(), 0700) != 0) {
    return ErrnoStatus(errno, absl::StrCat("chmod ", home));
  }
  return std::unique_ptr<VfsDriver>(new VfsDriver(std::move(home)));
}

std::string VfsDriver::LayerDir(absl::string_view id) const {
  return JoinPath(JoinPath(home_, "dir"), id);
}

absl::Status VfsDriver::Create(absl::string_view id, absl::string_view parent) {
  absl::Status s = ValidateLayerId(id);
  if (!s.ok()) return s;
  std::string dir = LayerDir(id);
  if (Exists(id)) {
    return absl::AlreadyExistsError(
        absl::StrCat("vfs: layer ", id, " already exists"));
  }
  if (parent.empty()) {
    if (mkdir(dir.c_str(), 0755) != 0) {
      return ErrnoStatus(errno, absl::StrCat("vfs: create layer ", id));
    }
    // mkdir applies the umask; a layer root is 0755 like a rootfs.
    if (chmod(dir.c_str(), 0755) != 0) {
      return ErrnoStatus(errno, absl::StrCat("vfs: chmod ", dir));
    }
    return ChownLayerRoot(id_shift(), dir);
  }
  s = ValidateLayerId(parent);
  if (!s.ok()) return s;
  if (!Exists(parent)) {
    return absl::NotFoundError(
        absl::StrCat("vfs: parent layer ", parent, " of ", id, " does not exist"));
  }
  s = CopyTree(LayerDir(parent), dir);
  if (!s.ok()) {
    RemoveTree(dir).IgnoreError();
    return absl::Status(s.code(), absl::StrCat("vfs: create layer ", id,
                                               " from ", parent, ": ",
                                               s.message()));
  }
  return absl::OkStatus();
}

absl::Status VfsDriver::Remove(absl::string_view id) {
  absl::Status s = ValidateLayerId(id);
  if (!s.ok()) return s;
  if (!Exists(id)) {
    return absl::NotFoundError(absl::StrCat("vfs: no such layer ", id));
  }
  return RemoveTree(LayerDir(id));
}

absl::StatusOr<std::string> VfsDriver::Get(absl::string_view id) {
  absl::Status s = ValidateLayerId(id);
  if (!s.ok()) return s;
  if (!Exists(id)) {
    return absl::NotFoundError(absl::StrCat("vfs: no such layer ", id));
  }
  return LayerDir(id);
}

absl::Status VfsDriver::Put(absl::string_view id) {
  return ValidateLayerId(id);
}

bool VfsDriver::Exists(absl::string_view id) {
  if (!ValidateLayerId(id).ok()) return false;
  struct stat st;
  return lstat(LayerDir(id).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

DriverStatus VfsDriver::Status() {
  absl::StatusOr<int64_t> magic = FilesystemMagic(home_);
  return {{"Backing Filesystem",
           magic.ok() ? FilesystemName(*magic) : "unknown"}};
}

absl::Status VfsDriver::Cleanup() { return absl::OkStatus(); }

absl::StatusOr<int64_t> VfsDriver::ApplyDiff(absl::string_view id,
                                             absl::string_view /*parent*/,
                                             ByteSource diff) {
  absl::StatusOr<std::string> dir = Get(id);
  if (!dir.ok()) return dir.status();
  ApplyOptions options;
  options.whiteouts = WhiteoutFormat::kRemove;
  options.ids = id_shift();
  return ApplyLayer(*dir, std::move(diff), options);
}

}  // namespace berth::storage
