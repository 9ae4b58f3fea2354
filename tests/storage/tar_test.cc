// TarReader: ustar, pax (local and global), GNU long names and base-256
// numbers, archives written by GNU tar itself, and every way an archive can
// be broken: truncation, bad checksums, bad numbers, oversized parts.
#include "storage/tar_reader.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "tests/storage/test_util.h"

namespace berth::storage {
namespace {

using testing::TarBuilder;

std::vector<TarEntry> ReadAll(const std::string& archive,
                              std::vector<std::string>* data = nullptr,
                              TarLimits limits = {}) {
  TarReader reader(StringSource(archive), limits);
  std::vector<TarEntry> entries;
  while (true) {
    TarEntry e;
    absl::StatusOr<bool> more = reader.Next(&e);
    REQUIRE_MESSAGE(more.ok(), more.status().ToString());
    if (!*more) break;
    std::string content;
    char buf[7];  // odd size: exercise partial reads
    while (true) {
      absl::StatusOr<size_t> n = reader.Read(buf, sizeof(buf));
      REQUIRE_MESSAGE(n.ok(), n.status().ToString());
      if (*n == 0) break;
      content.append(buf, *n);
    }
    if (data != nullptr) data->push_back(content);
    entries.push_back(std::move(e));
  }
  return entries;
}

// The first error reading the whole archive, or OK.
absl::Status FirstError(const std::string& archive, TarLimits limits = {},
                        ByteSource source = nullptr) {
  TarReader reader(source ? std::move(source) : StringSource(archive), limits);
  while (true) {
    TarEntry e;
    absl::StatusOr<bool> more = reader.Next(&e);
    if (!more.ok()) return more.status();
    if (!*more) return absl::OkStatus();
    char buf[4096];
    while (true) {
      absl::StatusOr<size_t> n = reader.Read(buf, sizeof(buf));
      if (!n.ok()) return n.status();
      if (*n == 0) break;
    }
  }
}

TEST_CASE("ustar entries of every type with their fields") {
  TarBuilder b;
  TarBuilder::Entry f;
  f.name = "dir/file.txt";
  f.data = "hello world";
  f.mode = 04755;
  f.uid = 1234;
  f.gid = 5678;
  f.mtime = 1600000000;
  b.Dir("dir/", 0750).Add(f).Symlink("dir/link", "file.txt").Hardlink(
      "dir/hard", "dir/file.txt");
  TarBuilder::Entry dev;
  dev.name = "dev/null";
  dev.type = '3';
  dev.dev_major = 1;
  dev.dev_minor = 3;
  b.Add(dev);
  TarBuilder::Entry fifo;
  fifo.name = "fifo";
  fifo.type = '6';
  b.Add(fifo);
  std::vector<std::string> data;
  std::vector<TarEntry> e = ReadAll(b.Finish(), &data);
  REQUIRE(e.size() == 6);
  CHECK(e[0].name == "dir/");
  CHECK(e[0].type == kTarDirectory);
  CHECK(e[0].mode == 0750);
  CHECK(e[1].name == "dir/file.txt");
  CHECK(e[1].type == kTarRegular);
  CHECK(e[1].mode == 04755);
  CHECK(e[1].uid == 1234);
  CHECK(e[1].gid == 5678);
  CHECK(e[1].mtime.tv_sec == 1600000000);
  CHECK(e[1].size == 11);
  CHECK(e[1].uname == "root");
  CHECK(data[1] == "hello world");
  CHECK(e[2].type == kTarSymlink);
  CHECK(e[2].link_name == "file.txt");
  CHECK(e[3].type == kTarHardLink);
  CHECK(e[3].link_name == "dir/file.txt");
  CHECK(e[4].type == kTarCharDevice);
  CHECK(e[4].dev_major == 1);
  CHECK(e[4].dev_minor == 3);
  CHECK(e[5].type == kTarFifo);
  CHECK(e[1].header_offset == 512);
}

TEST_CASE("ustar prefix field joins long paths") {
  std::string dir(120, 'd');
  std::string name = dir + "/" + std::string(90, 'f');
  std::vector<TarEntry> e = ReadAll(TarBuilder().File(name, "x").Finish());
  REQUIRE(e.size() == 1);
  CHECK(e[0].name == name);
}

TEST_CASE("pax records override the header; global ones apply onwards") {
  std::string long_name = std::string(300, 'p') + "/file";
  TarBuilder b;
  b.Pax({{"comment", "ignored"}, {"uname", "alice"}}, 'g');
  b.Pax({{"path", long_name},
         {"mtime", "1700000000.123456789"},
         {"atime", "1700000001.5"},
         {"uid", "4000000000"},
         {"gid", "77"},
         {"SCHILY.xattr.user.note", "a=b\nc"},
         {"SCHILY.xattr.security.capability", std::string("\x01\x00\x00\x02", 4)}});
  b.File("short", "data");
  b.Pax({{"linkpath", std::string(200, 'l')}, {"uname", "bob"}});
  b.Symlink("sym", "short-target");
  b.File("plain", "");
  std::vector<TarEntry> e = ReadAll(b.Finish());
  REQUIRE(e.size() == 3);
  CHECK(e[0].name == long_name);
  CHECK(e[0].mtime.tv_sec == 1700000000);
  CHECK(e[0].mtime.tv_nsec == 123456789);
  CHECK(e[0].has_atime);
  CHECK(e[0].atime.tv_sec == 1700000001);
  CHECK(e[0].atime.tv_nsec == 500000000);
  CHECK(e[0].uid == 4000000000LL);
  CHECK(e[0].gid == 77);
  CHECK(e[0].uname == "alice");
  REQUIRE(e[0].xattrs.size() == 2);
  CHECK(e[0].xattrs[0] == std::pair<std::string, std::string>(
                              "security.capability", std::string("\x01\x00\x00\x02", 4)));
  CHECK(e[0].xattrs[1] == std::pair<std::string, std::string>("user.note", "a=b\nc"));
  CHECK(e[1].link_name == std::string(200, 'l'));
  CHECK(e[1].uname == "bob");
  CHECK(e[2].name == "plain");
  CHECK(e[2].uname == "alice");  // the global record, not the local one
  CHECK(!e[2].has_atime);
}

TEST_CASE("GNU long names, long links and base-256 numbers") {
  std::string name = std::string(250, 'n') + "/leaf";
  std::string target = std::string(180, 't');
  TarBuilder b;
  b.GnuLong(name, 'L').GnuLong(target, 'K');
  TarBuilder::Entry link;
  link.name = "truncated-name";
  link.type = '2';
  link.link = "truncated-target";
  link.format = TarBuilder::Format::kGnu;
  b.Add(link);
  // A uid too large for octal, written base-256 as GNU tar does.
  TarBuilder::Entry big;
  big.name = "big-uid";
  big.format = TarBuilder::Format::kGnu;
  big.data = "z";
  std::string archive = b.Unterminated();
  TarBuilder tail;
  tail.Add(big);
  std::string last = tail.Unterminated();
  std::string uid_field(8, '\0');
  uid_field[0] = static_cast<char>(0x80);
  uid_field[4] = 0x12;
  uid_field[5] = 0x34;
  uid_field[6] = 0x56;
  uid_field[7] = 0x78;
  last.replace(108, 8, uid_field);
  // Recompute the checksum over the patched header.
  std::fill(last.begin() + 148, last.begin() + 156, ' ');
  unsigned sum = 0;
  for (size_t i = 0; i < 512; ++i) sum += static_cast<unsigned char>(last[i]);
  std::string chk = absl::StrFormat("%06o", sum);
  last.replace(148, 6, chk);
  last[154] = '\0';
  archive += last + std::string(1024, '\0');
  std::vector<TarEntry> e = ReadAll(archive);
  REQUIRE(e.size() == 2);
  CHECK(e[0].name == name);
  CHECK(e[0].link_name == target);
  CHECK(e[1].name == "big-uid");
  CHECK(e[1].uid == 0x12345678);
}

TEST_CASE("V7 archives: a trailing slash marks a directory") {
  TarBuilder b;
  TarBuilder::Entry d;
  d.name = "olddir/";
  d.type = '\0';
  d.format = TarBuilder::Format::kV7;
  b.Add(d);
  TarBuilder::Entry f;
  f.name = "olddir/f";
  f.type = '\0';
  f.format = TarBuilder::Format::kV7;
  f.data = "v7";
  b.Add(f);
  std::vector<TarEntry> e = ReadAll(b.Finish());
  REQUIRE(e.size() == 2);
  CHECK(e[0].type == kTarDirectory);
  CHECK(e[1].type == kTarRegular);
}

TEST_CASE("archives written by GNU tar in gnu and posix formats") {
  testing::TempDir dir;
  std::string src = dir.Sub("src");
  std::string long_dir = std::string(120, 'a');
  REQUIRE(testing::Shell("mkdir -p " + src + "/" + long_dir + " && printf 'abc' > " +
                         src + "/" + long_dir + "/" + std::string(110, 'b') +
                         " && ln -s " + std::string(150, 'c') + " " + src +
                         "/longlink && printf 'xyz' > " + src + "/f && ln " + src +
                         "/f " + src + "/hard") == 0);
  for (const char* format : {"gnu", "posix", "ustar"}) {
    CAPTURE(format);
    std::string archive = dir.Sub(std::string("a-") + format + ".tar");
    int rc = testing::Shell(std::string("tar --format=") + format +
                            " --sort=name -C " + src + " -cf " + archive +
                            " . 2>/dev/null");
    if (std::string(format) == "ustar") {
      // ustar cannot hold a 150-byte link target: GNU tar refuses.
      CHECK(rc != 0);
      continue;
    }
    REQUIRE(rc == 0);
    std::vector<std::string> data;
    std::vector<TarEntry> e = ReadAll(testing::ReadFile(archive), &data);
    std::map<std::string, std::pair<TarEntry, std::string>> by_name;
    for (size_t i = 0; i < e.size(); ++i) by_name[e[i].name] = {e[i], data[i]};
    std::string file = "./" + long_dir + "/" + std::string(110, 'b');
    REQUIRE(by_name.count(file) == 1);
    CHECK(by_name[file].second == "abc");
    REQUIRE(by_name.count("./longlink") == 1);
    CHECK(by_name["./longlink"].first.link_name == std::string(150, 'c'));
    REQUIRE(by_name.count("./hard") == 1);
    CHECK(by_name["./hard"].first.type == kTarHardLink);
    CHECK(by_name["./hard"].first.link_name == "./f");
    CHECK(by_name["./f"].second == "xyz");
  }
}

TEST_CASE("the end: two zero blocks, one, or a clean end of stream") {
  std::string body = TarBuilder().File("a", "1").Unterminated();
  CHECK(ReadAll(body + std::string(1024, '\0')).size() == 1);
  CHECK(ReadAll(body + std::string(512, '\0')).size() == 1);
  CHECK(ReadAll(body).size() == 1);
  CHECK(ReadAll("").empty());
  // Anything after the end marker is not read.
  CHECK(ReadAll(body + std::string(1024, '\0') + "garbage").size() == 1);
  absl::Status s = FirstError(body + std::string(512, '\0') +
                              TarBuilder().File("b", "2").Unterminated());
  CHECK(s.message() ==
        "tar archive: a lone zero block at offset 1024 is followed by more data");
}

TEST_CASE("truncated archives say where they end") {
  std::string full = TarBuilder().File("a", std::string(1000, 'x')).Finish();
  absl::Status s = FirstError(full.substr(0, 300));
  CHECK(s.message() == "truncated tar archive: header at offset 0 has only 300 of 512 bytes");
  CHECK(absl::IsDataLoss(s));
  s = FirstError(full.substr(0, 512 + 700));
  CHECK(s.message() == "truncated tar archive: entry \"a\" has 700 of 1000 data bytes");
  // Skipping the data (not reading it) notices too.
  TarReader reader(StringSource(full.substr(0, 600)));
  TarEntry e;
  REQUIRE(*reader.Next(&e));
  CHECK(reader.Next(&e).status().message() ==
        "truncated tar archive: stream ended inside the data of \"a\"");
  // Padding missing after the data.
  s = FirstError(full.substr(0, 512 + 1000 + 10));
  CHECK(s.message() ==
        "truncated tar archive: stream ended inside the padding of \"a\"");
  // An extended header with nothing after it.
  std::string pax = TarBuilder().Pax({{"path", "x"}}).Unterminated();
  s = FirstError(pax);
  CHECK(s.message() ==
        "truncated tar archive: extended header at offset 1024 is not followed by an entry");
  s = FirstError(pax.substr(0, 515));
  CHECK(s.message() == "truncated tar archive: stream ended inside a pax header");
  s = FirstError(pax.substr(0, 700));
  CHECK(s.message() ==
        "truncated tar archive: stream ended inside the padding of \"pax header\"");
}

TEST_CASE("corrupt headers are rejected with the reason") {
  std::string archive = TarBuilder().File("a", "1").Finish();
  std::string bad_sum = archive;
  bad_sum[0] = 'b';
  CHECK(FirstError(bad_sum).message() ==
        "tar header at offset 0: checksum mismatch (not a tar archive, or a corrupt one)");
  CHECK(FirstError(std::string(512, 'z')).message() ==
        "tar header at offset 0: checksum mismatch (not a tar archive, or a corrupt one)");
  // A bad digit in the size field, with a valid checksum.
  std::string bad_size = archive;
  bad_size[124] = '9';
  std::fill(bad_size.begin() + 148, bad_size.begin() + 156, ' ');
  unsigned sum = 0;
  for (size_t i = 0; i < 512; ++i) sum += static_cast<unsigned char>(bad_size[i]);
  bad_size.replace(148, 6, absl::StrFormat("%06o", sum));
  bad_size[154] = '\0';
  CHECK(FirstError(bad_size).message() ==
        "tar header at offset 0: invalid number in field size");
  // Malformed pax records.
  for (std::string data : {std::string("abc"), std::string("99 path=x\n"),
                           std::string("9 path=x\n\n"), std::string("8 =xxxx\n"),
                           std::string("11 pathxxx\n")}) {
    CAPTURE(data);
    TarBuilder::Entry e;
    e.name = "pax";
    e.type = 'x';
    e.data = data;
    std::string a = TarBuilder().Add(e).File("f", "").Finish();
    absl::Status s = FirstError(a);
    CHECK(absl::IsInvalidArgument(s));
    CHECK(s.message().find("tar pax header at offset 0: malformed record") == 0);
  }
  TarBuilder::Entry empty;
  empty.name = "";
  CHECK(FirstError(TarBuilder().Add(empty).Finish()).message() ==
        "tar header at offset 0: empty entry name");
  CHECK(FirstError(TarBuilder().Pax({{"path", std::string("a\0b", 3)}}).File("f", "").Finish())
            .message() == "tar header at offset 1024: name contains a NUL byte");
  CHECK(FirstError(TarBuilder().Pax({{"uid", "-5"}}).File("f", "").Finish()).message() ==
        "tar pax header for entry at offset 1024: bad uid \"-5\"");
  CHECK(FirstError(TarBuilder().Pax({{"mtime", "12x"}}).File("f", "").Finish()).message() ==
        "tar pax header for entry at offset 1024: bad mtime \"12x\"");
}

TEST_CASE("sparse files are refused, not misread") {
  TarBuilder::Entry s;
  s.name = "sparse";
  s.type = 'S';
  s.format = TarBuilder::Format::kGnu;
  CHECK(absl::IsUnimplemented(FirstError(TarBuilder().Add(s).Finish())));
  CHECK(FirstError(TarBuilder().Pax({{"GNU.sparse.major", "1"}}).File("f", "").Finish())
            .message() ==
        "tar pax header at offset 0: sparse files are not supported (GNU.sparse records)");
}

TEST_CASE("limits bound names, extended headers and entry sizes") {
  TarLimits limits;
  limits.max_name_bytes = 64;
  limits.max_pax_bytes = 256;
  limits.max_entry_bytes = 1000;
  CHECK(FirstError(TarBuilder().Pax({{"path", std::string(65, 'a')}}).File("f", "").Finish(),
                   limits)
            .message() == "tar header at offset 1024: name is 65 bytes; the limit is 64");
  CHECK(absl::IsResourceExhausted(FirstError(
      TarBuilder().Pax({{"comment", std::string(300, 'c')}}).File("f", "").Finish(), limits)));
  CHECK(absl::IsResourceExhausted(
      FirstError(TarBuilder().GnuLong(std::string(100, 'n')).File("f", "").Finish(), limits)));
  CHECK(FirstError(TarBuilder().File("big", std::string(1001, 'b')).Finish(), limits)
            .message() == "tar entry \"big\" is 1001 bytes; the limit is 1000");
  // A huge declared size is refused before anything is read.
  TarBuilder::Entry lie;
  lie.name = "liar";
  lie.size_override = 07777777777LL;
  CHECK(absl::IsResourceExhausted(FirstError(TarBuilder().Add(lie).Unterminated(), limits)));
  // Global headers accumulate within the limit.
  TarBuilder g;
  for (int i = 0; i < 10; ++i) g.Pax({{"k" + std::to_string(i), std::string(40, 'v')}}, 'g');
  CHECK(FirstError(g.File("f", "").Finish(), limits).message() ==
        "tar global pax headers exceed 256 bytes");
}

TEST_CASE("one byte at a time, and source errors pass through") {
  std::string archive =
      TarBuilder().Pax({{"path", "p"}}).File("x", std::string(3000, 'q')).File("y", "2").Finish();
  size_t pos = 0;
  ByteSource trickle = [&](char* buf, size_t n) -> absl::StatusOr<size_t> {
    if (pos == archive.size() || n == 0) return 0;
    buf[0] = archive[pos++];
    return 1;
  };
  TarReader reader(trickle);
  TarEntry e;
  REQUIRE(*reader.Next(&e));
  CHECK(e.name == "p");
  REQUIRE(*reader.Next(&e));
  CHECK(e.name == "y");
  CHECK(!*reader.Next(&e));
  CHECK(reader.offset() == static_cast<int64_t>(archive.size()));
  ByteSource broken = [](char*, size_t) -> absl::StatusOr<size_t> {
    return absl::UnavailableError("job stream closed");
  };
  CHECK(FirstError("", {}, broken).message() == "job stream closed");
}

}  // namespace
}  // namespace berth::storage
