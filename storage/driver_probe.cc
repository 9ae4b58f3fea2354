// Graph driver probes; see driver_probe.h.
#include "storage/driver_probe.h"

#include <sys/stat.h>
#include <sys/utsname.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "storage/fs_util.h"

namespace berth::storage {
namespace {

std::string Release(const ProbeEnv& env) {
  if (!env.kernel_release.empty()) return env.kernel_release;
  struct utsname u;
  if (uname(&u) != 0) return "unknown";
  return u.release;
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

// Whether a loadable module named `name` is installed for this kernel.
bool ModuleInstalled(const std::string& name, const ProbeEnv& env) {
  std::string dep = JoinPath(JoinPath(env.modules, Release(env)), "modules.dep");
  absl::StatusOr<std::string> text = ReadFileToString(dep, 64 << 20);
  if (!text.ok()) return false;
  std::string needle = absl::StrCat("/", name, ".ko");
  return absl::StrContains(*text, needle);
}

std::string Magic(const std::string& home, int64_t* magic) {
  absl::StatusOr<int64_t> m = FilesystemMagic(home);
  if (!m.ok()) {
    *magic = -1;
    return std::string(m.status().message());
  }
  *magic = *m;
  return FilesystemName(*m);
}

absl::Status Unusable(absl::string_view driver, absl::string_view why) {
  return absl::FailedPreconditionError(absl::StrCat(driver, ": ", why));
}

}  // namespace

bool KernelHasFilesystem(const std::string& fs, const ProbeEnv& env) {
  absl::StatusOr<bool> has =
      FileHasField(JoinPath(env.proc, "filesystems"), fs);
  return has.ok() && *has;
}

absl::Status ProbeAufs(const std::string& home, const ProbeEnv& env) {
  if (!KernelHasFilesystem("aufs", env)) {
    if (ModuleInstalled("aufs", env)) {
      return Unusable("aufs", absl::StrCat(
          "the aufs module is installed for kernel ", Release(env),
          " but not loaded (run 'modprobe aufs'); berth has no aufs layer "
          "driver either way"));
    }
    return Unusable("aufs", absl::StrCat(
        "not supported by kernel ", Release(env), " (aufs is not in ",
        JoinPath(env.proc, "filesystems"), " and no aufs module is installed)"));
  }
  int64_t magic;
  std::string fs = Magic(home, &magic);
  return Unusable("aufs", absl::StrCat(
      "the kernel supports aufs and ", home, " is on ", fs,
      ", but berth has no aufs layer driver; use overlay or vfs"));
}

absl::Status ProbeBtrfs(const std::string& home, const ProbeEnv& env) {
  int64_t magic;
  std::string fs = Magic(home, &magic);
  if (magic != kBtrfsMagic) {
    std::string kernel = KernelHasFilesystem("btrfs", env)
                             ? "the kernel supports btrfs"
                             : "the kernel has no btrfs either";
    return Unusable("btrfs", absl::StrCat(home, " is on ", fs,
                                          ", not btrfs (", kernel, ")"));
  }
  return Unusable("btrfs", absl::StrCat(
      home, " is on btrfs, but berth has no btrfs layer driver; use overlay "
      "or vfs"));
}

absl::Status ProbeDevicemapper(const std::string& home, const ProbeEnv& env) {
  absl::StatusOr<bool> in_misc =
      FileHasField(JoinPath(env.proc, "misc"), "device-mapper");
  bool control = Exists(JoinPath(env.dev, "mapper/control"));
  if (!(in_misc.ok() && *in_misc) && !control) {
    if (ModuleInstalled("dm-mod", env)) {
      return Unusable("devicemapper", absl::StrCat(
          "the dm-mod module is installed for kernel ", Release(env),
          " but not loaded (run 'modprobe dm-mod'); berth has no "
          "devicemapper layer driver either way"));
    }
    return Unusable("devicemapper", absl::StrCat(
        "kernel ", Release(env), " has no device-mapper (no device-mapper "
        "in ", JoinPath(env.proc, "misc"), ", no ",
        JoinPath(env.dev, "mapper/control"), ")"));
  }
  int64_t magic;
  std::string fs = Magic(home, &magic);
  return Unusable("devicemapper", absl::StrCat(
      "device-mapper is available and ", home, " is on ", fs,
      ", but berth has no devicemapper layer driver; use overlay or vfs"));
}

absl::Status CheckOverlayBackingFs(const std::string& home, int64_t magic) {
  if (magic == kOverlayMagic || magic == kAufsMagic || magic == kEcryptfsMagic) {
    return Unusable("overlay", absl::StrCat(
        home, " is on ", FilesystemName(magic),
        ", which overlay cannot use as a backing file system (put the berth "
        "root on a local file system such as ext4 or xfs)"));
  }
  return absl::OkStatus();
}

absl::Status ProbeOverlay(const std::string& home, const ProbeEnv& env) {
  if (!KernelHasFilesystem("overlay", env)) {
    if (ModuleInstalled("overlay", env)) {
      return Unusable("overlay", absl::StrCat(
          "the overlay module is installed for kernel ", Release(env),
          " but not loaded (run 'modprobe overlay')"));
    }
    return Unusable("overlay", absl::StrCat(
        "not supported by kernel ", Release(env), " (overlay is not in ",
        JoinPath(env.proc, "filesystems"), ")"));
  }
  if (home.find_first_of(":,\\") != std::string::npos) {
    return Unusable("overlay", absl::StrCat(
        "the path ", home,
        " contains ':', ',' or '\\', which overlay mount options cannot carry"));
  }
  int64_t magic;
  std::string fs = Magic(home, &magic);
  if (magic < 0) return Unusable("overlay", fs);
  return CheckOverlayBackingFs(home, magic);
}

}  // namespace berth::storage
