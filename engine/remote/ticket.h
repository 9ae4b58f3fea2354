// Tickets: how a worker knows that berthd vouched for a client on the direct
// path (docs/protocol.md, "The direct path").
//
// When a worker that takes jobs directly registers, berthd gives it a fresh
// random admission key (WELCOME), over their authenticated connection. To a
// client that asks for routes (ROUTE), berthd hands a ticket per worker:
//
//   ticket = expiry (8 bytes, big-endian Unix milliseconds)
//            ‖ HMAC-SHA-256(admission key, "berth-ticket-1" ‖ expiry)
//
// The worker checks each ticketed JOB against its key: a ticket it did not
// mint, from an earlier berthd (a new key at each registration), or expired
// is refused. A ticket is a bearer credential for the lease's time: CURVE (tcp)
// or the socket's file modes (ipc) keep it between client and worker.
//
// Thread safety: functions without state.
#ifndef BERTH_ENGINE_REMOTE_TICKET_H_
#define BERTH_ENGINE_REMOTE_TICKET_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace berth::remote {

// How far a worker's clock may be behind berthd's before a ticket that berthd
// considers valid is refused as expired: tickets carry absolute times, so the
// hosts' clocks must agree within this.
inline constexpr absl::Duration kTicketClockSlack = absl::Seconds(5);

// kAdmissionKeyBytes random bytes from the system's CSPRNG.
std::string NewAdmissionKey();

// The ticket for `key`, valid until `expires`.
std::string MintTicket(absl::string_view key, absl::Time expires);

// OK if `ticket` was minted with `key` and has not expired by `now` (less the
// clock slack). Errors: `malformed ticket`, `ticket not issued for this
// worker's registration`, `ticket expired 3s ago`.
absl::Status CheckTicket(absl::string_view key, absl::string_view ticket, absl::Time now);

}  // namespace berth::remote

#endif  // BERTH_ENGINE_REMOTE_TICKET_H_
