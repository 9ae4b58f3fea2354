// Round-robin IPv4 allocation within the bridge network.

#include "net/ip_allocator.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace berth::net {

absl::StatusOr<IpAllocator> IpAllocator::Create(
    Ipv4Network bridge, std::optional<Ipv4Network> fixed_cidr) {
  Ipv4Network range_net = bridge;
  if (fixed_cidr.has_value()) {
    if (!bridge.ContainsNetwork(*fixed_cidr)) {
      return absl::InvalidArgumentError(
          absl::StrCat("network does not contain specified subnet ",
                       fixed_cidr->ToString(), " (bridge network is ",
                       bridge.Masked().ToString(), ")"));
    }
    range_net = *fixed_cidr;
  }
  // 64-bit so that /31 and /32 give an empty range instead of wrapping.
  uint64_t begin = uint64_t{range_net.Network().ToUint32()} + 2;
  uint64_t end = uint64_t{range_net.Broadcast().ToUint32()};
  end = end == 0 ? 0 : end - 1;
  if (begin > end) {
    // Empty range: every Allocate fails, every Request is out of range.
    return IpAllocator(bridge, 1, 0);
  }
  return IpAllocator(bridge, static_cast<uint32_t>(begin),
                     static_cast<uint32_t>(end));
}

IpAllocator::IpAllocator(Ipv4Network bridge, uint32_t begin, uint32_t end)
    : bridge_(bridge), begin_(begin), end_(end), last_(begin - 1) {
  if (InRange(bridge.address().ToUint32())) {
    allocated_.insert(bridge.address().ToUint32());
  }
}

IpAllocator::IpAllocator(IpAllocator&& other)
    : bridge_(other.bridge_), begin_(other.begin_), end_(other.end_) {
  absl::MutexLock lock(&other.mu_);
  allocated_ = std::move(other.allocated_);
  last_ = other.last_;
}

absl::StatusOr<Ipv4Address> IpAllocator::Allocate() {
  absl::MutexLock lock(&mu_);
  if (begin_ <= end_) {
    uint64_t span = uint64_t{end_} - begin_ + 1;
    uint32_t pos = last_;
    for (uint64_t i = 0; i < span; ++i) {
      pos = (pos >= end_ || pos < begin_) ? begin_ : pos + 1;
      if (allocated_.insert(pos).second) {
        last_ = pos;
        return Ipv4Address::FromUint32(pos);
      }
    }
  }
  return absl::ResourceExhaustedError("no available ip addresses on network");
}

absl::StatusOr<Ipv4Address> IpAllocator::Request(Ipv4Address ip) {
  absl::MutexLock lock(&mu_);
  uint32_t v = ip.ToUint32();
  if (allocated_.contains(v) || v == gateway().ToUint32()) {
    return absl::AlreadyExistsError("ip already allocated");
  }
  if (!InRange(v)) {
    return absl::OutOfRangeError("requested ip is out of range");
  }
  allocated_.insert(v);
  last_ = v;
  return ip;
}

void IpAllocator::Release(Ipv4Address ip) {
  absl::MutexLock lock(&mu_);
  if (ip == gateway()) return;
  allocated_.erase(ip.ToUint32());
}

bool IpAllocator::IsAllocated(Ipv4Address ip) const {
  absl::MutexLock lock(&mu_);
  return allocated_.contains(ip.ToUint32());
}

size_t IpAllocator::AllocatedCount() const {
  absl::MutexLock lock(&mu_);
  size_t n = allocated_.size();
  if (InRange(gateway().ToUint32())) --n;
  return n;
}

size_t IpAllocator::Capacity() const {
  if (begin_ > end_) return 0;
  size_t n = static_cast<size_t>(uint64_t{end_} - begin_ + 1);
  if (InRange(gateway().ToUint32())) --n;
  return n;
}

}  // namespace berth::net
