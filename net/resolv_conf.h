// resolv.conf reading: the host's nameservers, used to keep the bridge
// network clear of them (init_networkdriver) and to decide whether containers
// need public DNS servers (the daemon's DNS check).

#ifndef BERTH_NET_RESOLV_CONF_H_
#define BERTH_NET_RESOLV_CONF_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "net/ipv4.h"

namespace berth::net {

inline constexpr absl::string_view kDefaultResolvConfPath = "/etc/resolv.conf";

// The servers containers get when the host only has local resolvers.
inline constexpr absl::string_view kFallbackNameservers[] = {"8.8.8.8",
                                                           "8.8.4.4"};

// The values of "nameserver X" lines, in order. Comments (# or ;) and other
// keywords are ignored; the values are returned as written (IPv4 or IPv6).
std::vector<std::string> ParseNameservers(absl::string_view content);

// Reads and parses `path`. A missing file is NotFound (callers may treat that
// as "no nameservers", as the reference did).
absl::StatusOr<std::vector<std::string>> ReadNameservers(
    const std::string& path);

// True when there is no nameserver or every one is a local resolver
// (127.0.0.0/8 or ::1) that a container could not reach.
bool OnlyLocalNameservers(const std::vector<std::string>& nameservers);

// The IPv4 nameservers as /32 networks, for overlap checks; IPv6 and
// unparsable entries are skipped.
std::vector<Ipv4Network> NameserverNetworks(
    const std::vector<std::string>& nameservers);

}  // namespace berth::net

#endif  // BERTH_NET_RESOLV_CONF_H_
