// Reconciling berth's chains and fixed rules.

#include "net/bridge_firewall.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "net/iptables.h"
#include "net/validate.h"

namespace berth::net {
namespace {

absl::Status ValidateConfig(const FirewallConfig& config) {
  if (absl::Status s = ValidateInterfaceName(config.bridge); !s.ok()) return s;
  return ValidateChainName(config.chain);
}

// Empties `chain` (creating it when missing) and returns how many rules it
// held.
absl::StatusOr<int> EnsureEmptyChain(IptablesBatch& b, const std::string& chain,
                                     bool* created) {
  absl::StatusOr<bool> made = b.EnsureChain(chain);
  if (!made.ok()) return made.status();
  *created = *made;
  if (*made) return 0;
  absl::StatusOr<std::vector<IptablesBatch::ListedRule>> rules = b.List(chain);
  if (!rules.ok()) return rules.status();
  if (rules->empty()) return 0;
  if (absl::Status s = b.FlushChain(chain); !s.ok()) return s;
  return static_cast<int>(rules->size());
}

// Removes hairpin MASQUERADEs of containers in `network` from POSTROUTING.
absl::StatusOr<int> RemoveHairpinRules(IptablesBatch& b,
                                       const Ipv4Network& network) {
  absl::StatusOr<std::vector<IptablesBatch::ListedRule>> rules =
      b.List("POSTROUTING");
  if (!rules.ok()) return rules.status();
  int removed = 0;
  // Back to front so the indices of the rules still to visit do not move.
  for (int i = static_cast<int>(rules->size()) - 1; i >= 0; --i) {
    const auto& r = (*rules)[static_cast<size_t>(i)].rule;
    if (r.has_value() && IsPortHairpinRule(*r, network)) {
      if (absl::Status s = b.DeleteAt("POSTROUTING", i); !s.ok()) return s;
      ++removed;
    }
  }
  return removed;
}

// Leaves exactly one copy of `rule`, adding it at the end when missing.
absl::Status EnsureOne(IptablesBatch& b, const Rule& rule,
                       FirewallReport* report) {
  absl::StatusOr<int> count = b.Count(rule);
  if (!count.ok()) return count.status();
  for (int i = 1; i < *count; ++i) {
    if (absl::Status s = b.Delete(rule); !s.ok()) return s;
    ++report->duplicates_removed;
  }
  if (*count == 0) {
    if (absl::Status s = b.Append(rule); !s.ok()) return s;
    ++report->rules_added;
  }
  return absl::OkStatus();
}

absl::Status ReconcileNat(const FirewallConfig& config, FirewallReport* report) {
  Rule masq = BridgeMasqueradeRule(config.network, config.bridge);
  Rule prerouting = PreroutingJumpRule(config.chain);
  Rule output = OutputJumpRule(config.chain);
  return ApplyIptables(Table::kNat, [&](IptablesBatch& b) -> absl::Status {
    FirewallReport r;
    if (config.keep_port_rules) {
      absl::StatusOr<bool> made = b.EnsureChain(config.chain);
      if (!made.ok()) return made.status();
      r.nat_chain_created = *made;
    } else {
      absl::StatusOr<int> stale =
          EnsureEmptyChain(b, config.chain, &r.nat_chain_created);
      if (!stale.ok()) return stale.status();
      r.stale_rules_removed += *stale;
      absl::StatusOr<int> hairpins = RemoveHairpinRules(b, config.network);
      if (!hairpins.ok()) return hairpins.status();
      r.stale_rules_removed += *hairpins;
    }

    if (config.ip_masq) {
      absl::StatusOr<int> count = b.Count(masq);
      if (!count.ok()) return count.status();
      if (*count == 0) {
        // At the top, as the reference: before any broader MASQUERADE.
        if (absl::Status s = b.Insert(masq, 1); !s.ok()) return s;
        ++r.rules_added;
      } else if (absl::Status s = EnsureOne(b, masq, &r); !s.ok()) {
        return s;
      }
    } else {
      absl::StatusOr<int> removed = b.DeleteAll(masq);
      if (!removed.ok()) return removed.status();
      r.duplicates_removed += *removed;
    }
    if (absl::Status s = EnsureOne(b, prerouting, &r); !s.ok()) return s;
    if (absl::Status s = EnsureOne(b, output, &r); !s.ok()) return s;
    // Keep only the counts of the attempt that is committed.
    report->nat_chain_created = r.nat_chain_created;
    report->stale_rules_removed += r.stale_rules_removed;
    report->duplicates_removed += r.duplicates_removed;
    report->rules_added += r.rules_added;
    return absl::OkStatus();
  });
}

absl::Status ReconcileFilter(const FirewallConfig& config,
                             FirewallReport* report) {
  // The wanted top of FORWARD, in order.
  std::vector<Rule> head = {ForwardJumpRule(config.bridge, config.chain),
                            EstablishedRule(config.bridge),
                            OutgoingRule(config.bridge),
                            IccRule(config.bridge, config.icc)};
  Rule other_icc = IccRule(config.bridge, !config.icc);
  return ApplyIptables(Table::kFilter, [&](IptablesBatch& b) -> absl::Status {
    FirewallReport r;
    if (config.keep_port_rules) {
      absl::StatusOr<bool> made = b.EnsureChain(config.chain);
      if (!made.ok()) return made.status();
      r.filter_chain_created = *made;
    } else {
      absl::StatusOr<int> stale =
          EnsureEmptyChain(b, config.chain, &r.filter_chain_created);
      if (!stale.ok()) return stale.status();
      r.stale_rules_removed += *stale;
    }

    absl::StatusOr<std::vector<IptablesBatch::ListedRule>> forward =
        b.List("FORWARD");
    if (!forward.ok()) return forward.status();
    bool in_place = forward->size() >= head.size();
    for (size_t i = 0; in_place && i < head.size(); ++i) {
      in_place = (*forward)[i].rule.has_value() &&
                 *(*forward)[i].rule == head[i].Normalized();
    }
    for (size_t i = 0; i < head.size(); ++i) {
      absl::StatusOr<int> count = b.Count(head[i]);
      if (!count.ok()) return count.status();
      int keep = in_place ? 1 : 0;
      if (*count > 1) r.duplicates_removed += *count - 1;
      if (*count == 0) ++r.rules_added;
      if (*count <= keep) continue;
      // Delete from the back so the copy at the head (if kept) survives.
      absl::StatusOr<std::vector<IptablesBatch::ListedRule>> now =
          b.List("FORWARD");
      if (!now.ok()) return now.status();
      int to_delete = *count - keep;
      for (int j = static_cast<int>(now->size()) - 1; j >= 0 && to_delete > 0;
           --j) {
        const auto& rule = (*now)[static_cast<size_t>(j)].rule;
        if (rule.has_value() && *rule == head[i].Normalized()) {
          if (absl::Status s = b.DeleteAt("FORWARD", j); !s.ok()) return s;
          --to_delete;
        }
      }
    }
    absl::StatusOr<int> removed = b.DeleteAll(other_icc);
    if (!removed.ok()) return removed.status();
    r.duplicates_removed += *removed;
    if (!in_place) {
      for (size_t i = 0; i < head.size(); ++i) {
        if (absl::Status s = b.Insert(head[i], static_cast<int>(i) + 1);
            !s.ok()) {
          return s;
        }
      }
    }
    report->filter_chain_created = r.filter_chain_created;
    report->stale_rules_removed += r.stale_rules_removed;
    report->duplicates_removed += r.duplicates_removed;
    report->rules_added += r.rules_added;
    return absl::OkStatus();
  });
}

// Deletes `chain` after flushing it, when it exists.
absl::Status RemoveChain(IptablesBatch& b, const std::string& chain) {
  if (!b.ChainExists(chain)) return absl::OkStatus();
  if (absl::Status s = b.FlushChain(chain); !s.ok()) return s;
  return b.DeleteChain(chain);
}

}  // namespace

absl::StatusOr<FirewallReport> SetUpFirewall(const FirewallConfig& config) {
  if (absl::Status s = ValidateConfig(config); !s.ok()) return s;
  FirewallReport report;
  if (absl::Status s = ReconcileNat(config, &report); !s.ok()) return s;
  if (absl::Status s = ReconcileFilter(config, &report); !s.ok()) return s;
  return report;
}

absl::Status TearDownFirewall(const FirewallConfig& config) {
  if (absl::Status s = ValidateConfig(config); !s.ok()) return s;
  absl::Status nat = ApplyIptables(Table::kNat, [&](IptablesBatch& b) -> absl::Status {
    for (const Rule& rule :
         {BridgeMasqueradeRule(config.network, config.bridge)}) {
      if (auto n = b.DeleteAll(rule); !n.ok()) return n.status();
    }
    if (auto n = RemoveHairpinRules(b, config.network); !n.ok()) {
      return n.status();
    }
    if (b.ChainExists(config.chain)) {
      for (const Rule& rule :
           {PreroutingJumpRule(config.chain), OutputJumpRule(config.chain)}) {
        if (auto n = b.DeleteAll(rule); !n.ok()) return n.status();
      }
    }
    return RemoveChain(b, config.chain);
  });
  absl::Status filter = ApplyIptables(Table::kFilter, [&](IptablesBatch& b) -> absl::Status {
    std::vector<Rule> rules = {EstablishedRule(config.bridge),
                               OutgoingRule(config.bridge),
                               IccRule(config.bridge, true),
                               IccRule(config.bridge, false)};
    if (b.ChainExists(config.chain)) {
      rules.push_back(ForwardJumpRule(config.bridge, config.chain));
    }
    for (const Rule& rule : rules) {
      if (auto n = b.DeleteAll(rule); !n.ok()) return n.status();
    }
    return RemoveChain(b, config.chain);
  });
  if (!nat.ok()) return nat;
  return filter;
}

absl::Status EnableIpForward(const std::string& path) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot enable IPv4 forwarding: open ", path, ": ", strerror(errno)));
  }
  ssize_t n = write(fd, "1\n", 2);
  int err = errno;
  close(fd);
  if (n != 2) {
    return absl::UnavailableError(absl::StrCat(
        "cannot enable IPv4 forwarding: write ", path, ": ", strerror(err)));
  }
  return absl::OkStatus();
}

}  // namespace berth::net
