// User resolution against an image's /etc/passwd and /etc/group, with
// Docker's errors, and symlinks that try to read the host's files.
#include "execdriver/user.h"

#include <filesystem>

#include "doctest/doctest.h"
#include "tests/support/temp_dir.h"

namespace berth::execdriver {
namespace {

using testing::TempDir;
using testing::WriteFileOrDie;

struct Image {
  TempDir dir;
  std::string root = dir / "rootfs";
  Image() {
    std::filesystem::create_directories(root + "/etc");
    WriteFileOrDie(root + "/etc/passwd",
                   "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n"
                   "# comment\nbroken line\n");
    WriteFileOrDie(root + "/etc/group", "root:x:0:\nstaff:x:50:app,other\nwheel:x:10:app\napp:x:1000:\n");
  }
};

TEST_CASE("user: root, names, ids, groups") {
  Image img;
  auto root = ResolveUser(img.root, "");
  REQUIRE(root.ok());
  CHECK(root->uid == 0);
  CHECK(root->gid == 0);
  CHECK(root->home == "/root");

  auto app = ResolveUser(img.root, "app");
  REQUIRE(app.ok());
  CHECK(app->uid == 1000);
  CHECK(app->gid == 1000);
  CHECK(app->groups == std::vector<gid_t>{50, 10});  // supplementary, from /etc/group
  CHECK(app->home == "/home/app");

  auto by_id = ResolveUser(img.root, "1000");
  REQUIRE(by_id.ok());
  CHECK(by_id->uid == 1000);
  CHECK(by_id->groups.size() == 2);

  // An explicit group replaces the supplementary ones.
  auto pair = ResolveUser(img.root, "1000:1000");
  REQUIRE(pair.ok());
  CHECK(pair->gid == 1000);
  CHECK(pair->groups.empty());
  auto named_group = ResolveUser(img.root, "app:staff");
  REQUIRE(named_group.ok());
  CHECK(named_group->gid == 50);

  // An id the image does not know is used as is, with gid 0.
  auto unknown_id = ResolveUser(img.root, "4242");
  REQUIRE(unknown_id.ok());
  CHECK(unknown_id->uid == 4242);
  CHECK(unknown_id->gid == 0);
}

TEST_CASE("user: unknown names fail with Docker's text") {
  Image img;
  auto nobody = ResolveUser(img.root, "nosuch");
  REQUIRE(!nobody.ok());
  CHECK(nobody.status().message() == "unable to find user nosuch: no matching entries in passwd file");
  auto group = ResolveUser(img.root, "app:nosuch");
  REQUIRE(!group.ok());
  CHECK(group.status().message() == "unable to find group nosuch: no matching entries in group file");
  // An image without /etc knows only ids.
  TempDir scratch;
  CHECK(ResolveUser(scratch.path(), "").ok());
  CHECK(ResolveUser(scratch.path(), "12:34")->gid == 34);
  CHECK(!ResolveUser(scratch.path(), "app").ok());
}

TEST_CASE("user: a passwd symlinked to a host path, or /etc -> /, reads nothing outside the rootfs") {
  TempDir dir;
  std::string host_passwd = dir / "host-passwd";
  WriteFileOrDie(host_passwd, "hostonly:x:4242:4242::/:/bin/sh\n");
  std::string a = dir / "a";
  std::filesystem::create_directories(a + "/etc");
  std::filesystem::create_symlink(host_passwd, a + "/etc/passwd");
  auto via_link = ResolveUser(a, "hostonly");
  REQUIRE(!via_link.ok());
  CHECK(via_link.status().message() == "unable to find user hostonly: no matching entries in passwd file");

  // /etc -> / would make etc/passwd the host's /etc/passwd, which has "root"
  // and "daemon"; inside the rootfs there is no passwd at all.
  std::string b = dir / "b";
  std::filesystem::create_directories(b);
  std::filesystem::create_symlink("/", b + "/etc");
  CHECK(!ResolveUser(b, "daemon").ok());
  CHECK(!ReadFileInRoot(b, "/etc/passwd").ok());
  CHECK(!ReadFileInRoot(a, "/etc/passwd").ok());
  // A relative escape is held in the root too.
  std::filesystem::create_directories(dir / "c/etc");
  std::filesystem::create_symlink("../../../../../../../../" + host_passwd, dir / "c/etc/passwd");
  CHECK(!ResolveUser(dir / "c", "hostonly").ok());
}

}  // namespace
}  // namespace berth::execdriver
