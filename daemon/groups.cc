#include "daemon/groups.h"

#include "handlers/containers/containers.h"
#include "handlers/storage/storage.h"

namespace berth {

std::vector<HandlerGroup> DaemonGroups(Daemon& daemon) {
  std::vector<HandlerGroup> groups;
  groups.push_back(daemon.InfoGroup());
  groups.push_back(StorageGroup(daemon.graph(), daemon.tags()));
  groups.push_back(ContainersGroup(daemon.runtime()));
  return groups;
}

}  // namespace berth
