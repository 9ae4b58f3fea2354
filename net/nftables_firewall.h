// The nftables backend of net::Firewall: everything berth writes lives in one
// nf_tables table of its own, `ip berth`, which no other tool's rules share,
// so berth never disturbs them and `delete table ip berth` removes all of
// berth's rules in one operation.
//
// Fixed part, written by SetUp in one transaction (`nft list table ip berth`
// shows it; <br> is the bridge, <net> its network):
//   map dnat_ip   ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service
//   map dnat_any  inet_proto . inet_service : ipv4_addr . inet_service
//   set hairpin   ipv4_addr . ipv4_addr . inet_proto . inet_service
//   set published ipv4_addr . inet_proto . inet_service
//   set link_forward, set link_reply   ipv4_addr . ipv4_addr . inet_proto . inet_service
//   chain port_dnat:
//     iifname != "<br>" dnat ip to ip daddr . meta l4proto . th dport map @dnat_ip
//     iifname != "<br>" dnat ip to meta l4proto . th dport map @dnat_any
//   chain nat_prerouting (nat, prerouting, dstnat):
//     fib daddr type local jump port_dnat
//   chain nat_output (nat, output, -100):
//     ip daddr != 127.0.0.0/8 fib daddr type local jump port_dnat
//   chain nat_postrouting (nat, postrouting, srcnat):
//     ip saddr <net> oifname != "<br>" masquerade          (only if ip-masq)
//     ip saddr . ip daddr . meta l4proto . th dport @hairpin masquerade
//   chain port_links:
//     iifname != "<br>" ip daddr . meta l4proto . th dport @published accept
//     iifname "<br>" ip saddr . ip daddr . meta l4proto . th dport @link_forward accept
//     iifname "<br>" ip saddr . ip daddr . meta l4proto . th sport @link_reply accept
//   chain filter_forward (filter, forward, filter):
//     oifname "<br>" jump port_links
//     oifname "<br>" ct state established,related accept
//     iifname "<br>" oifname != "<br>" accept
//     iifname "<br>" oifname "<br>" accept|drop             (icc)
// SetUp deletes and recreates the table in the same transaction, so after a
// crash exactly one copy of each rule is left and no element of the dead run.
//
// Per container, only set and map elements change, never a rule: a published
// port is one element in a dnat map plus (counted) one in hairpin and one in
// published; a link pair is one element in each link set. Elements are added
// and deleted through libnftnl in one netlink transaction per call, on a
// netlink socket opened by SetUp (in its thread's namespace) and kept open,
// without reading the ruleset back, so their cost does not grow with the number of
// ports already published. Elements two mappings share (two host ports to one
// container port) or repeated link pairs are reference-counted in this
// object and deleted with their last user.
//
// Note: an accept in berth's table does not override a drop in another
// table's forward hook (a separate nftables or iptables-nft table with a DROP
// policy still drops); the same holds for Docker's nftables rules.

#ifndef BERTH_NET_NFTABLES_FIREWALL_H_
#define BERTH_NET_NFTABLES_FIREWALL_H_

#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "net/bridge_firewall.h"
#include "net/firewall.h"

namespace berth::net {

// The nf_tables table berth owns (family ip).
inline constexpr absl::string_view kNftTable = "berth";

absl::StatusOr<std::unique_ptr<Firewall>> NewNftablesFirewall(
    const FirewallConfig& config);

// Runs `commands` (nft syntax) through libnftables in the calling thread's
// network namespace; returns what it printed. For set-up, tests and tools.
absl::StatusOr<std::string> RunNft(absl::string_view commands);

}  // namespace berth::net

#endif  // BERTH_NET_NFTABLES_FIREWALL_H_
