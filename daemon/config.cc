#include "daemon/config.h"

#include "absl/strings/str_cat.h"
#include "net/netlink.h"

namespace berth {

absl::StatusOr<Config> CheckConfig(Config c, int default_mtu) {
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
  return c;
}

}  // namespace berth
