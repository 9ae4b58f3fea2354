// Backend names, the default, and the factory.

#include "net/firewall.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "net/iptables_firewall.h"
#include "net/nftables_firewall.h"

namespace berth::net {

absl::string_view FirewallBackendName(FirewallBackend backend) {
  return backend == FirewallBackend::kNftables ? "nftables" : "iptables";
}

absl::StatusOr<FirewallBackend> ParseFirewallBackend(absl::string_view text) {
  if (text == "iptables") return FirewallBackend::kIptables;
  if (text == "nftables") return FirewallBackend::kNftables;
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown firewall '", text, "': use iptables or nftables"));
}

FirewallBackend DetectFirewallBackend(std::string* detail) {
  auto say = [&](FirewallBackend b, std::string why) {
    if (detail != nullptr) *detail = std::move(why);
    return b;
  };
  std::string legacy;
  {
    // thread-self: the calling thread's namespace (/proc/net is the
    // process's main thread's).
    std::ifstream names("/proc/thread-self/net/ip_tables_names");
    std::stringstream ss;
    ss << names.rdbuf();
    legacy = std::string(absl::StripAsciiWhitespace(ss.str()));
  }
  int foreign = 0;
  if (absl::StatusOr<std::string> tables = RunNft("list tables\n");
      tables.ok()) {
    for (absl::string_view line : absl::StrSplit(*tables, '\n')) {
      line = absl::StripAsciiWhitespace(line);
      if (line.empty()) continue;
      if (line == absl::StrCat("table ip ", kNftTable)) continue;
      ++foreign;
    }
  }
  if (foreign > 0 && legacy.empty()) {
    return say(FirewallBackend::kNftables,
               absl::StrCat("nf_tables holds ", foreign,
                            " other table(s) and no legacy iptables table is "
                            "loaded"));
  }
  if (!legacy.empty()) {
    return say(FirewallBackend::kIptables,
               "legacy iptables tables are loaded (/proc/net/ip_tables_names)");
  }
  return say(FirewallBackend::kIptables,
             "neither iptables nor nftables is in use; iptables by default");
}

absl::StatusOr<std::unique_ptr<Firewall>> MakeFirewall(
    FirewallBackend backend, const FirewallConfig& config) {
  if (backend == FirewallBackend::kNftables) {
    return NewNftablesFirewall(config);
  }
  return NewIptablesFirewall(config);
}

}  // namespace berth::net
