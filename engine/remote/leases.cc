// The dispatcher as the direct path's directory: the LEASE answering a
// client's ROUTE (dispatcher.h, docs/protocol.md "The direct path").
#include <algorithm>

#include "absl/time/clock.h"
#include "engine/remote/dispatcher.h"
#include "engine/remote/ticket.h"

namespace berth::remote {

// With no worker to name, the client asks again after this long (and uses
// the relay meanwhile).
constexpr absl::Duration kEmptyLease = absl::Seconds(1);

std::string Dispatcher::Lease(uint64_t id, const std::string& name) {
  Frame lease;
  lease.type = FrameType::kLease;
  lease.id = id;
  lease.job.name = name;
  const absl::Time expires = absl::Now() + options_.direct_lease;
  bool idempotent = true;
  auto served = served_.find(name);
  if (served != served_.end()) {
    for (const std::string& key : served->second) {
      const WorkerState& w = workers_.at(key);
      if (w.direct_endpoint.empty() || w.draining || lease.routes.size() >= kMaxRoutes) continue;
      idempotent &= w.idempotent.contains(name);
      lease.routes.push_back(DirectRoute{.worker_name = w.name,
                                         .endpoint = w.direct_endpoint,
                                         .public_key = w.direct_key,
                                         .ticket = MintTicket(w.admission_key, expires),
                                         .capacity = w.capacity});
    }
  }
  lease.idempotent_name = idempotent && !lease.routes.empty();
  lease.lease_ms = static_cast<uint64_t>(
      absl::ToInt64Milliseconds(lease.routes.empty() ? kEmptyLease : options_.direct_lease));
  return EncodeFrame(lease);
}

}  // namespace berth::remote
