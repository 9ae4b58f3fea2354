// Small POSIX file-system helpers shared by the storage library: errno to
// absl::Status, an owning file descriptor, recursive create and remove that
// never follow symlinks or cross mount points, and file-system type names.
#ifndef BERTH_STORAGE_FS_UTIL_H_
#define BERTH_STORAGE_FS_UTIL_H_

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace berth::storage {

// An owning file descriptor; closes on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

// Builds a status from an errno value: "<what>: <strerror>", with a code that
// follows the errno (ENOENT -> NotFound, EEXIST -> AlreadyExists, EACCES and
// EPERM -> PermissionDenied, ENOSPC -> ResourceExhausted, otherwise Internal).
absl::Status ErrnoStatus(int err, absl::string_view what);

// Joins two path pieces with exactly one '/' between them.
std::string JoinPath(absl::string_view a, absl::string_view b);

// True for exactly 64 lower-case hexadecimal characters (image ids).
bool IsHexId(absl::string_view id);

// Creates `path` and any missing parents with `mode`. An existing directory
// is fine; an existing non-directory is an error naming it.
absl::Status MkdirAll(const std::string& path, mode_t mode);

// Removes `path` and everything below it without following symlinks. Refuses
// (and removes nothing further) when it meets a mount point below `path`, so
// a forgotten bind or overlay mount never takes host files with it.
// A missing `path` is not an error.
absl::Status RemoveTree(const std::string& path);

// As RemoveTree, for the entry `name` inside the directory open as `dirfd`.
absl::Status RemoveTreeAt(int dirfd, const std::string& name);

// Reads a whole file. `max_bytes` bounds what a corrupt or hostile file can
// make us allocate.
absl::StatusOr<std::string> ReadFileToString(const std::string& path,
                                             size_t max_bytes = 64 << 20);

// The statfs magic of the file system holding `path`, or of its nearest
// existing ancestor when `path` does not exist yet (a driver root is probed
// before it is created).
absl::StatusOr<int64_t> FilesystemMagic(const std::string& path);

// A readable name for a statfs magic ("ext2/ext3/ext4", "btrfs", "overlay",
// ...); unknown ones are printed in hex.
std::string FilesystemName(int64_t magic);

inline constexpr int64_t kBtrfsMagic = 0x9123683E;
inline constexpr int64_t kOverlayMagic = 0x794C7630;
inline constexpr int64_t kAufsMagic = 0x61756673;
inline constexpr int64_t kEcryptfsMagic = 0xF15F;
inline constexpr int64_t kZfsMagic = 0x2FC12FC1;
inline constexpr int64_t kExtMagic = 0xEF53;
inline constexpr int64_t kTmpfsMagic = 0x01021994;
inline constexpr int64_t kXfsMagic = 0x58465342;

// Reads a file from /proc (or anywhere) and reports whether `word` appears as
// a whole whitespace-separated field on any of its lines.
absl::StatusOr<bool> FileHasField(const std::string& path,
                                  absl::string_view word);

// fsyncs the directory `path` so that a rename inside it is durable.
absl::Status SyncDir(const std::string& path);

}  // namespace berth::storage

#endif  // BERTH_STORAGE_FS_UTIL_H_
