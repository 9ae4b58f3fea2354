// Config: berthd's settings, as its flags give them (docs/daemon.md), and their
// round trip through a job env so that NewDaemon's steps can take them as input.
#ifndef BERTH_DAEMON_CONFIG_H_
#define BERTH_DAEMON_CONFIG_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/env.h"
#include "execdriver/userns.h"

namespace berth {

inline constexpr char kDefaultEndpoint[] = "ipc:///run/berth/berth.sock";
inline constexpr char kDefaultBridge[] = "berth0";
inline constexpr char kDisableNetworkBridge[] = "none";

struct Config {
  // Networking.
  std::string bridge_iface;  // -b; "none" disables networking
  std::string bridge_ip;     // --bip (CIDR)
  std::string fixed_cidr;    // --fixed-cidr
  int mtu = 0;               // --mtu; 0 = the default-route interface's, else 1500
  bool enable_iptables = true;
  // --firewall: "iptables", "nftables", or "" for what the host already
  // uses (net::DetectFirewallBackend).
  std::string firewall;
  bool inter_container_communication = true;  // --icc
  bool enable_ip_forward = true;
  bool enable_ip_masq = true;
  std::string default_ip = "0.0.0.0";  // --ip
  bool disable_network = false;        // derived: bridge_iface == "none"
  // Files.
  std::string pidfile = "/var/run/berth.pid";
  std::string root = "/var/lib/berth";  // -g
  std::string graph_driver;             // -s
  std::vector<std::string> graph_options;
  std::string exec_driver = "native";
  // --cgroup-parent: containers' cgroups are <controller>/<parent>/<id>.
  std::string cgroup_parent = "berth";
  std::vector<std::string> dns;
  bool enable_selinux = false;
  // --userns-remap: "" (off), default, USER, USER:GROUP, UID or UID:GID.
  // CheckConfig resolves it into `userns` from `subid_files` (the real
  // /etc/subuid and /etc/subgid unless a test points elsewhere).
  std::string userns_remap;
  execdriver::SubidFiles subid_files;
  execdriver::UsernsRemap userns;
  // --live-restore: containers outlive berthd (its end, crash or SIGKILL)
  // under their shims, and the next berthd adopts them again.
  bool live_restore = false;
  // Serving.
  std::vector<std::string> hosts;  // -H
  std::string socket_group = "berth";
  bool socket_group_explicit = false;
  std::string curve_key_file;
  std::string authorized_keys_file;
  std::vector<std::string> remote_handlers;
  bool debug = false;
  bool dry_run = false;
};

// NewDaemon's first step, and all `berthd --dry-run` checks (one code path).
// Each flag's value first, the error naming the flag: `--ip: invalid IPv4
// address '1.2.3'`; `--bip`/`--fixed-cidr: invalid CIDR '…'`; `--mtu: must be 0
// (the default route's) or between 68 and 65535, got 10`; `--dns: invalid IPv4
// address '…'`; `--exec-driver: unknown exec driver 'lxc' (berth has: native)`;
// `--storage-driver: unknown graph driver 'zfs' (berth has: aufs, …)`;
// `--storage-opt: unknown option '…'` (no driver takes options); `-H: '…' is not
// ipc:///PATH or tcp://HOST:PORT`, an ipc path must be absolute, and `-H:
// refusing to serve tcp://… without CURVE keys: …` for a non-loopback tcp
// endpoint without --curve-key; `--userns-remap: <why>` (execdriver/userns.h:
// `--userns-remap: no subordinate uid range for 'x' in /etc/subuid`, ...),
// resolved into Config::userns. Then: MTU 0 becomes
// `default_mtu`; -b with --bip, and --iptables=false with --icc=false, are
// refused with Docker's messages (docs/daemon.md); --iptables=false turns
// ip-masq off; DisableNetwork = (-b none).
absl::StatusOr<Config> CheckConfig(Config c, int default_mtu);

// The MTU of the default route's interface, or 1500.
int DefaultMtu();

// The env form of a Config (keys as the reference's config field names:
// BridgeIface, BridgeIP, FixedCIDR, Mtu, EnableIptables, ...).
Env ConfigToEnv(const Config& c);
absl::StatusOr<Config> ConfigFromEnv(const Env& env);

}  // namespace berth

#endif  // BERTH_DAEMON_CONFIG_H_
