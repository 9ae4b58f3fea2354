// Port mapping: allocation, userland proxy and the three rules, all or
// nothing.

#include "net/port_mapper.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace berth::net {
namespace {

std::string Describe(Proto proto, Ipv4Address ip, uint16_t port) {
  return absl::StrCat(ProtoName(proto), " ", ip.ToString(), ":", port);
}

PublishedPort Published(const PortMapping& m) {
  return PublishedPort{m.proto, m.host_ip, m.host_port, m.container_ip,
                       m.container_port};
}

}  // namespace

absl::StatusOr<std::unique_ptr<PortMapper>> PortMapper::Create(
    PortMapperOptions options) {
  if (absl::Status s = ValidateInterfaceName(options.bridge); !s.ok()) return s;
  if (absl::Status s = ValidateChainName(options.chain); !s.ok()) return s;
  if (options.allocator == nullptr) {
    return absl::InvalidArgumentError("port mapper needs a port allocator");
  }
  std::unique_ptr<Firewall> owned;
  Firewall* firewall = options.firewall;
  if (options.enable_iptables && firewall == nullptr) {
    FirewallConfig config;
    config.bridge = options.bridge;
    config.chain = options.chain;
    absl::StatusOr<std::unique_ptr<Firewall>> made =
        MakeFirewall(FirewallBackend::kIptables, config);
    if (!made.ok()) return made.status();
    owned = *std::move(made);
    firewall = owned.get();
  }
  if (!options.enable_iptables) firewall = nullptr;
  auto mapper = std::unique_ptr<PortMapper>(new PortMapper(std::move(options)));
  mapper->firewall_ = firewall;
  mapper->owned_firewall_ = std::move(owned);
  return mapper;
}

absl::StatusOr<PortMapping> PortMapper::Map(const MapRequest& request) {
  if (request.container_port == 0) {
    return absl::InvalidArgumentError("invalid container port 0");
  }
  if (request.container_ip.IsUnspecified()) {
    return absl::InvalidArgumentError("invalid container ip 0.0.0.0");
  }
  absl::MutexLock lock(&mu_);
  absl::Status last;
  int attempts = request.host_port == 0 ? kDynamicAttempts : 1;
  for (int attempt = 0; attempt < attempts; ++attempt) {
    // 1. The host port, or the owner's own reservation of it.
    bool reserved = false;
    uint16_t port = request.host_port;
    if (port != 0) {
      auto it = entries_.find(KeyOf(request.proto, request.host_ip, port));
      if (it != entries_.end() && !it->second.mapping.active &&
          it->second.mapping.owner == request.owner) {
        reserved = true;
      }
    }
    if (!reserved) {
      absl::StatusOr<uint16_t> got =
          options_.allocator->Request(request.host_ip, request.proto, port);
      if (!got.ok()) return got.status();
      port = *got;
    }
    PortMapping m;
    m.owner = request.owner;
    m.proto = request.proto;
    m.host_ip = request.host_ip;
    m.host_port = port;
    m.container_ip = request.container_ip;
    m.container_port = request.container_port;
    m.active = true;
    auto give_back = [&] {
      if (!reserved) {
        options_.allocator->Release(m.host_ip, m.proto, m.host_port);
      }
    };

    // 2. The userland proxy.
    absl::StatusOr<std::optional<ProxyServer::ProxyId>> started = StartProxy(m);
    if (!started.ok()) {
      give_back();
      last = started.status();
      // Only a dynamic port is worth another try.
      if (request.host_port == 0 && absl::IsAlreadyExists(last)) continue;
      return last;
    }
    std::optional<ProxyServer::ProxyId> proxy = *started;

    // 3 and 4. The rules.
    if (firewall_ != nullptr) {
      if (absl::Status s = firewall_->AddPort(Published(m)); !s.ok()) {
        if (proxy.has_value()) options_.proxy->Remove(*proxy).IgnoreError();
        give_back();
        return s;
      }
    }
    entries_[KeyOf(m.proto, m.host_ip, m.host_port)] = Entry{m, proxy};
    return m;
  }
  return last;
}

absl::Status PortMapper::UnmapKeys(const std::vector<Key>& keys) {
  std::vector<PublishedPort> active;
  for (const Key& k : keys) {
    const Entry& e = entries_.at(k);
    if (e.mapping.active) active.push_back(Published(e.mapping));
  }
  if (firewall_ != nullptr && !active.empty()) {
    if (absl::Status s = firewall_->RemovePorts(active); !s.ok()) return s;
  }
  for (const Key& k : keys) {
    auto it = entries_.find(k);
    const PortMapping& m = it->second.mapping;
    if (it->second.proxy.has_value()) {
      options_.proxy->Remove(*it->second.proxy).IgnoreError();
    }
    options_.allocator->Release(m.host_ip, m.proto, m.host_port);
    entries_.erase(it);
  }
  return absl::OkStatus();
}

absl::Status PortMapper::Unmap(Proto proto, Ipv4Address host_ip,
                               uint16_t host_port) {
  absl::MutexLock lock(&mu_);
  Key k = KeyOf(proto, host_ip, host_port);
  if (!entries_.contains(k)) {
    return absl::NotFoundError(absl::StrCat(
        "no port mapping for ", Describe(proto, host_ip, host_port)));
  }
  return UnmapKeys({k});
}

absl::Status PortMapper::UnmapOwner(absl::string_view owner) {
  absl::MutexLock lock(&mu_);
  std::vector<Key> keys;
  for (const auto& [k, e] : entries_) {
    if (e.mapping.owner == owner) keys.push_back(k);
  }
  return UnmapKeys(keys);
}

absl::Status PortMapper::UnmapAll() {
  absl::MutexLock lock(&mu_);
  std::vector<Key> keys;
  for (const auto& [k, e] : entries_) keys.push_back(k);
  return UnmapKeys(keys);
}

absl::Status PortMapper::Reserve(const PortMapping& mapping) {
  if (mapping.host_port == 0) {
    return absl::InvalidArgumentError(
        "cannot reserve a mapping without a host port");
  }
  absl::MutexLock lock(&mu_);
  absl::StatusOr<uint16_t> got = options_.allocator->Request(
      mapping.host_ip, mapping.proto, mapping.host_port);
  if (!got.ok()) return got.status();
  PortMapping m = mapping;
  m.active = false;
  entries_[KeyOf(m.proto, m.host_ip, m.host_port)] = Entry{m, std::nullopt};
  return absl::OkStatus();
}

absl::StatusOr<std::optional<ProxyServer::ProxyId>> PortMapper::StartProxy(const PortMapping& m) {
  if (options_.proxy == nullptr) return std::optional<ProxyServer::ProxyId>();
  Endpoint front{m.host_ip, m.host_port};
  Endpoint back{m.container_ip, m.container_port};
  absl::StatusOr<ProxyServer::ProxyId> id =
      m.proto == Proto::kTcp ? options_.proxy->AddTcp(front, back) : options_.proxy->AddUdp(front, back);
  if (!id.ok()) return id.status();
  return std::optional<ProxyServer::ProxyId>(*id);
}

absl::Status PortMapper::Adopt(const PortMapping& mapping) {
  if (mapping.host_port == 0) {
    return absl::InvalidArgumentError("cannot adopt a mapping without a host port");
  }
  absl::MutexLock lock(&mu_);
  absl::StatusOr<uint16_t> got = options_.allocator->Request(
      mapping.host_ip, mapping.proto, mapping.host_port);
  if (!got.ok()) return got.status();
  PortMapping m = mapping;
  m.active = true;
  absl::StatusOr<std::optional<ProxyServer::ProxyId>> started = StartProxy(m);
  if (!started.ok()) {
    options_.allocator->Release(m.host_ip, m.proto, m.host_port);
    return started.status();
  }
  std::optional<ProxyServer::ProxyId> proxy = *started;
  if (firewall_ != nullptr) {
    if (absl::Status s = firewall_->AdoptPorts(absl::MakeConstSpan(
            std::vector<PublishedPort>{Published(m)}));
        !s.ok()) {
      if (proxy.has_value()) options_.proxy->Remove(*proxy).IgnoreError();
      options_.allocator->Release(m.host_ip, m.proto, m.host_port);
      return s;
    }
  }
  entries_[KeyOf(m.proto, m.host_ip, m.host_port)] = Entry{m, proxy};
  return absl::OkStatus();
}

void PortMapper::ForgetAll() {
  absl::MutexLock lock(&mu_);
  for (auto& [k, e] : entries_) {
    if (e.proxy.has_value()) options_.proxy->Remove(*e.proxy).IgnoreError();
    options_.allocator->Release(e.mapping.host_ip, e.mapping.proto, e.mapping.host_port);
  }
  entries_.clear();
}

std::vector<PortMapping> PortMapper::Mappings() const {
  absl::MutexLock lock(&mu_);
  std::vector<PortMapping> out;
  for (const auto& [k, e] : entries_) out.push_back(e.mapping);
  return out;
}

}  // namespace berth::net
