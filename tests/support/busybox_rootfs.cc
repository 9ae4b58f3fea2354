#include "tests/support/busybox_rootfs.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace berth::testing {
namespace {

namespace fs = std::filesystem;

constexpr char kPasswd[] =
    "root:x:0:0:root:/root:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
    "app:x:1000:1000:app:/home/app:/bin/sh\n";
constexpr char kGroup[] =
    "root:x:0:\n"
    "tty:x:5:\n"
    "staff:x:50:app\n"
    "app:x:1000:\n"
    "nogroup:x:65534:\n";

absl::Status Error(const std::string& what, const std::error_code& ec) {
  return absl::InternalError(absl::StrCat("busybox rootfs: ", what, ": ", ec.message()));
}

// Applets are linked in the rootfs's bin/ (and sbin/ for those busybox puts
// there), all hard links to bin/busybox, so the tree stays small.
absl::Status LinkApplets(const std::string& dir) {
  RunResult list = RunCommand({BusyboxBinary(), "--list-full"});
  if (list.status != 0) return absl::InternalError("busybox --list-full failed: " + list.err);
  std::string busybox = dir + "/bin/busybox";
  for (absl::string_view path : absl::StrSplit(list.out, '\n', absl::SkipWhitespace())) {
    std::string name(path.substr(path.rfind('/') + 1));
    if (name.empty() || name == "busybox" || path.find('/') == absl::string_view::npos) continue;
    std::error_code ec;
    std::vector<std::string> targets = {dir + "/bin/" + name};
    if (absl::StartsWith(path, "sbin/") || absl::StartsWith(path, "usr/sbin/")) {
      targets.push_back(dir + "/sbin/" + name);
    }
    for (const std::string& t : targets) {
      if (fs::exists(t, ec)) continue;
      fs::create_hard_link(busybox, t, ec);
      if (ec) return Error("link " + t, ec);
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::string BusyboxBinary() {
  for (const char* p : {"/usr/bin/busybox", "/bin/busybox"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return "";
}

absl::Status BuildBusyboxRootfs(const std::string& dir) {
  if (BusyboxBinary().empty()) {
    return absl::FailedPreconditionError("busybox is not installed (apt-get install busybox-static)");
  }
  std::error_code ec;
  for (const char* d : {"bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "root", "home/app"}) {
    fs::create_directories(dir + "/" + d, ec);
    if (ec) return Error(absl::StrCat("mkdir ", dir, "/", d), ec);
  }
  ::chmod((dir + "/tmp").c_str(), 01777);
  ::chown((dir + "/home/app").c_str(), 1000, 1000);
  fs::copy_file(BusyboxBinary(), dir + "/bin/busybox", fs::copy_options::overwrite_existing, ec);
  if (ec) return Error("copy busybox", ec);
  ::chmod((dir + "/bin/busybox").c_str(), 0755);
  WriteFileOrDie(dir + "/etc/passwd", kPasswd);
  WriteFileOrDie(dir + "/etc/group", kGroup);
  return LinkApplets(dir);
}

absl::Status WriteBusyboxTar(const std::string& tar_path) {
  TempDir tmp;
  std::string root = tmp / "rootfs";
  if (absl::Status s = BuildBusyboxRootfs(root); !s.ok()) return s;
  RunResult tar = RunCommand({"/bin/tar", "--numeric-owner", "-C", root, "-cf", tar_path, "."});
  if (tar.status != 0) {
    return absl::InternalError(absl::StrCat("tar of the busybox rootfs failed: ", tar.err));
  }
  return absl::OkStatus();
}

}  // namespace berth::testing
