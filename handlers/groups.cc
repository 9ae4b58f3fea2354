#include "handlers/groups.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "handlers/network/network.h"
#include "handlers/util.h"

namespace berth {

std::vector<HandlerGroup> StandaloneGroups() {
  std::vector<HandlerGroup> groups;
  groups.push_back(UtilGroup());
  groups.push_back(NetworkGroup());
  return groups;
}

absl::StatusOr<std::vector<HandlerGroup>> FindGroups(const std::vector<std::string>& names,
                                                     const std::vector<HandlerGroup>& known) {
  std::vector<HandlerGroup> out;
  for (const std::string& name : names) {
    auto it = std::find_if(known.begin(), known.end(), [&](const HandlerGroup& g) { return g.name == name; });
    if (it == known.end()) {
      std::vector<std::string> all;
      for (const HandlerGroup& g : known) all.push_back(g.name);
      std::sort(all.begin(), all.end());
      return absl::InvalidArgumentError(
          absl::StrCat("unknown handler group '", name, "' (known: ", absl::StrJoin(all, ", "), ")"));
    }
    if (std::none_of(out.begin(), out.end(), [&](const HandlerGroup& g) { return g.name == name; })) {
      out.push_back(*it);
    }
  }
  return out;
}

}  // namespace berth
