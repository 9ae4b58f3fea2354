// The overlay graph driver; see overlay_driver.h.
#include "storage/overlay_driver.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "storage/atomic_file.h"
#include "storage/fs_util.h"
#include "storage/layer_apply.h"

namespace berth::storage {
namespace {

// The kernel copies mount options into one page, NUL included.
constexpr size_t kMaxMountOptions = 4095;
// overlayfs' own bound on the number of lower layers (OVL_MAX_STACK).
constexpr size_t kMaxStack = 500;

// Whether overlayfs takes lower directories one at a time through the new
// mount API ("lowerdir+", Linux 6.8+), which lifts the one-page limit.
bool KernelTakesLowerdirPlus(const std::string& dir) {
  int fs = fsopen("overlay", FSOPEN_CLOEXEC);
  if (fs < 0) return false;
  bool ok = fsconfig(fs, FSCONFIG_SET_STRING, "lowerdir+", dir.c_str(), 0) == 0;
  close(fs);
  return ok;
}

// Mounts an overlay through fsopen/fsconfig/fsmount/move_mount, one lower
// directory per call. Returns 0, or -1 with errno set.
int MountWithLowerdirPlus(const std::vector<std::string>& lowers,
                          const std::string& upper, const std::string& work,
                          const std::string& target) {
  UniqueFd fs(fsopen("overlay", FSOPEN_CLOEXEC));
  if (!fs.valid()) return -1;
  for (const std::string& lower : lowers) {
    if (fsconfig(fs.get(), FSCONFIG_SET_STRING, "lowerdir+", lower.c_str(), 0) !=
        0) {
      return -1;
    }
  }
  if (fsconfig(fs.get(), FSCONFIG_SET_STRING, "upperdir", upper.c_str(), 0) != 0 ||
      fsconfig(fs.get(), FSCONFIG_SET_STRING, "workdir", work.c_str(), 0) != 0 ||
      fsconfig(fs.get(), FSCONFIG_CMD_CREATE, nullptr, nullptr, 0) != 0) {
    return -1;
  }
  UniqueFd mnt(fsmount(fs.get(), FSMOUNT_CLOEXEC, 0));
  if (!mnt.valid()) return -1;
  return move_mount(mnt.get(), "", AT_FDCWD, target.c_str(),
                    MOVE_MOUNT_F_EMPTY_PATH);
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string Unescape(absl::string_view s) {
  auto octal = [](char c) { return c >= '0' && c <= '7'; };
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && octal(s[i + 1]) &&
        octal(s[i + 2]) && octal(s[i + 3])) {
      out.push_back(static_cast<char>((s[i + 1] - '0') * 64 +
                                      (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// Removes a freshly made home again when the driver turns out unusable, so
// that probing leaves no trace; a home with content is left alone.
void RemoveIfCreated(const std::string& home, bool created) {
  if (created) rmdir(home.c_str());
}

// Proves that overlay really mounts here: a read-only overlay of two lower
// directories. Read-only on purpose: unmounting a writable overlay syncs
// the whole backing file system, which can take tens of milliseconds, and
// berthd must start fast. What a writable upper layer needs beyond that
// (d_type, trusted xattrs) is checked directly.
absl::Status TrialMount(const std::string& home) {
  // Not a valid layer id, so it can never collide with a layer.
  std::string pattern = JoinPath(home, ".probe-XXXXXX");
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) {
    return ErrnoStatus(errno, absl::StrCat("overlay: mkdtemp in ", home));
  }
  std::string probe(buf.data());
  auto fail = [&](absl::Status s) {
    RemoveTree(probe).IgnoreError();
    return s;
  };
  for (const char* sub : {"lower1", "lower2", "merged"}) {
    if (mkdir(JoinPath(probe, sub).c_str(), 0700) != 0) {
      return fail(ErrnoStatus(errno, absl::StrCat("overlay: mkdir in ", probe)));
    }
  }
  // A file system that does not fill in d_type breaks overlay's whiteouts.
  bool d_type_ok = true;
  if (DIR* d = opendir(probe.c_str())) {
    while (struct dirent* ent = readdir(d)) {
      if (ent->d_type == DT_UNKNOWN) d_type_ok = false;
    }
    closedir(d);
  }
  if (!d_type_ok) {
    return fail(absl::FailedPreconditionError(absl::StrCat(
        "overlay: the file system of ", home,
        " does not report d_type (xfs needs ftype=1), which overlay needs")));
  }
  // Opaque directories are trusted.* attributes on the upper layer.
  std::string lower1 = JoinPath(probe, "lower1");
  if (setxattr(lower1.c_str(), "trusted.berth.probe", "y", 1, 0) != 0) {
    int err = errno;
    return fail(absl::FailedPreconditionError(absl::StrCat(
        "overlay: cannot set trusted.* extended attributes in ", home, ": ",
        strerror(err),
        err == EPERM ? " (needs CAP_SYS_ADMIN, i.e. root)" : "")));
  }
  std::string options = absl::StrCat("lowerdir=", lower1, ":",
                                     JoinPath(probe, "lower2"));
  std::string merged = JoinPath(probe, "merged");
  if (mount("overlay", merged.c_str(), "overlay", MS_RDONLY, options.c_str()) !=
      0) {
    int err = errno;
    return fail(absl::FailedPreconditionError(absl::StrCat(
        "overlay: a trial mount in ", home, " failed: ", strerror(err),
        err == EPERM ? " (mounting needs CAP_SYS_ADMIN, i.e. root)" : "")));
  }
  umount2(merged.c_str(), MNT_DETACH);
  return RemoveTree(probe);
}

// A mount's root lives on another device than the directory holding it.
bool IsMountPoint(const std::string& dir) {
  struct stat self, parent;
  if (::stat(dir.c_str(), &self) != 0) return false;
  if (::stat(JoinPath(dir, "..").c_str(), &parent) != 0) return false;
  return self.st_dev != parent.st_dev;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> MountsBelow(const std::string& dir) {
  absl::StatusOr<std::string> info =
      ReadFileToString("/proc/self/mountinfo", 64 << 20);
  if (!info.ok()) return info.status();
  std::vector<std::string> out;
  std::string prefix = absl::StrCat(dir, "/");
  for (absl::string_view line : absl::StrSplit(*info, '\n', absl::SkipEmpty())) {
    std::vector<absl::string_view> fields = absl::StrSplit(line, ' ');
    if (fields.size() < 5) continue;
    std::string point = Unescape(fields[4]);
    if (point == dir || absl::StartsWith(point, prefix)) {
      out.push_back(std::move(point));
    }
  }
  std::sort(out.begin(), out.end(), [](const std::string& a, const std::string& b) {
    return a.size() > b.size();
  });
  return out;
}

absl::StatusOr<std::unique_ptr<OverlayDriver>> OverlayDriver::New(
    std::string home, const std::vector<std::string>& options,
    const ProbeEnv& env) {
  if (!options.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "overlay: unknown option \"", options.front(),
        "\" (overlay takes no options)"));
  }
  absl::Status s = ProbeOverlay(home, env);
  if (!s.ok()) return s;
  struct stat st;
  bool created = stat(home.c_str(), &st) != 0;
  s = MkdirAll(home, 0700);
  if (!s.ok()) return s;
  char real[PATH_MAX];
  if (realpath(home.c_str(), real) == nullptr) {
    s = ErrnoStatus(errno, absl::StrCat("overlay: resolve ", home));
    RemoveIfCreated(home, created);
    return s;
  }
  std::string abs_home = real;
  if (abs_home.find_first_of(":,\\") != std::string::npos) {
    RemoveIfCreated(home, created);
    return absl::FailedPreconditionError(absl::StrCat(
        "overlay: the path ", abs_home,
        " contains ':', ',' or '\\', which overlay mount options cannot carry"));
  }
  // The home may be on another file system than its parent was.
  absl::StatusOr<int64_t> magic = FilesystemMagic(abs_home);
  if (magic.ok()) s = CheckOverlayBackingFs(abs_home, *magic);
  if (s.ok()) {
    // Mounts that a crashed run left behind would pin layers forever, and
    // its trial-mount directories would linger.
    // The home itself may well be a dedicated file system: leave it.
    absl::StatusOr<std::vector<std::string>> stale = MountsBelow(abs_home);
    if (stale.ok()) {
      for (const std::string& point : *stale) {
        if (point != abs_home) umount2(point.c_str(), MNT_DETACH);
      }
    }
    if (DIR* d = opendir(abs_home.c_str())) {
      std::vector<std::string> probes;
      while (struct dirent* ent = readdir(d)) {
        if (absl::StartsWith(ent->d_name, ".probe-")) probes.emplace_back(ent->d_name);
      }
      closedir(d);
      for (const std::string& p : probes) {
        RemoveTree(JoinPath(abs_home, p)).IgnoreError();
      }
    }
    s = TrialMount(abs_home);
  }
  if (!s.ok()) {
    RemoveIfCreated(abs_home, created);
    return s;
  }
  if (chmod(abs_home.c_str(), 0700) != 0) {
    return ErrnoStatus(errno, absl::StrCat("chmod ", abs_home));
  }
  std::unique_ptr<OverlayDriver> driver(new OverlayDriver(abs_home));
  driver->lowerdir_plus_ =
      env.overlay_lowerdir_plus && KernelTakesLowerdirPlus(abs_home);
  return driver;
}

OverlayDriver::~OverlayDriver() { Cleanup().IgnoreError(); }

std::string OverlayDriver::LayerDir(absl::string_view id) const {
  return JoinPath(home_, id);
}

std::string OverlayDriver::DiffDir(absl::string_view id) const {
  return JoinPath(LayerDir(id), "diff");
}

bool OverlayDriver::Exists(absl::string_view id) {
  if (!ValidateLayerId(id).ok()) return false;
  struct stat st;
  return stat(DiffDir(id).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

absl::StatusOr<std::vector<std::string>> OverlayDriver::Lowers(
    absl::string_view id) const {
  std::string path = JoinPath(LayerDir(id), "lower");
  absl::StatusOr<std::string> text = ReadFileToString(path, 1 << 20);
  if (!text.ok()) {
    if (absl::IsNotFound(text.status())) return std::vector<std::string>{};
    return text.status();
  }
  std::vector<std::string> lowers =
      absl::StrSplit(*text, ':', absl::SkipEmpty());
  for (const std::string& l : lowers) {
    absl::Status s = ValidateLayerId(l);
    if (!s.ok()) {
      return absl::DataLossError(
          absl::StrCat("overlay: corrupt ", path, ": ", s.message()));
    }
  }
  return lowers;
}

absl::StatusOr<std::string> OverlayDriver::MountOptions(
    absl::string_view id) const {
  absl::StatusOr<std::vector<std::string>> lowers = Lowers(id);
  if (!lowers.ok()) return lowers.status();
  std::vector<std::string> dirs;
  for (const std::string& l : *lowers) dirs.push_back(DiffDir(l));
  return absl::StrCat("lowerdir=", absl::StrJoin(dirs, ":"),
                      ",upperdir=", DiffDir(id), ",workdir=",
                      JoinPath(LayerDir(id), "work"));
}

absl::Status OverlayDriver::Create(absl::string_view id,
                                   absl::string_view parent) {
  absl::Status s = ValidateLayerId(id);
  if (!s.ok()) return s;
  if (Exists(id)) {
    return absl::AlreadyExistsError(
        absl::StrCat("overlay: layer ", id, " already exists"));
  }
  std::vector<std::string> lowers;
  if (!parent.empty()) {
    s = ValidateLayerId(parent);
    if (!s.ok()) return s;
    if (!Exists(parent)) {
      return absl::NotFoundError(absl::StrCat(
          "overlay: parent layer ", parent, " of ", id, " does not exist"));
    }
    absl::StatusOr<std::vector<std::string>> up = Lowers(parent);
    if (!up.ok()) return up.status();
    lowers.push_back(std::string(parent));
    lowers.insert(lowers.end(), up->begin(), up->end());
    size_t length = strlen("lowerdir=,upperdir=,workdir=") +
                    DiffDir(id).size() + JoinPath(LayerDir(id), "work").size();
    for (const std::string& l : lowers) length += DiffDir(l).size() + 1;
    if (lowers.size() > kMaxStack) {
      return absl::FailedPreconditionError(absl::StrCat(
          "overlay: layer ", id, " would stack ", lowers.size() + 1,
          " layers; overlayfs takes at most ", kMaxStack, " lower layers"));
    }
    if (!lowerdir_plus_ && length > kMaxMountOptions) {
      return absl::FailedPreconditionError(absl::StrCat(
          "overlay: layer ", id, " would stack ", lowers.size() + 1,
          " layers; its mount options would be ", length,
          " bytes, over the kernel's ", kMaxMountOptions, "-byte limit"));
    }
  }
  std::string dir = LayerDir(id);
  if (mkdir(dir.c_str(), 0700) != 0) {
    return ErrnoStatus(errno, absl::StrCat("overlay: create layer ", id));
  }
  auto fail = [&](absl::Status err) {
    RemoveTree(dir).IgnoreError();
    return err;
  };
  // diff/ last: its presence is what makes the layer exist.
  for (const char* sub : {"work", "merged"}) {
    if (mkdir(JoinPath(dir, sub).c_str(), 0700) != 0) {
      return fail(ErrnoStatus(errno, absl::StrCat("overlay: mkdir ", sub)));
    }
  }
  if (!lowers.empty()) {
    AtomicWriteOptions w;
    w.mode = 0600;
    s = WriteFileAtomic(JoinPath(dir, "lower"), absl::StrJoin(lowers, ":"), w);
    if (!s.ok()) return fail(s);
  }
  std::string diff = DiffDir(id);
  if (mkdir(diff.c_str(), 0755) != 0 || chmod(diff.c_str(), 0755) != 0) {
    return fail(ErrnoStatus(errno, absl::StrCat("overlay: mkdir ", diff)));
  }
  // The merged root takes its owner from diff/.
  if (s = ChownLayerRoot(id_shift(), diff); !s.ok()) return fail(s);
  return absl::OkStatus();
}

absl::StatusOr<std::string> OverlayDriver::Get(absl::string_view id) {
  absl::Status s = ValidateLayerId(id);
  if (!s.ok()) return s;
  std::string key(id);
  absl::MutexLock lock(&mu_);
  if (!Exists(id)) {
    return absl::NotFoundError(absl::StrCat("overlay: no such layer ", id));
  }
  auto it = active_.find(key);
  if (it != active_.end()) {
    ++it->second;
    return mounted_[key] ? JoinPath(LayerDir(id), "merged") : DiffDir(id);
  }
  absl::StatusOr<std::vector<std::string>> lowers = Lowers(id);
  if (!lowers.ok()) return lowers.status();
  if (lowers->empty()) {
    // A base layer's diff is its whole content; nothing to mount.
    active_[key] = 1;
    mounted_[key] = false;
    return DiffDir(id);
  }
  std::string merged = JoinPath(LayerDir(id), "merged");
  if (IsMountPoint(merged)) {
    // Mounted by a berthd that ended while the container ran on (live
    // restore): the same layers, so that mount is this Get's; the last Put
    // unmounts it instead of leaving it behind a second one.
    active_[key] = 1;
    mounted_[key] = true;
    return merged;
  }
  int rc;
  if (lowerdir_plus_) {
    std::vector<std::string> dirs;
    for (const std::string& l : *lowers) dirs.push_back(DiffDir(l));
    rc = MountWithLowerdirPlus(dirs, DiffDir(id), JoinPath(LayerDir(id), "work"),
                               merged);
  } else {
    absl::StatusOr<std::string> options = MountOptions(id);
    if (!options.ok()) return options.status();
    if (options->size() > kMaxMountOptions) {
      return absl::FailedPreconditionError(absl::StrCat(
          "overlay: layer ", id, " has ", lowers->size() + 1,
          " layers; its mount options are ", options->size(),
          " bytes, over this kernel's ", kMaxMountOptions,
          "-byte limit (Linux 6.8+ lifts it)"));
    }
    rc = mount("overlay", merged.c_str(), "overlay", 0, options->c_str());
  }
  if (rc != 0) {
    return ErrnoStatus(errno, absl::StrCat("overlay: mount layer ", id, " on ",
                                           merged));
  }
  active_[key] = 1;
  mounted_[key] = true;
  return merged;
}

absl::Status OverlayDriver::UnmountLocked(const std::string& id) {
  auto it = mounted_.find(id);
  bool mounted = it != mounted_.end() && it->second;
  active_.erase(id);
  mounted_.erase(id);
  if (!mounted) return absl::OkStatus();
  std::string merged = JoinPath(LayerDir(id), "merged");
  // Detach: a process still inside the mount must not make shutdown fail;
  // the kernel finishes the unmount when it leaves.
  if (umount2(merged.c_str(), MNT_DETACH) != 0 && errno != EINVAL) {
    return ErrnoStatus(errno, absl::StrCat("overlay: unmount ", merged));
  }
  return absl::OkStatus();
}

absl::Status OverlayDriver::Put(absl::string_view id) {
  absl::Status s = ValidateLayerId(id);
  if (!s.ok()) return s;
  std::string key(id);
  absl::MutexLock lock(&mu_);
  auto it = active_.find(key);
  if (it == active_.end()) return absl::OkStatus();  // as the reference
  if (--it->second > 0) return absl::OkStatus();
  return UnmountLocked(key);
}

int OverlayDriver::ActiveCount(absl::string_view id) {
  absl::MutexLock lock(&mu_);
  auto it = active_.find(std::string(id));
  return it == active_.end() ? 0 : it->second;
}

absl::Status OverlayDriver::Remove(absl::string_view id) {
  absl::Status s = ValidateLayerId(id);
  if (!s.ok()) return s;
  absl::MutexLock lock(&mu_);
  struct stat st;
  if (stat(LayerDir(id).c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat("overlay: no such layer ", id));
  }
  s = UnmountLocked(std::string(id));
  if (!s.ok()) return s;
  return RemoveTree(LayerDir(id));
}

DriverStatus OverlayDriver::Status() {
  absl::StatusOr<int64_t> magic = FilesystemMagic(home_);
  return {{"Backing Filesystem", magic.ok() ? FilesystemName(*magic) : "unknown"},
          {"Supports d_type", "true"}};
}

absl::Status OverlayDriver::Cleanup() {
  absl::MutexLock lock(&mu_);
  absl::Status first;
  std::vector<std::string> ids;
  for (const auto& [id, count] : active_) ids.push_back(id);
  for (const std::string& id : ids) {
    absl::Status s = UnmountLocked(id);
    if (first.ok()) first = s;
  }
  // Also anything below the home this process did not track.
  absl::StatusOr<std::vector<std::string>> stale = MountsBelow(home_);
  if (stale.ok()) {
    for (const std::string& point : *stale) {
      if (point == home_) continue;  // a dedicated file system for layers
      if (umount2(point.c_str(), MNT_DETACH) != 0 && errno != EINVAL &&
          first.ok()) {
        first = ErrnoStatus(errno, absl::StrCat("overlay: unmount ", point));
      }
    }
  }
  return first;
}

absl::StatusOr<int64_t> OverlayDriver::ApplyDiff(absl::string_view id,
                                                 absl::string_view /*parent*/,
                                                 ByteSource diff) {
  absl::Status s = ValidateLayerId(id);
  if (!s.ok()) return s;
  if (!Exists(id)) {
    return absl::NotFoundError(absl::StrCat("overlay: no such layer ", id));
  }
  absl::StatusOr<std::vector<std::string>> lowers = Lowers(id);
  if (!lowers.ok()) return lowers.status();
  ApplyOptions options;
  options.whiteouts = WhiteoutFormat::kOverlay;
  options.ids = id_shift();
  for (const std::string& l : *lowers) options.lower_dirs.push_back(DiffDir(l));
  return ApplyLayer(DiffDir(id), std::move(diff), options);
}

}  // namespace berth::storage
