// The packet filter behind berth's rules, as one interface with two
// implementations: iptables (libiptc, the legacy xtables tables, chains named
// BERTH inside the shared nat and filter tables) and nftables (nf_tables, a
// table `ip berth` of berth's own). The network jobs, the driver and the port
// mapper only see this interface; which backend runs is decided once, at
// init_networkdriver.
//
// Both backends give the same behaviour (docs/networking.md):
//   - DNAT of a published host port, from outside the bridge and from the
//     host itself (not from 127.0.0.0/8: the userland proxy carries that);
//   - the ACCEPT of traffic forwarded to a published container port;
//   - MASQUERADE of hairpin traffic (a container reaching itself through its
//     own published port) and of the bridge network going out (ip-masq);
//   - container to container on the bridge accepted or dropped (icc), with
//     link accept rules reached before the icc verdict;
//   - SetUp reconciles whatever a crashed run left: afterwards there is
//     exactly one copy of each fixed rule and no per-container rule.
// Identical rules of two mappings (two host ports to one container port) and
// repeated link pairs are kept as copies (iptables) or counted (nftables), so
// removing one leaves the other working.
//
// SetUp and TearDown change the kernel of the calling thread's network
// namespace; the other calls that of the thread that ran SetUp (the same in
// berthd, one namespace). Calls on one object must not run concurrently (the network driver
// serialises them under its mutex).

#ifndef BERTH_NET_FIREWALL_H_
#define BERTH_NET_FIREWALL_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

#include "net/bridge_firewall.h"
#include "net/ipv4.h"
#include "net/link_rules.h"
#include "net/validate.h"

namespace berth::net {

enum class FirewallBackend { kIptables, kNftables };

// "iptables" / "nftables".
absl::string_view FirewallBackendName(FirewallBackend backend);
// The names above; otherwise
// "unknown firewall '<text>': use iptables or nftables".
absl::StatusOr<FirewallBackend> ParseFirewallBackend(absl::string_view text);

// What the calling thread's network namespace already uses, for the default
// of --firewall: nftables when nf_tables holds a table that is not berth's
// own and no legacy iptables table is loaded (/proc/net/ip_tables_names is
// empty) — an nftables host, including one whose `iptables` command is
// iptables-nft; iptables otherwise (legacy tables in use, both in use, or
// nothing at all). `detail` (optional) receives one sentence saying why.
FirewallBackend DetectFirewallBackend(std::string* detail = nullptr);

// The rules of one published port.
struct PublishedPort {
  Proto proto = Proto::kTcp;
  Ipv4Address host_ip;  // 0.0.0.0: every host address
  uint16_t host_port = 0;
  Ipv4Address container_ip;
  uint16_t container_port = 0;
};

class Firewall {
 public:
  virtual ~Firewall() = default;

  virtual FirewallBackend backend() const = 0;

  // Writes the fixed rules for the configuration the object was made with,
  // reconciling an earlier run's leftovers (see above). Forgets every port
  // and link this object had written.
  virtual absl::StatusOr<FirewallReport> SetUp() = 0;
  // Removes everything berth wrote for this configuration. Safe to call when
  // nothing is there.
  virtual absl::Status TearDown() = 0;

  // Writes the rules of every port in `ports`, in one commit per table (a
  // whole batch, e.g. many containers restored or started at once, costs
  // about what one port costs), all or nothing: a failure leaves none of
  // them behind.
  virtual absl::Status AddPorts(absl::Span<const PublishedPort> ports) = 0;
  absl::Status AddPort(const PublishedPort& port) {
    return AddPorts(absl::MakeConstSpan(&port, 1));
  }
  // Live restore (FirewallConfig::keep_port_rules): takes over the ports of
  // containers that outlived the previous berthd, so that RemovePorts works
  // on them later. Both backends kept their rules at SetUp (nftables: its
  // chains were flushed and declared again in one transaction, its maps and
  // sets kept) and write nothing, so published ports answer throughout.
  virtual absl::Status AdoptPorts(absl::Span<const PublishedPort> ports) = 0;
  // Removes the rules of every port in `ports` (one copy each), in one
  // commit per table; a rule already gone is not an error.
  virtual absl::Status RemovePorts(absl::Span<const PublishedPort> ports) = 0;

  // Writes or removes the link pairs of every request, in one commit. A
  // request without ignore_errors that fails (deleting a pair that is not
  // there) fails the whole call and changes nothing.
  virtual absl::Status ApplyLinks(absl::Span<const LinkRequest> requests) = 0;
};

// The backend `backend` for `config` (validated here: the bridge name and,
// for iptables, the chain name).
absl::StatusOr<std::unique_ptr<Firewall>> MakeFirewall(
    FirewallBackend backend, const FirewallConfig& config);

}  // namespace berth::net

#endif  // BERTH_NET_FIREWALL_H_
