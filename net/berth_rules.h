// Every iptables rule berth writes (docs/networking.md), in one place.
//
// Each function returns the rule docs/networking.md names, with the iptables command
// line it stands for in its comment; the bridge set-up, the port mapper and
// the link rules use nothing else, and the tests compare each of these with
// the same command line run through the iptables-legacy program.

#ifndef BERTH_NET_BERTH_RULES_H_
#define BERTH_NET_BERTH_RULES_H_

#include <cstdint>

#include "absl/strings/string_view.h"

#include "net/iptables_rule.h"
#include "net/ipv4.h"
#include "net/validate.h"

namespace berth::net {

// The chain berth owns in both the nat and the filter table.
inline constexpr absl::string_view kBerthChain = "BERTH";

// nat: POSTROUTING -s <net> ! -o <br> -j MASQUERADE   (ip-masq)
Rule BridgeMasqueradeRule(const Ipv4Network& bridge_network,
                          absl::string_view bridge);

// filter: FORWARD -i <br> -o <br> -j ACCEPT|DROP   (icc on|off)
Rule IccRule(absl::string_view bridge, bool accept);

// filter: FORWARD -i <br> ! -o <br> -j ACCEPT   (containers reach out)
Rule OutgoingRule(absl::string_view bridge);

// filter: FORWARD -o <br> -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
Rule EstablishedRule(absl::string_view bridge);

// nat: PREROUTING -m addrtype --dst-type LOCAL -j BERTH
Rule PreroutingJumpRule(absl::string_view chain = kBerthChain);

// nat: OUTPUT -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j BERTH
Rule OutputJumpRule(absl::string_view chain = kBerthChain);

// filter: FORWARD -o <br> -j BERTH
Rule ForwardJumpRule(absl::string_view bridge,
                     absl::string_view chain = kBerthChain);

// nat: BERTH -p P -d <hostip|0/0> --dport H ! -i <br>
//        -j DNAT --to-destination C:CP
Rule PortDnatRule(Proto proto, Ipv4Address host_ip, uint16_t host_port,
                  absl::string_view bridge, Ipv4Address container_ip,
                  uint16_t container_port,
                  absl::string_view chain = kBerthChain);

// filter: BERTH ! -i <br> -o <br> -p P -d C --dport CP -j ACCEPT
Rule PortAcceptRule(Proto proto, absl::string_view bridge,
                    Ipv4Address container_ip, uint16_t container_port,
                    absl::string_view chain = kBerthChain);

// nat: POSTROUTING -p P -s C -d C --dport CP -j MASQUERADE
// (a container reaching itself through its own mapped port)
Rule PortHairpinRule(Proto proto, Ipv4Address container_ip,
                     uint16_t container_port);

// filter: BERTH -i <br> -o <br> -p P -s parent -d child --dport N -j ACCEPT
Rule LinkForwardRule(Proto proto, absl::string_view bridge, Ipv4Address parent,
                     Ipv4Address child, uint16_t port,
                     absl::string_view chain = kBerthChain);
// filter: BERTH -i <br> -o <br> -p P -s child -d parent --sport N -j ACCEPT
Rule LinkReplyRule(Proto proto, absl::string_view bridge, Ipv4Address parent,
                   Ipv4Address child, uint16_t port,
                   absl::string_view chain = kBerthChain);

// Whether `rule` has the shape of a PortHairpinRule for a container inside
// `bridge_network` (used to find stale ones after a crash).
bool IsPortHairpinRule(const Rule& rule, const Ipv4Network& bridge_network);

}  // namespace berth::net

#endif  // BERTH_NET_BERTH_RULES_H_
