#include "engine/remote/connections.h"

#include "engine/remote/reports.h"

namespace berth::remote {

void Connections::Accepted(int socket, int fd) {
  // The descriptor's previous connection has gone, reported or not.
  Gone(socket, fd);
  open_[{socket, fd}] = Conn{};
}

void Connections::Gone(int socket, int fd) {
  auto it = open_.find({socket, fd});
  if (it == open_.end()) return;
  if (it->second.kind.has_value()) {
    ReportConnection(engine_, *it->second.kind, false);
    auto p = by_peer_.find(it->second.peer);
    if (p != by_peer_.end() && p->second == it->first) by_peer_.erase(p);
  }
  open_.erase(it);
}

void Connections::Frame(int socket, int fd, ConnectionKind kind, const std::string& peer) {
  auto it = open_.find({socket, fd});
  if (it == open_.end() || it->second.kind.has_value()) return;
  it->second.kind = kind;
  it->second.peer = peer;
  ReportConnection(engine_, kind, true);
  auto [p, fresh] = by_peer_.try_emplace(peer, it->first);
  if (fresh) return;
  // A newer connection took the routing id: the older one is gone.
  const Key older = p->second;
  p->second = it->first;
  auto o = open_.find(older);
  if (o != open_.end()) {
    ReportConnection(engine_, *o->second.kind, false);
    open_.erase(o);
  }
}

}  // namespace berth::remote
