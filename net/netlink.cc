// rtnetlink through libnl-route-3.

#include "net/netlink.h"

#include <linux/rtnetlink.h>
#include <net/if.h>
#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/nexthop.h>
#include <netlink/route/route.h>
#include <sys/socket.h>

#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "net/validate.h"

namespace berth::net {
namespace {

// Owning wrappers for libnl objects.
struct LinkDeleter {
  void operator()(rtnl_link* l) const { rtnl_link_put(l); }
};
struct AddrDeleter {
  void operator()(rtnl_addr* a) const { rtnl_addr_put(a); }
};
struct NlAddrDeleter {
  void operator()(nl_addr* a) const { nl_addr_put(a); }
};
struct CacheDeleter {
  void operator()(nl_cache* c) const { nl_cache_free(c); }
};
struct RouteDeleter {
  void operator()(rtnl_route* r) const { rtnl_route_put(r); }
};
using LinkPtr = std::unique_ptr<rtnl_link, LinkDeleter>;
using AddrPtr = std::unique_ptr<rtnl_addr, AddrDeleter>;
using NlAddrPtr = std::unique_ptr<nl_addr, NlAddrDeleter>;
using CachePtr = std::unique_ptr<nl_cache, CacheDeleter>;
using RoutePtr = std::unique_ptr<rtnl_route, RouteDeleter>;

absl::StatusCode CodeFor(int nl_err) {
  switch (nl_err) {
    case NLE_OBJ_NOTFOUND:
    case NLE_NODEV:
      return absl::StatusCode::kNotFound;
    case NLE_EXIST:
      return absl::StatusCode::kAlreadyExists;
    case NLE_PERM:
      return absl::StatusCode::kPermissionDenied;
    case NLE_INVAL:
    case NLE_RANGE:
      return absl::StatusCode::kInvalidArgument;
    default:
      return absl::StatusCode::kInternal;
  }
}

absl::Status NlError(absl::string_view what, int err) {
  int e = err < 0 ? -err : err;
  return absl::Status(CodeFor(e), absl::StrCat("netlink: ", what, ": ",
                                               nl_geterror(e)));
}

NlAddrPtr Ipv4NlAddr(Ipv4Address ip, int prefix) {
  in_addr a = ip.ToInAddr();
  NlAddrPtr addr(nl_addr_build(AF_INET, &a, sizeof(a)));
  if (addr) nl_addr_set_prefixlen(addr.get(), prefix);
  return addr;
}

absl::StatusOr<Ipv4Address> FromNlAddr(nl_addr* addr) {
  if (addr == nullptr || nl_addr_get_family(addr) != AF_INET ||
      nl_addr_get_len(addr) != sizeof(in_addr)) {
    return absl::InvalidArgumentError("not an IPv4 address");
  }
  in_addr a;
  std::memcpy(&a, nl_addr_get_binary_addr(addr), sizeof(a));
  return Ipv4Address::FromInAddr(a);
}

LinkInfo ToLinkInfo(rtnl_link* link) {
  LinkInfo info;
  const char* name = rtnl_link_get_name(link);
  info.name = name == nullptr ? "" : name;
  info.index = rtnl_link_get_ifindex(link);
  info.mtu = static_cast<int>(rtnl_link_get_mtu(link));
  info.up = (rtnl_link_get_flags(link) & IFF_UP) != 0;
  const char* kind = rtnl_link_get_type(link);
  info.kind = kind == nullptr ? "" : kind;
  info.master = rtnl_link_get_master(link);
  nl_addr* mac = rtnl_link_get_addr(link);
  if (mac != nullptr && nl_addr_get_len(mac) == 6) {
    std::array<uint8_t, 6> bytes;
    std::memcpy(bytes.data(), nl_addr_get_binary_addr(mac), 6);
    info.mac = MacAddress(bytes);
  }
  return info;
}

absl::Status CheckMtu(int mtu) {
  if (mtu < 68 || mtu > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid MTU ", mtu, ": must be between 68 and 65535"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Netlink>> Netlink::Open() {
  nl_sock* sock = nl_socket_alloc();
  if (sock == nullptr) {
    return absl::ResourceExhaustedError("netlink: cannot allocate a socket");
  }
  if (int err = nl_connect(sock, NETLINK_ROUTE); err < 0) {
    nl_socket_free(sock);
    return NlError("connect", err);
  }
  return std::unique_ptr<Netlink>(new Netlink(sock));
}

absl::StatusOr<std::unique_ptr<Netlink>> Netlink::OpenIn(const Netns& netns) {
  absl::StatusOr<std::unique_ptr<Netlink>> opened =
      absl::InternalError("netlink: not opened");
  absl::Status entered = netns.RunInside([&] {
    opened = Open();
    return absl::OkStatus();
  });
  if (!entered.ok()) return entered;
  return opened;
}

Netlink::~Netlink() {
  absl::MutexLock lock(&mu_);
  nl_socket_free(sock_);
}

absl::Status Netlink::CreateBridge(absl::string_view name, const MacAddress& mac,
                                   int mtu) {
  if (absl::Status s = ValidateInterfaceName(name); !s.ok()) return s;
  if (absl::Status s = CheckMtu(mtu); !s.ok()) return s;
  std::string n(name);
  LinkPtr link(rtnl_link_bridge_alloc());
  if (!link) return absl::ResourceExhaustedError("netlink: out of memory");
  rtnl_link_set_name(link.get(), n.c_str());
  NlAddrPtr lladdr(nl_addr_build(AF_LLC, mac.bytes().data(), 6));
  if (!lladdr) return absl::ResourceExhaustedError("netlink: out of memory");
  rtnl_link_set_addr(link.get(), lladdr.get());
  rtnl_link_set_mtu(link.get(), static_cast<unsigned int>(mtu));
  absl::MutexLock lock(&mu_);
  if (int err = rtnl_link_add(sock_, link.get(), NLM_F_CREATE | NLM_F_EXCL);
      err < 0) {
    return NlError(absl::StrCat("create bridge ", n), err);
  }
  return absl::OkStatus();
}

absl::Status Netlink::SetMtu(absl::string_view name, int mtu) {
  if (absl::Status s = ValidateInterfaceName(name); !s.ok()) return s;
  if (absl::Status s = CheckMtu(mtu); !s.ok()) return s;
  LinkPtr change(rtnl_link_alloc());
  if (!change) return absl::ResourceExhaustedError("netlink: out of memory");
  rtnl_link_set_mtu(change.get(), static_cast<unsigned int>(mtu));
  absl::MutexLock lock(&mu_);
  return ChangeLinkLocked(name, change.get(),
                          absl::StrCat("set MTU ", mtu, " on ", name));
}

absl::Status Netlink::ChangeLinkLocked(absl::string_view name,
                                       rtnl_link* change,
                                       absl::string_view what) {
  std::string n(name);
  rtnl_link* raw = nullptr;
  if (int err = rtnl_link_get_kernel(sock_, 0, n.c_str(), &raw); err < 0) {
    return NlError(absl::StrCat("find link ", n), err);
  }
  LinkPtr orig(raw);
  if (int err = rtnl_link_change(sock_, orig.get(), change, 0); err < 0) {
    return NlError(what, err);
  }
  return absl::OkStatus();
}

absl::Status Netlink::AddAddress(absl::string_view name,
                                 const Ipv4Network& address) {
  if (absl::Status s = ValidateInterfaceName(name); !s.ok()) return s;
  std::string n(name);
  absl::MutexLock lock(&mu_);
  absl::StatusOr<LinkInfo> link = GetLinkLocked(n);
  if (!link.ok()) return link.status();
  AddrPtr addr(rtnl_addr_alloc());
  rtnl_addr_set_ifindex(addr.get(), link->index);
  rtnl_addr_set_family(addr.get(), AF_INET);
  NlAddrPtr local = Ipv4NlAddr(address.address(), address.prefix_length());
  if (!local) return absl::ResourceExhaustedError("netlink: out of memory");
  if (int err = rtnl_addr_set_local(addr.get(), local.get()); err < 0) {
    return NlError("set local address", err);
  }
  if (address.prefix_length() < 31) {
    NlAddrPtr brd = Ipv4NlAddr(address.Broadcast(), 32);
    if (int err = rtnl_addr_set_broadcast(addr.get(), brd.get()); err < 0) {
      return NlError("set broadcast address", err);
    }
  }
  if (int err = rtnl_addr_add(sock_, addr.get(), 0); err < 0) {
    return NlError(absl::StrCat("add address ", address.ToString(), " to ", n),
                   err);
  }
  return absl::OkStatus();
}

absl::Status Netlink::SetUp(absl::string_view name) {
  if (absl::Status s = ValidateInterfaceName(name); !s.ok()) return s;
  LinkPtr change(rtnl_link_alloc());
  if (!change) return absl::ResourceExhaustedError("netlink: out of memory");
  rtnl_link_set_flags(change.get(), IFF_UP);
  absl::MutexLock lock(&mu_);
  return ChangeLinkLocked(name, change.get(), absl::StrCat("bring up ", name));
}

absl::Status Netlink::DeleteLink(absl::string_view name) {
  if (absl::Status s = ValidateInterfaceName(name); !s.ok()) return s;
  std::string n(name);
  LinkPtr link(rtnl_link_alloc());
  rtnl_link_set_name(link.get(), n.c_str());
  absl::MutexLock lock(&mu_);
  if (int err = rtnl_link_delete(sock_, link.get()); err < 0) {
    return NlError(absl::StrCat("delete link ", n), err);
  }
  return absl::OkStatus();
}

absl::Status Netlink::CreateVeth(const VethSpec& spec) {
  if (absl::Status s = ValidateInterfaceName(spec.name); !s.ok()) return s;
  if (absl::Status s = ValidateInterfaceName(spec.peer_name); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckMtu(spec.mtu); !s.ok()) return s;
  LinkPtr link(rtnl_link_veth_alloc());
  if (!link) return absl::ResourceExhaustedError("netlink: out of memory");
  // Freed with `link`; this reference is only for setting its attributes.
  LinkPtr peer(rtnl_link_veth_get_peer(link.get()));
  rtnl_link_set_name(link.get(), spec.name.c_str());
  rtnl_link_set_mtu(link.get(), static_cast<unsigned int>(spec.mtu));
  rtnl_link_set_name(peer.get(), spec.peer_name.c_str());
  rtnl_link_set_mtu(peer.get(), static_cast<unsigned int>(spec.mtu));
  if (spec.peer_mac.has_value()) {
    NlAddrPtr lladdr(nl_addr_build(AF_LLC, spec.peer_mac->bytes().data(), 6));
    if (!lladdr) return absl::ResourceExhaustedError("netlink: out of memory");
    rtnl_link_set_addr(peer.get(), lladdr.get());
  }
  if (spec.peer_netns != nullptr) {
    rtnl_link_set_ns_fd(peer.get(), spec.peer_netns->fd());
  }
  absl::MutexLock lock(&mu_);
  if (int err = rtnl_link_add(sock_, link.get(), NLM_F_CREATE | NLM_F_EXCL);
      err < 0) {
    return NlError(absl::StrCat("create veth pair ", spec.name, " (peer ",
                                spec.peer_name, ")"),
                   err);
  }
  return absl::OkStatus();
}

absl::Status Netlink::SetMaster(absl::string_view name,
                                absl::string_view master) {
  if (absl::Status s = ValidateInterfaceName(name); !s.ok()) return s;
  if (absl::Status s = ValidateInterfaceName(master); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  absl::StatusOr<LinkInfo> bridge = GetLinkLocked(master);
  if (!bridge.ok()) return bridge.status();
  LinkPtr change(rtnl_link_alloc());
  if (!change) return absl::ResourceExhaustedError("netlink: out of memory");
  rtnl_link_set_master(change.get(), bridge->index);
  return ChangeLinkLocked(name, change.get(),
                          absl::StrCat("attach ", name, " to ", master));
}

absl::Status Netlink::AddDefaultRoute(Ipv4Address gateway,
                                      absl::string_view name) {
  if (absl::Status s = ValidateInterfaceName(name); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  absl::StatusOr<LinkInfo> link = GetLinkLocked(name);
  if (!link.ok()) return link.status();
  RoutePtr route(rtnl_route_alloc());
  NlAddrPtr any = Ipv4NlAddr(Ipv4Address::Any(), 0);
  NlAddrPtr via = Ipv4NlAddr(gateway, 32);
  // The route owns the next hop once added.
  rtnl_nexthop* hop = rtnl_route_nh_alloc();
  if (!route || !any || !via || hop == nullptr) {
    if (hop != nullptr) rtnl_route_nh_free(hop);
    return absl::ResourceExhaustedError("netlink: out of memory");
  }
  rtnl_route_set_family(route.get(), AF_INET);
  rtnl_route_set_table(route.get(), RT_TABLE_MAIN);
  rtnl_route_set_type(route.get(), RTN_UNICAST);
  rtnl_route_set_scope(route.get(), RT_SCOPE_UNIVERSE);
  rtnl_route_set_protocol(route.get(), RTPROT_BOOT);
  if (int err = rtnl_route_set_dst(route.get(), any.get()); err < 0) {
    rtnl_route_nh_free(hop);
    return NlError("set route destination", err);
  }
  rtnl_route_nh_set_ifindex(hop, link->index);
  rtnl_route_nh_set_gateway(hop, via.get());
  rtnl_route_add_nexthop(route.get(), hop);
  if (int err = rtnl_route_add(sock_, route.get(), NLM_F_EXCL); err < 0) {
    return NlError(absl::StrCat("add default route via ", gateway.ToString(),
                                " dev ", name),
                   err);
  }
  return absl::OkStatus();
}

absl::StatusOr<LinkInfo> Netlink::GetLinkLocked(absl::string_view name) {
  std::string n(name);
  rtnl_link* raw = nullptr;
  if (int err = rtnl_link_get_kernel(sock_, 0, n.c_str(), &raw); err < 0) {
    return NlError(absl::StrCat("find link ", n), err);
  }
  LinkPtr link(raw);
  return ToLinkInfo(link.get());
}

absl::StatusOr<LinkInfo> Netlink::GetLinkByIndexLocked(int index) {
  rtnl_link* raw = nullptr;
  if (int err = rtnl_link_get_kernel(sock_, index, nullptr, &raw); err < 0) {
    return NlError(absl::StrCat("find link #", index), err);
  }
  LinkPtr link(raw);
  return ToLinkInfo(link.get());
}

absl::StatusOr<bool> Netlink::LinkExists(absl::string_view name) {
  absl::StatusOr<LinkInfo> link = GetLink(name);
  if (link.ok()) return true;
  if (absl::IsNotFound(link.status())) return false;
  return link.status();
}

absl::StatusOr<LinkInfo> Netlink::GetLink(absl::string_view name) {
  if (absl::Status s = ValidateInterfaceName(name); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  return GetLinkLocked(name);
}

absl::StatusOr<std::vector<Ipv4Network>> Netlink::Ipv4Addresses(
    absl::string_view name) {
  if (absl::Status s = ValidateInterfaceName(name); !s.ok()) return s;
  absl::MutexLock lock(&mu_);
  absl::StatusOr<LinkInfo> link = GetLinkLocked(name);
  if (!link.ok()) return link.status();
  nl_cache* raw = nullptr;
  if (int err = rtnl_addr_alloc_cache(sock_, &raw); err < 0) {
    return NlError("list addresses", err);
  }
  CachePtr cache(raw);
  std::vector<Ipv4Network> out;
  for (nl_object* obj = nl_cache_get_first(cache.get()); obj != nullptr;
       obj = nl_cache_get_next(obj)) {
    rtnl_addr* a = reinterpret_cast<rtnl_addr*>(obj);
    if (rtnl_addr_get_ifindex(a) != link->index ||
        rtnl_addr_get_family(a) != AF_INET) {
      continue;
    }
    absl::StatusOr<Ipv4Address> ip = FromNlAddr(rtnl_addr_get_local(a));
    if (!ip.ok()) continue;
    absl::StatusOr<Ipv4Network> n =
        Ipv4Network::Create(*ip, rtnl_addr_get_prefixlen(a));
    if (n.ok()) out.push_back(*n);
  }
  return out;
}

absl::StatusOr<std::vector<Ipv4Network>> Netlink::Ipv4Routes() {
  absl::MutexLock lock(&mu_);
  nl_cache* raw = nullptr;
  if (int err = rtnl_route_alloc_cache(sock_, AF_INET, 0, &raw); err < 0) {
    return NlError("list routes", err);
  }
  CachePtr cache(raw);
  std::vector<Ipv4Network> out;
  for (nl_object* obj = nl_cache_get_first(cache.get()); obj != nullptr;
       obj = nl_cache_get_next(obj)) {
    rtnl_route* r = reinterpret_cast<rtnl_route*>(obj);
    if (rtnl_route_get_table(r) != RT_TABLE_MAIN ||
        rtnl_route_get_type(r) != RTN_UNICAST) {
      continue;
    }
    nl_addr* dst = rtnl_route_get_dst(r);
    if (dst == nullptr || nl_addr_get_prefixlen(dst) == 0) continue;
    absl::StatusOr<Ipv4Address> ip = FromNlAddr(dst);
    if (!ip.ok()) continue;
    absl::StatusOr<Ipv4Network> n =
        Ipv4Network::Create(*ip, static_cast<int>(nl_addr_get_prefixlen(dst)));
    if (n.ok()) out.push_back(*n);
  }
  return out;
}

absl::StatusOr<int> Netlink::DefaultRouteMtu() {
  absl::MutexLock lock(&mu_);
  nl_cache* raw = nullptr;
  if (int err = rtnl_route_alloc_cache(sock_, AF_INET, 0, &raw); err < 0) {
    return NlError("list routes", err);
  }
  CachePtr cache(raw);
  for (nl_object* obj = nl_cache_get_first(cache.get()); obj != nullptr;
       obj = nl_cache_get_next(obj)) {
    rtnl_route* r = reinterpret_cast<rtnl_route*>(obj);
    if (rtnl_route_get_table(r) != RT_TABLE_MAIN ||
        rtnl_route_get_type(r) != RTN_UNICAST) {
      continue;
    }
    nl_addr* dst = rtnl_route_get_dst(r);
    if (dst != nullptr && nl_addr_get_prefixlen(dst) != 0) continue;
    if (rtnl_route_get_nnexthops(r) < 1) continue;
    int index = rtnl_route_nh_get_ifindex(rtnl_route_nexthop_n(r, 0));
    absl::StatusOr<LinkInfo> link = GetLinkByIndexLocked(index);
    if (!link.ok()) return link.status();
    return link->mtu;
  }
  return absl::NotFoundError("no IPv4 default route");
}

}  // namespace berth::net
