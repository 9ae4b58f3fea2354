// The network group of a daemon without networking (berthd -b none): every
// job refuses and says why (see network.h).

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "engine/engine.h"
#include "engine/job.h"
#include "handlers/network/network.h"

namespace berth {

HandlerGroup DisabledNetworkGroup() {
  HandlerGroup g;
  g.name = "network";
  g.jobs = NetworkJobNames();
  g.help = NetworkJobHelp();
  g.install = [jobs = g.jobs](Engine& eng) -> absl::Status {
    for (const std::string& name : jobs) {
      std::string error =
          absl::StrCat("networking is disabled (berthd -b none): ", name,
                       " is not available");
      absl::Status s =
          eng.Register(name, [error](Job& job) { return job.Error(error); });
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  };
  return g;
}

}  // namespace berth
