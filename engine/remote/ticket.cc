#include "engine/remote/ticket.h"

#include <sodium.h>

#include <cstdint>

#include "absl/strings/str_cat.h"
#include "engine/remote/wire.h"

namespace berth::remote {
namespace {

constexpr char kContext[] = "berth-ticket-1";
constexpr size_t kExpiryBytes = 8;
static_assert(kTicketBytes == kExpiryBytes + crypto_auth_hmacsha256_BYTES);
static_assert(kAdmissionKeyBytes == crypto_auth_hmacsha256_KEYBYTES);

std::string Mac(absl::string_view key, absl::string_view expiry) {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(kContext), sizeof kContext - 1);
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(expiry.data()), expiry.size());
  std::string mac(crypto_auth_hmacsha256_BYTES, '\0');
  crypto_auth_hmacsha256_final(&st, reinterpret_cast<unsigned char*>(mac.data()));
  return mac;
}

}  // namespace

std::string NewAdmissionKey() {
  if (sodium_init() < 0) std::abort();  // no CSPRNG: nothing safe to do
  std::string key(kAdmissionKeyBytes, '\0');
  randombytes_buf(key.data(), key.size());
  return key;
}

std::string MintTicket(absl::string_view key, absl::Time expires) {
  uint64_t ms = static_cast<uint64_t>(std::max<int64_t>(0, absl::ToUnixMillis(expires)));
  std::string expiry(kExpiryBytes, '\0');
  for (size_t i = 0; i < kExpiryBytes; ++i) expiry[i] = static_cast<char>(ms >> (8 * (kExpiryBytes - 1 - i)));
  return absl::StrCat(expiry, Mac(key, expiry));
}

absl::Status CheckTicket(absl::string_view key, absl::string_view ticket, absl::Time now) {
  if (ticket.size() != kTicketBytes || key.size() != kAdmissionKeyBytes) {
    return absl::PermissionDeniedError("malformed ticket");
  }
  absl::string_view expiry = ticket.substr(0, kExpiryBytes);
  std::string mac = Mac(key, expiry);
  if (sodium_memcmp(mac.data(), ticket.data() + kExpiryBytes, mac.size()) != 0) {
    return absl::PermissionDeniedError("ticket not issued for this worker's registration");
  }
  uint64_t ms = 0;
  for (unsigned char c : expiry) ms = (ms << 8) | c;
  absl::Time expires = absl::FromUnixMillis(static_cast<int64_t>(ms & INT64_MAX));
  if (now > expires + kTicketClockSlack) {
    return absl::PermissionDeniedError(
        absl::StrCat("ticket expired ", absl::FormatDuration(absl::Trunc(now - expires, absl::Seconds(1))), " ago"));
  }
  return absl::OkStatus();
}

}  // namespace berth::remote
