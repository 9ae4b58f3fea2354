// Container IP allocation on the bridge network (docs/networking.md).
//
// The range handed out is network+2 … broadcast−1 of the bridge network, or of
// the fixed CIDR when one is configured (it must lie inside the bridge
// network). The bridge's own address (the gateway) is reserved. Automatic
// allocation is round-robin: it continues after the last address handed out
// and wraps, so a released address is not reused at once.

#ifndef BERTH_NET_IP_ALLOCATOR_H_
#define BERTH_NET_IP_ALLOCATOR_H_

#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "net/ipv4.h"

namespace berth::net {

class IpAllocator {
 public:
  // `bridge` is the bridge's address with its prefix (e.g. 172.17.42.1/16);
  // its address is the gateway. `fixed_cidr`, when set, narrows the range and
  // must be inside the bridge network ("network does not contain specified
  // subnet <cidr>").
  static absl::StatusOr<IpAllocator> Create(
      Ipv4Network bridge, std::optional<Ipv4Network> fixed_cidr = std::nullopt);

  IpAllocator(IpAllocator&& other);
  IpAllocator& operator=(IpAllocator&&) = delete;

  // The next free address after the last one handed out, wrapping;
  // "no available ip addresses on network" when the range is full.
  absl::StatusOr<Ipv4Address> Allocate();

  // A specific address (RequestedIP, or a restored container's).
  // "ip already allocated" when taken (the gateway counts as taken),
  // "requested ip is out of range" when outside the range.
  absl::StatusOr<Ipv4Address> Request(Ipv4Address ip);

  // Returns an address to the pool. Unknown addresses and the gateway are
  // ignored, as the reference.
  void Release(Ipv4Address ip);

  bool IsAllocated(Ipv4Address ip) const;
  // Addresses handed out (not counting the gateway).
  size_t AllocatedCount() const;
  // Size of the allocatable range, gateway excluded.
  size_t Capacity() const;

  Ipv4Network bridge() const { return bridge_; }
  Ipv4Address gateway() const { return bridge_.address(); }
  Ipv4Address range_begin() const { return Ipv4Address::FromUint32(begin_); }
  Ipv4Address range_end() const { return Ipv4Address::FromUint32(end_); }

 private:
  IpAllocator(Ipv4Network bridge, uint32_t begin, uint32_t end);

  bool InRange(uint32_t v) const { return v >= begin_ && v <= end_; }

  const Ipv4Network bridge_;
  // Inclusive range; begin_ > end_ means empty.
  const uint32_t begin_;
  const uint32_t end_;

  mutable absl::Mutex mu_;
  absl::flat_hash_set<uint32_t> allocated_ ABSL_GUARDED_BY(mu_);
  // The last address handed out; begin_ - 1 before the first.
  uint32_t last_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::net

#endif  // BERTH_NET_IP_ALLOCATOR_H_
