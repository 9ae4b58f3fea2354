// Container links (docs/networking.md, `link`): per exposed port of the child, a pair
// of filter rules in BERTH that lets the parent reach the child on that port
// even with icc off:
//   -i <br> -o <br> -p P -s parent -d child --dport N -j ACCEPT
//   -i <br> -o <br> -p P -s child -d parent --sport N -j ACCEPT

#ifndef BERTH_NET_LINK_RULES_H_
#define BERTH_NET_LINK_RULES_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

#include "net/berth_rules.h"
#include "net/ipv4.h"
#include "net/validate.h"

namespace berth::net {

enum class LinkAction { kAppend, kInsert, kDelete };

// "-A", "-I" or "-D"; otherwise "Invalid action '<a>' specified".
absl::StatusOr<LinkAction> ParseLinkAction(absl::string_view text);

struct LinkRequest {
  LinkAction action = LinkAction::kAppend;
  Ipv4Address parent;
  Ipv4Address child;
  std::vector<PortProto> ports;
  // Skip ports whose rules cannot be added or removed instead of failing.
  bool ignore_errors = false;
};

// Builds a request from the job's strings: the action, ParentIP, ChildIP
// ("parent IP '<ip>' is invalid" / "child IP '<ip>' is invalid") and the
// Ports list ("80/tcp", ...). Nothing is written.
absl::StatusOr<LinkRequest> ParseLinkRequest(
    absl::string_view action, absl::string_view parent_ip,
    absl::string_view child_ip, const std::vector<std::string>& ports,
    bool ignore_errors);

// Writes (or, for kDelete, removes) the rule pairs in one filter commit.
// Without ignore_errors the first failure (e.g. deleting a pair that is not
// there) leaves the table untouched.
absl::Status ApplyLinkRules(absl::string_view bridge, const LinkRequest& request,
                            absl::string_view chain = kBerthChain);
// Every request's pairs in the same single filter commit (shutdown removes
// all links at once); a failing request without ignore_errors leaves the
// table untouched.
absl::Status ApplyLinkRules(absl::string_view bridge,
                            absl::Span<const LinkRequest> requests,
                            absl::string_view chain = kBerthChain);

}  // namespace berth::net

#endif  // BERTH_NET_LINK_RULES_H_
