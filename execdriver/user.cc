// User and group lookup in an image's /etc files; see user.h.
#include "execdriver/user.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace berth::execdriver {
namespace {

struct PasswdEntry {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string home;
};

struct GroupEntry {
  std::string name;
  gid_t gid = 0;
  std::vector<std::string> members;
};

// Lines that do not parse are skipped, as libc does.
std::vector<PasswdEntry> ParsePasswd(absl::string_view text) {
  std::vector<PasswdEntry> out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<absl::string_view> f = absl::StrSplit(line, ':');
    PasswdEntry e;
    if (f.size() < 4 || !absl::SimpleAtoi(f[2], &e.uid) || !absl::SimpleAtoi(f[3], &e.gid)) continue;
    e.name = std::string(f[0]);
    if (f.size() > 5) e.home = std::string(f[5]);
    out.push_back(std::move(e));
  }
  return out;
}

std::vector<GroupEntry> ParseGroup(absl::string_view text) {
  std::vector<GroupEntry> out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<absl::string_view> f = absl::StrSplit(line, ':');
    GroupEntry e;
    if (f.size() < 3 || !absl::SimpleAtoi(f[2], &e.gid)) continue;
    e.name = std::string(f[0]);
    if (f.size() > 3) {
      for (absl::string_view m : absl::StrSplit(f[3], ',', absl::SkipEmpty())) e.members.emplace_back(m);
    }
    out.push_back(std::move(e));
  }
  return out;
}

// A missing file reads as empty: a scratch image has no /etc at all.
absl::StatusOr<std::string> ReadOrEmpty(const std::string& rootfs, absl::string_view path) {
  absl::StatusOr<std::string> text = ReadFileInRoot(rootfs, path);
  if (absl::IsNotFound(text.status())) return std::string();
  return text;
}

absl::Status ResolveGroup(absl::string_view group, const std::vector<GroupEntry>& groups, ExecUser& user) {
  for (const GroupEntry& g : groups) {
    if (g.name == group) {
      user.gid = g.gid;
      return absl::OkStatus();
    }
  }
  gid_t gid = 0;
  if (absl::SimpleAtoi(group, &gid)) {
    user.gid = gid;
    return absl::OkStatus();
  }
  return absl::NotFoundError(absl::StrCat("unable to find group ", group, ": no matching entries in group file"));
}

}  // namespace

absl::StatusOr<std::string> ReadFileInRoot(const std::string& rootfs, absl::string_view path) {
  int root = ::open(rootfs.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) {
    return absl::NotFoundError(absl::StrCat("cannot open rootfs ", rootfs, ": ", std::strerror(errno)));
  }
  struct open_how how = {};
  how.flags = O_RDONLY | O_CLOEXEC;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  std::string rel(path);
  int fd = static_cast<int>(::syscall(SYS_openat2, root, rel.c_str(), &how, sizeof(how)));
  int err = errno;
  ::close(root);
  if (fd < 0) {
    std::string msg = absl::StrCat("cannot read ", path, " in ", rootfs, ": ", std::strerror(err));
    return err == ENOENT ? absl::NotFoundError(msg) : absl::InternalError(msg);
  }
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return out;
}

absl::StatusOr<ExecUser> ResolveUser(const std::string& rootfs, absl::string_view spec) {
  absl::string_view user_part = spec;
  absl::string_view group_part;  // empty: no explicit group
  if (size_t colon = spec.find(':'); colon != absl::string_view::npos) {
    user_part = spec.substr(0, colon);
    group_part = spec.substr(colon + 1);
  }
  absl::StatusOr<std::string> passwd_text = ReadOrEmpty(rootfs, "/etc/passwd");
  if (!passwd_text.ok()) return passwd_text.status();
  absl::StatusOr<std::string> group_text = ReadOrEmpty(rootfs, "/etc/group");
  if (!group_text.ok()) return group_text.status();
  std::vector<PasswdEntry> passwd = ParsePasswd(*passwd_text);
  std::vector<GroupEntry> groups = ParseGroup(*group_text);

  absl::string_view name = user_part.empty() ? "0" : user_part;
  ExecUser user;
  const PasswdEntry* match = nullptr;
  uid_t numeric = 0;
  bool is_numeric = absl::SimpleAtoi(name, &numeric);
  for (const PasswdEntry& e : passwd) {
    if (e.name == name || (is_numeric && e.uid == numeric)) {
      match = &e;
      break;
    }
  }
  if (match != nullptr) {
    user.uid = match->uid;
    user.gid = match->gid;
    if (!match->home.empty()) user.home = match->home;
  } else if (is_numeric) {
    user.uid = numeric;  // an id the image does not name is still a valid id
  } else {
    return absl::NotFoundError(absl::StrCat("unable to find user ", name, ": no matching entries in passwd file"));
  }
  if (!group_part.empty()) {
    if (absl::Status s = ResolveGroup(group_part, groups, user); !s.ok()) return s;
  } else if (match != nullptr) {
    for (const GroupEntry& g : groups) {
      for (const std::string& m : g.members) {
        if (m == match->name) user.groups.push_back(g.gid);
      }
    }
  }
  return user;
}

}  // namespace berth::execdriver
