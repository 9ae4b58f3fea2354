// Port mappings (docs/networking.md, allocate_port / release_interface): a host port
// (per protocol and host address) forwarded to a container's port.
//
// Map does, in this order, and undoes what it already did when a later step
// fails, so a failed Map leaves nothing behind:
//   1. take the host port from the PortAllocator (0 = a dynamic one);
//   2. start the userland proxy on it (for the host's own connections);
//   3. the firewall's rules for the port (net/firewall.h AddPort, all or
//      nothing); with iptables:
//        nat:    BERTH -p P -d <hostip|0/0> --dport H ! -i <br>
//                   -j DNAT --to-destination C:CP
//                POSTROUTING -p P -s C -d C --dport CP -j MASQUERADE
//        (one libiptc commit)
//        filter: BERTH ! -i <br> -o <br> -p P -d C --dport CP -j ACCEPT
//        (one commit; if it fails the nat rules are taken out again)
//      with nftables, one element in each of three sets/maps, one
//      transaction (net/nftables_firewall.h).
// A dynamic port whose proxy cannot bind (someone outside berth holds it) is
// given up and the next one tried, up to 10 times, as the reference.
// Identical rules of two mappings (two host ports to one container port)
// are kept as separate copies, so unmapping one leaves the other working.
//
// Reserve re-registers a mapping from a container's saved configuration
// after a restart, so that its host port is not handed to anyone else; only
// the same owner can then Map that exact port again.

#ifndef BERTH_NET_PORT_MAPPER_H_
#define BERTH_NET_PORT_MAPPER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

#include "net/berth_rules.h"
#include "net/firewall.h"
#include "net/ipv4.h"
#include "net/port_allocator.h"
#include "net/userland_proxy.h"
#include "net/validate.h"

namespace berth::net {

struct PortMapping {
  // Opaque to the mapper (the container id), for UnmapOwner and Reserve.
  std::string owner;
  Proto proto = Proto::kTcp;
  Ipv4Address host_ip;  // 0.0.0.0: every host address
  uint16_t host_port = 0;
  Ipv4Address container_ip;
  uint16_t container_port = 0;
  // False for a mapping that is only reserved (no rules, no proxy).
  bool active = false;

  friend bool operator==(const PortMapping&, const PortMapping&) = default;
};

struct PortMapperOptions {
  std::string bridge = "berth0";
  std::string chain = std::string(kBerthChain);
  // --iptables=false: no rules, only the allocation and the proxy.
  bool enable_iptables = true;
  // Not owned; must outlive the mapper. Null with enable_iptables: the mapper
  // makes an iptables backend of its own for `bridge` and `chain`.
  Firewall* firewall = nullptr;
  // Not owned; null runs without userland proxy.
  ProxyServer* proxy = nullptr;
  // Not owned; must outlive the mapper.
  PortAllocator* allocator = nullptr;
};

class PortMapper {
 public:
  static constexpr int kDynamicAttempts = 10;

  // Validates the bridge and chain names.
  static absl::StatusOr<std::unique_ptr<PortMapper>> Create(
      PortMapperOptions options);

  struct MapRequest {
    std::string owner;
    Proto proto = Proto::kTcp;
    Ipv4Address host_ip;
    uint16_t host_port = 0;  // 0: dynamic
    Ipv4Address container_ip;
    uint16_t container_port = 0;
  };
  absl::StatusOr<PortMapping> Map(const MapRequest& request);

  // NotFound when nothing is mapped there. When the rules cannot be removed
  // the mapping stays as it was and the error is returned.
  absl::Status Unmap(Proto proto, Ipv4Address host_ip, uint16_t host_port);
  // Every mapping (and reservation) of `owner`, rules in one commit per
  // table (one firewall RemovePorts call).
  absl::Status UnmapOwner(absl::string_view owner);
  absl::Status UnmapAll();

  // Registers a saved mapping without rules or proxy (see above). The host
  // port must be explicit.
  absl::Status Reserve(const PortMapping& mapping);

  // Live restore: registers a mapping whose rules a previous berthd wrote
  // and left in place (the firewall's SetUp kept them, FirewallConfig::
  // keep_port_rules): the host port is taken, the userland proxy started,
  // and the firewall's AdoptPorts called (iptables writes no rule, so there
  // is still exactly one copy of each).
  // Unmapping it later removes its rules as for any mapping.
  absl::Status Adopt(const PortMapping& mapping);
  // Drops every mapping, its proxy and its port, leaving its rules in place
  // (berthd ending with --live-restore: the containers keep running).
  void ForgetAll();

  std::vector<PortMapping> Mappings() const;

 private:
  using Key = std::tuple<int, uint32_t, uint16_t>;  // proto, host ip, port
  struct Entry {
    PortMapping mapping;
    std::optional<ProxyServer::ProxyId> proxy;
  };

  explicit PortMapper(PortMapperOptions options)
      : options_(std::move(options)) {}

  static Key KeyOf(Proto proto, Ipv4Address ip, uint16_t port) {
    return Key{static_cast<int>(proto), ip.ToUint32(), port};
  }
  absl::Status UnmapKeys(const std::vector<Key>& keys)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The userland proxy of `m` (none without a proxy server).
  absl::StatusOr<std::optional<ProxyServer::ProxyId>> StartProxy(const PortMapping& m);

  const PortMapperOptions options_;
  // Null when rules are off.
  Firewall* firewall_ = nullptr;
  std::unique_ptr<Firewall> owned_firewall_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<Key, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::net

#endif  // BERTH_NET_PORT_MAPPER_H_
