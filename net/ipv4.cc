// IPv4 address and network parsing and arithmetic.

#include "net/ipv4.h"

#include <arpa/inet.h>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace berth::net {
namespace {

// Parses a decimal number of at most `max_digits` digits without sign or
// leading zeros. Returns -1 on any deviation.
int ParseStrictDecimal(absl::string_view s, size_t max_digits) {
  if (s.empty() || s.size() > max_digits) return -1;
  if (s.size() > 1 && s[0] == '0') return -1;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

absl::Status InvalidAddress(absl::string_view text) {
  return absl::InvalidArgumentError(
      absl::StrCat("invalid IPv4 address '", absl::CHexEscape(text), "'"));
}

absl::Status InvalidNetwork(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "invalid IPv4 network '", absl::CHexEscape(text), "': ", why));
}

}  // namespace

uint32_t PrefixMask(int prefix_length) {
  if (prefix_length <= 0) return 0;
  if (prefix_length >= 32) return 0xffffffffu;
  return ~((uint32_t{1} << (32 - prefix_length)) - 1);
}

int MaskPrefixLength(uint32_t mask) {
  int len = 0;
  while (len < 32 && (mask & (uint32_t{1} << (31 - len)))) ++len;
  return PrefixMask(len) == mask ? len : -1;
}

Ipv4Address Ipv4Address::FromInAddr(in_addr network_order) {
  return FromUint32(ntohl(network_order.s_addr));
}

absl::StatusOr<Ipv4Address> Ipv4Address::Parse(absl::string_view text) {
  uint32_t value = 0;
  absl::string_view rest = text;
  for (int i = 0; i < 4; ++i) {
    size_t dot = rest.find('.');
    absl::string_view part = (i < 3) ? rest.substr(0, dot) : rest;
    if (i < 3 && dot == absl::string_view::npos) return InvalidAddress(text);
    int octet = ParseStrictDecimal(part, 3);
    if (octet < 0 || octet > 255) return InvalidAddress(text);
    value = (value << 8) | static_cast<uint32_t>(octet);
    if (i < 3) rest.remove_prefix(dot + 1);
  }
  return FromUint32(value);
}

in_addr Ipv4Address::ToInAddr() const {
  in_addr a;
  a.s_addr = htonl(value_);
  return a;
}

std::string Ipv4Address::ToString() const {
  return absl::StrFormat("%u.%u.%u.%u", value_ >> 24, (value_ >> 16) & 0xff,
                         (value_ >> 8) & 0xff, value_ & 0xff);
}

absl::StatusOr<Ipv4Network> Ipv4Network::Create(Ipv4Address address,
                                                int prefix_length) {
  if (prefix_length < 0 || prefix_length > 32) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid prefix length ", prefix_length, ": must be 0-32"));
  }
  Ipv4Network n;
  n.address_ = address;
  n.prefix_length_ = prefix_length;
  return n;
}

Ipv4Network Ipv4Network::Host(Ipv4Address address) {
  Ipv4Network n;
  n.address_ = address;
  n.prefix_length_ = 32;
  return n;
}

absl::StatusOr<Ipv4Network> Ipv4Network::Parse(absl::string_view text) {
  size_t slash = text.find('/');
  if (slash == absl::string_view::npos) {
    return InvalidNetwork(text, "expected address/prefix");
  }
  absl::StatusOr<Ipv4Address> address = Ipv4Address::Parse(text.substr(0, slash));
  if (!address.ok()) return InvalidNetwork(text, "bad address");
  int prefix = ParseStrictDecimal(text.substr(slash + 1), 2);
  if (prefix < 0 || prefix > 32) {
    return InvalidNetwork(text, "prefix length must be 0-32");
  }
  return Create(*address, prefix);
}

absl::StatusOr<Ipv4Network> Ipv4Network::ParseAddressOrCidr(
    absl::string_view text) {
  if (text.find('/') != absl::string_view::npos) return Parse(text);
  absl::StatusOr<Ipv4Address> address = Ipv4Address::Parse(text);
  if (!address.ok()) return address.status();
  return Host(*address);
}

uint32_t Ipv4Network::Mask() const { return PrefixMask(prefix_length_); }

std::string Ipv4Network::MaskHex() const {
  return absl::StrFormat("%08x", Mask());
}

Ipv4Address Ipv4Network::Network() const {
  return Ipv4Address::FromUint32(address_.ToUint32() & Mask());
}

Ipv4Address Ipv4Network::Broadcast() const {
  return Ipv4Address::FromUint32(address_.ToUint32() | ~Mask());
}

Ipv4Network Ipv4Network::Masked() const {
  Ipv4Network n = *this;
  n.address_ = Network();
  return n;
}

bool Ipv4Network::Contains(Ipv4Address a) const {
  return (a.ToUint32() & Mask()) == Network().ToUint32();
}

bool Ipv4Network::Overlaps(const Ipv4Network& other) const {
  return Contains(other.Network()) || other.Contains(Network());
}

bool Ipv4Network::ContainsNetwork(const Ipv4Network& other) const {
  return other.prefix_length_ >= prefix_length_ && Contains(other.Network());
}

std::string Ipv4Network::ToString() const {
  return absl::StrCat(address_.ToString(), "/", prefix_length_);
}

}  // namespace berth::net
