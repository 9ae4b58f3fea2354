// Host port allocation with wildcard-aware conflicts.

#include "net/port_allocator.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace berth::net {

PortAllocator::PortAllocator(uint16_t dynamic_begin, uint16_t dynamic_end)
    : dynamic_begin_(dynamic_begin), dynamic_end_(dynamic_end) {}

bool PortAllocator::ConflictsLocked(Ipv4Address ip, Proto proto,
                                    uint16_t port) const {
  auto it = held_.find(PortKey{static_cast<int>(proto), port});
  if (it == held_.end() || it->second.empty()) return false;
  if (ip.IsUnspecified()) return true;
  return it->second.contains(ip.ToUint32()) || it->second.contains(0);
}

absl::StatusOr<uint16_t> PortAllocator::Request(Ipv4Address ip, Proto proto,
                                                uint16_t port) {
  absl::MutexLock lock(&mu_);
  if (port != 0) {
    if (ConflictsLocked(ip, proto, port)) {
      return absl::AlreadyExistsError(absl::StrCat(
          "Bind for ", ip.ToString(), ":", port,
          " failed: port is already allocated"));
    }
    held_[PortKey{static_cast<int>(proto), port}].insert(ip.ToUint32());
    return port;
  }
  if (dynamic_begin_ <= dynamic_end_) {
    LastKey lk{ip.ToUint32(), static_cast<int>(proto)};
    auto last_it = last_.find(lk);
    // Starting "at the end" makes the first dynamic port dynamic_begin_.
    uint16_t candidate = last_it == last_.end() ? dynamic_end_ : last_it->second;
    int span = dynamic_end_ - dynamic_begin_ + 1;
    for (int i = 0; i < span; ++i) {
      candidate = (candidate >= dynamic_end_ || candidate < dynamic_begin_)
                      ? dynamic_begin_
                      : static_cast<uint16_t>(candidate + 1);
      if (!ConflictsLocked(ip, proto, candidate)) {
        held_[PortKey{static_cast<int>(proto), candidate}].insert(
            ip.ToUint32());
        last_[lk] = candidate;
        return candidate;
      }
    }
  }
  return absl::ResourceExhaustedError("all ports are allocated");
}

void PortAllocator::Release(Ipv4Address ip, Proto proto, uint16_t port) {
  absl::MutexLock lock(&mu_);
  auto it = held_.find(PortKey{static_cast<int>(proto), port});
  if (it == held_.end()) return;
  it->second.erase(ip.ToUint32());
  if (it->second.empty()) held_.erase(it);
}

void PortAllocator::ReleaseAll() {
  absl::MutexLock lock(&mu_);
  held_.clear();
  last_.clear();
}

bool PortAllocator::IsAllocated(Ipv4Address ip, Proto proto,
                                uint16_t port) const {
  absl::MutexLock lock(&mu_);
  auto it = held_.find(PortKey{static_cast<int>(proto), port});
  return it != held_.end() && it->second.contains(ip.ToUint32());
}

bool PortAllocator::Conflicts(Ipv4Address ip, Proto proto,
                              uint16_t port) const {
  absl::MutexLock lock(&mu_);
  return ConflictsLocked(ip, proto, port);
}

}  // namespace berth::net
