// User-namespace remapping (`berthd --userns-remap`): which host ids a
// container's ids map to, read from /etc/subuid and /etc/subgid, and the
// pieces the exec driver needs to run a container in its own user namespace.
//
// The value follows Docker's flag: `default` (the user `berthremap`, which
// must exist: berthd does not create users or edit /etc/subuid), `USER`,
// `USER:GROUP`, `UID` or `UID:GID`. Without a group, the subgid ranges are
// looked up under the user's name (as Docker does). A subordinate-id line is
// `OWNER:START:COUNT`; OWNER is a name or a decimal id. The first line whose
// owner is the user's name or its uid (the group's name or gid) gives the
// range; container id 0 maps to START, and the mapping covers
// min(COUNT, 65536) ids, as Docker's did. Blank lines, `#` comments and
// malformed lines (a missing field, a non-decimal or empty number, a count of
// 0, a range past 2^32-1) are skipped, as shadow's own tools skip them. A range
// that contains host id 0 is refused: container root would be host root.
//
// Errors (the caller prefixes the flag name, `--userns-remap: ...`):
//   `want default, USER, USER:GROUP, UID or UID:GID, got 'a:b:c'`
//   `user 'berthremap' (for 'default') does not exist: create it
//     (useradd -r -s /usr/sbin/nologin berthremap) and give it ranges in
//     /etc/subuid and /etc/subgid`
//   `no user 'x' in the host's user database`, `no group 'x' in the host's group database`
//   `cannot read /etc/subuid: No such file or directory`
//   `no subordinate uid range for 'x' in /etc/subuid`
//   `no subordinate gid range for 'x' in /etc/subgid`
//   `the subordinate uid range 0:65536 for 'x' in /etc/subuid contains host uid 0`
//
// Thread safety: the functions are reentrant (getpwnam_r and friends).
// BecomeUsernsRoot runs in the cloned child: raw syscalls only.
#ifndef BERTH_EXECDRIVER_USERNS_H_
#define BERTH_EXECDRIVER_USERNS_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace berth::execdriver {

inline constexpr char kDefaultRemapUser[] = "berthremap";
inline constexpr uint32_t kMaxRemapIds = 65536;

// Container ids [0, size) are host ids [host_start, host_start + size).
struct IdRange {
  uint32_t host_start = 0;
  uint32_t size = 0;
  bool operator==(const IdRange&) const = default;
};

// One line of /etc/subuid or /etc/subgid.
struct SubidEntry {
  std::string owner;
  uint32_t start = 0;
  uint32_t count = 0;
  bool operator==(const SubidEntry&) const = default;
};

// The lines that parse, in file order (see the header comment for what is skipped).
std::vector<SubidEntry> ParseSubidFile(absl::string_view text);

// Where the subordinate ids are read from. Tests point these at their own
// files; berthd takes them from BERTH_SUBUID_FILE / BERTH_SUBGID_FILE, which
// exist for tests only.
struct SubidFiles {
  std::string subuid = "/etc/subuid";
  std::string subgid = "/etc/subgid";
};

// A resolved remapping; disabled when `value` is empty.
struct UsernsRemap {
  std::string value;  // as given: "default", "nobody:nogroup", "4242"
  std::string user;   // the user's name, or its uid when it has none
  std::string group;  // the name the gid ranges were looked up by
  IdRange uids;
  IdRange gids;
  bool enabled() const { return uids.size != 0; }
  // "<first uid>.<first gid>": Docker's directory of the remapped root.
  std::string RootDirName() const;
};

// "" gives a disabled UsernsRemap; errors as in the header comment.
absl::StatusOr<UsernsRemap> ResolveUsernsRemap(absl::string_view value, const SubidFiles& files);

// The first range of `owner_name` or `owner_id` in the parsed file,
// capped at kMaxRemapIds; NotFound if none. Exposed for tests.
absl::StatusOr<IdRange> FindSubidRange(const std::vector<SubidEntry>& entries, absl::string_view owner_name,
                                       absl::string_view owner_id);

// Writes /proc/<pid>/uid_map and gid_map ("0 START SIZE"). berthd, root in
// the initial namespace, may write gid_map without denying setgroups, so the
// container keeps its supplementary groups. Errors name the file and line:
// `cannot write /proc/42/uid_map '0 100000 65536': Operation not permitted`.
absl::Status WriteIdMaps(pid_t pid, const UsernsRemap& remap);

// In the child, once the maps are written: become uid 0 and gid 0 of the
// new namespace (host ids START), keeping the capabilities the clone gave.
// 0 or errno.
int BecomeUsernsRoot();

}  // namespace berth::execdriver

#endif  // BERTH_EXECDRIVER_USERNS_H_
