// The iptables half of init_networkdriver (docs/networking.md, "The bridge"): berth's chains and
// fixed rules, reconciled at every start, and their removal.
//
// SetUpFirewall leaves the tables in one defined state whatever a previous
// run left behind (a clean stop, a SIGKILL, a different --icc):
//  nat:    chain BERTH exists and is empty (per-container DNATs of a dead
//          run are stale); per-container hairpin MASQUERADEs for addresses
//          in the bridge network are removed from POSTROUTING; exactly one
//          of each of
//            POSTROUTING -s <net> ! -o <br> -j MASQUERADE   (only if ip-masq)
//            PREROUTING -m addrtype --dst-type LOCAL -j BERTH
//            OUTPUT -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j BERTH
//  filter: chain BERTH exists and is empty (stale port and link rules);
//          the top of FORWARD is exactly, in this order,
//            FORWARD -o <br> -j BERTH
//            FORWARD -o <br> -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
//            FORWARD -i <br> ! -o <br> -j ACCEPT
//            FORWARD -i <br> -o <br> -j ACCEPT|DROP   (icc)
//          and no other copy of these (nor of the other icc verdict) is left
//          anywhere in FORWARD. The jump comes first so that link rules in
//          BERTH are reached before an icc DROP.
// Each table is one libiptc commit, so the change is atomic per table.
// Rules of other tools, including Docker's DOCKER chains, are not touched.

#ifndef BERTH_NET_BRIDGE_FIREWALL_H_
#define BERTH_NET_BRIDGE_FIREWALL_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#include "net/berth_rules.h"
#include "net/ipv4.h"

namespace berth::net {

struct FirewallConfig {
  std::string bridge = "berth0";
  // The bridge's address and prefix (the containers' network).
  Ipv4Network network;
  bool icc = true;
  bool ip_masq = true;
  std::string chain = std::string(kBerthChain);
  // berthd --live-restore: the per-container rules (BERTH chains' contents,
  // hairpin MASQUERADEs) of the containers that outlived the previous berthd
  // are kept, not treated as stale; the port mapper adopts them
  // (PortMapper::Adopt), or removes them with the container.
  bool keep_port_rules = false;
};

struct FirewallReport {
  bool nat_chain_created = false;
  bool filter_chain_created = false;
  // Per-container rules of an earlier run (BERTH chain contents and hairpin
  // MASQUERADEs) that were removed.
  int stale_rules_removed = 0;
  // Extra copies of fixed rules that were removed (and a fixed rule that no
  // longer applies, such as the other icc verdict or a MASQUERADE after
  // ip-masq was turned off).
  int duplicates_removed = 0;
  // Fixed rules that were missing and added.
  int rules_added = 0;
};

// Validates the configuration (bridge name, chain), then reconciles both
// tables as described above.
absl::StatusOr<FirewallReport> SetUpFirewall(const FirewallConfig& config);

// Removes every rule and chain SetUpFirewall and the port mapper/link rules
// add for this bridge and network (both icc verdicts, with or without
// ip-masq). Safe to call when nothing is there.
absl::Status TearDownFirewall(const FirewallConfig& config);

// Writes "1" to `path` (/proc/sys/net/ipv4/ip_forward of the calling
// thread's network namespace). The daemon only warns when this fails.
absl::Status EnableIpForward(
    const std::string& path = "/proc/sys/net/ipv4/ip_forward");

}  // namespace berth::net

#endif  // BERTH_NET_BRIDGE_FIREWALL_H_
