// The test image: the rootfs layout and its tar (what container tests in
// other suites import into berthd).
#include "tests/support/busybox_rootfs.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/match.h"
#include "doctest/doctest.h"
#include "tests/execdriver/sandbox.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace berth::testing {
namespace {

TEST_CASE("busybox rootfs: applets linked, users and groups, empty mount points; a tar of it") {
  if (BusyboxBinary().empty()) {
    const char* ci = std::getenv("CI");
    if (ci != nullptr && std::string(ci) == "true") FAIL("busybox-static is not installed");
    MESSAGE("skipped: busybox-static is not installed");
    return;
  }
  TempDir dir;
  std::string root = dir / "rootfs";
  REQUIRE(BuildBusyboxRootfs(root).ok());
  struct stat busybox, sh, ifconfig;
  REQUIRE(::stat((root + "/bin/busybox").c_str(), &busybox) == 0);
  REQUIRE(::stat((root + "/bin/sh").c_str(), &sh) == 0);
  CHECK(sh.st_ino == busybox.st_ino);  // hard links
  CHECK(::stat((root + "/sbin/ifconfig").c_str(), &ifconfig) == 0);
  CHECK(absl::StrContains(ReadFileOrEmpty(root + "/etc/passwd"), "app:x:1000:1000:"));
  CHECK(absl::StrContains(ReadFileOrEmpty(root + "/etc/group"), "app:x:1000:"));
  for (const char* d : {"proc", "sys", "dev", "tmp"}) CHECK(std::filesystem::is_empty(root + "/" + d));

  std::string tar = dir / "busybox.tar";
  REQUIRE(WriteBusyboxTar(tar).ok());
  RunResult list = RunCommand({"/usr/bin/tar", "-tvf", tar});
  REQUIRE(list.status == 0);
  CHECK(absl::StrContains(list.out, "./bin/busybox"));
  CHECK(absl::StrContains(list.out, " link to ./"));  // applets stay hard links
  CHECK(absl::StrContains(list.out, "./etc/passwd"));
  // Owners are kept as numbers (home/app belongs to app when built as root).
  if (::geteuid() == 0) CHECK(absl::StrContains(list.out, " 1000/1000 "));
}

}  // namespace
}  // namespace berth::testing
