// Links, addresses and routes through rtnetlink (libnl-route-3): what the
// bridge set-up needs, in the network namespace that was current for the
// thread that called Open().

#ifndef BERTH_NET_NETLINK_H_
#define BERTH_NET_NETLINK_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "net/ipv4.h"
#include "net/mac_address.h"

struct nl_sock;

namespace berth::net {

struct LinkInfo {
  std::string name;
  int index = 0;
  int mtu = 0;
  MacAddress mac;
  bool up = false;      // IFF_UP
  std::string kind;     // "bridge", "veth", ... ("" when the kernel has none)
};

class Netlink {
 public:
  // Connects a NETLINK_ROUTE socket. The socket stays in the network
  // namespace of the calling thread, whatever thread uses it later.
  static absl::StatusOr<std::unique_ptr<Netlink>> Open();
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
  // NotFound when there is no such link.
  absl::Status DeleteLink(absl::string_view name);

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

  // libnl sockets are not thread-safe.
  absl::Mutex mu_;
  nl_sock* sock_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::net

#endif  // BERTH_NET_NETLINK_H_
