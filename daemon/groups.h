// The handler groups that need berthd's own state, installed once NewDaemon has
// built it: `daemon` (info) and `storage` (import, images, tag, image_inspect,
// image_delete) and `containers` (create, start, ... — handlers/containers/).
// They cannot be served by workers.
#ifndef BERTH_DAEMON_GROUPS_H_
#define BERTH_DAEMON_GROUPS_H_

#include <vector>

#include "daemon/daemon.h"
#include "handlers/group.h"

namespace berth {

std::vector<HandlerGroup> DaemonGroups(Daemon& daemon);

}  // namespace berth

#endif  // BERTH_DAEMON_GROUPS_H_
