// The files berthd writes into a container's rootfs before it starts
// (/etc/hosts, /etc/hostname, /etc/resolv.conf), and what goes into them.
//
// The rootfs comes from an image, and an image may be hostile: `/etc` may be
// a symlink to `/`, `/etc/hosts` one to `/host/etc/shadow`. WriteInRoot
// resolves every directory of the path with openat2(RESOLVE_IN_ROOT), the way
// the container itself would see it, so a link can never lead out of the
// rootfs; and it replaces the last component (a symlink included) by renaming
// a new regular file over it, never writing through it.
#ifndef BERTH_HANDLERS_CONTAINERS_ROOTFS_FILES_H_
#define BERTH_HANDLERS_CONTAINERS_ROOTFS_FILES_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace berth {

// The host ids a written file belongs to: the container's root, which is
// not host root under berthd --userns-remap.
struct FileOwner {
  uid_t uid = 0;
  gid_t gid = 0;
};

// Writes `content` (mode 0644, owned by `owner`) at `path` (absolute, inside
// the container) under `rootfs`; missing directories are created (0755,
// also owned by `owner`).
// Errors name the path inside the container: `cannot write /etc/hosts: Is a
// directory`.
absl::Status WriteInRoot(const std::string& rootfs, absl::string_view path, absl::string_view content,
                         FileOwner owner = {});

struct HostsEntry {
  std::string ip;
  std::string names;  // space-separated
};

// Docker's /etc/hosts: localhost lines, the container's own address with its
// hostname (when it has an address), then one line per entry (links).
std::string HostsFile(const std::string& ip, const std::string& hostname, const std::vector<HostsEntry>& extra);

// nameserver lines for `dns`.
std::string ResolvConf(const std::vector<std::string>& dns);

// Docker 1.x's link environment for alias `alias` (e.g. "db") of container
// `name` ("/web") seen from `parent_name` ("/app") at `ip`, exposing
// `ports` ("80/tcp", sorted), whose own env is `env`:
//   DB_NAME=/app/db
//   DB_PORT=tcp://IP:80                   (the lowest port)
//   DB_PORT_80_TCP=tcp://IP:80, DB_PORT_80_TCP_ADDR=IP,
//   DB_PORT_80_TCP_PORT=80, DB_PORT_80_TCP_PROTO=tcp
//   DB_ENV_<KEY>=<value> for each of the linked container's env except
//   HOME and PATH.
// The alias is upper-cased with '-' and '.' turned into '_'.
std::vector<std::string> LinkEnv(const std::string& parent_name, const std::string& alias, const std::string& ip,
                                 const std::vector<std::string>& ports, const std::vector<std::string>& env);

}  // namespace berth

#endif  // BERTH_HANDLERS_CONTAINERS_ROOTFS_FILES_H_
