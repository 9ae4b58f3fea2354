#include "daemon/groups.h"

#include "handlers/storage/storage.h"

namespace berth {

std::vector<HandlerGroup> DaemonGroups(Daemon& daemon) {
  std::vector<HandlerGroup> groups;
  groups.push_back(daemon.InfoGroup());
  groups.push_back(StorageGroup(daemon.graph(), daemon.tags()));
  return groups;
}

}  // namespace berth
