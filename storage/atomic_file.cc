// Atomic small-file replacement; see atomic_file.h.
#include "storage/atomic_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "storage/fs_util.h"

namespace berth::storage {
namespace {

std::string DirName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

absl::Status WriteFileAtomic(const std::string& path, absl::string_view data,
                             const AtomicWriteOptions& options) {
  std::string temp = absl::StrCat(path, ".tmp-XXXXXX");
  std::vector<char> name(temp.begin(), temp.end());
  name.push_back('\0');
  UniqueFd fd(mkostemp(name.data(), O_CLOEXEC));
  if (!fd.valid()) return ErrnoStatus(errno, absl::StrCat("create ", temp));
  std::string temp_path(name.data());
  auto fail = [&](int err, absl::string_view what) {
    unlink(temp_path.c_str());
    return ErrnoStatus(err, absl::StrCat(what, " ", temp_path));
  };
  if (fchmod(fd.get(), options.mode) != 0) return fail(errno, "chmod");
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd.get(), data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(errno, "write");
    }
    done += static_cast<size_t>(n);
  }
  if (fsync(fd.get()) != 0) return fail(errno, "fsync");
  if (close(fd.Release()) != 0) return fail(errno, "close");
  if (options.before_rename) options.before_rename();
  if (rename(temp_path.c_str(), path.c_str()) != 0) {
    int err = errno;
    unlink(temp_path.c_str());
    return ErrnoStatus(err, absl::StrCat("rename ", temp_path, " to ", path));
  }
  return SyncDir(DirName(path));
}

absl::Status RemoveStaleTempFiles(const std::string& path) {
  std::string dir_path = DirName(path);
  size_t slash = path.find_last_of('/');
  std::string prefix = absl::StrCat(
      slash == std::string::npos ? path : path.substr(slash + 1), ".tmp-");
  DIR* dir = opendir(dir_path.c_str());
  if (dir == nullptr) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoStatus(errno, absl::StrCat("opendir ", dir_path));
  }
  std::vector<std::string> stale;
  while (struct dirent* ent = readdir(dir)) {
    if (absl::StartsWith(ent->d_name, prefix)) stale.emplace_back(ent->d_name);
  }
  closedir(dir);
  for (const std::string& name : stale) {
    std::string full = JoinPath(dir_path, name);
    if (unlink(full.c_str()) != 0 && errno != ENOENT) {
      return ErrnoStatus(errno, absl::StrCat("remove stale ", full));
    }
  }
  return absl::OkStatus();
}

}  // namespace berth::storage
