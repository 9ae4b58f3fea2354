// Links, addresses and routes through rtnetlink (libnl-route-3): what the
// bridge set-up and a container's veth pair need, in the network namespace
// that was current for the thread that called Open(), or in the namespace
// given to OpenIn().
//
// Errors: each names the operation and the link, e.g.
// `netlink: find link eth9: Object not found` (NotFound); AlreadyExists for a
// name in use, PermissionDenied without CAP_NET_ADMIN, InvalidArgument for a
// value the kernel refused or a name ValidateInterfaceName refuses.

#ifndef BERTH_NET_NETLINK_H_
#define BERTH_NET_NETLINK_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "net/ipv4.h"
#include "net/mac_address.h"
#include "net/netns.h"

struct nl_sock;
struct rtnl_link;

namespace berth::net {

struct LinkInfo {
  std::string name;
  int index = 0;
  int mtu = 0;
  MacAddress mac;
  bool up = false;      // IFF_UP
  std::string kind;     // "bridge", "veth", ... ("" when the kernel has none)
  int master = 0;       // ifindex of the bridge it is a port of, 0 for none
};

// A veth pair to create: `name` in the socket's namespace, `peer_name` in
// `peer_netns` (or the same namespace when null).
struct VethSpec {
  std::string name;
  std::string peer_name;
  // Both ends.
  int mtu = 1500;
  // The peer's MAC; the kernel picks a random one when absent.
  std::optional<MacAddress> peer_mac;
  // The peer is created there directly (IFLA_NET_NS_FD): it never exists
  // in this namespace, not even briefly. Must outlive the call only.
  const Netns* peer_netns = nullptr;
};

class Netlink {
 public:
  // Connects a NETLINK_ROUTE socket. The socket stays in the network
  // namespace of the calling thread, whatever thread uses it later.
  static absl::StatusOr<std::unique_ptr<Netlink>> Open();
  // Connects a NETLINK_ROUTE socket inside `netns`, from a short-lived thread
  // that joins it (Netns::RunInside); every later call acts there.
  static absl::StatusOr<std::unique_ptr<Netlink>> OpenIn(const Netns& netns);
  ~Netlink();

  Netlink(const Netlink&) = delete;
  Netlink& operator=(const Netlink&) = delete;

  // Creates a bridge with a fixed MAC (so it does not change as ports join)
  // and MTU; AlreadyExists when the name is taken. The link starts down.
  absl::Status CreateBridge(absl::string_view name, const MacAddress& mac,
                            int mtu);
  absl::Status SetMtu(absl::string_view name, int mtu);
  // Adds `address` (e.g. 172.17.42.1/16) with the network's broadcast.
  absl::Status AddAddress(absl::string_view name, const Ipv4Network& address);
  // Sets IFF_UP.
  absl::Status SetUp(absl::string_view name);
  // NotFound when there is no such link. Deleting one end of a veth pair
  // deletes the other, in whatever namespace it is.
  absl::Status DeleteLink(absl::string_view name);

  // Creates a veth pair, both ends down. AlreadyExists when `spec.name` is
  // taken here or `spec.peer_name` in the peer's namespace: the kernel does
  // not say which, so a caller that cares checks the peer's side first.
  absl::Status CreateVeth(const VethSpec& spec);
  // Makes link `name` a port of the bridge `master`; NotFound naming the
  // missing one.
  absl::Status SetMaster(absl::string_view name, absl::string_view master);
  // Adds the IPv4 default route via `gateway` out of link `name` to the
  // main table; AlreadyExists when there is a default route.
  absl::Status AddDefaultRoute(Ipv4Address gateway, absl::string_view name);

  absl::StatusOr<bool> LinkExists(absl::string_view name);
  // NotFound when there is no such link.
  absl::StatusOr<LinkInfo> GetLink(absl::string_view name);
  // The IPv4 addresses of a link with their prefixes, in kernel order.
  absl::StatusOr<std::vector<Ipv4Network>> Ipv4Addresses(absl::string_view name);
  // Destinations of the IPv4 unicast routes in the main table, without the
  // default route: the networks a new bridge must not overlap.
  absl::StatusOr<std::vector<Ipv4Network>> Ipv4Routes();
  // MTU of the interface the IPv4 default route goes out of; NotFound when
  // there is no default route.
  absl::StatusOr<int> DefaultRouteMtu();

 private:
  explicit Netlink(nl_sock* sock) : sock_(sock) {}

  absl::StatusOr<LinkInfo> GetLinkLocked(absl::string_view name)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::StatusOr<LinkInfo> GetLinkByIndexLocked(int index)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Applies the attributes set on `change` to link `name`; `what` names the
  // change in the error.
  absl::Status ChangeLinkLocked(absl::string_view name, rtnl_link* change,
                                absl::string_view what)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // libnl sockets are not thread-safe.
  absl::Mutex mu_;
  nl_sock* sock_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::net

#endif  // BERTH_NET_NETLINK_H_
