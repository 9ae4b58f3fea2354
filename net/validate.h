// Validation of the small values that reach iptables rules, netlink messages
// and sockets: interface names, ports, protocols and host addresses.
//
// The job handlers receive all of these as strings from an env; each parser
// here turns one string into a typed value or an error that names the bad
// value (with the exact documented texts where the reference defined one), so a bad
// value is refused before any rule is written.

#ifndef BERTH_NET_VALIDATE_H_
#define BERTH_NET_VALIDATE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "net/ipv4.h"

namespace berth::net {

enum class Proto { kTcp, kUdp };

// "tcp" or "udp".
absl::string_view ProtoName(Proto proto);
// The IPPROTO_* number.
int ProtoNumber(Proto proto);

// Exactly "tcp" or "udp" (lower case, as the reference); anything else fails
// with "unsupported address type <proto>".
absl::StatusOr<Proto> ParseProto(absl::string_view text);

// Linux interface names: non-empty, at most 15 bytes (IFNAMSIZ - 1), not "."
// or "..", and none of '/', ':', whitespace, quotes, or control characters.
absl::Status ValidateInterfaceName(absl::string_view name);

// A port 1..65535 given as decimal text.
absl::StatusOr<uint16_t> ParsePort(absl::string_view text);
// A host port 0..65535, where 0 asks for a dynamic port.
absl::StatusOr<uint16_t> ParseHostPort(absl::string_view text);
// A numeric port 1..65535 (for values that arrive already as integers).
absl::StatusOr<uint16_t> CheckPort(int64_t value);

// HostIP of a port mapping. Empty selects `default_ip` (the daemon's --ip);
// otherwise a strict dotted quad, or "Bad parameter: invalid host ip <ip>".
absl::StatusOr<Ipv4Address> ParseHostIp(absl::string_view text,
                                        Ipv4Address default_ip);

// A "port/proto" pair as containers expose them ("80/tcp"); a missing
// "/proto" means tcp, as the reference.
struct PortProto {
  uint16_t port = 0;
  Proto proto = Proto::kTcp;
  friend bool operator==(const PortProto&, const PortProto&) = default;
};
absl::StatusOr<PortProto> ParsePortProto(absl::string_view text);
std::string PortProtoString(const PortProto& p);

}  // namespace berth::net

#endif  // BERTH_NET_VALIDATE_H_
