// --userns-remap's inputs: /etc/subuid and /etc/subgid lines (odd and
// hostile ones included), the flag's forms and their exact errors, and the
// Binds syntax. The files are the test's own: the host's are never touched.
// Users and groups come from the host's database: root (0) and nobody/nogroup
// (65534), which every Debian system has.
#include "execdriver/userns.h"

#include <string>

#include "doctest/doctest.h"
#include "execdriver/binds.h"
#include "tests/support/temp_dir.h"

namespace berth::execdriver {
namespace {

using testing::TempDir;
using testing::WriteFileOrDie;

TEST_CASE("subuid: well-formed lines, in order") {
  std::vector<SubidEntry> e = ParseSubidFile("alice:100000:65536\n1000:200000:1000\nbob:300000:70000");
  REQUIRE(e.size() == 3);
  CHECK(e[0] == SubidEntry{"alice", 100000, 65536});
  CHECK(e[1] == SubidEntry{"1000", 200000, 1000});
  CHECK(e[2] == SubidEntry{"bob", 300000, 70000});  // no final newline
}

TEST_CASE("subuid: blank, comment, CRLF and malformed lines are skipped") {
  std::string text =
      "\n"
      "# alice:1:1\n"
      "carol:400000:65536\r\n"      // CRLF
      "nocount:500000\n"            // two fields
      "toomany:1:2:3\n"             // four fields
      ":600000:10\n"                // empty owner
      "neg:-5:10\n"                 // sign
      "plus:+5:10\n"
      "space: 5:10\n"
      "hex:0x10:10\n"
      "empty::10\n"
      "zero:700000:0\n"             // count 0
      "huge:99999999999:10\n"       // past 32 bits
      "wrap:4294967200:1000\n"      // range past 2^32-1
      "max:4294967295:1\n"          // (uid_t)-1 is never an id
      "edge:4294967294:1\n"         // the last id: fine
      "ok:800000:10\n";
  std::vector<SubidEntry> e = ParseSubidFile(text);
  REQUIRE(e.size() == 3);
  CHECK(e[0] == SubidEntry{"carol", 400000, 65536});
  CHECK(e[1] == SubidEntry{"edge", 4294967294u, 1});
  CHECK(e[2] == SubidEntry{"ok", 800000, 10});
}

TEST_CASE("subuid: binary junk and a huge line do not upset the parser") {
  static const char kJunk[] = "a\0b:1:2\n\xff\xfe:3:4\n";
  std::string junk(kJunk, sizeof(kJunk) - 1);
  CHECK(ParseSubidFile(junk).size() == 2);  // owners are opaque bytes; ids are checked
  std::string huge(1 << 20, 'x');
  huge += ":1000:10\n";
  std::vector<SubidEntry> e = ParseSubidFile(huge);
  REQUIRE(e.size() == 1);
  CHECK(e[0].owner.size() == (1u << 20));
  CHECK(ParseSubidFile("").empty());
  CHECK(ParseSubidFile(":::\n::\n:\n").empty());
}

TEST_CASE("subuid: the first range of the name or the id, capped at 65536") {
  std::vector<SubidEntry> e = ParseSubidFile("bob:100000:10\nalice:200000:100000\n1000:300000:65536\nalice:1:1\n");
  auto alice = FindSubidRange(e, "alice", "1001");
  REQUIRE(alice.ok());
  CHECK(*alice == IdRange{200000, 65536});  // capped, first line wins
  auto by_id = FindSubidRange(e, "nosuch", "1000");
  REQUIRE(by_id.ok());
  CHECK(*by_id == IdRange{300000, 65536});
  auto small = FindSubidRange(e, "bob", "");
  REQUIRE(small.ok());
  CHECK(*small == IdRange{100000, 10});
  CHECK(FindSubidRange(e, "", "").status().code() == absl::StatusCode::kNotFound);
  CHECK(!FindSubidRange(e, "carol", "7").ok());
}

struct Files {
  TempDir dir;
  SubidFiles files{dir / "subuid", dir / "subgid"};
  Files(const std::string& subuid, const std::string& subgid) {
    WriteFileOrDie(files.subuid, subuid);
    WriteFileOrDie(files.subgid, subgid);
  }
};

TEST_CASE("--userns-remap forms: USER, USER:GROUP, UID, UID:GID") {
  Files f("nobody:300000:65536\n4242:500000:1000\n", "nobody:310000:65536\nnogroup:320000:65536\n4343:600000:10\n");
  auto user = ResolveUsernsRemap("nobody", f.files);
  REQUIRE_MESSAGE(user.ok(), user.status());
  CHECK(user->enabled());
  CHECK(user->uids == IdRange{300000, 65536});
  CHECK(user->gids == IdRange{310000, 65536});  // the user's name, as Docker
  CHECK(user->RootDirName() == "300000.310000");

  auto both = ResolveUsernsRemap("nobody:nogroup", f.files);
  REQUIRE(both.ok());
  CHECK(both->gids == IdRange{320000, 65536});

  auto numeric = ResolveUsernsRemap("65534:65534", f.files);  // nobody:nogroup by number, matched by name
  REQUIRE(numeric.ok());
  CHECK(numeric->uids == IdRange{300000, 65536});
  CHECK(numeric->gids == IdRange{320000, 65536});

  // An id with no passwd entry is matched by number only.
  auto bare = ResolveUsernsRemap("4242:4343", f.files);
  REQUIRE_MESSAGE(bare.ok(), bare.status());
  CHECK(bare->uids == IdRange{500000, 1000});
  CHECK(bare->gids == IdRange{600000, 10});

  auto off = ResolveUsernsRemap("", f.files);
  REQUIRE(off.ok());
  CHECK(!off->enabled());
}

TEST_CASE("--userns-remap errors name the value and the file") {
  Files f("nobody:300000:65536\nroot:0:65536\n", "nobody:310000:65536\n");
  auto msg = [&](absl::string_view v) { return std::string(ResolveUsernsRemap(v, f.files).status().message()); };
  for (const char* bad : {"a:b:c", ":", "nobody:", ":nogroup", "a::"}) {
    CHECK(msg(bad) == std::string("want default, USER, USER:GROUP, UID or UID:GID, got '") + bad + "'");
  }
  CHECK(msg("no-such-user-x") == "no user 'no-such-user-x' in the host's user database");
  CHECK(msg("nobody:no-such-group-x") == "no group 'no-such-group-x' in the host's group database");
  CHECK(msg("nobody:nogroup") == "no subordinate gid range for 'nogroup' in " + f.files.subgid);
  CHECK(msg("4242") == "no subordinate uid range for '4242' in " + f.files.subuid);
  CHECK(msg("root") == "the subordinate uid range 0:65536 for 'root' in " + f.files.subuid + " contains host uid 0");
  SubidFiles missing{f.dir / "nope", f.files.subgid};
  CHECK(ResolveUsernsRemap("nobody", missing).status().message() ==
        "cannot read " + missing.subuid + ": No such file or directory");
  // `default` is the user berthremap, which berthd does not create.
  if (!ResolveUsernsRemap("berthremap", f.files).ok()) {
    CHECK(msg("default") == "user 'berthremap' (for 'default') does not exist: create it (useradd -r -s "
                            "/usr/sbin/nologin berthremap) and give it ranges in " +
                                f.files.subuid + " and " + f.files.subgid);
  }
}

TEST_CASE("Binds: /host:/container[:ro|rw], checked against the host") {
  TempDir dir;
  WriteFileOrDie(dir / "file", "x");
  auto rw = ParseBind(dir.path() + "://data/./x/");
  REQUIRE_MESSAGE(rw.ok(), rw.status());
  CHECK(rw->source == dir.path());
  CHECK(rw->target == "/data/x");
  CHECK(!rw->read_only);
  CHECK(rw->source_is_dir);
  auto ro = ParseBind(dir / "file" + ":/etc/f:ro");
  REQUIRE(ro.ok());
  CHECK(ro->read_only);
  CHECK(!ro->source_is_dir);
  CHECK(ParseBind(dir.path() + ":/d:rw").ok());

  auto msg = [](const std::string& v) { return std::string(ParseBind(v).status().message()); };
  CHECK(msg("/data") == "Binds: want /HOST:/CONTAINER[:ro|rw], got '/data'");
  CHECK(msg("/a:/b:ro:x") == "Binds: want /HOST:/CONTAINER[:ro|rw], got '/a:/b:ro:x'");
  CHECK(msg("/tmp:/b:rx") == "Binds: mode must be ro or rw, got 'rx' in '/tmp:/b:rx'");
  CHECK(msg("tmp:/b") == "Binds: the host path must be absolute, got 'tmp' in 'tmp:/b'");
  CHECK(msg("/tmp:b") == "Binds: the container path must be absolute and not /, got 'b' in '/tmp:b'");
  CHECK(msg("/tmp:/") == "Binds: the container path must be absolute and not /, got '/' in '/tmp:/'");
  CHECK(msg("/tmp:/./") == "Binds: the container path must be absolute and not /, got '/./' in '/tmp:/./'");
  CHECK(msg("/tmp:/a/../../etc") ==
        "Binds: the container path may not contain '..', got '/a/../../etc' in '/tmp:/a/../../etc'");
  CHECK(msg("/no/such/dir:/b") ==
        "Binds: host path /no/such/dir does not exist (in '/no/such/dir:/b'): No such file or directory");
}

}  // namespace
}  // namespace berth::execdriver
