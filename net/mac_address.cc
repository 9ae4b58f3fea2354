// MAC address parsing, formatting and generation.

#include "net/mac_address.h"

#include <random>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace berth::net {
namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

absl::StatusOr<MacAddress> MacAddress::Parse(absl::string_view text) {
  std::array<uint8_t, 6> bytes{};
  bool ok = text.size() == 17;
  for (size_t i = 0; ok && i < 6; ++i) {
    int hi = HexDigit(text[i * 3]);
    int lo = HexDigit(text[i * 3 + 1]);
    if (hi < 0 || lo < 0 || (i < 5 && text[i * 3 + 2] != ':')) {
      ok = false;
      break;
    }
    bytes[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid MAC address '", absl::CHexEscape(text),
        "': expected six hex pairs separated by ':'"));
  }
  return MacAddress(bytes);
}

MacAddress MacAddress::FromIpv4(Ipv4Address ip) {
  uint32_t v = ip.ToUint32();
  return MacAddress({0x02, 0x42, static_cast<uint8_t>(v >> 24),
                     static_cast<uint8_t>(v >> 16),
                     static_cast<uint8_t>(v >> 8), static_cast<uint8_t>(v)});
}

MacAddress MacAddress::RandomLocal() {
  std::random_device rd;
  std::array<uint8_t, 6> bytes;
  for (auto& b : bytes) b = static_cast<uint8_t>(rd());
  bytes[0] = static_cast<uint8_t>((bytes[0] & 0xfe) | 0x02);
  return MacAddress(bytes);
}

std::string MacAddress::ToString() const {
  return absl::StrFormat("%02x:%02x:%02x:%02x:%02x:%02x", bytes_[0], bytes_[1],
                         bytes_[2], bytes_[3], bytes_[4], bytes_[5]);
}

}  // namespace berth::net
