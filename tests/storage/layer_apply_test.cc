// ApplyLayer: what lands on disk (content, modes, owners, times, links,
// devices, xattrs), whiteouts and opaque directories in both formats, the
// traversal attempts that must be refused, truncated archives and limits,
// and a round trip against GNU tar as an independent oracle.
#include "storage/layer_apply.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <doctest/doctest.h>

#include "tests/storage/test_util.h"

namespace berth::storage {
namespace {

using testing::Lstat;
using testing::PathExists;
using testing::ReadFile;
using testing::TarBuilder;
using testing::TempDir;
using testing::WriteFile;

absl::StatusOr<int64_t> Apply(const std::string& dir, const std::string& archive,
                              ApplyOptions options = {}) {
  return ApplyLayer(dir, StringSource(archive), options);
}

std::string Xattr(const std::string& path, const char* name) {
  char buf[256];
  ssize_t n = lgetxattr(path.c_str(), name, buf, sizeof(buf));
  if (n < 0) return "<none>";
  return std::string(buf, static_cast<size_t>(n));
}

TEST_CASE("CleanArchivePath") {
  CHECK(*CleanArchivePath("a/b") == "a/b");
  CHECK(*CleanArchivePath("./a//b/") == "a/b");
  CHECK(*CleanArchivePath("/etc/passwd") == "etc/passwd");
  CHECK(*CleanArchivePath("a/../b") == "b");
  CHECK(*CleanArchivePath("./") == "");
  CHECK(*CleanArchivePath("a/..") == "");
  CHECK(CleanArchivePath("../x").status().message() ==
        "path \"../x\" escapes the layer root");
  CHECK(!CleanArchivePath("a/../../x").ok());
  CHECK(!CleanArchivePath("/../x").ok());
}

TEST_CASE("files, directories, links and their attributes") {
  if (!testing::RequireRoot("ownership and device nodes")) return;
  TempDir dir;
  TarBuilder b;
  b.Dir("./", 0755);
  TarBuilder::Entry d;
  d.name = "etc/";
  d.type = '5';
  d.mode = 0710;
  d.uid = 42;
  d.gid = 43;
  d.mtime = 1500000000;
  b.Add(d);
  b.Pax({{"mtime", "1600000000.987654321"}, {"SCHILY.xattr.user.origin", "berth"}});
  TarBuilder::Entry f;
  f.name = "etc/app.conf";
  f.data = "key=value\n";
  f.mode = 04751;
  f.uid = 1234;
  f.gid = 5678;
  b.Add(f);
  b.Symlink("etc/link", "app.conf").Hardlink("etc/hard", "etc/app.conf");
  TarBuilder::Entry dev;
  dev.name = "dev/null";
  dev.type = '3';
  dev.dev_major = 1;
  dev.dev_minor = 3;
  dev.mode = 0666;
  b.Add(dev);
  TarBuilder::Entry fifo;
  fifo.name = "run/fifo";
  fifo.type = '6';
  fifo.mode = 0620;
  b.Add(fifo);
  b.File("empty", "", 0600);
  absl::StatusOr<int64_t> size = Apply(dir.path(), b.Finish());
  REQUIRE_MESSAGE(size.ok(), size.status().ToString());
  CHECK(*size == 10);

  std::string conf = dir.Sub("etc/app.conf");
  CHECK(ReadFile(conf) == "key=value\n");
  struct stat st = Lstat(conf);
  CHECK((st.st_mode & 07777) == 04751);
  CHECK(st.st_uid == 1234);
  CHECK(st.st_gid == 5678);
  CHECK(st.st_mtim.tv_sec == 1600000000);
  CHECK(st.st_mtim.tv_nsec == 987654321);
  CHECK(Xattr(conf, "user.origin") == "berth");
  struct stat etc = Lstat(dir.Sub("etc"));
  CHECK((etc.st_mode & 07777) == 0710);
  CHECK(etc.st_uid == 42);
  CHECK(etc.st_mtim.tv_sec == 1500000000);  // kept despite the writes inside
  CHECK(testing::ReadLink(dir.Sub("etc/link")) == "app.conf");
  CHECK(Lstat(dir.Sub("etc/hard")).st_ino == st.st_ino);
  struct stat nul = Lstat(dir.Sub("dev/null"));
  CHECK(S_ISCHR(nul.st_mode));
  CHECK(major(nul.st_rdev) == 1);
  CHECK(minor(nul.st_rdev) == 3);
  CHECK((nul.st_mode & 07777) == 0666);
  struct stat fi = Lstat(dir.Sub("run/fifo"));
  CHECK(S_ISFIFO(fi.st_mode));
  CHECK((fi.st_mode & 07777) == 0620);
  // Parents the archive did not list are made 0755.
  CHECK((Lstat(dir.Sub("run")).st_mode & 07777) == 0755);
}

TEST_CASE("a new entry replaces what is there, never writes through it") {
  TempDir dir;
  TempDir outside;
  std::string victim = outside.Sub("victim");
  WriteFile(victim, "original");
  REQUIRE(symlink(victim.c_str(), dir.Sub("f").c_str()) == 0);
  REQUIRE(mkdir(dir.Sub("d").c_str(), 0755) == 0);
  WriteFile(dir.Sub("d/inner"), "x");
  REQUIRE(Apply(dir.path(), TarBuilder().File("f", "new").File("d", "now a file").Finish()).ok());
  CHECK(ReadFile(victim) == "original");
  CHECK(S_ISREG(Lstat(dir.Sub("f")).st_mode));
  CHECK(ReadFile(dir.Sub("f")) == "new");
  CHECK(ReadFile(dir.Sub("d")) == "now a file");
  // An existing directory stays a directory (its content is kept).
  REQUIRE(mkdir(dir.Sub("keep").c_str(), 0700) == 0);
  WriteFile(dir.Sub("keep/old"), "o");
  REQUIRE(Apply(dir.path(), TarBuilder().Dir("keep", 0755).Finish()).ok());
  CHECK(ReadFile(dir.Sub("keep/old")) == "o");
  CHECK((Lstat(dir.Sub("keep")).st_mode & 07777) == 0755);
}

TEST_CASE("path traversal attempts are refused and write nothing outside") {
  TempDir root;
  std::string layer = root.Sub("layer");
  REQUIRE(mkdir(layer.c_str(), 0755) == 0);
  std::string outside = root.Sub("outside");
  REQUIRE(mkdir(outside.c_str(), 0755) == 0);

  absl::StatusOr<int64_t> r = Apply(layer, TarBuilder().File("../outside/pwned", "x").Finish());
  CHECK(r.status().message() ==
        "tar entry \"../outside/pwned\": path \"../outside/pwned\" escapes the layer root");
  r = Apply(layer, TarBuilder().File("a/../../outside/pwned", "x").Finish());
  CHECK(absl::IsInvalidArgument(r.status()));
  r = Apply(layer, TarBuilder().Pax({{"path", "../../outside/pwned"}}).File("x", "x").Finish());
  CHECK(absl::IsInvalidArgument(r.status()));
  // An absolute name is taken relative to the layer.
  REQUIRE(Apply(layer, TarBuilder().File("/abs/file", "in").Finish()).ok());
  CHECK(ReadFile(layer + "/abs/file") == "in");

  // Through a symlink that leads out, relative or absolute.
  r = Apply(layer, TarBuilder().Symlink("esc", "../outside").File("esc/pwned", "x").Finish());
  CHECK(r.status().message() ==
        "tar entry \"esc/pwned\": \"esc\" leads outside the layer through a symlink; "
        "refusing to follow it");
  r = Apply(layer, TarBuilder().Symlink("abs", outside).File("abs/pwned", "x").Finish());
  CHECK(absl::IsInvalidArgument(r.status()));
  r = Apply(layer, TarBuilder().Symlink("deep", "a/../../outside").File("deep/sub/pwned", "x").Finish());
  CHECK(r.status().message() ==
        "tar entry \"deep/sub/pwned\": \"deep\" is a symlink that leads to nothing in "
        "the layer");
  r = Apply(layer, TarBuilder().Dir("a").Symlink("deep2", "a/../../outside").File("deep2/pwned", "x").Finish());
  CHECK(absl::IsInvalidArgument(r.status()));
  // A whiteout through it must not delete outside either.
  WriteFile(outside + "/keep", "k");
  r = Apply(layer, TarBuilder().Symlink("esc2", outside).File("esc2/.wh.keep", "").Finish());
  CHECK(absl::IsInvalidArgument(r.status()));
  CHECK(PathExists(outside + "/keep"));

  // Hard links to files outside the layer.
  WriteFile(outside + "/secret", "s");
  r = Apply(layer, TarBuilder().Hardlink("h", "../outside/secret").Finish());
  CHECK(r.status().message() ==
        "tar entry \"h\": hard link target: path \"../outside/secret\" escapes the layer root");
  r = Apply(layer, TarBuilder().Hardlink("h", outside + "/secret").Finish());
  CHECK(r.status().message().find("does not exist in the layer") != std::string::npos);
  r = Apply(layer, TarBuilder().Symlink("ln", outside).Hardlink("h", "ln/secret").Finish());
  CHECK(absl::IsInvalidArgument(r.status()));
  CHECK(Lstat(outside + "/secret").st_nlink == 1);
  CHECK(!PathExists(outside + "/pwned"));
  CHECK(!PathExists(layer + "/h"));

  // Symlinks that stay inside are followed normally.
  REQUIRE(Apply(layer, TarBuilder().Dir("real").Symlink("alias", "real").File("alias/f", "ok").Finish()).ok());
  CHECK(ReadFile(layer + "/real/f") == "ok");
}

TEST_CASE("whiteouts and opaque directories delete in a plain layer") {
  TempDir dir;
  for (const char* d : {"a", "o", "o/sub", "gone"}) {
    REQUIRE(mkdir(dir.Sub(d).c_str(), 0755) == 0);
  }
  for (const char* f : {"a/b", "a/c", "d", "o/old", "o/sub/old2", "gone/x"}) {
    WriteFile(dir.Sub(f), f);
  }
  TarBuilder b;
  b.File(".wh.d", "").File("a/.wh.b", "").File(".wh.gone", "").File(".wh.never-there", "");
  b.Dir("o").File("o/.wh..wh..opq", "").File("o/new", "n");
  b.File(".wh..wh.plnk/123.456", "aufs bookkeeping");
  REQUIRE(Apply(dir.path(), b.Finish()).ok());
  CHECK(!PathExists(dir.Sub("d")));
  CHECK(!PathExists(dir.Sub("a/b")));
  CHECK(ReadFile(dir.Sub("a/c")) == "a/c");
  CHECK(!PathExists(dir.Sub("gone")));
  CHECK(!PathExists(dir.Sub("o/old")));
  CHECK(!PathExists(dir.Sub("o/sub")));
  CHECK(ReadFile(dir.Sub("o/new")) == "n");
  CHECK(!PathExists(dir.Sub(".wh..wh.plnk")));
  CHECK(!PathExists(dir.Sub(".wh.d")));

  // The opaque marker after the directory's new entries keeps them.
  TempDir dir2;
  REQUIRE(mkdir(dir2.Sub("o").c_str(), 0755) == 0);
  WriteFile(dir2.Sub("o/old"), "old");
  REQUIRE(Apply(dir2.path(),
                TarBuilder().Dir("o").Dir("o/n").File("o/n/f", "1").File("o/.wh..wh..opq", "").Finish())
              .ok());
  CHECK(!PathExists(dir2.Sub("o/old")));
  CHECK(ReadFile(dir2.Sub("o/n/f")) == "1");
  CHECK(absl::IsInvalidArgument(Apply(dir2.path(), TarBuilder().File(".wh..", "").Finish()).status()));
}

TEST_CASE("overlay format: whiteout devices and the opaque attribute") {
  if (!testing::RequireRoot("overlay whiteouts (mknod, trusted xattrs)")) return;
  TempDir dir;
  ApplyOptions options;
  options.whiteouts = WhiteoutFormat::kOverlay;
  TarBuilder b;
  b.File("etc/.wh.passwd", "").Dir("var").File("var/.wh..wh..opq", "").File("var/new", "n");
  b.Pax({{"SCHILY.xattr.trusted.overlay.opaque", "y"}}).Dir("forged");
  REQUIRE(Apply(dir.path(), b.Finish(), options).ok());
  struct stat wh = Lstat(dir.Sub("etc/passwd"));
  CHECK(S_ISCHR(wh.st_mode));
  CHECK(wh.st_rdev == makedev(0, 0));
  CHECK(Xattr(dir.Sub("var"), "trusted.overlay.opaque") == "y");
  CHECK(ReadFile(dir.Sub("var/new")) == "n");
  CHECK(Xattr(dir.Sub("forged"), "trusted.overlay.opaque") == "<none>");
}

TEST_CASE("overlay format: made-up parents take the lower layer's attributes") {
  if (!testing::RequireRoot("chown")) return;
  TempDir dir;
  std::string lower = dir.Sub("lower");
  std::string upper = dir.Sub("upper");
  REQUIRE(mkdir(lower.c_str(), 0755) == 0);
  REQUIRE(mkdir(upper.c_str(), 0755) == 0);
  REQUIRE(mkdir((lower + "/srv").c_str(), 0750) == 0);
  REQUIRE(chown((lower + "/srv").c_str(), 33, 33) == 0);
  ApplyOptions options;
  options.whiteouts = WhiteoutFormat::kOverlay;
  options.lower_dirs = {lower};
  REQUIRE(Apply(upper, TarBuilder().File("srv/index.html", "hi").Finish(), options).ok());
  struct stat st = Lstat(upper + "/srv");
  CHECK((st.st_mode & 07777) == 0750);
  CHECK(st.st_uid == 33);
}

TEST_CASE("under a remapped root, owners are shifted and ids past the range refused") {
  if (!testing::RequireRoot("chown")) return;
  TempDir dir;
  std::string layer = dir.Sub("layer");
  REQUIRE(mkdir(layer.c_str(), 0755) == 0);
  ApplyOptions options;
  options.ids = {300000, 400000, 65536, 1000};
  TarBuilder b;
  TarBuilder::Entry f;
  f.name = "srv/www/index.html";  // parents not listed: the remapped root's
  f.data = "hi";
  f.uid = 33;
  f.gid = 999;
  b.Add(f);
  b.Symlink("srv/link", "www");
  REQUIRE(Apply(layer, b.Finish(), options).ok());
  struct stat st = Lstat(layer + "/srv/www/index.html");
  CHECK(st.st_uid == 300033);
  CHECK(st.st_gid == 400999);
  CHECK(Lstat(layer + "/srv").st_uid == 300000);
  CHECK(Lstat(layer + "/srv/www").st_gid == 400000);
  CHECK(Lstat(layer + "/srv/link").st_uid == 300000);

  TarBuilder::Entry big;
  big.name = "big";
  big.data = "x";
  big.gid = 1000;  // the gid range has 1000 ids: 0-999
  absl::StatusOr<int64_t> refused = Apply(layer, TarBuilder().Add(big).Finish(), options);
  CHECK(refused.status().message() == "tar entry \"big\": gid 1000 is outside the remapped range 0-999");
  CHECK(ShiftUid({}, 70000).value() == 70000);  // no shift: as they come
  CHECK(ShiftUid({1, 1, 65536, 65536}, 65536).status().message() == "uid 65536 is outside the remapped range 0-65535");
}

TEST_CASE("truncated or broken archives stop with a clear error") {
  TempDir dir;
  std::string full = TarBuilder().File("one", "1").File("two", std::string(2000, '2')).Finish();
  absl::StatusOr<int64_t> r = Apply(dir.path(), full.substr(0, 1024 + 512 + 100));
  CHECK(r.status().message() == "truncated tar archive: entry \"two\" has 100 of 2000 data bytes");
  // What came before the break is there (callers apply into a fresh layer).
  CHECK(ReadFile(dir.Sub("one")) == "1");
  r = Apply(dir.path(), "this is not a tar archive at all" + std::string(600, '!'));
  CHECK(absl::IsInvalidArgument(r.status()));
  TarBuilder::Entry odd;
  odd.name = "odd";
  odd.type = 'Z';
  CHECK(Apply(dir.path(), TarBuilder().Add(odd).Finish()).status().message() ==
        "tar entry \"odd\": unsupported entry type 'Z'");
  CHECK(Apply(dir.path(), TarBuilder().Hardlink("h", "missing").Finish()).status().message() ==
        "tar entry \"h\": hard link target \"missing\" does not exist in the layer");
  CHECK(absl::IsNotFound(Apply(dir.Sub("nope"), full).status()));
}

TEST_CASE("dry run validates without writing; limits hold") {
  TempDir dir;
  ApplyOptions dry;
  dry.dry_run = true;
  absl::StatusOr<int64_t> r = Apply("", TarBuilder().File("a", "123").File("b", "45").Finish(), dry);
  REQUIRE(r.ok());
  CHECK(*r == 5);
  CHECK(!Apply("", TarBuilder().File("../x", "1").Finish(), dry).ok());
  ApplyOptions limited;
  limited.max_entries = 2;
  CHECK(Apply(dir.path(), TarBuilder().File("a", "").File("b", "").File("c", "").Finish(), limited)
            .status()
            .message() == "layer has more than 2 entries");
  limited = {};
  limited.max_total_bytes = 10;
  CHECK(Apply(dir.path(), TarBuilder().File("a", "123456").File("b", "123456").Finish(), limited)
            .status()
            .message() == "layer data exceeds 10 bytes");
}

TEST_CASE("round trip against GNU tar: what tar packs, ApplyLayer unpacks") {
  if (!testing::RequireRoot("numeric owners")) return;
  TempDir dir;
  std::string src = dir.Sub("src");
  std::string dst = dir.Sub("dst");
  REQUIRE(mkdir(dst.c_str(), 0755) == 0);
  std::string deep = std::string(120, 'd') + "/" + std::string(120, 'e');
  REQUIRE(testing::Shell(
              "set -e; mkdir -p " + src + "/" + deep + " " + src + "/bin; cd " + src +
              "; printf 'payload' > " + deep + "/" + std::string(100, 'f') +
              "; printf '#!/bin/sh\\n' > bin/tool; chown 7:8 bin/tool; chmod 4755 bin/tool"
              "; ln bin/tool bin/tool-hard; ln -s ../" + deep + " bin/deep-link"
              "; mkfifo pipe; touch -d '2001-02-03 04:05:06.123456789' bin/tool") == 0);
  REQUIRE(setxattr((src + "/bin/tool").c_str(), "user.k", "v", 1, 0) == 0);
  std::string archive = dir.Sub("layer.tar");
  REQUIRE(testing::Shell("tar --format=posix --xattrs --xattrs-include='user.*' "
                         "--numeric-owner -C " + src + " -cf " + archive + " .") == 0);
  absl::StatusOr<ByteSource> source = FileSource(archive);
  REQUIRE(source.ok());
  absl::StatusOr<int64_t> size = ApplyLayer(dst, *source);
  REQUIRE_MESSAGE(size.ok(), size.status().ToString());
  CHECK(*size == 7 + 10);
  // GNU tar's own verdict on what it finds in dst, and ours on details.
  CHECK(testing::Shell("tar --compare --xattrs --numeric-owner -C " + dst + " -f " + archive +
                       " >/dev/null") == 0);
  struct stat tool = Lstat(dst + "/bin/tool");
  CHECK((tool.st_mode & 07777) == 04755);
  CHECK(tool.st_uid == 7);
  CHECK(tool.st_gid == 8);
  CHECK(tool.st_mtim.tv_nsec == 123456789);
  CHECK(Lstat(dst + "/bin/tool-hard").st_ino == tool.st_ino);
  CHECK(Xattr(dst + "/bin/tool", "user.k") == "v");
  CHECK(ReadFile(dst + "/bin/deep-link/" + std::string(100, 'f')) == "payload");
  CHECK(S_ISFIFO(Lstat(dst + "/pipe").st_mode));
}

}  // namespace
}  // namespace berth::storage
