// Graph drivers: vfs copies, overlay mounts (real overlayfs, always
// unmounted), the probes' answers checked against what the kernel itself
// says, and driver selection: $BERTH_DRIVER, a named driver without
// fallback, the priority list, nothing usable, SELinux with btrfs.
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <fstream>

#include "absl/strings/match.h"
#include "storage/driver_probe.h"
#include "storage/driver_registry.h"
#include "storage/overlay_driver.h"
#include "storage/vfs_driver.h"
#include "tests/storage/test_util.h"

namespace berth::storage {
namespace {

using testing::Lstat;
using testing::PathExists;
using testing::ReadFile;
using testing::TarBuilder;
using testing::TempDir;
using testing::WriteFile;

bool Mounted(const std::string& path) {
  absl::StatusOr<std::vector<std::string>> mounts = MountsBelow(path);
  REQUIRE(mounts.ok());
  for (const std::string& m : *mounts) {
    if (m == path) return true;
  }
  return false;
}

std::string Xattr(const std::string& path, const char* name) {
  char buf[256];
  ssize_t n = lgetxattr(path.c_str(), name, buf, sizeof(buf));
  return n < 0 ? "<none>" : std::string(buf, static_cast<size_t>(n));
}

// What the kernel itself lists, read here independently of the probes.
bool ProcListsFilesystem(const std::string& fs) {
  std::ifstream in("/proc/filesystems");
  std::string line;
  while (std::getline(in, line)) {
    size_t tab = line.find('\t');
    if (tab != std::string::npos && line.substr(tab + 1) == fs) return true;
  }
  return false;
}

// A second lower directory for hand-made test mounts.
std::string ExtraLowerDir(const TempDir& dir) {
  std::string l = dir.Sub("extra-lower");
  mkdir(l.c_str(), 0700);
  return l;
}

// ---------------------------------------------------------------- vfs

TEST_CASE("vfs: a child layer is a faithful copy of its parent") {
  TempDir dir;
  absl::StatusOr<std::unique_ptr<VfsDriver>> d = VfsDriver::New(dir.Sub("vfs"));
  REQUIRE(d.ok());
  VfsDriver& vfs = **d;
  CHECK(vfs.Name() == "vfs");
  CHECK((Lstat(dir.Sub("vfs")).st_mode & 07777) == 0700);
  REQUIRE(vfs.Create("base", "").ok());
  CHECK((Lstat(vfs.LayerDir("base")).st_mode & 07777) == 0755);
  std::string base = *vfs.Get("base");
  CHECK(base == dir.Sub("vfs/dir/base"));
  bool root = geteuid() == 0;
  REQUIRE(mkdir((base + "/etc").c_str(), 0711) == 0);
  WriteFile(base + "/etc/conf", "c", 04750);
  REQUIRE(link((base + "/etc/conf").c_str(), (base + "/etc/conf-link").c_str()) == 0);
  REQUIRE(symlink("etc/conf", (base + "/sym").c_str()) == 0);
  REQUIRE(symlink("/nowhere", (base + "/dangling").c_str()) == 0);
  REQUIRE(mkfifo((base + "/fifo").c_str(), 0640) == 0);
  REQUIRE(setxattr((base + "/etc/conf").c_str(), "user.note", "hi", 2, 0) == 0);
  timespec times[2] = {{1000, 111}, {2000, 222222222}};
  REQUIRE(utimensat(AT_FDCWD, (base + "/etc/conf").c_str(), times, 0) == 0);
  REQUIRE(utimensat(AT_FDCWD, (base + "/sym").c_str(), times, AT_SYMLINK_NOFOLLOW) == 0);
  if (root) {
    REQUIRE(chown((base + "/etc/conf").c_str(), 1000, 2000) == 0);
    REQUIRE(chmod((base + "/etc/conf").c_str(), 04750) == 0);  // chown cleared it
    REQUIRE(lchown((base + "/sym").c_str(), 3, 4) == 0);
    REQUIRE(mknod((base + "/null").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0);
    REQUIRE(setxattr((base + "/etc").c_str(), "trusted.berth", "t", 1, 0) == 0);
  }
  REQUIRE(utimensat(AT_FDCWD, (base + "/etc").c_str(), times, 0) == 0);

  REQUIRE(vfs.Create("child", "base").ok());
  std::string child = *vfs.Get("child");
  struct stat conf = Lstat(child + "/etc/conf");
  CHECK(ReadFile(child + "/etc/conf") == "c");
  CHECK((conf.st_mode & 07777) == 04750);
  CHECK(conf.st_mtim.tv_sec == 2000);
  CHECK(conf.st_mtim.tv_nsec == 222222222);
  CHECK(conf.st_atim.tv_sec == 1000);
  CHECK(Xattr(child + "/etc/conf", "user.note") == "hi");
  CHECK(Lstat(child + "/etc/conf-link").st_ino == conf.st_ino);
  CHECK(conf.st_ino != Lstat(base + "/etc/conf").st_ino);
  CHECK(testing::ReadLink(child + "/sym") == "etc/conf");
  CHECK(Lstat(child + "/sym").st_mtim.tv_sec == 2000);
  CHECK(testing::ReadLink(child + "/dangling") == "/nowhere");
  CHECK(S_ISFIFO(Lstat(child + "/fifo").st_mode));
  CHECK((Lstat(child + "/fifo").st_mode & 07777) == 0640);
  struct stat etc = Lstat(child + "/etc");
  CHECK((etc.st_mode & 07777) == 0711);
  CHECK(etc.st_mtim.tv_sec == 2000);
  if (root) {
    CHECK(conf.st_uid == 1000);
    CHECK(conf.st_gid == 2000);
    CHECK(Lstat(child + "/sym").st_uid == 3);
    CHECK(Lstat(child + "/null").st_rdev == makedev(1, 3));
    CHECK(Xattr(child + "/etc", "trusted.berth") == "t");
  }
  // The copy is independent.
  WriteFile(child + "/etc/conf", "changed", 0600);
  CHECK(ReadFile(base + "/etc/conf") == "c");
  CHECK(ReadFile(base + "/etc/conf-link") == "c");
  CHECK(vfs.Put("child").ok());
}

TEST_CASE("vfs: errors name the layer; Remove and Exists") {
  TempDir dir;
  auto vfs = *VfsDriver::New(dir.Sub("vfs"));
  CHECK(VfsDriver::New(dir.Sub("v2"), {"size=10G"}).status().message() ==
        "vfs: unknown option \"size=10G\" (vfs takes no options)");
  REQUIRE(vfs->Create("a", "").ok());
  CHECK(vfs->Create("a", "").message() == "vfs: layer a already exists");
  CHECK(vfs->Create("b", "ghost").message() ==
        "vfs: parent layer ghost of b does not exist");
  CHECK(absl::IsInvalidArgument(vfs->Create("../escape", "")));
  CHECK(absl::IsInvalidArgument(vfs->Create("", "")));
  CHECK(absl::IsInvalidArgument(vfs->Create("a/b", "")));
  CHECK(!vfs->Exists(".."));
  CHECK(vfs->Exists("a"));
  REQUIRE(vfs->Remove("a").ok());
  CHECK(!vfs->Exists("a"));
  CHECK(vfs->Remove("a").message() == "vfs: no such layer a");
  CHECK(vfs->Get("a").status().message() == "vfs: no such layer a");
  DriverStatus status = vfs->Status();
  REQUIRE(status.size() == 1);
  CHECK(status[0].first == "Backing Filesystem");
}

TEST_CASE("vfs: ApplyDiff deletes whiteouts for real") {
  TempDir dir;
  auto vfs = *VfsDriver::New(dir.Sub("vfs"));
  REQUIRE(vfs->Create("base", "").ok());
  absl::StatusOr<int64_t> size = vfs->ApplyDiff(
      "base", "", StringSource(TarBuilder().File("a", "123").File("dir/b", "45").Finish()));
  REQUIRE(size.ok());
  CHECK(*size == 5);
  REQUIRE(vfs->Create("child", "base").ok());
  REQUIRE(vfs->ApplyDiff("child", "base",
                         StringSource(TarBuilder().File(".wh.a", "").File("c", "6").Finish()))
              .ok());
  std::string child = *vfs->Get("child");
  CHECK(!PathExists(child + "/a"));
  CHECK(ReadFile(child + "/dir/b") == "45");
  CHECK(ReadFile(child + "/c") == "6");
  CHECK(PathExists(*vfs->Get("base") + "/a"));
}

// ---------------------------------------------------------------- overlay

TEST_CASE("overlay: layers, mounts, whiteouts and opaque directories") {
  if (!testing::RequireRoot("overlay mounts")) return;
  TempDir dir;
  absl::StatusOr<std::unique_ptr<OverlayDriver>> made = OverlayDriver::New(dir.Sub("overlay"));
  REQUIRE_MESSAGE(made.ok(), made.status().ToString());
  OverlayDriver& ov = **made;
  CHECK(ov.Name() == "overlay");

  REQUIRE(ov.Create("base", "").ok());
  REQUIRE(ov.ApplyDiff("base", "",
                       StringSource(TarBuilder()
                                        .Dir("etc")
                                        .File("etc/passwd", "root:x:0:0")
                                        .File("etc/hosts", "127.0.0.1")
                                        .Dir("var", 0700)
                                        .File("var/old", "old")
                                        .Dir("var/cache")
                                        .File("var/cache/x", "x")
                                        .Finish()))
              .ok());
  // A base layer needs no mount.
  std::string base_path = *ov.Get("base");
  CHECK(base_path == ov.DiffDir("base"));
  CHECK(!Mounted(base_path));
  REQUIRE(ov.Put("base").ok());

  REQUIRE(ov.Create("mid", "base").ok());
  REQUIRE(ov.ApplyDiff("mid", "base",
                       StringSource(TarBuilder()
                                        .File("etc/.wh.passwd", "")
                                        .File("var/.wh..wh..opq", "")
                                        .File("var/new", "new")
                                        .File("etc/motd", "hi")
                                        .Finish()))
              .ok());
  REQUIRE(ov.Create("top", "mid").ok());
  CHECK(*ov.Lowers("top") == std::vector<std::string>{"mid", "base"});
  CHECK(ReadFile(dir.Sub("overlay/top/lower")) == "mid:base");

  absl::StatusOr<std::string> merged = ov.Get("top");
  REQUIRE_MESSAGE(merged.ok(), merged.status().ToString());
  CHECK(*merged == dir.Sub("overlay/top/merged"));
  CHECK(Mounted(*merged));
  CHECK(!PathExists(*merged + "/etc/passwd"));      // whited out in mid
  CHECK(ReadFile(*merged + "/etc/hosts") == "127.0.0.1");
  CHECK(ReadFile(*merged + "/etc/motd") == "hi");
  CHECK(!PathExists(*merged + "/var/old"));         // var is opaque in mid
  CHECK(!PathExists(*merged + "/var/cache"));
  CHECK(ReadFile(*merged + "/var/new") == "new");
  CHECK((Lstat(*merged + "/var").st_mode & 07777) == 0700);  // from base
  // Writes land in top's diff only.
  WriteFile(*merged + "/etc/hosts", "changed");
  CHECK(ReadFile(ov.DiffDir("top") + "/etc/hosts") == "changed");
  CHECK(ReadFile(ov.DiffDir("base") + "/etc/hosts") == "127.0.0.1");
  REQUIRE(unlink((*merged + "/etc/motd").c_str()) == 0);
  CHECK(S_ISCHR(Lstat(ov.DiffDir("top") + "/etc/motd").st_mode));

  // References: the second Get shares the mount; the last Put unmounts.
  REQUIRE(ov.Get("top").ok());
  CHECK(ov.ActiveCount("top") == 2);
  REQUIRE(ov.Put("top").ok());
  CHECK(Mounted(*merged));
  REQUIRE(ov.Put("top").ok());
  CHECK(!Mounted(*merged));
  CHECK(ov.Put("top").ok());  // an extra Put is harmless

  // Remove unmounts a layer still in use.
  REQUIRE(ov.Get("top").ok());
  REQUIRE(ov.Remove("top").ok());
  CHECK(!Mounted(*merged));
  CHECK(!PathExists(dir.Sub("overlay/top")));
  CHECK(ov.Remove("top").message() == "overlay: no such layer top");

  // Cleanup unmounts everything, including mounts it did not make.
  REQUIRE(ov.Create("c1", "mid").ok());
  REQUIRE(ov.Get("c1").ok());
  std::string stray = dir.Sub("overlay/stray");
  REQUIRE(mkdir(stray.c_str(), 0700) == 0);
  REQUIRE(mount("tmpfs", stray.c_str(), "tmpfs", 0, "size=1m") == 0);
  REQUIRE(ov.Cleanup().ok());
  CHECK(!Mounted(dir.Sub("overlay/c1/merged")));
  CHECK(!Mounted(stray));
  CHECK(ov.ActiveCount("c1") == 0);
}

TEST_CASE("overlay: errors, Status, and a restart after a crash") {
  if (!testing::RequireRoot("overlay mounts")) return;
  TempDir dir;
  auto ov = *OverlayDriver::New(dir.Sub("overlay"));
  CHECK(ov->Create("x", "ghost").message() ==
        "overlay: parent layer ghost of x does not exist");
  REQUIRE(ov->Create("x", "").ok());
  CHECK(ov->Create("x", "").message() == "overlay: layer x already exists");
  CHECK(ov->Get("ghost").status().message() == "overlay: no such layer ghost");
  CHECK(absl::IsInvalidArgument(ov->Create("a:b", "x")));
  DriverStatus status = ov->Status();
  REQUIRE(status.size() == 2);
  CHECK(status[0] == std::pair<std::string, std::string>("Backing Filesystem",
                                                          FilesystemName(*FilesystemMagic(dir.path()))));
  CHECK(status[1] == std::pair<std::string, std::string>("Supports d_type", "true"));
  CHECK(OverlayDriver::New(dir.Sub("o2"), {"overlay.size=1G"}).status().message() ==
        "overlay: unknown option \"overlay.size=1G\" (overlay takes no options)");

  // A mount left by a crashed run is removed when the driver starts again.
  REQUIRE(ov->Create("y", "x").ok());
  std::string merged = *ov->Get("y");
  REQUIRE(Mounted(merged));
  OverlayDriver* crashed = ov.release();  // no Put, no Cleanup, no destructor
  CHECK(Mounted(merged));
  // A crash during the trial mount leaves its directory, maybe mounted.
  std::string probe = dir.Sub("overlay/.probe-crashed");
  REQUIRE(testing::Shell("mkdir -p " + probe + "/l " + probe + "/m") == 0);
  REQUIRE(mount("overlay", (probe + "/m").c_str(), "overlay", MS_RDONLY,
                ("lowerdir=" + probe + "/l:" + ExtraLowerDir(dir)).c_str()) == 0);
  auto again = *OverlayDriver::New(dir.Sub("overlay"));
  CHECK(!Mounted(merged));
  CHECK(!PathExists(probe));
  CHECK(again->Exists("y"));
  REQUIRE(again->Cleanup().ok());
  delete crashed;  // its memory only; the mount is long gone
}

TEST_CASE("overlay: a home that is its own file system stays mounted") {
  if (!testing::RequireRoot("mounts")) return;
  TempDir dir;
  std::string home = dir.Sub("overlay");
  REQUIRE(mkdir(home.c_str(), 0700) == 0);
  REQUIRE(mount("tmpfs", home.c_str(), "tmpfs", 0, "size=16m") == 0);
  {
    absl::StatusOr<std::unique_ptr<OverlayDriver>> ov = OverlayDriver::New(home);
    REQUIRE_MESSAGE(ov.ok(), ov.status().ToString());
    CHECK(Mounted(home));
    REQUIRE((*ov)->Create("a", "").ok());
    REQUIRE((*ov)->Create("b", "a").ok());
    REQUIRE((*ov)->Get("b").ok());
    REQUIRE((*ov)->Cleanup().ok());
    CHECK(!Mounted(home + "/b/merged"));
    CHECK(Mounted(home));
  }
  CHECK(Mounted(home));
  REQUIRE(umount2(home.c_str(), MNT_DETACH) == 0);
}

TEST_CASE("overlay: without lowerdir+, a stack must fit one page of options") {
  if (!testing::RequireRoot("overlay mounts")) return;
  TempDir dir;
  ProbeEnv env;
  env.overlay_lowerdir_plus = false;
  std::string home = dir.Sub("overlay-" + std::string(60, 'h'));
  auto ov = *OverlayDriver::New(home, {}, env);
  CHECK(!ov->UsesLowerdirPlus());
  std::string parent;
  absl::Status s;
  int layers = 0;
  for (; layers < 200; ++layers) {
    std::string id = absl::StrFormat("%064d", layers);
    s = ov->Create(id, parent);
    if (!s.ok()) break;
    parent = id;
  }
  CHECK(absl::IsFailedPrecondition(s));
  CHECK(absl::StrContains(s.message(), "over the kernel's 4095-byte limit"));
  MESSAGE("deepest stack with one option string: " << layers << " layers");
  // The deepest accepted layer really mounts, with the option string.
  absl::StatusOr<std::string> merged = ov->Get(parent);
  REQUIRE_MESSAGE(merged.ok(), merged.status().ToString());
  CHECK(Mounted(*merged));
  REQUIRE(ov->Put(parent).ok());
}

TEST_CASE("overlay: with lowerdir+ (Linux 6.8+), deep stacks mount") {
  if (!testing::RequireRoot("overlay mounts")) return;
  TempDir dir;
  auto ov = *OverlayDriver::New(dir.Sub("overlay"));
  if (!ov->UsesLowerdirPlus()) {
    MESSAGE("skipping: this kernel's overlayfs has no lowerdir+");
    return;
  }
  std::string parent;
  const int kLayers = 120;
  for (int i = 0; i < kLayers; ++i) {
    std::string id = absl::StrFormat("%064d", i);
    REQUIRE(ov->Create(id, parent).ok());
    TarBuilder diff;
    diff.File("layer-" + std::to_string(i), std::to_string(i));
    if (i == 60) diff.File(".wh.layer-0", "");
    REQUIRE(ov->ApplyDiff(id, parent, StringSource(diff.Finish())).ok());
    parent = id;
  }
  absl::StatusOr<std::string> merged = ov->Get(parent);
  REQUIRE_MESSAGE(merged.ok(), merged.status().ToString());
  CHECK(Mounted(*merged));
  CHECK(!PathExists(*merged + "/layer-0"));
  CHECK(ReadFile(*merged + "/layer-1") == "1");
  CHECK(ReadFile(*merged + "/layer-119") == "119");
  REQUIRE(ov->Put(parent).ok());
  CHECK(!Mounted(*merged));
}

TEST_CASE("overlay refuses an overlay backing file system; leaves no home") {
  if (!testing::RequireRoot("overlay mounts")) return;
  TempDir dir;
  for (const char* sub : {"l", "u", "w", "m"}) REQUIRE(mkdir(dir.Sub(sub).c_str(), 0700) == 0);
  std::string opts = absl::StrCat("lowerdir=", dir.Sub("l"), ",upperdir=", dir.Sub("u"),
                                  ",workdir=", dir.Sub("w"));
  REQUIRE(mount("overlay", dir.Sub("m").c_str(), "overlay", 0, opts.c_str()) == 0);
  std::string home = dir.Sub("m/root/overlay");
  absl::StatusOr<std::unique_ptr<OverlayDriver>> ov = OverlayDriver::New(home);
  CHECK(absl::IsFailedPrecondition(ov.status()));
  CHECK(ov.status().message() ==
        "overlay: " + home +
            " is on overlay, which overlay cannot use as a backing file system (put the "
            "berth root on a local file system such as ext4 or xfs)");
  CHECK(!PathExists(home));
  // Selection skips it and lands on vfs.
  DriverSelection sel;
  sel.root = dir.Sub("m/root");
  absl::StatusOr<SelectedDriver> chosen = SelectDriver(sel);
  REQUIRE(chosen.ok());
  CHECK(chosen->driver->Name() == "vfs");
  REQUIRE(chosen->skipped.size() == 4);
  CHECK(chosen->skipped[3].first == "overlay");
  chosen->driver.reset();
  REQUIRE(umount2(dir.Sub("m").c_str(), MNT_DETACH) == 0);
}

// ---------------------------------------------------------------- probes

TEST_CASE("probes tell the truth about this kernel") {
  TempDir dir;
  std::string home = dir.Sub("root/x");
  absl::Status aufs = ProbeAufs(home);
  CHECK(absl::IsFailedPrecondition(aufs));
  CHECK(absl::StartsWith(aufs.message(), "aufs: "));
  if (!ProcListsFilesystem("aufs")) {
    CHECK((absl::StrContains(aufs.message(), "not supported by kernel") ||
           absl::StrContains(aufs.message(), "module is installed")));
  } else {
    CHECK(absl::StrContains(aufs.message(), "berth has no aufs layer driver"));
  }
  struct statfs sfs;
  REQUIRE(statfs(dir.path().c_str(), &sfs) == 0);
  absl::Status btrfs = ProbeBtrfs(home);
  CHECK(absl::IsFailedPrecondition(btrfs));
  if (static_cast<uint32_t>(sfs.f_type) != 0x9123683E) {
    CHECK(absl::StrContains(btrfs.message(), "not btrfs"));
    CHECK(absl::StrContains(btrfs.message(), home + " is on "));
    CHECK(absl::StrContains(btrfs.message(), ProcListsFilesystem("btrfs")
                                                 ? "the kernel supports btrfs"
                                                 : "the kernel has no btrfs"));
  }
  absl::Status dm = ProbeDevicemapper(home);
  CHECK(absl::IsFailedPrecondition(dm));
  std::string misc = ReadFile("/proc/misc");
  if (!absl::StrContains(misc, "device-mapper") && !PathExists("/dev/mapper/control")) {
    CHECK((absl::StrContains(dm.message(), "has no device-mapper") ||
           absl::StrContains(dm.message(), "module is installed")));
  } else {
    CHECK(absl::StrContains(dm.message(), "berth has no devicemapper layer driver"));
  }
  absl::Status overlay = ProbeOverlay(home);
  CHECK(overlay.ok() == ProcListsFilesystem("overlay"));
  // Probes create nothing.
  CHECK(!PathExists(dir.Sub("root")));
}

TEST_CASE("probes read their facts from the kernel's files (fakes)") {
  TempDir dir;
  ProbeEnv env;
  env.proc = dir.Sub("proc");
  env.dev = dir.Sub("dev");
  env.modules = dir.Sub("modules");
  env.kernel_release = "9.9.9-test";
  REQUIRE(mkdir(env.proc.c_str(), 0755) == 0);
  REQUIRE(mkdir(env.dev.c_str(), 0755) == 0);
  REQUIRE(testing::Shell("mkdir -p " + env.modules + "/9.9.9-test") == 0);
  WriteFile(env.proc + "/filesystems", "nodev\tproc\n\text4\nnodev\taufs\n");
  WriteFile(env.proc + "/misc", "237 loop-control\n236 device-mapper\n");
  WriteFile(env.modules + "/9.9.9-test/modules.dep",
            "kernel/fs/overlayfs/overlay.ko:\n");
  std::string home = dir.Sub("root/aufs");
  CHECK(ProbeAufs(home, env).message() ==
        "aufs: the kernel supports aufs and " + home + " is on " +
            FilesystemName(*FilesystemMagic(dir.path())) +
            ", but berth has no aufs layer driver; use overlay or vfs");
  CHECK(absl::StrContains(ProbeDevicemapper(home, env).message(),
                          "device-mapper is available"));
  CHECK(ProbeOverlay(home, env).message() ==
        "overlay: the overlay module is installed for kernel 9.9.9-test but not loaded "
        "(run 'modprobe overlay')");
  WriteFile(env.proc + "/filesystems", "nodev\tproc\n\text4\n");
  WriteFile(env.proc + "/misc", "237 loop-control\n");
  WriteFile(env.modules + "/9.9.9-test/modules.dep", "");
  CHECK(ProbeAufs(home, env).message() ==
        "aufs: not supported by kernel 9.9.9-test (aufs is not in " + env.proc +
            "/filesystems and no aufs module is installed)");
  CHECK(ProbeDevicemapper(home, env).message() ==
        "devicemapper: kernel 9.9.9-test has no device-mapper (no device-mapper in " +
            env.proc + "/misc, no " + env.dev + "/mapper/control)");
  CHECK(ProbeOverlay(home, env).message() ==
        "overlay: not supported by kernel 9.9.9-test (overlay is not in " + env.proc +
            "/filesystems)");
  CHECK(absl::StrContains(ProbeOverlay(dir.Sub("a:b"), {}).message(),
                          "contains ':', ',' or '\\'"));
  // Selection on such a kernel falls through to vfs, with every reason.
  DriverSelection sel;
  sel.root = dir.Sub("root");
  absl::StatusOr<SelectedDriver> chosen = SelectDriver(sel, BuiltinDrivers(env));
  REQUIRE(chosen.ok());
  CHECK(chosen->driver->Name() == "vfs");
  CHECK(chosen->driver->Home() == dir.Sub("root/vfs"));
  REQUIRE(chosen->skipped.size() == 4);
  CHECK(chosen->skipped[0].first == "aufs");
  CHECK(chosen->skipped[1].first == "btrfs");
  CHECK(chosen->skipped[2].first == "devicemapper");
  CHECK(chosen->skipped[3].first == "overlay");
  CHECK(chosen->skipped[3].second.message() == ProbeOverlay(dir.Sub("root/overlay"), env).message());
  // Only the chosen driver's home was created.
  CHECK(!PathExists(dir.Sub("root/overlay")));
  CHECK(!PathExists(dir.Sub("root/aufs")));
}

// ---------------------------------------------------------------- selection

TEST_CASE("selection on this machine: env, named without fallback, priority") {
  TempDir dir;
  DriverSelection sel;
  sel.root = dir.Sub("root");

  sel.env_driver = "vfs";
  sel.named_driver = "overlay";  // $BERTH_DRIVER wins over -s
  absl::StatusOr<SelectedDriver> chosen = SelectDriver(sel);
  REQUIRE(chosen.ok());
  CHECK(chosen->driver->Name() == "vfs");
  CHECK(chosen->driver->Home() == dir.Sub("root/vfs"));
  CHECK(PathExists(dir.Sub("root/vfs/dir")));
  CHECK(chosen->skipped.empty());

  sel.env_driver = "";
  sel.named_driver = "btrfs";
  chosen = SelectDriver(sel);
  CHECK(chosen.status().message() == ProbeBtrfs(dir.Sub("root/btrfs")).message());
  CHECK(!PathExists(dir.Sub("root/overlay")));  // no fallback was tried

  sel.named_driver = "zfs";
  CHECK(SelectDriver(sel).status().message() ==
        "unknown storage driver \"zfs\" (known: aufs, btrfs, devicemapper, overlay, vfs)");

  sel.named_driver = "";
  chosen = SelectDriver(sel);
  REQUIRE(chosen.ok());
  std::vector<std::string> skipped;
  for (const auto& [name, why] : chosen->skipped) {
    skipped.push_back(name);
    CHECK(absl::IsFailedPrecondition(why));
    CHECK(absl::StartsWith(why.message(), name + ": "));
  }
  // aufs, btrfs and devicemapper never work in berth; overlay does as root
  // on a kernel that has it.
  bool overlay_usable = geteuid() == 0 && ProcListsFilesystem("overlay");
  if (overlay_usable) {
    CHECK(chosen->driver->Name() == "overlay");
    CHECK(skipped == std::vector<std::string>{"aufs", "btrfs", "devicemapper"});
  } else {
    CHECK(chosen->driver->Name() == "vfs");
  }
  MESSAGE("default driver here: " << chosen->driver->Name());
}

// A registry of fakes, to drive the selection logic through every branch.

DriverFactory Usable(const std::string& name, std::vector<std::string>* calls) {
  return [name, calls](const std::string& home, const std::vector<std::string>& options)
             -> absl::StatusOr<std::unique_ptr<GraphDriver>> {
    calls->push_back(name);
    class Named : public GraphDriver {
     public:
      Named(std::string name, std::string home) : name_(std::move(name)), home_(std::move(home)) {}
      absl::string_view Name() const override { return name_; }
      const std::string& Home() const override { return home_; }
      absl::Status Create(absl::string_view, absl::string_view) override { return absl::OkStatus(); }
      absl::Status Remove(absl::string_view) override { return absl::OkStatus(); }
      absl::StatusOr<std::string> Get(absl::string_view) override { return home_; }
      absl::Status Put(absl::string_view) override { return absl::OkStatus(); }
      bool Exists(absl::string_view) override { return false; }
      DriverStatus Status() override { return {}; }
      absl::Status Cleanup() override { return absl::OkStatus(); }
      absl::StatusOr<int64_t> ApplyDiff(absl::string_view, absl::string_view, ByteSource) override {
        return 0;
      }
     private:
      std::string name_;
      std::string home_;
    };
    (void)options;
    return std::unique_ptr<GraphDriver>(new Named(name, home));
  };
}

DriverFactory Unusable(const std::string& name, std::vector<std::string>* calls,
                       absl::StatusCode code = absl::StatusCode::kFailedPrecondition) {
  return [name, calls, code](const std::string&, const std::vector<std::string>&)
             -> absl::StatusOr<std::unique_ptr<GraphDriver>> {
    calls->push_back(name);
    return absl::Status(code, name + ": not here");
  };
}

TEST_CASE("selection logic with fake drivers") {
  std::vector<std::string> calls;
  DriverSelection sel;
  sel.root = "/fake/root";

  SUBCASE("the first usable driver in priority order wins") {
    DriverRegistry r;
    r.Register("aufs", Unusable("aufs", &calls));
    r.Register("btrfs", Usable("btrfs", &calls));
    r.Register("overlay", Usable("overlay", &calls));
    absl::StatusOr<SelectedDriver> chosen = SelectDriver(sel, r);
    REQUIRE(chosen.ok());
    CHECK(chosen->driver->Name() == "btrfs");
    CHECK(chosen->driver->Home() == "/fake/root/btrfs");
    CHECK(calls == std::vector<std::string>{"aufs", "btrfs"});
  }
  SUBCASE("SELinux with btrfs is refused") {
    DriverRegistry r;
    r.Register("btrfs", Usable("btrfs", &calls));
    sel.selinux_enabled = true;
    CHECK(SelectDriver(sel, r).status().message() ==
          "SELinux is not supported with the BTRFS graph driver!");
    sel.named_driver = "btrfs";
    CHECK(SelectDriver(sel, r).status().message() ==
          "SELinux is not supported with the BTRFS graph driver!");
    r.Register("overlay", Usable("overlay", &calls));
    sel.named_driver = "overlay";
    CHECK(SelectDriver(sel, r).ok());
  }
  SUBCASE("nothing usable") {
    DriverRegistry r;
    for (const char* n : {"aufs", "btrfs", "devicemapper", "overlay", "vfs"}) {
      r.Register(n, Unusable(n, &calls));
    }
    absl::StatusOr<SelectedDriver> chosen = SelectDriver(sel, r);
    CHECK(chosen.status().message() == "No supported storage backend found");
    CHECK(calls.size() == 5);
    auto report = chosen.status().GetPayload(kProbeReportPayload);
    REQUIRE(report.has_value());
    CHECK(std::string(*report) ==
          "aufs: not here\nbtrfs: not here\ndevicemapper: not here\noverlay: not here\n"
          "vfs: not here\n");
  }
  SUBCASE("a named driver that fails gets no fallback") {
    DriverRegistry r;
    r.Register("overlay", Unusable("overlay", &calls));
    r.Register("vfs", Usable("vfs", &calls));
    sel.named_driver = "overlay";
    CHECK(SelectDriver(sel, r).status().message() == "overlay: not here");
    CHECK(calls == std::vector<std::string>{"overlay"});
    sel.named_driver = "";
    sel.env_driver = "overlay";
    calls.clear();
    CHECK(SelectDriver(sel, r).status().message() == "overlay: not here");
    CHECK(calls == std::vector<std::string>{"overlay"});
  }
  SUBCASE("a real error (not 'unsupported') stops the priority walk") {
    DriverRegistry r;
    r.Register("aufs", Unusable("aufs", &calls, absl::StatusCode::kPermissionDenied));
    r.Register("vfs", Usable("vfs", &calls));
    CHECK(absl::IsPermissionDenied(SelectDriver(sel, r).status()));
    CHECK(calls == std::vector<std::string>{"aufs"});
  }
  SUBCASE("options reach the driver") {
    DriverRegistry r = BuiltinDrivers();
    TempDir dir;
    sel.root = dir.path();
    sel.named_driver = "vfs";
    sel.options = {"dm.basesize=20G"};
    CHECK(SelectDriver(sel, r).status().message() ==
          "vfs: unknown option \"dm.basesize=20G\" (vfs takes no options)");
  }
}

}  // namespace
}  // namespace berth::storage
