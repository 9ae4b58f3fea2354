// The iptables backend of net::Firewall: libiptc on the legacy xtables
// tables, berth's rules in chains named BERTH (FirewallConfig::chain) of the
// shared nat and filter tables, as net/bridge_firewall.h and
// net/berth_rules.h describe them.
//
// Costs: libiptc reads and rewrites a whole table per commit, so a commit
// costs time in proportion to every rule in that table. A published port is
// one nat commit (DNAT and hairpin MASQUERADE) and one filter commit
// (ACCEPT); AddPorts, RemovePorts and ApplyLinks take one commit per table for the
// whole batch, however many ports or pairs it holds.

#ifndef BERTH_NET_IPTABLES_FIREWALL_H_
#define BERTH_NET_IPTABLES_FIREWALL_H_

#include <memory>

#include "absl/status/statusor.h"
#include "net/bridge_firewall.h"
#include "net/firewall.h"

namespace berth::net {

absl::StatusOr<std::unique_ptr<Firewall>> NewIptablesFirewall(
    const FirewallConfig& config);

}  // namespace berth::net

#endif  // BERTH_NET_IPTABLES_FIREWALL_H_
