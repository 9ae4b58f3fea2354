// A container's veth pair to the bridge (see container_link.h).

#include "net/container_link.h"

#include <memory>
#include <random>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace berth::net {
namespace {

// The steps after the pair exists: host end onto the bridge and up, then the
// container end's address, link and route.
absl::Status Configure(Netlink& host, Netlink& inside,
                       absl::string_view host_veth,
                       const ContainerLinkConfig& config) {
  if (absl::Status s = host.SetMaster(host_veth, config.bridge); !s.ok()) {
    return s;
  }
  if (absl::Status s = host.SetUp(host_veth); !s.ok()) return s;
  if (absl::Status s = inside.AddAddress(kContainerInterface, config.address);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = inside.SetUp(kContainerInterface); !s.ok()) return s;
  return inside.AddDefaultRoute(config.gateway, kContainerInterface);
}

}  // namespace

std::string RandomHostVethName() {
  static constexpr char kHex[] = "0123456789abcdef";
  std::random_device rd;
  std::string name = kHostVethPrefix;
  for (int i = 0; i < kHostVethRandomDigits; ++i) name += kHex[rd() % 16];
  return name;
}

absl::Status ConnectContainer(Netlink& host, const Netns& netns,
                              absl::string_view host_veth,
                              const ContainerLinkConfig& config) {
  absl::StatusOr<std::unique_ptr<Netlink>> inside = Netlink::OpenIn(netns);
  if (!inside.ok()) return inside.status();
  // Checked first so that the kernel's EEXIST below can only mean the host
  // end's name.
  absl::StatusOr<bool> taken = (*inside)->LinkExists(kContainerInterface);
  if (!taken.ok()) return taken.status();
  if (*taken) {
    return absl::FailedPreconditionError(
        absl::StrCat("'", netns.path(), "' already has an interface named ",
                     kContainerInterface));
  }
  VethSpec spec;
  spec.name = std::string(host_veth);
  spec.peer_name = kContainerInterface;
  spec.mtu = config.mtu;
  spec.peer_mac = config.mac;
  spec.peer_netns = &netns;
  if (absl::Status s = host.CreateVeth(spec); !s.ok()) return s;
  absl::Status s = Configure(host, **inside, host_veth, config);
  if (s.ok()) return s;
  // AlreadyExists means "the host end's name is taken" to the caller; an
  // address or route already in the container's namespace is a different
  // problem, which drawing another name would not solve.
  if (absl::IsAlreadyExists(s)) {
    s = absl::FailedPreconditionError(s.message());
  }
  if (absl::Status d = DisconnectContainer(host, host_veth); !d.ok()) {
    return absl::Status(s.code(),
                        absl::StrCat(s.message(), "; removing ", host_veth,
                                     " also failed: ", d.message()));
  }
  return s;
}

absl::Status DisconnectContainer(Netlink& host, absl::string_view host_veth) {
  absl::Status s = host.DeleteLink(host_veth);
  if (absl::IsNotFound(s)) return absl::OkStatus();
  return s;
}

}  // namespace berth::net
