// Bridge discovery, address selection and creation.

#include "net/bridge.h"

#include "absl/strings/str_cat.h"
#include "net/resolv_conf.h"
#include "net/validate.h"

namespace berth::net {

absl::Status CheckNameserverOverlap(
    const Ipv4Network& network, const std::vector<Ipv4Network>& nameservers) {
  for (const Ipv4Network& ns : nameservers) {
    if (network.Overlaps(ns)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "requested network overlaps with nameserver: ",
          network.Masked().ToString(), " contains nameserver ",
          ns.address().ToString()));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckRouteOverlap(const Ipv4Network& network,
                               const std::vector<Ipv4Network>& routes) {
  for (const Ipv4Network& route : routes) {
    if (network.Overlaps(route)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "requested network overlaps with existing network: ",
          network.Masked().ToString(), " overlaps the route to ",
          route.Masked().ToString()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Ipv4Network> ChooseBridgeNetwork(
    absl::string_view bridge, const std::vector<Ipv4Network>& nameservers,
    const std::vector<Ipv4Network>& routes, std::vector<std::string>* skipped) {
  for (absl::string_view text : kBridgeCandidates) {
    Ipv4Network candidate = *Ipv4Network::Parse(text);
    absl::Status s = CheckNameserverOverlap(candidate, nameservers);
    if (s.ok()) s = CheckRouteOverlap(candidate, routes);
    if (s.ok()) return candidate;
    if (skipped != nullptr) {
      skipped->push_back(absl::StrCat("skipped ", text, ": ", s.message()));
    }
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "Could not find a free IP address range for interface '", bridge,
      "'. Please configure its address manually and run 'berthd -b ", bridge,
      "'"));
}

namespace {

absl::StatusOr<BridgeSetup> UseExistingBridge(Netlink& netlink,
                                              const BridgeOptions& options) {
  absl::StatusOr<std::vector<Ipv4Network>> addrs =
      netlink.Ipv4Addresses(options.name);
  if (!addrs.ok()) return addrs.status();
  if (addrs->empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "bridge ", options.name,
        " has no IPv4 address: give it one, or pass --bip so berth can "
        "create its own bridge"));
  }
  BridgeSetup setup;
  setup.name = options.name;
  setup.address = addrs->front();
  if (options.bridge_ip.has_value()) {
    bool found = false;
    for (const Ipv4Network& a : *addrs) {
      if (a == *options.bridge_ip) {
        setup.address = a;
        found = true;
      }
    }
    if (!found) {
      return absl::FailedPreconditionError(absl::StrCat(
          "bridge ip (", options.bridge_ip->ToString(),
          ") does not match existing bridge configuration ",
          addrs->front().ToString()));
    }
  }
  return setup;
}

absl::StatusOr<BridgeSetup> CreateBridge(Netlink& netlink,
                                         const BridgeOptions& options) {
  BridgeSetup setup;
  setup.name = options.name;
  std::vector<Ipv4Network> nameservers =
      NameserverNetworks(options.nameservers);
  absl::StatusOr<std::vector<Ipv4Network>> routes = netlink.Ipv4Routes();
  if (!routes.ok()) return routes.status();
  if (options.bridge_ip.has_value()) {
    if (absl::Status s = CheckNameserverOverlap(*options.bridge_ip, nameservers);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = CheckRouteOverlap(*options.bridge_ip, *routes);
        !s.ok()) {
      return s;
    }
    setup.address = *options.bridge_ip;
  } else {
    absl::StatusOr<Ipv4Network> chosen =
        ChooseBridgeNetwork(options.name, nameservers, *routes, &setup.notes);
    if (!chosen.ok()) return chosen.status();
    setup.address = *chosen;
  }

  MacAddress mac = options.mac.value_or(MacAddress::RandomLocal());
  if (absl::Status s = netlink.CreateBridge(options.name, mac, options.mtu);
      !s.ok()) {
    return s;
  }
  // From here on a failure removes the half-made bridge again.
  absl::Status s = netlink.AddAddress(options.name, setup.address);
  if (s.ok()) s = netlink.SetUp(options.name);
  if (!s.ok()) {
    netlink.DeleteLink(options.name).IgnoreError();
    return s;
  }
  setup.created = true;
  setup.notes.push_back(absl::StrCat("created bridge ", options.name, " with ",
                                     setup.address.ToString(), ", MAC ",
                                     mac.ToString(), ", MTU ", options.mtu));
  return setup;
}

}  // namespace

absl::StatusOr<BridgeSetup> SetUpBridge(Netlink& netlink,
                                        const BridgeOptions& options) {
  if (absl::Status s = ValidateInterfaceName(options.name); !s.ok()) return s;
  if (options.bridge_ip.has_value() && options.bridge_ip->prefix_length() > 30) {
    return absl::InvalidArgumentError(absl::StrCat(
        "bridge ip ", options.bridge_ip->ToString(),
        " leaves no room for containers: use a prefix of /30 or shorter"));
  }
  absl::StatusOr<bool> exists = netlink.LinkExists(options.name);
  if (!exists.ok()) return exists.status();
  if (*exists) return UseExistingBridge(netlink, options);
  if (options.user_named) {
    return absl::NotFoundError(absl::StrCat(
        "bridge ", options.name,
        " does not exist: a bridge named with -b must be created beforehand"));
  }
  return CreateBridge(netlink, options);
}

}  // namespace berth::net
