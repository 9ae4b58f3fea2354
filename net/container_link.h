// A container's link to the bridge: the veth pair that joins a container's
// network namespace to the bridge, its container end configured as eth0
// (MAC, address, up, default route through the bridge), and its removal.
//
// Namespaces: `host` acts in the bridge's namespace (the namespace it was
// opened in); the container end is created directly inside the container's
// namespace and configured through a netlink socket opened there by a
// short-lived thread (Netlink::OpenIn). No long-lived thread changes
// namespace.

#ifndef BERTH_NET_CONTAINER_LINK_H_
#define BERTH_NET_CONTAINER_LINK_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "net/ipv4.h"
#include "net/mac_address.h"
#include "net/netlink.h"
#include "net/netns.h"

namespace berth::net {

// The name of the container end, inside the container's namespace.
inline constexpr char kContainerInterface[] = "eth0";

// The host end's name: this prefix and 7 random lower-case hex digits
// (12 characters, within the kernel's 15).
inline constexpr char kHostVethPrefix[] = "veth";
inline constexpr int kHostVethRandomDigits = 7;

// What the container end gets.
struct ContainerLinkConfig {
  std::string bridge;
  // Both ends: the bridge's MTU, so that no end fragments what another
  // passes on.
  int mtu = 1500;
  // The container's address with the bridge network's prefix.
  Ipv4Network address;
  // The bridge's address: the container's default route.
  Ipv4Address gateway;
  MacAddress mac;
};

// "veth" + 7 random hex digits, e.g. "veth3f9a1c2".
std::string RandomHostVethName();

// Creates the pair `host_veth` (in `host`'s namespace) / eth0 (inside
// `netns`, with config.mac and config.mtu), makes `host_veth` a port of
// config.bridge and brings it up, then gives eth0 config.address, brings it
// up and adds the default route via config.gateway.
//
// All or nothing: when a step after the creation fails, the pair is deleted
// again (deleting the host end takes the container end with it) and the
// error says what failed, and whether the removal failed too.
// Errors: FailedPrecondition `'<netns path>' already has an interface named
// eth0`; AlreadyExists only when `host_veth` is taken (draw another name and
// retry); otherwise the netlink error of the failing step, e.g.
// `netlink: attach veth3f9a1c2 to berth0: ...`.
absl::Status ConnectContainer(Netlink& host, const Netns& netns,
                              absl::string_view host_veth,
                              const ContainerLinkConfig& config);

// Deletes `host_veth` and with it the container end. OK when it is already
// gone: when the container's namespace dies first, the kernel removes the
// pair itself.
absl::Status DisconnectContainer(Netlink& host, absl::string_view host_veth);

}  // namespace berth::net

#endif  // BERTH_NET_CONTAINER_LINK_H_
