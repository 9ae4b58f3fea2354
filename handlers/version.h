// The `version` job: berth's version and the build and host it runs on, as one
// JSON object (Version, Compiler, Os, Arch, KernelVersion).
#ifndef BERTH_HANDLERS_VERSION_H_
#define BERTH_HANDLERS_VERSION_H_

#include "handlers/group.h"

namespace berth {

HandlerGroup VersionGroup();

}  // namespace berth

#endif  // BERTH_HANDLERS_VERSION_H_
