// The handler groups a process can host by name: berthd installs them in-process
// unless `--remote-handlers` leaves them to workers, and berth-worker hosts them
// with `--handlers`. Groups that need berthd's own state (storage, daemon) are
// added by the daemon.
#ifndef BERTH_HANDLERS_GROUPS_H_
#define BERTH_HANDLERS_GROUPS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "handlers/group.h"

namespace berth {

// The standalone groups, by name.
std::vector<HandlerGroup> StandaloneGroups();

// Looks up each comma-separated name; unknown names are an error listing the
// known ones: `unknown handler group 'x' (known: network, util)`.
absl::StatusOr<std::vector<HandlerGroup>> FindGroups(const std::vector<std::string>& names,
                                                     const std::vector<HandlerGroup>& known);

}  // namespace berth

#endif  // BERTH_HANDLERS_GROUPS_H_
