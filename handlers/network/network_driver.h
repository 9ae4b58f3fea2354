// NetworkDriver: the state behind the `network` handler group — the bridge,
// the IP and port allocators, the port mapper with its userland proxy, and one
// record per container — with typed operations for the five jobs.
//
// The jobs (handlers/network/network.cc) only turn env into the typed requests
// below and results back into env; everything that changes the host happens
// here, through the mechanisms in net/. Every operation takes the driver's
// mutex for its whole duration, so the jobs are serialised: a record and the
// mappings it owns never disagree, and libiptc serialises table writes anyway.
//
// Lifecycle: uninitialised → Init (bridge, firewall, ip_forward, allocators,
// proxy) → initialised → Shutdown (every port mapping with its rules and proxy
// released, every record dropped) → uninitialised again. Operations other
// than Init fail with kNotInitialized while uninitialised.
//
// Network namespaces: the netlink socket, the proxy thread and every libiptc
// batch live in the namespace of the thread that calls Init / the operation.
// In berthd and berth-worker that is the process's one namespace. A
// container's namespace is only ever entered by a short-lived thread that
// opens a netlink socket there (net/container_link.h).
#ifndef BERTH_HANDLERS_NETWORK_NETWORK_DRIVER_H_
#define BERTH_HANDLERS_NETWORK_NETWORK_DRIVER_H_

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
#include "net/bridge.h"
#include "net/bridge_firewall.h"
#include "net/container_link.h"
#include "net/firewall.h"
#include "net/ip_allocator.h"
#include "net/ipv4.h"
#include "net/link_rules.h"
#include "net/mac_address.h"
#include "net/netlink.h"
#include "net/netns.h"
#include "net/port_allocator.h"
#include "net/port_mapper.h"
#include "net/userland_proxy.h"
#include "net/validate.h"

namespace berth {

// What a process hosting the driver may redirect (tests, benchmarks).
struct NetworkDriverOptions {
  std::string resolv_conf_path = "/etc/resolv.conf";
  std::string ip_forward_path = "/proc/sys/net/ipv4/ip_forward";
  // The userland proxy carries the host's own connections (127.0.0.1:port)
  // to containers; without it only DNAT'ed traffic reaches them.
  bool userland_proxy = true;
  net::ProxyServer::Options proxy;
  // Range of dynamic host ports (HostPort=0).
  uint16_t dynamic_port_begin = net::PortAllocator::kDynamicBegin;
  uint16_t dynamic_port_end = net::PortAllocator::kDynamicEnd;
};

// init_networkdriver's configuration, parsed and validated.
struct NetworkDriverConfig {
  std::string bridge = std::string(net::kDefaultBridge);
  // -b: the bridge must exist and is never created or changed.
  bool user_named_bridge = false;
  std::optional<net::Ipv4Network> bridge_ip;   // --bip
  std::optional<net::Ipv4Network> fixed_cidr;  // --fixed-cidr
  // 0: the MTU of the default-route interface, else 1500.
  int mtu = 0;
  bool enable_iptables = true;
  // The packet filter the rules go to (init_networkdriver's Firewall,
  // berthd --firewall); nullopt: net::DetectFirewallBackend decides.
  std::optional<net::FirewallBackend> firewall_backend;
  bool icc = true;
  bool ip_forward = true;
  bool ip_masq = true;
  net::Ipv4Address default_binding_ip;  // --ip
  // berthd --live-restore: per-container rules survive berthd's end (they
  // are kept at Init and at Shutdown) and are adopted with
  // PortRequest::adopt (iptables backend).
  bool live_restore = false;

  friend bool operator==(const NetworkDriverConfig&,
                         const NetworkDriverConfig&) = default;
};

// What Init did.
struct NetworkDriverStatus {
  std::string bridge;
  // The bridge's address and prefix: the containers' gateway and network.
  net::Ipv4Network address;
  std::optional<net::Ipv4Network> fixed_cidr;
  int mtu = 0;
  bool bridge_created = false;
  // Set when iptables is enabled.
  std::optional<net::FirewallReport> firewall;
  // The backend in use (when iptables is enabled), and why it was chosen.
  std::optional<net::FirewallBackend> firewall_backend;
  std::string firewall_reason;
  bool ip_forward_enabled = false;
  // Skipped candidate networks, the bridge created, ...
  std::vector<std::string> notes;
  // Failures that did not stop the start (ip_forward).
  std::vector<std::string> warnings;
};

// What allocate_interface asks for.
struct InterfaceRequest {
  // nullopt: the next free address.
  std::optional<net::Ipv4Address> ip;
  // nullopt: 02:42:<ip>.
  std::optional<net::MacAddress> mac;
  // The container's network namespace file (/proc/<pid>/ns/net). Empty:
  // only the address and MAC are allocated (what restore does); otherwise
  // the container is wired to the bridge through a veth pair.
  std::string netns_path;
};

// A container's interface on the bridge.
struct ContainerInterface {
  net::Ipv4Address ip;
  net::MacAddress mac;
  // The bridge network (mask, prefix) and its address (the gateway).
  net::Ipv4Network network;
  std::string bridge;
  // The host end of the container's veth pair ("" when allocated without a
  // namespace).
  std::string host_veth;
};

struct PortRequest {
  net::Proto proto = net::Proto::kTcp;
  // nullopt: the configured default binding IP (--ip).
  std::optional<net::Ipv4Address> host_ip;
  uint16_t host_port = 0;  // 0: dynamic
  uint16_t container_port = 0;
  // Only hold the host port for the container (no rules, no proxy) until
  // it maps it again; for containers restored stopped.
  bool reserve_only = false;
  // The mapping's rules are already there (live restore): take the port,
  // start the proxy, write no rule (net::PortMapper::Adopt).
  bool adopt = false;
};

// The error of every operation before Init has succeeded.
inline constexpr absl::string_view kNotInitialized =
    "network driver not initialized: run init_networkdriver first";

class NetworkDriver {
 public:
  explicit NetworkDriver(NetworkDriverOptions options);
  // Releases what Shutdown releases, if Shutdown has not run.
  ~NetworkDriver();
  NetworkDriver(const NetworkDriver&) = delete;
  NetworkDriver& operator=(const NetworkDriver&) = delete;

  // Sets up the bridge, the firewall (reconciling a crashed run's rules) and
  // ip_forward. A second Init with an equal config returns the first one's
  // status and changes nothing (re-running the firewall set-up would flush
  // the live port mappings); a different config is an error naming the first
  // difference. A failed Init leaves the driver uninitialised and removes a
  // bridge it created.
  absl::StatusOr<NetworkDriverStatus> Init(const NetworkDriverConfig& config);

  // An address (the requested one, or the next free one) and a MAC
  // (requested, or 02:42:<ip>) for container `id`. A second allocation for
  // the same id is an error naming it.
  //
  // With a namespace it also creates the veth pair (net::ConnectContainer):
  // the host end, named "veth" + 7 random hex digits not used by another
  // record, on the bridge and up; eth0 in the namespace with the MAC, the
  // address with the bridge's prefix, the bridge's MTU, up, and the default
  // route via the bridge. All or nothing: a failure leaves no veth, no
  // address taken and no record. Errors, beyond the allocation's:
  //   NetNs: '<path>' is not a network namespace: <reason>
  //   NetNs: '<path>' is the network driver's own namespace: a container
  //     needs a namespace of its own
  //   connecting container <id> to <bridge>: <what failed>
  absl::StatusOr<ContainerInterface> AllocateInterface(
      absl::string_view id, const InterfaceRequest& request);

  // Unmaps the container's ports, deletes its host veth if it still exists
  // (gone with the container's namespace is not an error), releases its
  // address, drops its record. If the rules or the veth cannot be removed
  // the record stays and the error is returned, so that a retry finishes.
  //
  // `namespace_exited`: the caller knows the container's network namespace
  // has lost its last process. The kernel then deletes the veth pair itself
  // when it tears the namespace down, off the caller's path; deleting it here
  // would hold the caller for the kernel's RCU grace periods (~15 ms a pair).
  absl::Status ReleaseInterface(absl::string_view id,
                                bool namespace_exited = false);

  // Maps (or reserves) a host port to the container's address.
  absl::StatusOr<net::PortMapping> AllocatePort(absl::string_view id,
                                                const PortRequest& request);

  // Writes or removes link rules; with iptables disabled there is nothing
  // to write and it succeeds. The pairs written and not yet deleted are
  // remembered, so that Shutdown can remove them.
  absl::Status Link(const net::LinkRequest& request);

  // Releases every port mapping with its rules and proxy, removes the link
  // rules still in place and the host veths still there, stops the proxy
  // thread, drops every record; the driver is uninitialised afterwards.
  // Idempotent. The bridge and the fixed rules stay (the next start
  // reconciles them). An error (rules that could not be removed) is
  // returned after everything else has been released.
  absl::Status Shutdown();

  bool initialized() const;
  // The interface of `id`, if allocated.
  std::optional<ContainerInterface> Interface(absl::string_view id) const;
  // Port mappings and reservations, for tests and diagnostics.
  std::vector<net::PortMapping> Mappings() const;

 private:
  using LinkKey = std::tuple<uint32_t, uint32_t, int, uint16_t>;

  // Everything Init builds; present exactly while initialised.
  struct Running {
    NetworkDriverConfig config;
    NetworkDriverStatus status;
    std::unique_ptr<net::Netlink> netlink;
    // The driver's own namespace, which no container may be given; absent
    // when it could not be opened (no /proc), and then not checked.
    std::optional<net::Netns> own_netns;
    std::unique_ptr<net::IpAllocator> ips;
    // Declared before the mapper, which refers to them.
    std::unique_ptr<net::PortAllocator> ports;
    std::unique_ptr<net::ProxyServer> proxy;
    // Null when iptables is disabled.
    std::unique_ptr<net::Firewall> firewall;
    std::unique_ptr<net::PortMapper> mapper;
    absl::flat_hash_map<std::string, ContainerInterface> containers;
    // Link rule pairs in place: (parent, child, proto, port) → copies.
    absl::flat_hash_map<LinkKey, int> links;
  };

  absl::StatusOr<std::unique_ptr<Running>> Start(
      const NetworkDriverConfig& config);
  absl::Status ShutdownLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Opens a container's namespace file and refuses the driver's own.
  absl::StatusOr<net::Netns> OpenContainerNetnsLocked(absl::string_view path)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Wires `iface` into `netns` with a host veth name no record uses;
  // sets iface.host_veth.
  absl::Status ConnectLocked(absl::string_view id, const net::Netns& netns,
                             ContainerInterface& iface)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool HostVethRecordedLocked(absl::string_view name) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const NetworkDriverOptions options_;
  mutable absl::Mutex mu_;
  std::unique_ptr<Running> running_ ABSL_GUARDED_BY(mu_);
};

// The first field in which `a` and `b` differ, as
// `BridgeIP is '10.20.0.1/16', was ''` ("" when equal); for the error of a
// second, different init_networkdriver.
std::string DescribeConfigDifference(const NetworkDriverConfig& before,
                                     const NetworkDriverConfig& now);

}  // namespace berth

#endif  // BERTH_HANDLERS_NETWORK_NETWORK_DRIVER_H_
