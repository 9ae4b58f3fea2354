// Host port allocation per host IP and protocol (docs/networking.md).
//
// A port taken on 0.0.0.0 conflicts with the same port on every specific
// address and the other way round, because a wildcard listener and a specific
// one cannot both own the port. Dynamic ports (HostPort 0) come from
// 49153–65535, round-robin after the last one handed out for that address and
// protocol, as the reference.

#ifndef BERTH_NET_PORT_ALLOCATOR_H_
#define BERTH_NET_PORT_ALLOCATOR_H_

#include <cstdint>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "net/ipv4.h"
#include "net/validate.h"

namespace berth::net {

class PortAllocator {
 public:
  static constexpr uint16_t kDynamicBegin = 49153;
  static constexpr uint16_t kDynamicEnd = 65535;

  // The dynamic range may be narrowed (benchmarks and tests); the default is
  // the reference's.
  explicit PortAllocator(uint16_t dynamic_begin = kDynamicBegin,
                         uint16_t dynamic_end = kDynamicEnd);

  // `port` 0 picks a dynamic port ("all ports are allocated" when none is
  // free); otherwise that port, or
  // "Bind for <ip>:<port> failed: port is already allocated".
  absl::StatusOr<uint16_t> Request(Ipv4Address ip, Proto proto, uint16_t port);

  // Gives a port back; unknown ports are ignored.
  void Release(Ipv4Address ip, Proto proto, uint16_t port);
  void ReleaseAll();

  // Whether exactly (ip, proto, port) is held.
  bool IsAllocated(Ipv4Address ip, Proto proto, uint16_t port) const;
  // Whether (ip, proto, port) would conflict with something held.
  bool Conflicts(Ipv4Address ip, Proto proto, uint16_t port) const;

 private:
  using PortKey = std::pair<int, uint16_t>;   // (proto, port)
  using LastKey = std::pair<uint32_t, int>;   // (ip, proto)

  bool ConflictsLocked(Ipv4Address ip, Proto proto, uint16_t port) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  const uint16_t dynamic_begin_;
  const uint16_t dynamic_end_;

  mutable absl::Mutex mu_;
  // Which addresses hold each (proto, port).
  absl::flat_hash_map<PortKey, absl::flat_hash_set<uint32_t>> held_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<LastKey, uint16_t> last_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::net

#endif  // BERTH_NET_PORT_ALLOCATOR_H_
