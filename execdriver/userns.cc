// Subordinate ids and user-namespace maps; see userns.h.
#include "execdriver/userns.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace berth::execdriver {
namespace {

// Larger than any sane subordinate-id file; a bigger one is read up to here.
constexpr size_t kMaxSubidFileBytes = 16 << 20;
// One past the largest id a range may reach: (uid_t)-1 is never an id.
constexpr uint64_t kIdLimit = 0xFFFFFFFFull;

std::optional<uint32_t> ParseId(absl::string_view s) {
  if (s.empty() || s.size() > 10) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v >= kIdLimit) return std::nullopt;
  return static_cast<uint32_t>(v);
}

struct Principal {
  std::string name;  // "" when the id has no entry
  uint32_t id = 0;
};

// A user by name or decimal uid, from the host's user database.
absl::StatusOr<Principal> LookUpUser(const std::string& text) {
  struct passwd pw, *found = nullptr;
  std::vector<char> buf(16384);
  if (std::optional<uint32_t> uid = ParseId(text)) {
    (void)::getpwuid_r(*uid, &pw, buf.data(), buf.size(), &found);
    return Principal{found != nullptr ? found->pw_name : "", *uid};
  }
  (void)::getpwnam_r(text.c_str(), &pw, buf.data(), buf.size(), &found);
  if (found == nullptr) return absl::NotFoundError(absl::StrCat("no user '", text, "' in the host's user database"));
  return Principal{found->pw_name, found->pw_uid};
}

absl::StatusOr<Principal> LookUpGroup(const std::string& text) {
  struct group gr, *found = nullptr;
  std::vector<char> buf(16384);
  if (std::optional<uint32_t> gid = ParseId(text)) {
    (void)::getgrgid_r(*gid, &gr, buf.data(), buf.size(), &found);
    return Principal{found != nullptr ? found->gr_name : "", *gid};
  }
  (void)::getgrnam_r(text.c_str(), &gr, buf.data(), buf.size(), &found);
  if (found == nullptr) return absl::NotFoundError(absl::StrCat("no group '", text, "' in the host's group database"));
  return Principal{found->gr_name, found->gr_gid};
}

absl::StatusOr<std::vector<SubidEntry>> ReadSubidFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  std::string text(kMaxSubidFileBytes, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  return ParseSubidFile(text);
}

// The range of `who` (named `shown` in errors) in the file at `path`.
absl::StatusOr<IdRange> RangeFor(const std::string& path, const Principal& who, const std::string& shown,
                                 absl::string_view kind) {
  absl::StatusOr<std::vector<SubidEntry>> entries = ReadSubidFile(path);
  if (!entries.ok()) return entries.status();
  absl::StatusOr<IdRange> range = FindSubidRange(*entries, who.name, absl::StrCat(who.id));
  if (!range.ok()) {
    return absl::NotFoundError(absl::StrCat("no subordinate ", kind, " range for '", shown, "' in ", path));
  }
  if (range->host_start == 0) {
    return absl::InvalidArgumentError(absl::StrCat("the subordinate ", kind, " range 0:", range->size, " for '", shown,
                                                   "' in ", path, " contains host ", kind, " 0"));
  }
  return range;
}

std::string Shown(const Principal& p) { return p.name.empty() ? absl::StrCat(p.id) : p.name; }

}  // namespace

std::vector<SubidEntry> ParseSubidFile(absl::string_view text) {
  std::vector<SubidEntry> out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    std::vector<absl::string_view> f = absl::StrSplit(line, ':');
    if (f.size() != 3 || f[0].empty()) continue;
    std::optional<uint32_t> start = ParseId(f[1]);
    std::optional<uint32_t> count = ParseId(f[2]);
    if (!start || !count || *count == 0) continue;
    if (uint64_t{*start} + *count > kIdLimit) continue;
    out.push_back({std::string(f[0]), *start, *count});
  }
  return out;
}

absl::StatusOr<IdRange> FindSubidRange(const std::vector<SubidEntry>& entries, absl::string_view owner_name,
                                       absl::string_view owner_id) {
  for (const SubidEntry& e : entries) {
    if ((!owner_name.empty() && e.owner == owner_name) || (!owner_id.empty() && e.owner == owner_id)) {
      return IdRange{e.start, e.count < kMaxRemapIds ? e.count : kMaxRemapIds};
    }
  }
  return absl::NotFoundError("no range");
}

std::string UsernsRemap::RootDirName() const { return absl::StrCat(uids.host_start, ".", gids.host_start); }

absl::StatusOr<UsernsRemap> ResolveUsernsRemap(absl::string_view value, const SubidFiles& files) {
  UsernsRemap remap;
  if (value.empty()) return remap;
  remap.value = std::string(value);
  std::vector<std::string> parts = absl::StrSplit(value, ':');
  if (parts.size() > 2 || parts[0].empty() || (parts.size() == 2 && parts[1].empty())) {
    return absl::InvalidArgumentError(
        absl::StrCat("want default, USER, USER:GROUP, UID or UID:GID, got '", value, "'"));
  }
  bool is_default = value == "default";
  absl::StatusOr<Principal> user = LookUpUser(is_default ? kDefaultRemapUser : parts[0]);
  if (!user.ok() && is_default) {
    return absl::NotFoundError(absl::StrCat("user '", kDefaultRemapUser,
                                            "' (for 'default') does not exist: create it (useradd -r -s "
                                            "/usr/sbin/nologin ",
                                            kDefaultRemapUser, ") and give it ranges in ", files.subuid, " and ",
                                            files.subgid));
  }
  if (!user.ok()) return user.status();
  remap.user = Shown(*user);
  // Without a group, the gid ranges are the user's, as in Docker.
  absl::StatusOr<Principal> group = parts.size() == 2 ? LookUpGroup(parts[1]) : user;
  if (!group.ok()) return group.status();
  remap.group = Shown(*group);
  absl::StatusOr<IdRange> uids = RangeFor(files.subuid, *user, remap.user, "uid");
  if (!uids.ok()) return uids.status();
  absl::StatusOr<IdRange> gids = RangeFor(files.subgid, *group, remap.group, "gid");
  if (!gids.ok()) return gids.status();
  remap.uids = *uids;
  remap.gids = *gids;
  return remap;
}

absl::Status WriteIdMaps(pid_t pid, const UsernsRemap& remap) {
  for (auto [file, range] : {std::pair{"uid_map", remap.uids}, {"gid_map", remap.gids}}) {
    std::string path = absl::StrCat("/proc/", pid, "/", file);
    std::string line = absl::StrCat("0 ", range.host_start, " ", range.size, "\n");
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    // The kernel takes a map in one write() or not at all.
    bool ok = fd >= 0 && ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
    int err = errno;
    if (fd >= 0) ::close(fd);
    if (!ok) {
      line.pop_back();
      return absl::InternalError(absl::StrCat("cannot write ", path, " '", line, "': ", std::strerror(err)));
    }
  }
  return absl::OkStatus();
}

// Raw syscalls: glibc's wrappers would try to reach the parent's threads.
int BecomeUsernsRoot() {
  if (::syscall(SYS_setresgid, 0, 0, 0) != 0) return errno;
  if (::syscall(SYS_setresuid, 0, 0, 0) != 0) return errno;
  return 0;
}

}  // namespace berth::execdriver
