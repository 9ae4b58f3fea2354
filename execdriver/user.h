// User resolution for a container: turns Spec::user ("", "uid", "uid:gid",
// "name", "name:group", or mixes) into the numeric ids the container's init
// switches to, reading the image's /etc/passwd and /etc/group.
//
// The files are opened with openat2(RESOLVE_IN_ROOT) relative to the rootfs,
// so an image whose /etc/passwd is a symlink to an absolute path, or whose
// /etc is a symlink to "/", is read as if the rootfs were "/": nothing outside
// the rootfs is ever read. A missing file is treated as empty.
//
// Semantics follow Docker 1.x (libcontainer's GetExecUser):
//   - "" is root (uid 0, gid 0).
//   - A numeric uid not in passwd is used as is, with gid 0.
//   - A name not in passwd: `unable to find user NAME: no matching entries in
//     passwd file`; a group name not in group: `unable to find group NAME: no
//     matching entries in group file`.
//   - Supplementary groups (every group listing the user's name) are added
//     only when no group was given explicitly.
#ifndef BERTH_EXECDRIVER_USER_H_
#define BERTH_EXECDRIVER_USER_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace berth::execdriver {

struct ExecUser {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary; setgroups() gets exactly these
  std::string home = "/";     // from passwd, for HOME when the env has none
};

// Resolves `spec` against the passwd and group files of `rootfs`.
absl::StatusOr<ExecUser> ResolveUser(const std::string& rootfs, absl::string_view spec);

// Reads `path` (absolute, as seen inside the rootfs) without leaving
// `rootfs`. NotFound if it does not exist.
absl::StatusOr<std::string> ReadFileInRoot(const std::string& rootfs, absl::string_view path);

}  // namespace berth::execdriver

#endif  // BERTH_EXECDRIVER_USER_H_
