#include "engine/remote/connections.h"

#include "engine/remote/reports.h"

namespace berth::remote {

void Connections::Accepted(int socket, int fd) {
  // A descriptor accepted again went before (its Gone came first).
  open_[{socket, fd}] = std::nullopt;
}

void Connections::Gone(int socket, int fd) {
  auto it = open_.find({socket, fd});
  if (it == open_.end()) return;
  if (it->second.has_value()) ReportConnection(engine_, *it->second, false);
  open_.erase(it);
}

void Connections::Frame(int socket, int fd, ConnectionKind kind) {
  auto it = open_.find({socket, fd});
  if (it == open_.end() || it->second.has_value()) return;
  it->second = kind;
  ReportConnection(engine_, kind, true);
}

}  // namespace berth::remote
