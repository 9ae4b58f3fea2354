// Ethernet MAC addresses: the fixed address berth gives the bridge (so it does
// not change as ports join and leave) and the 02:42:<IPv4> address of a
// container interface.

#ifndef BERTH_NET_MAC_ADDRESS_H_
#define BERTH_NET_MAC_ADDRESS_H_

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "net/ipv4.h"

namespace berth::net {

class MacAddress {
 public:
  MacAddress() = default;
  explicit MacAddress(const std::array<uint8_t, 6>& bytes) : bytes_(bytes) {}

  // Six two-digit hex groups separated by ':', e.g. "02:42:ac:11:00:02"
  // (either case). Anything else is an error naming the text.
  static absl::StatusOr<MacAddress> Parse(absl::string_view text);

  // 02:42 followed by the four bytes of `ip`, as the reference generates for
  // containers; locally administered and unicast.
  static MacAddress FromIpv4(Ipv4Address ip);

  // A random locally administered unicast address (for the bridge, which
  // otherwise takes the lowest MAC of its ports and changes under load).
  static MacAddress RandomLocal();

  const std::array<uint8_t, 6>& bytes() const { return bytes_; }
  // Lower-case, colon separated.
  std::string ToString() const;

  friend bool operator==(const MacAddress&, const MacAddress&) = default;

 private:
  std::array<uint8_t, 6> bytes_{};
};

}  // namespace berth::net

#endif  // BERTH_NET_MAC_ADDRESS_H_
