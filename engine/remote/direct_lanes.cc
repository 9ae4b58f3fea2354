#include "engine/remote/direct_lanes.h"

#include <algorithm>

#include "engine/log.h"
#include "engine/remote/zmq_socket.h"

namespace berth::remote {
namespace {

// How long a client that got an ERROR for its ROUTE keeps to the relay.
constexpr absl::Duration kNoDirectPath = absl::Minutes(1);

}  // namespace

bool DirectLanes::WantRoute(const std::string& name, absl::Time now) {
  LeaseState& l = leases_[name];
  if (l.asked || now < l.renew) return false;
  l.asked = true;
  return true;
}

bool DirectLanes::OnAnswer(const Frame& f, absl::Time now) {
  auto ask = asks_.find(f.id);
  if (ask == asks_.end()) return false;
  LeaseState& l = leases_[ask->second];
  asks_.erase(ask);
  l.asked = false;
  if (f.type != FrameType::kLease) {
    l.lanes.clear();
    l.expires = now;
    l.renew = now + kNoDirectPath;
    return true;
  }
  const absl::Duration lease = absl::Milliseconds(static_cast<int64_t>(std::min<uint64_t>(f.lease_ms, 1u << 30)));
  l.expires = now + lease;
  l.renew = now + lease / 2;
  l.idempotent = f.idempotent_name;
  l.lanes.clear();
  for (const DirectRoute& r : f.routes) {
    Lane* lane = Open(r);
    if (lane != nullptr) l.lanes.push_back(lane->endpoint);
  }
  return true;
}

Lane* DirectLanes::Open(const DirectRoute& r) {
  auto it = lanes_.find(r.endpoint);
  if (it != lanes_.end() && it->second->public_key != r.public_key) {
    // Another worker took that endpoint: a fresh connection for its key.
    if (it->second->in_flight > 0) return nullptr;
    lanes_.erase(it);
    it = lanes_.end();
  }
  if (it == lanes_.end()) {
    auto lane = std::make_unique<Lane>();
    lane->endpoint = r.endpoint;
    lane->public_key = r.public_key;
    lane->sock = std::make_unique<zmq::socket_t>(ctx_, zmq::socket_type::dealer);
    ConfigureSocket(*lane->sock, SocketTuning{.heartbeat_interval = options_.heartbeat_interval,
                                              .heartbeat_liveness = options_.heartbeat_liveness});
    // Frames only to a connection that is up: otherwise the send fails at
    // once and the job takes the relay.
    lane->sock->set(zmq::sockopt::immediate, 1);
    if (!r.public_key.empty()) {
      if (absl::Status s = SetCurveClient(*lane->sock, r.public_key, options_.client_key_file); !s.ok()) {
        spdlog::warn("no direct path to worker {} at {}: {}", r.worker_name, r.endpoint, s.message());
        return nullptr;
      }
    }
    try {
      lane->sock->connect(r.endpoint);
    } catch (const zmq::error_t& e) {
      spdlog::warn("no direct path to worker {} at {}: {}", r.worker_name, r.endpoint, e.what());
      return nullptr;
    }
    it = lanes_.emplace(r.endpoint, std::move(lane)).first;
  }
  Lane& lane = *it->second;
  lane.worker_name = r.worker_name;
  lane.ticket = r.ticket;
  lane.capacity = r.capacity;
  return &lane;
}

Lane* DirectLanes::Pick(const std::string& name, absl::Time now) {
  auto it = leases_.find(name);
  if (it == leases_.end() || now >= it->second.expires) return nullptr;
  Lane* best = nullptr;
  for (const std::string& ep : it->second.lanes) {
    auto lane = lanes_.find(ep);
    if (lane == lanes_.end()) continue;
    Lane* l = lane->second.get();
    if (l->in_flight >= l->capacity) continue;
    if (best == nullptr || l->in_flight < best->in_flight) best = l;
  }
  return best;
}

bool DirectLanes::Idempotent(const std::string& name) const {
  auto it = leases_.find(name);
  return it != leases_.end() && it->second.idempotent;
}

void DirectLanes::Forget(const std::string& name) {
  auto it = leases_.find(name);
  if (it == leases_.end()) return;
  it->second.lanes.clear();
  it->second.expires = absl::InfinitePast();
  it->second.renew = absl::InfinitePast();
}

void DirectLanes::Drop(Lane* lane) {
  const std::string endpoint = lane->endpoint;
  for (auto& [name, l] : leases_) l.lanes.erase(std::remove(l.lanes.begin(), l.lanes.end(), endpoint), l.lanes.end());
  // Its connection may be half dead (a link cut that the far side noticed
  // first): a lease that names the worker again gets a fresh one.
  lanes_.erase(endpoint);
}

std::vector<Lane*> DirectLanes::lanes() {
  std::vector<Lane*> out;
  out.reserve(lanes_.size());
  for (auto& [ep, lane] : lanes_) out.push_back(lane.get());
  return out;
}

}  // namespace berth::remote
