// The bridge half of init_networkdriver (docs/networking.md, "The bridge"): find or create the
// bridge and settle its address.
//
// Without -b berth manages its default bridge: when it is missing, the first
// candidate network that overlaps neither a nameserver nor an existing route
// is chosen (or --bip is used as given, after the same checks), the bridge is
// created through netlink with a fixed MAC and the MTU, the address is added
// and the link brought up. With -b the bridge must already exist and is only
// inspected. An existing bridge must carry the --bip address when one is
// given.

#ifndef BERTH_NET_BRIDGE_H_
#define BERTH_NET_BRIDGE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

#include "net/ipv4.h"
#include "net/mac_address.h"
#include "net/netlink.h"

namespace berth::net {

inline constexpr absl::string_view kDefaultBridge = "berth0";

// Tried in this order when the bridge has to be created without --bip.
inline constexpr absl::string_view kBridgeCandidates[] = {
    "172.17.42.1/16", "10.0.42.1/16",    "10.1.42.1/16",    "10.42.42.1/16",
    "172.16.42.1/24", "172.16.43.1/24",  "172.16.44.1/24",  "10.0.42.1/24",
    "10.0.43.1/24",   "192.168.42.1/24", "192.168.43.1/24", "192.168.44.1/24",
};

// "requested network overlaps with nameserver", followed by ": " and the
// network and nameserver involved.
absl::Status CheckNameserverOverlap(const Ipv4Network& network,
                                    const std::vector<Ipv4Network>& nameservers);
// "requested network overlaps with existing network", followed by ": " and
// the network and route involved.
absl::Status CheckRouteOverlap(const Ipv4Network& network,
                               const std::vector<Ipv4Network>& routes);

// The first of kBridgeCandidates that passes both checks, or
// "Could not find a free IP address range for interface '<br>'. Please
// configure its address manually and run 'berthd -b <br>'". Each skipped
// candidate is described in `skipped` when given.
absl::StatusOr<Ipv4Network> ChooseBridgeNetwork(
    absl::string_view bridge, const std::vector<Ipv4Network>& nameservers,
    const std::vector<Ipv4Network>& routes,
    std::vector<std::string>* skipped = nullptr);

struct BridgeOptions {
  std::string name = std::string(kDefaultBridge);
  // Given with -b: it must exist and is never created or changed.
  bool user_named = false;
  // --bip: the bridge's address with prefix, e.g. 10.20.0.1/16.
  std::optional<Ipv4Network> bridge_ip;
  int mtu = 1500;
  // The host's nameservers (resolv.conf) as written there.
  std::vector<std::string> nameservers;
  // The bridge's MAC when created; a random local one when unset.
  std::optional<MacAddress> mac;
};

struct BridgeSetup {
  std::string name;
  // The bridge's address and prefix: the containers' gateway and network.
  Ipv4Network address;
  bool created = false;
  // What happened on the way, for the daemon's log (skipped candidates).
  std::vector<std::string> notes;
};

absl::StatusOr<BridgeSetup> SetUpBridge(Netlink& netlink,
                                        const BridgeOptions& options);

}  // namespace berth::net

#endif  // BERTH_NET_BRIDGE_H_
