// The network driver's state and its operations (see network_driver.h).

#include "handlers/network/network_driver.h"

#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/log.h"
#include "net/resolv_conf.h"

namespace berth {
namespace {

constexpr int kFallbackMtu = 1500;
// Draws of a host veth name before giving up; with 16^7 names a second draw
// is already rare.
constexpr int kHostVethAttempts = 8;

std::string OptionalNetwork(const std::optional<net::Ipv4Network>& n) {
  return n.has_value() ? n->ToString() : "";
}

const char* Bool(bool b) { return b ? "true" : "false"; }

// Deletes the host veth of every record that has one; the first error,
// after trying them all.
absl::Status DisconnectAll(
    net::Netlink& netlink,
    const absl::flat_hash_map<std::string, ContainerInterface>& containers) {
  absl::Status first;
  for (const auto& [id, iface] : containers) {
    if (iface.host_veth.empty()) continue;
    absl::Status s = net::DisconnectContainer(netlink, iface.host_veth);
    if (!s.ok() && first.ok()) {
      first =
          absl::Status(s.code(), absl::StrCat("removing ", iface.host_veth,
                                              " of ", id, ": ", s.message()));
    }
  }
  return first;
}

}  // namespace

std::string DescribeConfigDifference(const NetworkDriverConfig& before,
                                     const NetworkDriverConfig& now) {
  auto differ = [](absl::string_view key, const std::string& was,
                   const std::string& is) {
    return absl::StrCat(key, " is '", is, "', was '", was, "'");
  };
  if (before.bridge != now.bridge) {
    return differ("BridgeIface", before.bridge, now.bridge);
  }
  if (before.user_named_bridge != now.user_named_bridge) {
    return absl::StrCat("BridgeIface '", now.bridge, "' is ",
                        now.user_named_bridge ? "" : "not ",
                        "user-named now");
  }
  if (before.bridge_ip != now.bridge_ip) {
    return differ("BridgeIP", OptionalNetwork(before.bridge_ip),
                  OptionalNetwork(now.bridge_ip));
  }
  if (before.fixed_cidr != now.fixed_cidr) {
    return differ("FixedCIDR", OptionalNetwork(before.fixed_cidr),
                  OptionalNetwork(now.fixed_cidr));
  }
  if (before.mtu != now.mtu) {
    return differ("Mtu", absl::StrCat(before.mtu), absl::StrCat(now.mtu));
  }
  if (before.enable_iptables != now.enable_iptables) {
    return differ("EnableIptables", Bool(before.enable_iptables),
                  Bool(now.enable_iptables));
  }
  if (before.firewall_backend != now.firewall_backend) {
    auto name = [](const std::optional<net::FirewallBackend>& b) {
      return b.has_value() ? std::string(net::FirewallBackendName(*b))
                           : std::string();
    };
    return differ("Firewall", name(before.firewall_backend),
                  name(now.firewall_backend));
  }
  if (before.icc != now.icc) {
    return differ("InterContainerCommunication", Bool(before.icc),
                  Bool(now.icc));
  }
  if (before.ip_forward != now.ip_forward) {
    return differ("EnableIpForward", Bool(before.ip_forward),
                  Bool(now.ip_forward));
  }
  if (before.ip_masq != now.ip_masq) {
    return differ("EnableIpMasq", Bool(before.ip_masq), Bool(now.ip_masq));
  }
  if (before.default_binding_ip != now.default_binding_ip) {
    return differ("DefaultBindingIP", before.default_binding_ip.ToString(),
                  now.default_binding_ip.ToString());
  }
  return "";
}

NetworkDriver::NetworkDriver(NetworkDriverOptions options)
    : options_(std::move(options)) {}

NetworkDriver::~NetworkDriver() {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = ShutdownLocked(); !s.ok()) {
    spdlog::warn("network driver: releasing port mappings at exit: {}", s);
  }
}

bool NetworkDriver::initialized() const {
  absl::MutexLock lock(&mu_);
  return running_ != nullptr;
}

absl::StatusOr<NetworkDriverStatus> NetworkDriver::Init(
    const NetworkDriverConfig& config) {
  absl::MutexLock lock(&mu_);
  if (running_ != nullptr) {
    std::string diff = DescribeConfigDifference(running_->config, config);
    if (diff.empty()) return running_->status;
    return absl::FailedPreconditionError(absl::StrCat(
        "network driver already initialized with a different configuration (",
        diff, "): run shutdown_networkdriver first"));
  }
  absl::StatusOr<std::unique_ptr<Running>> started = Start(config);
  if (!started.ok()) return started.status();
  running_ = *std::move(started);
  return running_->status;
}

absl::StatusOr<std::unique_ptr<NetworkDriver::Running>> NetworkDriver::Start(
    const NetworkDriverConfig& config) {
  if (!config.enable_iptables && !config.icc) {
    return absl::InvalidArgumentError(
        "You specified --iptables=false with --icc=false. ICC uses iptables "
        "to function. Please set --icc or --iptables to true.");
  }
  if (absl::Status s = net::ValidateInterfaceName(config.bridge); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("BridgeIface: ", s.message()));
  }
  if (options_.dynamic_port_begin == 0 ||
      options_.dynamic_port_begin > options_.dynamic_port_end) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid dynamic port range ", options_.dynamic_port_begin,
                     "-", options_.dynamic_port_end));
  }
  auto run = std::make_unique<Running>();
  run->config = config;
  NetworkDriverStatus& status = run->status;

  // Everything that can fail without changing the host comes first.
  std::vector<std::string> nameservers;
  absl::StatusOr<std::vector<std::string>> read =
      net::ReadNameservers(options_.resolv_conf_path);
  if (read.ok()) {
    nameservers = *std::move(read);
  } else if (!absl::IsNotFound(read.status())) {
    return absl::Status(read.status().code(),
                        absl::StrCat("reading nameservers from ",
                                     options_.resolv_conf_path, ": ",
                                     read.status().message()));
  }
  absl::StatusOr<std::unique_ptr<net::Netlink>> netlink = net::Netlink::Open();
  if (!netlink.ok()) return netlink.status();
  run->netlink = *std::move(netlink);
  if (absl::StatusOr<net::Netns> own = net::Netns::Current(); own.ok()) {
    run->own_netns = *std::move(own);
  }
  int mtu = config.mtu;
  if (mtu == 0) {
    absl::StatusOr<int> route_mtu = run->netlink->DefaultRouteMtu();
    if (route_mtu.ok()) {
      mtu = *route_mtu;
    } else {
      mtu = kFallbackMtu;
      if (!absl::IsNotFound(route_mtu.status())) {
        status.warnings.push_back(
            absl::StrCat("MTU of the default route unknown (",
                         route_mtu.status().message(), "); using ", mtu));
      }
    }
  }
  run->ports = std::make_unique<net::PortAllocator>(
      options_.dynamic_port_begin, options_.dynamic_port_end);
  if (options_.userland_proxy) {
    absl::StatusOr<std::unique_ptr<net::ProxyServer>> proxy =
        net::ProxyServer::Start(options_.proxy);
    if (!proxy.ok()) return proxy.status();
    run->proxy = *std::move(proxy);
  }

  // The bridge.
  net::BridgeOptions bridge_options;
  bridge_options.name = config.bridge;
  bridge_options.user_named = config.user_named_bridge;
  bridge_options.bridge_ip = config.bridge_ip;
  bridge_options.mtu = mtu;
  bridge_options.nameservers = nameservers;
  absl::StatusOr<net::BridgeSetup> bridge =
      net::SetUpBridge(*run->netlink, bridge_options);
  if (!bridge.ok()) return bridge.status();
  status.bridge = bridge->name;
  status.address = bridge->address;
  status.fixed_cidr = config.fixed_cidr;
  status.bridge_created = bridge->created;
  status.notes = bridge->notes;
  // From here on a failure removes a bridge this start created.
  auto fail = [&](absl::Status s) -> absl::Status {
    if (status.bridge_created) {
      if (absl::Status d = run->netlink->DeleteLink(status.bridge); !d.ok()) {
        return absl::Status(s.code(),
                            absl::StrCat(s.message(), "; removing bridge ",
                                         status.bridge, " also failed: ",
                                         d.message()));
      }
    }
    return s;
  };
  absl::StatusOr<net::LinkInfo> link = run->netlink->GetLink(status.bridge);
  if (!link.ok()) return fail(link.status());
  status.mtu = link->mtu;

  absl::StatusOr<net::IpAllocator> ips =
      net::IpAllocator::Create(status.address, config.fixed_cidr);
  if (!ips.ok()) return fail(ips.status());
  run->ips = std::make_unique<net::IpAllocator>(*std::move(ips));

  // The firewall, reconciling whatever a crashed run left.
  if (config.enable_iptables) {
    net::FirewallConfig firewall;
    firewall.bridge = status.bridge;
    firewall.network = status.address;
    firewall.icc = config.icc;
    firewall.ip_masq = config.ip_masq;
    firewall.keep_port_rules = config.live_restore;
    net::FirewallBackend backend;
    if (config.firewall_backend.has_value()) {
      backend = *config.firewall_backend;
      status.firewall_reason = "chosen by the configuration (Firewall)";
    } else {
      backend = net::DetectFirewallBackend(&status.firewall_reason);
    }
    status.firewall_backend = backend;
    absl::StatusOr<std::unique_ptr<net::Firewall>> made =
        net::MakeFirewall(backend, firewall);
    if (!made.ok()) return fail(made.status());
    run->firewall = *std::move(made);
    absl::StatusOr<net::FirewallReport> report = run->firewall->SetUp();
    if (!report.ok()) {
      // One table may have been committed before the other failed; take
      // out what there is of this configuration, so that a next start with
      // another network does not inherit its MASQUERADE.
      if (absl::Status t = run->firewall->TearDown(); !t.ok()) {
        spdlog::warn("network driver: undoing a failed firewall set-up: {}",
                     t);
      }
      return fail(report.status());
    }
    status.firewall = *report;
  }
  net::PortMapperOptions mapper_options;
  mapper_options.bridge = config.bridge;
  mapper_options.enable_iptables = config.enable_iptables;
  mapper_options.firewall = run->firewall.get();
  mapper_options.proxy = run->proxy.get();
  mapper_options.allocator = run->ports.get();
  absl::StatusOr<std::unique_ptr<net::PortMapper>> mapper =
      net::PortMapper::Create(mapper_options);
  if (!mapper.ok()) return fail(mapper.status());
  run->mapper = *std::move(mapper);

  if (config.ip_forward) {
    absl::Status s = net::EnableIpForward(options_.ip_forward_path);
    status.ip_forward_enabled = s.ok();
    if (!s.ok()) {
      status.warnings.push_back(
          absl::StrCat("could not enable IP forwarding (",
                       options_.ip_forward_path, "): ", s.message(),
                       "; containers may not reach other networks"));
    }
  }
  for (const std::string& note : status.notes) {
    spdlog::info("network driver: {}", note);
  }
  for (const std::string& warning : status.warnings) {
    spdlog::warn("network driver: {}", warning);
  }
  return run;
}

absl::StatusOr<ContainerInterface> NetworkDriver::AllocateInterface(
    absl::string_view id, const InterfaceRequest& request) {
  absl::MutexLock lock(&mu_);
  if (running_ == nullptr) {
    return absl::FailedPreconditionError(kNotInitialized);
  }
  if (auto it = running_->containers.find(id);
      it != running_->containers.end()) {
    return absl::AlreadyExistsError(absl::StrCat(
        "container ", id, " already has a network interface (IP ",
        it->second.ip.ToString(), "): release_interface it first"));
  }
  // The namespace is checked before anything is taken.
  std::optional<net::Netns> netns;
  if (!request.netns_path.empty()) {
    absl::StatusOr<net::Netns> opened =
        OpenContainerNetnsLocked(request.netns_path);
    if (!opened.ok()) return opened.status();
    netns = *std::move(opened);
  }
  absl::StatusOr<net::Ipv4Address> ip =
      request.ip.has_value() ? running_->ips->Request(*request.ip)
                             : running_->ips->Allocate();
  if (!ip.ok()) return ip.status();
  ContainerInterface iface;
  iface.ip = *ip;
  iface.mac = request.mac.value_or(net::MacAddress::FromIpv4(*ip));
  iface.network = running_->status.address;
  iface.bridge = running_->status.bridge;
  if (netns.has_value()) {
    if (absl::Status s = ConnectLocked(id, *netns, iface); !s.ok()) {
      running_->ips->Release(iface.ip);
      return s;
    }
  }
  running_->containers.emplace(std::string(id), iface);
  return iface;
}

absl::StatusOr<net::Netns> NetworkDriver::OpenContainerNetnsLocked(
    absl::string_view path) {
  absl::StatusOr<net::Netns> netns = net::Netns::Open(path);
  if (!netns.ok()) {
    return absl::Status(netns.status().code(),
                        absl::StrCat("NetNs: ", netns.status().message()));
  }
  // eth0 and a default route in the driver's own namespace would be the
  // host's: refuse before anything is made.
  if (running_->own_netns.has_value() && netns->SameAs(*running_->own_netns)) {
    return absl::InvalidArgumentError(
        absl::StrCat("NetNs: '", path,
                     "' is the network driver's own namespace: a container "
                     "needs a namespace of its own"));
  }
  return netns;
}

absl::Status NetworkDriver::ConnectLocked(absl::string_view id,
                                          const net::Netns& netns,
                                          ContainerInterface& iface) {
  net::ContainerLinkConfig link;
  link.bridge = iface.bridge;
  link.mtu = running_->status.mtu;
  absl::StatusOr<net::Ipv4Network> address =
      net::Ipv4Network::Create(iface.ip, iface.network.prefix_length());
  if (!address.ok()) return address.status();
  link.address = *address;
  link.gateway = iface.network.address();
  link.mac = iface.mac;
  absl::Status s;
  for (int attempt = 0; attempt < kHostVethAttempts; ++attempt) {
    std::string name = net::RandomHostVethName();
    // A record's veth may be gone with its namespace; its name stays
    // reserved, so that its release never deletes somebody else's.
    if (HostVethRecordedLocked(name)) continue;
    s = net::ConnectContainer(*running_->netlink, netns, name, link);
    if (s.ok()) {
      iface.host_veth = name;
      return s;
    }
    // Only the host end's name can be taken (ConnectContainer checks eth0
    // first): draw another.
    if (!absl::IsAlreadyExists(s)) break;
  }
  if (s.ok()) s = absl::ResourceExhaustedError("no free host veth name");
  return absl::Status(s.code(), absl::StrCat("connecting container ", id,
                                             " to ", iface.bridge, ": ",
                                             s.message()));
}

bool NetworkDriver::HostVethRecordedLocked(absl::string_view name) const {
  for (const auto& [id, iface] : running_->containers) {
    if (iface.host_veth == name) return true;
  }
  return false;
}

absl::Status NetworkDriver::ReleaseInterface(absl::string_view id,
                                             bool namespace_exited) {
  absl::MutexLock lock(&mu_);
  if (running_ == nullptr) {
    return absl::FailedPreconditionError(kNotInitialized);
  }
  auto it = running_->containers.find(id);
  if (it == running_->containers.end()) {
    return absl::NotFoundError(
        absl::StrCat("No network information to release for ", id));
  }
  // When the rules or the veth cannot be removed the record stays, so a
  // retry can finish the job.
  if (absl::Status s = running_->mapper->UnmapOwner(id); !s.ok()) {
    return absl::Status(s.code(),
                        absl::StrCat("releasing the ports of ", id, ": ",
                                     s.message()));
  }
  if (!it->second.host_veth.empty() && !namespace_exited) {
    absl::Status s =
        net::DisconnectContainer(*running_->netlink, it->second.host_veth);
    if (!s.ok()) {
      return absl::Status(s.code(), absl::StrCat("removing ",
                                                 it->second.host_veth, " of ",
                                                 id, ": ", s.message()));
    }
  }
  running_->ips->Release(it->second.ip);
  running_->containers.erase(it);
  return absl::OkStatus();
}

absl::StatusOr<net::PortMapping> NetworkDriver::AllocatePort(
    absl::string_view id, const PortRequest& request) {
  absl::MutexLock lock(&mu_);
  if (running_ == nullptr) {
    return absl::FailedPreconditionError(kNotInitialized);
  }
  auto it = running_->containers.find(id);
  if (it == running_->containers.end()) {
    return absl::NotFoundError(
        absl::StrCat("no network interface for container ", id,
                     ": run allocate_interface first"));
  }
  if (request.container_port == 0) {
    return absl::InvalidArgumentError("invalid container port 0");
  }
  net::Ipv4Address host_ip =
      request.host_ip.value_or(running_->config.default_binding_ip);
  if (request.reserve_only || request.adopt) {
    net::PortMapping m;
    m.owner = std::string(id);
    m.proto = request.proto;
    m.host_ip = host_ip;
    m.host_port = request.host_port;
    m.container_ip = it->second.ip;
    m.container_port = request.container_port;
    absl::Status s = request.adopt ? running_->mapper->Adopt(m)
                                   : running_->mapper->Reserve(m);
    if (!s.ok()) return s;
    m.active = request.adopt;
    return m;
  }
  net::PortMapper::MapRequest map;
  map.owner = std::string(id);
  map.proto = request.proto;
  map.host_ip = host_ip;
  map.host_port = request.host_port;
  map.container_ip = it->second.ip;
  map.container_port = request.container_port;
  return running_->mapper->Map(map);
}

absl::Status NetworkDriver::Link(const net::LinkRequest& request) {
  absl::MutexLock lock(&mu_);
  if (running_ == nullptr) {
    return absl::FailedPreconditionError(kNotInitialized);
  }
  if (running_->firewall == nullptr) return absl::OkStatus();
  if (absl::Status s =
          running_->firewall->ApplyLinks(absl::MakeConstSpan(&request, 1));
      !s.ok()) {
    return s;
  }
  for (const net::PortProto& p : request.ports) {
    LinkKey key{request.parent.ToUint32(), request.child.ToUint32(),
                static_cast<int>(p.proto), p.port};
    if (request.action != net::LinkAction::kDelete) {
      ++running_->links[key];
    } else if (auto it = running_->links.find(key);
               it != running_->links.end() && --it->second == 0) {
      running_->links.erase(it);
    }
  }
  return absl::OkStatus();
}

absl::Status NetworkDriver::Shutdown() {
  absl::MutexLock lock(&mu_);
  return ShutdownLocked();
}

absl::Status NetworkDriver::ShutdownLocked() {
  if (running_ == nullptr) return absl::OkStatus();
  std::unique_ptr<Running> run = std::move(running_);
  if (run->config.live_restore) {
    // The containers outlive berthd, and their rules with them.
    run->mapper->ForgetAll();
    run->mapper.reset();
    if (run->proxy != nullptr) run->proxy->Stop();
    return absl::OkStatus();
  }
  absl::Status s = run->mapper->UnmapAll();
  if (!s.ok()) {
    s = absl::Status(s.code(),
                     absl::StrCat("releasing port mappings: ", s.message()));
  }
  // Whatever cannot be removed now, the next start's reconciliation will;
  // the proxies, ports and records go either way.
  run->mapper.reset();
  if (run->proxy != nullptr) run->proxy->Stop();
  // One delete request per (parent, child), each copy of a pair once.
  std::map<std::pair<uint32_t, uint32_t>, net::LinkRequest> links;
  for (const auto& [key, copies] : run->links) {
    const auto& [parent, child, proto, port] = key;
    net::LinkRequest& request = links[{parent, child}];
    request.action = net::LinkAction::kDelete;
    request.parent = net::Ipv4Address::FromUint32(parent);
    request.child = net::Ipv4Address::FromUint32(child);
    request.ignore_errors = true;
    for (int i = 0; i < copies; ++i) {
      request.ports.push_back({port, static_cast<net::Proto>(proto)});
    }
  }
  // All of them in one commit.
  std::vector<net::LinkRequest> requests;
  for (auto& [pair, request] : links) requests.push_back(std::move(request));
  if (run->firewall != nullptr && !requests.empty()) {
    absl::Status l = run->firewall->ApplyLinks(requests);
    if (!l.ok() && s.ok()) {
      s = absl::Status(l.code(),
                       absl::StrCat("removing link rules: ", l.message()));
    }
  }
  if (absl::Status v = DisconnectAll(*run->netlink, run->containers);
      !v.ok() && s.ok()) {
    s = v;
  }
  return s;
}

std::optional<ContainerInterface> NetworkDriver::Interface(
    absl::string_view id) const {
  absl::MutexLock lock(&mu_);
  if (running_ == nullptr) return std::nullopt;
  auto it = running_->containers.find(id);
  if (it == running_->containers.end()) return std::nullopt;
  return it->second;
}

std::vector<net::PortMapping> NetworkDriver::Mappings() const {
  absl::MutexLock lock(&mu_);
  if (running_ == nullptr) return {};
  return running_->mapper->Mappings();
}

}  // namespace berth
