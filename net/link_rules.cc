// Link rule pairs.

#include "net/link_rules.h"

#include "absl/strings/str_cat.h"
#include "net/iptables.h"

namespace berth::net {

absl::StatusOr<LinkAction> ParseLinkAction(absl::string_view text) {
  if (text == "-A") return LinkAction::kAppend;
  if (text == "-I") return LinkAction::kInsert;
  if (text == "-D") return LinkAction::kDelete;
  return absl::InvalidArgumentError(
      absl::StrCat("Invalid action '", text, "' specified"));
}

absl::StatusOr<LinkRequest> ParseLinkRequest(
    absl::string_view action, absl::string_view parent_ip,
    absl::string_view child_ip, const std::vector<std::string>& ports,
    bool ignore_errors) {
  LinkRequest request;
  absl::StatusOr<LinkAction> a = ParseLinkAction(action);
  if (!a.ok()) return a.status();
  request.action = *a;
  absl::StatusOr<Ipv4Address> parent = Ipv4Address::Parse(parent_ip);
  if (!parent.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("parent IP '", parent_ip, "' is invalid"));
  }
  absl::StatusOr<Ipv4Address> child = Ipv4Address::Parse(child_ip);
  if (!child.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("child IP '", child_ip, "' is invalid"));
  }
  request.parent = *parent;
  request.child = *child;
  for (const std::string& p : ports) {
    absl::StatusOr<PortProto> pp = ParsePortProto(p);
    if (!pp.ok()) return pp.status();
    request.ports.push_back(*pp);
  }
  request.ignore_errors = ignore_errors;
  return request;
}

absl::Status ApplyLinkRules(absl::string_view bridge, const LinkRequest& request,
                            absl::string_view chain) {
  return ApplyLinkRules(bridge, absl::MakeConstSpan(&request, 1), chain);
}

absl::Status ApplyLinkRules(absl::string_view bridge,
                            absl::Span<const LinkRequest> requests,
                            absl::string_view chain) {
  if (absl::Status s = ValidateInterfaceName(bridge); !s.ok()) return s;
  if (requests.empty()) return absl::OkStatus();
  return ApplyIptables(Table::kFilter, [&](IptablesBatch& b) -> absl::Status {
    for (const LinkRequest& request : requests) {
      for (const PortProto& p : request.ports) {
        Rule forward = LinkForwardRule(p.proto, bridge, request.parent,
                                       request.child, p.port, chain);
        Rule reply = LinkReplyRule(p.proto, bridge, request.parent,
                                   request.child, p.port, chain);
        for (const Rule* rule : {&forward, &reply}) {
          absl::Status s;
          switch (request.action) {
            case LinkAction::kAppend:
              s = b.Append(*rule);
              break;
            case LinkAction::kInsert:
              s = b.Insert(*rule, 1);
              break;
            case LinkAction::kDelete:
              s = b.Delete(*rule);
              break;
          }
          if (!s.ok() && !request.ignore_errors) return s;
        }
      }
    }
    return absl::OkStatus();
  });
}

}  // namespace berth::net
