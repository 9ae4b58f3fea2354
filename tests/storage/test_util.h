// Helpers shared by the storage tests: scratch directories that clean up
// after themselves (unmounting anything left below them first), a tar
// archive builder for crafting exact and hostile archives, small file
// helpers, and the root-capability gate (under CI=true a missing capability
// fails the test instead of skipping it).
#ifndef BERTH_TESTS_STORAGE_TEST_UTIL_H_
#define BERTH_TESTS_STORAGE_TEST_UTIL_H_

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "storage/fs_util.h"
#include "storage/overlay_driver.h"

namespace berth::storage::testing {

// True when running as root; otherwise fails (CI=true) or skips the test.
inline bool RequireRoot(const char* what) {
  if (geteuid() == 0) return true;
  const char* ci = getenv("CI");
  if (ci != nullptr && std::string(ci) == "true") {
    FAIL_CHECK(what << " needs root and CI=true is set");
  } else {
    MESSAGE("skipping: " << what << " needs root");
  }
  return false;
}

class TempDir {
 public:
  TempDir() {
    const char* base = getenv("TMPDIR");
    std::string pattern = absl::StrCat(base != nullptr ? base : "/tmp",
                                       "/berth-storage-test-XXXXXX");
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    REQUIRE(mkdtemp(buf.data()) != nullptr);
    path_ = buf.data();
  }
  ~TempDir() {
    absl::StatusOr<std::vector<std::string>> mounts = MountsBelow(path_);
    if (mounts.ok()) {
      for (const std::string& m : *mounts) umount2(m.c_str(), MNT_DETACH);
    }
    absl::Status s = RemoveTree(path_);
    if (!s.ok()) MESSAGE("cleanup of " << path_ << ": " << s.ToString());
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Sub(const std::string& rel) const { return JoinPath(path_, rel); }

 private:
  std::string path_;
};

inline void WriteFile(const std::string& path, const std::string& data,
                      mode_t mode = 0644) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  REQUIRE_MESSAGE(fd >= 0, "open " << path << ": " << strerror(errno));
  REQUIRE(write(fd, data.data(), data.size()) ==
          static_cast<ssize_t>(data.size()));
  close(fd);
  chmod(path.c_str(), mode);
}

inline std::string ReadFile(const std::string& path) {
  absl::StatusOr<std::string> s = ReadFileToString(path);
  REQUIRE_MESSAGE(s.ok(), s.status().ToString());
  return *s;
}

inline bool PathExists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

inline struct stat Lstat(const std::string& path) {
  struct stat st;
  REQUIRE_MESSAGE(lstat(path.c_str(), &st) == 0,
                  "lstat " << path << ": " << strerror(errno));
  return st;
}

inline std::string ReadLink(const std::string& path) {
  char buf[4096];
  ssize_t n = readlink(path.c_str(), buf, sizeof(buf));
  REQUIRE(n >= 0);
  return std::string(buf, static_cast<size_t>(n));
}

// Runs a shell command; returns its exit status.
inline int Shell(const std::string& cmd) {
  int rc = system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// Builds tar archives byte by byte, so tests control every field.
class TarBuilder {
 public:
  enum class Format { kUstar, kGnu, kV7 };
  struct Entry {
    std::string name;
    char type = '0';
    std::string data;
    std::string link;
    unsigned mode = 0644;
    long long uid = 0;
    long long gid = 0;
    long long mtime = 1700000000;
    unsigned dev_major = 0;
    unsigned dev_minor = 0;
    Format format = Format::kUstar;
    long long size_override = -1;  // a size field that lies
  };

  TarBuilder& Add(const Entry& e) {
    std::string hdr(512, '\0');
    std::string name = e.name;
    if (e.format == Format::kUstar && name.size() > 100) {
      size_t split = name.rfind('/', 155);
      REQUIRE(split != std::string::npos);
      REQUIRE(name.size() - split - 1 <= 100);
      Put(&hdr, 345, 155, name.substr(0, split));
      name = name.substr(split + 1);
    }
    REQUIRE(name.size() <= 100);
    Put(&hdr, 0, 100, name);
    Octal(&hdr, 100, 8, e.mode);
    Octal(&hdr, 108, 8, e.uid);
    Octal(&hdr, 116, 8, e.gid);
    long long size = e.size_override >= 0 ? e.size_override
                                          : static_cast<long long>(e.data.size());
    Octal(&hdr, 124, 12, size);
    Octal(&hdr, 136, 12, e.mtime);
    hdr[156] = e.type;
    Put(&hdr, 157, 100, e.link);
    if (e.format == Format::kUstar) {
      memcpy(&hdr[257], "ustar\0" "00", 8);
    } else if (e.format == Format::kGnu) {
      memcpy(&hdr[257], "ustar  \0", 8);
    }
    if (e.format != Format::kV7) {
      Put(&hdr, 265, 32, "root");
      Put(&hdr, 297, 32, "root");
      Octal(&hdr, 329, 8, e.dev_major);
      Octal(&hdr, 337, 8, e.dev_minor);
    }
    Checksum(&hdr);
    out_ += hdr;
    out_ += e.data;
    out_.append((512 - e.data.size() % 512) % 512, '\0');
    return *this;
  }

  TarBuilder& File(const std::string& name, const std::string& data,
                   unsigned mode = 0644) {
    Entry e;
    e.name = name;
    e.data = data;
    e.mode = mode;
    return Add(e);
  }
  TarBuilder& Dir(const std::string& name, unsigned mode = 0755) {
    Entry e;
    e.name = name;
    e.type = '5';
    e.mode = mode;
    return Add(e);
  }
  TarBuilder& Symlink(const std::string& name, const std::string& target) {
    Entry e;
    e.name = name;
    e.type = '2';
    e.link = target;
    e.mode = 0777;
    return Add(e);
  }
  TarBuilder& Hardlink(const std::string& name, const std::string& target) {
    Entry e;
    e.name = name;
    e.type = '1';
    e.link = target;
    return Add(e);
  }
  // A pax extended header ('x') or global header ('g') with `records`.
  TarBuilder& Pax(const std::vector<std::pair<std::string, std::string>>& records,
                  char type = 'x') {
    std::string data;
    for (const auto& [k, v] : records) data += PaxRecord(k, v);
    Entry e;
    e.name = "PaxHeaders/x";
    e.type = type;
    e.data = data;
    return Add(e);
  }
  // A GNU long name ('L') or long link ('K') for the next entry.
  TarBuilder& GnuLong(const std::string& value, char type = 'L') {
    Entry e;
    e.name = "././@LongLink";
    e.type = type;
    e.data = value + std::string(1, '\0');
    e.format = Format::kGnu;
    return Add(e);
  }
  TarBuilder& Raw(const std::string& bytes) {
    out_ += bytes;
    return *this;
  }
  std::string Finish() const { return out_ + std::string(1024, '\0'); }
  std::string Unterminated() const { return out_; }

  static std::string PaxRecord(const std::string& k, const std::string& v) {
    std::string body = absl::StrCat(" ", k, "=", v, "\n");
    size_t len = body.size() + 1;
    while (std::to_string(len).size() + body.size() != len) ++len;
    return absl::StrCat(len, body);
  }

 private:
  static void Put(std::string* hdr, size_t at, size_t len, const std::string& v) {
    memcpy(&(*hdr)[at], v.data(), std::min(len, v.size()));
  }
  static void Octal(std::string* hdr, size_t at, size_t len, long long v) {
    std::string s = absl::StrFormat("%0*llo", static_cast<int>(len - 1), v);
    REQUIRE(s.size() == len - 1);
    memcpy(&(*hdr)[at], s.data(), s.size());
    (*hdr)[at + len - 1] = '\0';
  }
  static void Checksum(std::string* hdr) {
    memset(&(*hdr)[148], ' ', 8);
    unsigned sum = 0;
    for (unsigned char c : *hdr) sum += c;
    std::string s = absl::StrFormat("%06o", sum);
    memcpy(&(*hdr)[148], s.data(), 6);
    (*hdr)[154] = '\0';
    (*hdr)[155] = ' ';
  }

  std::string out_;
};

}  // namespace berth::storage::testing

#endif  // BERTH_TESTS_STORAGE_TEST_UTIL_H_
