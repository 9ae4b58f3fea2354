// IPv4 addresses and networks for berth's network mechanisms.
//
// Parsing is strict on purpose: every address that ends up in an iptables rule
// or a netlink message passes through here first, so anything that is not a
// plain dotted quad ("999.1.1.1", " 1.2.3.4", "1.2.3.4'", "01.2.3.4") is
// rejected with an error that names the bad text.

#ifndef BERTH_NET_IPV4_H_
#define BERTH_NET_IPV4_H_

#include <netinet/in.h>

#include <compare>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace berth::net {

// An IPv4 address held in host byte order. The default value is 0.0.0.0.
class Ipv4Address {
 public:
  constexpr Ipv4Address() = default;
  static constexpr Ipv4Address FromUint32(uint32_t host_order) {
    Ipv4Address a;
    a.value_ = host_order;
    return a;
  }
  static Ipv4Address FromInAddr(in_addr network_order);
  static constexpr Ipv4Address Any() { return Ipv4Address(); }

  // Accepts exactly four decimal octets 0-255 separated by dots, without
  // leading zeros (they would be octal to some parsers) and without any other
  // character. The error names the rejected text.
  static absl::StatusOr<Ipv4Address> Parse(absl::string_view text);

  constexpr uint32_t ToUint32() const { return value_; }
  in_addr ToInAddr() const;
  std::string ToString() const;

  bool IsUnspecified() const { return value_ == 0; }
  // 127.0.0.0/8.
  bool IsLoopback() const { return (value_ >> 24) == 127; }

  friend constexpr auto operator<=>(Ipv4Address, Ipv4Address) = default;

  template <typename H>
  friend H AbslHashValue(H h, Ipv4Address a) {
    return H::combine(std::move(h), a.value_);
  }

 private:
  uint32_t value_ = 0;
};

// An address with a prefix length, as written "172.17.42.1/16". The address
// keeps its host bits (a bridge's address is both the gateway and the
// network); Network() and Broadcast() give the ends of the network.
class Ipv4Network {
 public:
  constexpr Ipv4Network() = default;
  // `prefix_length` must be 0..32; checked by Create.
  static absl::StatusOr<Ipv4Network> Create(Ipv4Address address,
                                            int prefix_length);
  // A single host, /32.
  static Ipv4Network Host(Ipv4Address address);

  // "a.b.c.d/n" with n 0..32 (no leading zeros, no sign). A bare address
  // without "/n" is rejected: callers that accept one say so explicitly with
  // ParseAddressOrCidr.
  static absl::StatusOr<Ipv4Network> Parse(absl::string_view text);
  // "a.b.c.d" (as /32) or "a.b.c.d/n".
  static absl::StatusOr<Ipv4Network> ParseAddressOrCidr(absl::string_view text);

  Ipv4Address address() const { return address_; }
  int prefix_length() const { return prefix_length_; }

  // Network mask in host byte order; /0 is 0.
  uint32_t Mask() const;
  // The mask as eight lower-case hex digits, e.g. "ffff0000" for /16.
  std::string MaskHex() const;
  Ipv4Address Network() const;
  Ipv4Address Broadcast() const;
  // This network with the host bits cleared, e.g. 172.17.0.0/16.
  Ipv4Network Masked() const;

  bool Contains(Ipv4Address a) const;
  // True when the two networks share at least one address, i.e. one contains
  // the other's network address.
  bool Overlaps(const Ipv4Network& other) const;
  // True when `other` lies entirely inside this network.
  bool ContainsNetwork(const Ipv4Network& other) const;

  // "address/prefix", keeping the host bits as given.
  std::string ToString() const;

  friend bool operator==(const Ipv4Network&, const Ipv4Network&) = default;

 private:
  Ipv4Address address_;
  int prefix_length_ = 0;
};

// The mask of a prefix length in host byte order (0 for /0).
uint32_t PrefixMask(int prefix_length);

// The prefix length of a contiguous mask in host byte order, or -1 when the
// mask has holes (iptables accepts those; berth never writes them).
int MaskPrefixLength(uint32_t mask);

}  // namespace berth::net

#endif  // BERTH_NET_IPV4_H_
