#include "daemon/config.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "net/ipv4.h"
#include "net/netlink.h"
#include "storage/driver_registry.h"

namespace berth {
namespace {

absl::Status FlagError(absl::string_view flag, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(flag, ": ", what));
}

absl::Status CheckIpv4(absl::string_view flag, const std::string& text) {
  if (net::Ipv4Address::Parse(text).ok()) return absl::OkStatus();
  return FlagError(flag, absl::StrCat("invalid IPv4 address '", text, "'"));
}

absl::Status CheckCidr(absl::string_view flag, const std::string& text) {
  if (text.empty() || net::Ipv4Network::Parse(text).ok()) return absl::OkStatus();
  return FlagError(flag, absl::StrCat("invalid CIDR '", text, "' (want ADDRESS/PREFIX, e.g. 172.17.42.1/16)"));
}

bool IsLoopbackHost(absl::string_view host) {
  return absl::StartsWith(host, "127.") || host == "localhost" || host == "[::1]";
}

absl::Status CheckHost(const std::string& endpoint, bool have_curve_key) {
  if (absl::StartsWith(endpoint, "ipc://")) {
    absl::string_view path = absl::string_view(endpoint).substr(6);
    if (path.empty() || path[0] != '/') {
      return FlagError("-H", absl::StrCat("'", endpoint, "': an ipc endpoint needs an absolute path (ipc:///run/x.sock)"));
    }
    return absl::OkStatus();
  }
  if (absl::StartsWith(endpoint, "tcp://")) {
    absl::string_view rest = absl::string_view(endpoint).substr(6);
    size_t colon = rest.rfind(':');
    if (colon == absl::string_view::npos || colon == 0 || colon + 1 == rest.size()) {
      return FlagError("-H", absl::StrCat("'", endpoint, "': a tcp endpoint is tcp://HOST:PORT"));
    }
    if (!have_curve_key && !IsLoopbackHost(rest.substr(0, colon))) {
      return FlagError("-H", absl::StrCat("refusing to serve ", endpoint,
                                          " without CURVE keys: anyone who can reach it could run jobs as root. "
                                          "Give --curve-key and --authorized-keys, or listen on 127.0.0.1"));
    }
    return absl::OkStatus();
  }
  return FlagError("-H", absl::StrCat("'", endpoint, "' is not ipc:///PATH or tcp://HOST:PORT"));
}

// Each flag's value on its own, with errors naming the flag.
absl::Status CheckFlags(const Config& c) {
  if (!c.default_ip.empty()) {
    if (absl::Status s = CheckIpv4("--ip", c.default_ip); !s.ok()) return s;
  }
  if (absl::Status s = CheckCidr("--bip", c.bridge_ip); !s.ok()) return s;
  if (absl::Status s = CheckCidr("--fixed-cidr", c.fixed_cidr); !s.ok()) return s;
  if (c.mtu != 0 && (c.mtu < 68 || c.mtu > 65535)) {
    return FlagError("--mtu", absl::StrCat("must be 0 (the default route's) or between 68 and 65535, got ", c.mtu));
  }
  for (const std::string& d : c.dns) {
    if (absl::Status s = CheckIpv4("--dns", d); !s.ok()) return s;
  }
  if (c.exec_driver != "native") {
    return FlagError("--exec-driver", absl::StrCat("unknown exec driver '", c.exec_driver, "' (berth has: native)"));
  }
  if (!c.graph_driver.empty()) {
    bool known = false;
    for (absl::string_view d : storage::kDriverPriority) known |= d == c.graph_driver;
    if (!known) {
      return FlagError("--storage-driver", absl::StrCat("unknown graph driver '", c.graph_driver, "' (berth has: ",
                                                        absl::StrJoin(storage::kDriverPriority, ", "), ")"));
    }
  }
  if (!c.graph_options.empty()) {
    return FlagError("--storage-opt", absl::StrCat("unknown option '", c.graph_options.front(),
                                                   "' (berth's graph drivers take no options)"));
  }
  for (const std::string& h : c.hosts) {
    if (absl::Status s = CheckHost(h, !c.curve_key_file.empty()); !s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Config> CheckConfig(Config c, int default_mtu) {
  if (absl::Status s = CheckFlags(c); !s.ok()) return s;
  absl::StatusOr<execdriver::UsernsRemap> remap = execdriver::ResolveUsernsRemap(c.userns_remap, c.subid_files);
  if (!remap.ok()) return FlagError("--userns-remap", remap.status().message());
  c.userns = *remap;
  if (c.mtu == 0) c.mtu = default_mtu;
  if (!c.bridge_iface.empty() && !c.bridge_ip.empty()) {
    return absl::InvalidArgumentError("You specified -b & --bip, mutually exclusive options. Please specify only one.");
  }
  if (!c.enable_iptables && !c.inter_container_communication) {
    return absl::InvalidArgumentError(
        "You specified --iptables=false with --icc=false. ICC uses iptables to function. Please set --icc or "
        "--iptables to true.");
  }
  if (!c.firewall.empty() && c.firewall != "iptables" && c.firewall != "nftables") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown firewall '", c.firewall, "': use iptables or nftables"));
  }
  if (!c.enable_iptables) c.enable_ip_masq = false;
  c.disable_network = c.bridge_iface == kDisableNetworkBridge;
  return c;
}

int DefaultMtu() {
  if (auto nl = net::Netlink::Open(); nl.ok()) {
    if (auto mtu = (*nl)->DefaultRouteMtu(); mtu.ok() && *mtu > 0) return *mtu;
  }
  return 1500;
}

Env ConfigToEnv(const Config& c) {
  Env e;
  (void)e.Set("BridgeIface", c.bridge_iface);
  (void)e.Set("BridgeIP", c.bridge_ip);
  (void)e.Set("FixedCIDR", c.fixed_cidr);
  (void)e.SetInt("Mtu", c.mtu);
  (void)e.SetBool("EnableIptables", c.enable_iptables);
  (void)e.Set("Firewall", c.firewall);
  (void)e.SetBool("InterContainerCommunication", c.inter_container_communication);
  (void)e.SetBool("EnableIpForward", c.enable_ip_forward);
  (void)e.SetBool("EnableIpMasq", c.enable_ip_masq);
  (void)e.Set("DefaultIp", c.default_ip);
  (void)e.SetBool("DisableNetwork", c.disable_network);
  (void)e.Set("Pidfile", c.pidfile);
  (void)e.Set("Root", c.root);
  (void)e.Set("GraphDriver", c.graph_driver);
  (void)e.SetList("GraphOptions", c.graph_options);
  (void)e.Set("ExecDriver", c.exec_driver);
  (void)e.SetList("Dns", c.dns);
  (void)e.SetBool("EnableSelinuxSupport", c.enable_selinux);
  (void)e.SetBool("LiveRestore", c.live_restore);
  return e;
}

absl::StatusOr<Config> ConfigFromEnv(const Env& e) {
  Config c;
  c.bridge_iface = e.Get("BridgeIface");
  c.bridge_ip = e.Get("BridgeIP");
  c.fixed_cidr = e.Get("FixedCIDR");
  absl::StatusOr<int64_t> mtu = e.GetInt64Checked("Mtu", 0);
  if (!mtu.ok()) return mtu.status();
  if (*mtu < 0 || *mtu > 65535) return absl::InvalidArgumentError(absl::StrCat("invalid Mtu: ", *mtu));
  c.mtu = static_cast<int>(*mtu);
  c.enable_iptables = e.Exists("EnableIptables") ? e.GetBool("EnableIptables") : true;
  c.firewall = e.Get("Firewall");
  c.inter_container_communication =
      e.Exists("InterContainerCommunication") ? e.GetBool("InterContainerCommunication") : true;
  c.enable_ip_forward = e.Exists("EnableIpForward") ? e.GetBool("EnableIpForward") : true;
  c.enable_ip_masq = e.Exists("EnableIpMasq") ? e.GetBool("EnableIpMasq") : true;
  if (e.Exists("DefaultIp")) c.default_ip = e.Get("DefaultIp");
  c.disable_network = e.GetBool("DisableNetwork");
  if (e.Exists("Pidfile")) c.pidfile = e.Get("Pidfile");
  if (e.Exists("Root")) c.root = e.Get("Root");
  c.graph_driver = e.Get("GraphDriver");
  c.graph_options = e.GetList("GraphOptions");
  if (e.Exists("ExecDriver")) c.exec_driver = e.Get("ExecDriver");
  c.dns = e.GetList("Dns");
  c.enable_selinux = e.GetBool("EnableSelinuxSupport");
  c.live_restore = e.GetBool("LiveRestore");
  return c;
}

}  // namespace berth
