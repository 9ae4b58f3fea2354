// net::Firewall over libiptc.

#include "net/iptables_firewall.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "net/berth_rules.h"
#include "net/iptables.h"
#include "net/link_rules.h"
#include "net/validate.h"

namespace berth::net {
namespace {

class IptablesFirewall : public Firewall {
 public:
  explicit IptablesFirewall(FirewallConfig config)
      : config_(std::move(config)) {}

  FirewallBackend backend() const override {
    return FirewallBackend::kIptables;
  }

  absl::StatusOr<FirewallReport> SetUp() override {
    return SetUpFirewall(config_);
  }

  absl::Status TearDown() override { return TearDownFirewall(config_); }

  absl::Status AddPorts(absl::Span<const PublishedPort> ports) override {
    if (ports.empty()) return absl::OkStatus();
    std::vector<Rule> nat;
    std::vector<Rule> filter;
    for (const PublishedPort& p : ports) {
      for (Rule& r : NatRules(p)) nat.push_back(std::move(r));
      filter.push_back(FilterRule(p));
    }
    absl::Status s =
        ApplyIptables(Table::kNat, [&](IptablesBatch& b) -> absl::Status {
          for (const Rule& r : nat) {
            if (absl::Status s = b.Append(r); !s.ok()) return s;
          }
          return absl::OkStatus();
        });
    if (!s.ok()) return s;
    s = ApplyIptables(Table::kFilter, [&](IptablesBatch& b) -> absl::Status {
      for (const Rule& r : filter) {
        if (absl::Status s = b.Append(r); !s.ok()) return s;
      }
      return absl::OkStatus();
    });
    if (s.ok()) return s;
    // Take the nat half out again; one copy each, the ones just added.
    absl::Status undo =
        ApplyIptables(Table::kNat, [&](IptablesBatch& b) -> absl::Status {
          for (const Rule& r : nat) {
            if (absl::StatusOr<bool> d = b.DeleteIfPresent(r); !d.ok()) {
              return d.status();
            }
          }
          return absl::OkStatus();
        });
    if (!undo.ok()) {
      return absl::Status(
          s.code(), absl::StrCat(s.message(),
                                 "; removing its nat rules also failed: ",
                                 undo.message()));
    }
    return s;
  }

  // SetUp with keep_port_rules left their rules in place.
  absl::Status AdoptPorts(absl::Span<const PublishedPort>) override {
    return absl::OkStatus();
  }

  absl::Status RemovePorts(absl::Span<const PublishedPort> ports) override {
    if (ports.empty()) return absl::OkStatus();
    // A rule that is already gone (someone flushed the chain) is fine: the
    // goal is that it is not there.
    absl::Status s =
        ApplyIptables(Table::kNat, [&](IptablesBatch& b) -> absl::Status {
          for (const PublishedPort& p : ports) {
            for (const Rule& r : NatRules(p)) {
              if (absl::StatusOr<bool> d = b.DeleteIfPresent(r); !d.ok()) {
                return d.status();
              }
            }
          }
          return absl::OkStatus();
        });
    if (!s.ok()) return s;
    return ApplyIptables(Table::kFilter, [&](IptablesBatch& b) -> absl::Status {
      for (const PublishedPort& p : ports) {
        if (absl::StatusOr<bool> d = b.DeleteIfPresent(FilterRule(p));
            !d.ok()) {
          return d.status();
        }
      }
      return absl::OkStatus();
    });
  }

  absl::Status ApplyLinks(absl::Span<const LinkRequest> requests) override {
    return ApplyLinkRules(config_.bridge, requests, config_.chain);
  }

 private:
  std::vector<Rule> NatRules(const PublishedPort& p) const {
    return {PortDnatRule(p.proto, p.host_ip, p.host_port, config_.bridge,
                         p.container_ip, p.container_port, config_.chain),
            PortHairpinRule(p.proto, p.container_ip, p.container_port)};
  }
  Rule FilterRule(const PublishedPort& p) const {
    return PortAcceptRule(p.proto, config_.bridge, p.container_ip,
                          p.container_port, config_.chain);
  }

  const FirewallConfig config_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Firewall>> NewIptablesFirewall(
    const FirewallConfig& config) {
  if (absl::Status s = ValidateInterfaceName(config.bridge); !s.ok()) return s;
  if (absl::Status s = ValidateChainName(config.chain); !s.ok()) return s;
  return std::unique_ptr<Firewall>(new IptablesFirewall(config));
}

}  // namespace berth::net
