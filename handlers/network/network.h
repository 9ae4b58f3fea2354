// The `network` handler group (docs/networking.md): the jobs that drive berth's bridge
// networking. Each handler turns its env into a typed request for the
// NetworkDriver (network_driver.h) and the result back into an env written to
// stdout; every value is validated before anything reaches a rule.
//
//   init_networkdriver [EnableIptables=…] [InterContainerCommunication=…]
//                      [EnableIpForward=…] [EnableIpMasq=…] [BridgeIface=…]
//                      [BridgeIP=…] [FixedCIDR=…] [DefaultBindingIP=…] [Mtu=…]
//       → Bridge, BridgeIP, Gateway, Network, Mask, IPPrefixLen, FixedCIDR,
//         Mtu, BridgeCreated, IpForward, [ChainsCreated, StaleRulesRemoved,
//         DuplicatesRemoved, RulesAdded,] Notes, Warnings
//   allocate_interface ID [RequestedIP=…] [RequestedMac=…] [NetNs=<ns file>]
//       → IP, Mask, IPPrefixLen, Gateway, Bridge, MacAddress, [HostVeth]
//     (with NetNs the container's namespace gets eth0 on a veth pair to the
//     bridge; HostVeth names the host end)
//   release_interface ID
//   allocate_port ID [HostIP=…] [HostPort=…] ContainerPort=… [Proto=tcp|udp]
//                    [Reserve=true]
//       → HostIP, HostPort
//   link -A|-I|-D ParentIP=… ChildIP=… Ports='["80/tcp",…]' [IgnoreErrors=true]
//   shutdown_networkdriver
//
// docs/networking.md ("The jobs") has the full contract: defaults, errors and
// the decisions on repeated calls.
#ifndef BERTH_HANDLERS_NETWORK_NETWORK_H_
#define BERTH_HANDLERS_NETWORK_NETWORK_H_

#include <string>
#include <vector>

#include "handlers/group.h"
#include "handlers/network/network_driver.h"

namespace berth {

using NetworkGroupOptions = NetworkDriverOptions;

// Each install creates its own NetworkDriver, owned by the handlers it
// registers (and by the OnShutdown hook that the first successful
// init_networkdriver registers on the engine that ran it).
HandlerGroup NetworkGroup(NetworkGroupOptions options = {});

// The six job names above, sorted; both groups register exactly these.
const std::vector<std::string>& NetworkJobNames();
// Their help (job_help.h), in the same order.
const std::vector<JobHelp>& NetworkJobHelp();

// What a daemon with networking disabled (berthd -b none) installs instead
// of NetworkGroup: the same job names, each refusing whatever its arguments
// with status 1 and the error
//   networking is disabled (berthd -b none): <job> is not available
// and changing nothing. The jobs exist, so the answer is this reason and not
// 127 ("no such job"), and nothing can create a bridge or write a rule.
HandlerGroup DisabledNetworkGroup();

}  // namespace berth

#endif  // BERTH_HANDLERS_NETWORK_NETWORK_H_
