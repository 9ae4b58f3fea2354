// The `network` group's handlers: env in, NetworkDriver call, env out.

#include "handlers/network/network.h"

#include "handlers/observe/event_log.h"

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "engine/engine.h"
#include "engine/env.h"
#include "engine/job.h"
#include "engine/log.h"
#include "net/ipv4.h"
#include "net/link_rules.h"
#include "net/mac_address.h"
#include "net/validate.h"

namespace berth {
namespace {

using Driver = std::shared_ptr<NetworkDriver>;

constexpr size_t kMaxContainerIdLength = 256;

// "KEY: message", so that an error names the env key it came from.
absl::Status Keyed(absl::string_view key, const absl::Status& s) {
  return absl::Status(s.code(), absl::StrCat(key, ": ", s.message()));
}

// Absent keys take the daemon's flag defaults; a present value is read as
// Env::GetBool reads it.
bool BoolOr(const Env& env, absl::string_view key, bool if_absent) {
  return env.Exists(key) ? env.GetBool(key) : if_absent;
}

absl::StatusOr<std::optional<net::Ipv4Network>> OptionalNetwork(
    const Env& env, absl::string_view key) {
  absl::string_view text = env.GetView(key);
  if (text.empty()) return std::nullopt;
  absl::StatusOr<net::Ipv4Network> n = net::Ipv4Network::Parse(text);
  if (!n.ok()) return Keyed(key, n.status());
  return *n;
}

absl::StatusOr<NetworkDriverConfig> ParseInitConfig(const Env& env) {
  NetworkDriverConfig config;
  std::string bridge = env.Get("BridgeIface");
  if (bridge == "none") {
    return absl::InvalidArgumentError(
        "BridgeIface 'none' disables networking: init_networkdriver must not "
        "be run");
  }
  if (!bridge.empty() && bridge != net::kDefaultBridge) {
    config.bridge = bridge;
    config.user_named_bridge = true;
  }
  absl::StatusOr<std::optional<net::Ipv4Network>> bip =
      OptionalNetwork(env, "BridgeIP");
  if (!bip.ok()) return bip.status();
  config.bridge_ip = *bip;
  absl::StatusOr<std::optional<net::Ipv4Network>> fixed =
      OptionalNetwork(env, "FixedCIDR");
  if (!fixed.ok()) return fixed.status();
  config.fixed_cidr = *fixed;
  absl::StatusOr<int64_t> mtu = env.GetInt64Checked("Mtu", 0);
  if (!mtu.ok()) return mtu.status();
  if (*mtu != 0 && (*mtu < 68 || *mtu > 65535)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid Mtu ", *mtu, ": must be 0 (default) or between 68 and 65535"));
  }
  config.mtu = static_cast<int>(*mtu);
  config.enable_iptables = BoolOr(env, "EnableIptables", true);
  // Firewall: "iptables", "nftables", or empty/absent for what the host
  // already uses (net::DetectFirewallBackend).
  if (absl::string_view fw = env.GetView("Firewall"); !fw.empty()) {
    absl::StatusOr<net::FirewallBackend> b = net::ParseFirewallBackend(fw);
    if (!b.ok()) return Keyed("Firewall", b.status());
    config.firewall_backend = *b;
  }
  config.icc = BoolOr(env, "InterContainerCommunication", true);
  config.live_restore = BoolOr(env, "LiveRestore", false);
  config.ip_forward = BoolOr(env, "EnableIpForward", true);
  // Masquerading is an iptables rule: without iptables there is none.
  config.ip_masq = config.enable_iptables && BoolOr(env, "EnableIpMasq", true);
  absl::string_view ip = env.GetView("DefaultBindingIP");
  if (!ip.empty()) {
    absl::StatusOr<net::Ipv4Address> a = net::Ipv4Address::Parse(ip);
    if (!a.ok()) return Keyed("DefaultBindingIP", a.status());
    config.default_binding_ip = *a;
  }
  return config;
}

// The container id of the four per-container jobs: exactly one argument.
// It only names a record, but it ends up in error lines and logs, so white
// space and control characters are refused.
absl::StatusOr<std::string> ContainerId(const Job& job,
                                        absl::string_view usage) {
  if (job.args().size() != 1 || job.args()[0].empty()) {
    return absl::InvalidArgumentError(absl::StrCat("usage: ", usage));
  }
  const std::string& id = job.args()[0];
  if (id.size() > kMaxContainerIdLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid container id: ", id.size(),
                     " characters long, the limit is ",
                     kMaxContainerIdLength));
  }
  for (unsigned char c : id) {
    if (c <= ' ' || c == 0x7f) {
      return absl::InvalidArgumentError(absl::StrCat(
          "invalid container id '", absl::CHexEscape(id),
          "': must not contain white space or control characters"));
    }
  }
  return id;
}

int Fail(Job& job, const absl::Status& s) { return job.Error(s.message()); }

int Reply(Job& job, const Env& env) {
  if (absl::Status s = job.Stdout().WriteEnv(env); !s.ok()) return Fail(job, s);
  return kStatusOk;
}

// Every key written below is a valid constant, so Set cannot fail.
void Put(Env& env, absl::string_view key, absl::string_view value) {
  (void)env.Set(key, value);
}

int InitNetworkDriver(Job& job, const Driver& driver,
                      const std::shared_ptr<std::atomic<bool>>& hook_registered) {
  if (!job.args().empty()) {
    return job.Errorf("init_networkdriver: takes no arguments, got '%s'",
                      job.args()[0]);
  }
  absl::StatusOr<NetworkDriverConfig> config = ParseInitConfig(job.env());
  if (!config.ok()) return Fail(job, config.status());
  absl::StatusOr<NetworkDriverStatus> status = driver->Init(*config);
  if (!status.ok()) return Fail(job, status.status());
  // Once per driver, on the engine that hosts it: a worker's engine when the
  // group runs in berth-worker (berthd then runs shutdown_networkdriver).
  if (!hook_registered->exchange(true)) {
    std::weak_ptr<NetworkDriver> weak = driver;
    job.engine().OnShutdown(
        [weak] {
          if (Driver d = weak.lock()) {
            if (absl::Status s = d->Shutdown(); !s.ok()) {
              spdlog::warn("network driver shutdown: {}", s);
            }
          }
        },
        "network: release port mappings");
  }

  const net::Ipv4Network& a = status->address;
  Env out;
  Put(out, "Bridge", status->bridge);
  Put(out, "BridgeIP", a.ToString());
  Put(out, "Gateway", a.address().ToString());
  Put(out, "Network", a.Masked().ToString());
  Put(out, "Mask", a.MaskHex());
  (void)out.SetInt("IPPrefixLen", a.prefix_length());
  Put(out, "FixedCIDR",
      status->fixed_cidr.has_value() ? status->fixed_cidr->ToString() : "");
  (void)out.SetInt("Mtu", status->mtu);
  (void)out.SetBool("BridgeCreated", status->bridge_created);
  (void)out.SetBool("IpForward", status->ip_forward_enabled);
  if (status->firewall.has_value()) {
    const net::FirewallReport& r = *status->firewall;
    (void)out.SetInt("ChainsCreated",
                     int{r.nat_chain_created} + int{r.filter_chain_created});
    (void)out.SetInt("StaleRulesRemoved", r.stale_rules_removed);
    (void)out.SetInt("DuplicatesRemoved", r.duplicates_removed);
    (void)out.SetInt("RulesAdded", r.rules_added);
  }
  if (status->firewall_backend.has_value()) {
    Put(out, "Firewall", net::FirewallBackendName(*status->firewall_backend));
    Put(out, "FirewallReason", status->firewall_reason);
  }
  (void)out.SetList("Notes", status->notes);
  (void)out.SetList("Warnings", status->warnings);
  return Reply(job, out);
}

int NotInitialized(Job& job) { return job.Error(kNotInitialized); }

absl::StatusOr<InterfaceRequest> ParseInterfaceRequest(const Env& env) {
  InterfaceRequest request;
  if (absl::string_view text = env.GetView("RequestedIP"); !text.empty()) {
    absl::StatusOr<net::Ipv4Address> ip = net::Ipv4Address::Parse(text);
    if (!ip.ok()) return Keyed("RequestedIP", ip.status());
    request.ip = *ip;
  }
  if (absl::string_view text = env.GetView("RequestedMac"); !text.empty()) {
    absl::StatusOr<net::MacAddress> mac = net::MacAddress::Parse(text);
    if (!mac.ok()) return Keyed("RequestedMac", mac.status());
    // The kernel refuses these on an interface; say so before it does.
    if ((mac->bytes()[0] & 1) != 0 || *mac == net::MacAddress()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "RequestedMac: ", mac->ToString(),
          " is not a unicast address and cannot be an interface's"));
    }
    request.mac = *mac;
  }
  // Checked by the driver, which opens it before taking an address.
  request.netns_path = env.Get("NetNs");
  return request;
}

int AllocateInterface(Job& job, const Driver& driver) {
  if (!driver->initialized()) return NotInitialized(job);
  absl::StatusOr<std::string> id = ContainerId(
      job, "allocate_interface ID [RequestedIP=…] [RequestedMac=…]");
  if (!id.ok()) return Fail(job, id.status());
  absl::StatusOr<InterfaceRequest> request = ParseInterfaceRequest(job.env());
  if (!request.ok()) return Fail(job, request.status());
  absl::StatusOr<ContainerInterface> iface =
      driver->AllocateInterface(*id, *request);
  if (!iface.ok()) return Fail(job, iface.status());
  Env out;
  Put(out, "IP", iface->ip.ToString());
  Put(out, "Mask", iface->network.MaskHex());
  (void)out.SetInt("IPPrefixLen", iface->network.prefix_length());
  Put(out, "Gateway", iface->network.address().ToString());
  Put(out, "Bridge", iface->bridge);
  Put(out, "MacAddress", iface->mac.ToString());
  if (!iface->host_veth.empty()) Put(out, "HostVeth", iface->host_veth);
  EventLog::Process().Publish("network", "allocate", *id, "", {{"ip", iface->ip.ToString()}, {"bridge", iface->bridge}});
  return Reply(job, out);
}

int ReleaseInterface(Job& job, const Driver& driver) {
  if (!driver->initialized()) return NotInitialized(job);
  absl::StatusOr<std::string> id = ContainerId(job, "release_interface ID");
  if (!id.ok()) return Fail(job, id.status());
  if (absl::Status s = driver->ReleaseInterface(
          *id, job.env().GetBool("NamespaceExited"));
      !s.ok()) {
    return Fail(job, s);
  }
  EventLog::Process().Publish("network", "release", *id);
  return kStatusOk;
}

absl::StatusOr<PortRequest> ParsePortRequest(const Env& env) {
  PortRequest request;
  // The order of the reference: host address, then protocol.
  if (absl::string_view text = env.GetView("HostIP"); !text.empty()) {
    absl::StatusOr<net::Ipv4Address> ip =
        net::ParseHostIp(text, net::Ipv4Address::Any());
    if (!ip.ok()) return ip.status();
    request.host_ip = *ip;
  }
  if (absl::string_view text = env.GetView("Proto"); !text.empty()) {
    absl::StatusOr<net::Proto> proto = net::ParseProto(text);
    if (!proto.ok()) return proto.status();
    request.proto = *proto;
  }
  absl::StatusOr<int64_t> host_port = env.GetInt64Checked("HostPort", 0);
  if (!host_port.ok()) return host_port.status();
  if (*host_port < 0 || *host_port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid HostPort ", *host_port,
                     ": must be between 0 (dynamic) and 65535"));
  }
  request.host_port = static_cast<uint16_t>(*host_port);
  absl::StatusOr<int64_t> container_port = env.GetInt64Checked("ContainerPort");
  if (!container_port.ok()) return container_port.status();
  if (*container_port < 1 || *container_port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid ContainerPort ", *container_port,
                     ": must be between 1 and 65535"));
  }
  request.container_port = static_cast<uint16_t>(*container_port);
  request.reserve_only = env.GetBool("Reserve");
  request.adopt = env.GetBool("Adopt");
  if (request.reserve_only && request.host_port == 0) {
    return absl::InvalidArgumentError(
        "Reserve needs an explicit HostPort: a dynamic port cannot be "
        "reserved");
  }
  if (request.adopt && request.host_port == 0) {
    return absl::InvalidArgumentError(
        "Adopt needs an explicit HostPort: the port of the rules to adopt");
  }
  return request;
}

int AllocatePort(Job& job, const Driver& driver) {
  if (!driver->initialized()) return NotInitialized(job);
  absl::StatusOr<std::string> id = ContainerId(
      job,
      "allocate_port ID [HostIP=…] [HostPort=…] ContainerPort=… "
      "[Proto=tcp|udp] [Reserve=true] [Adopt=true]");
  if (!id.ok()) return Fail(job, id.status());
  absl::StatusOr<PortRequest> request = ParsePortRequest(job.env());
  if (!request.ok()) return Fail(job, request.status());
  absl::StatusOr<net::PortMapping> m = driver->AllocatePort(*id, *request);
  if (!m.ok()) return Fail(job, m.status());
  Env out;
  Put(out, "HostIP", m->host_ip.ToString());
  (void)out.SetInt("HostPort", m->host_port);
  EventLog::Process().Publish("network", "port", *id, "",
                              {{"hostIP", m->host_ip.ToString()},
                               {"hostPort", absl::StrCat(m->host_port)},
                               {"containerPort", absl::StrCat(request->container_port)},
                               {"proto", std::string(job.env().GetView("Proto").empty() ? "tcp" : job.env().GetView("Proto"))}});
  return Reply(job, out);
}

int Link(Job& job, const Driver& driver) {
  if (!driver->initialized()) return NotInitialized(job);
  if (job.args().size() != 1) {
    return job.Error(
        "usage: link -A|-I|-D ParentIP=… ChildIP=… Ports='[\"80/tcp\",…]' "
        "[IgnoreErrors=true]");
  }
  const Env& env = job.env();
  absl::StatusOr<net::LinkRequest> request = net::ParseLinkRequest(
      job.args()[0], env.GetView("ParentIP"), env.GetView("ChildIP"),
      env.GetList("Ports"), env.GetBool("IgnoreErrors"));
  if (!request.ok()) return Fail(job, request.status());
  if (absl::Status s = driver->Link(*request); !s.ok()) return Fail(job, s);
  return kStatusOk;
}

int ShutdownNetworkDriver(Job& job, const Driver& driver) {
  if (!job.args().empty()) {
    return job.Errorf("shutdown_networkdriver: takes no arguments, got '%s'",
                      job.args()[0]);
  }
  if (absl::Status s = driver->Shutdown(); !s.ok()) return Fail(job, s);
  return kStatusOk;
}

}  // namespace

const std::vector<JobHelp>& NetworkJobHelp() {
  static const std::vector<JobHelp>* const kHelp = new std::vector<JobHelp>{
      JobHelp("allocate_interface", "ID",
              "an address on the bridge for container ID; with NetNs, eth0 in that namespace on a veth pair",
              {{"NetNs", "the container's network namespace file (/proc/PID/ns/net)"},
               {"RequestedIP", "this address instead of the next free one"},
               {"RequestedMac", "this MAC instead of 02:42:<the address>"}}),
      JobHelp("allocate_port", "ID", "publishes a port of container ID on the host (DNAT and proxy)",
              {{"ContainerPort", "the container's port; required"},
               {"Proto", "tcp (default) or udp"},
               {"HostIP", "host address (default berthd --ip)"},
               {"HostPort", "host port; empty = a free one"},
               {"Reserve", "true: hold the port without rules or proxy (restore)"},
               {"Adopt", "true: take over the rules a running container already has (live restore)"}}),
      JobHelp("init_networkdriver", "", "sets up the bridge, its firewall rules and the allocators",
              {{"BridgeIface", "bridge name (default berth0)"},
               {"BridgeIP", "the bridge's address, ADDRESS/PREFIX"},
               {"FixedCIDR", "containers' range inside the bridge network"},
               {"Mtu", "0 (the default route's) or 68-65535"},
               {"EnableIptables", "write firewall rules (default true)"},
               {"InterContainerCommunication", "let containers talk to each other (default true)"},
               {"EnableIpForward", "set net.ipv4.ip_forward (default true)"},
               {"EnableIpMasq", "masquerade traffic leaving the bridge (default true)"},
               {"DefaultBindingIP", "host address of ports published without HostIP (default 0.0.0.0)"},
               {"Firewall", "iptables or nftables (default: detected)"}}),
      JobHelp("link", "-A|-I|-D", "adds (-A, -I) or deletes (-D) the rules that let a child reach a parent's ports",
              {{"ParentIP", "the linked-to container's address"},
               {"ChildIP", "the linking container's address"},
               {"Ports", "JSON array, [\"80/tcp\"]"},
               {"IgnoreErrors", "true: go on past a rule that fails"}}),
      JobHelp("release_interface", "ID", "removes container ID's ports, veth and address"),
      JobHelp("shutdown_networkdriver", "", "removes every port mapping, link rule and veth; stops the proxy"),
  };
  return *kHelp;
}

const std::vector<std::string>& NetworkJobNames() {
  static const std::vector<std::string>* const kNames = new std::vector<std::string>(JobNames(NetworkJobHelp()));
  return *kNames;
}

HandlerGroup NetworkGroup(NetworkGroupOptions options) {
  HandlerGroup g;
  g.name = "network";
  g.jobs = NetworkJobNames();
  g.help = NetworkJobHelp();
  g.install = [options = std::move(options)](Engine& eng) -> absl::Status {
    Driver driver = std::make_shared<NetworkDriver>(options);
    auto hook_registered = std::make_shared<std::atomic<bool>>(false);
    struct Entry {
      const char* name;
      Handler fn;
    };
    // None is nonblocking: they write iptables rules and netlink messages.
    const Entry entries[] = {
        {"init_networkdriver",
         [driver, hook_registered](Job& job) {
           return InitNetworkDriver(job, driver, hook_registered);
         }},
        {"allocate_interface",
         [driver](Job& job) { return AllocateInterface(job, driver); }},
        {"release_interface",
         [driver](Job& job) { return ReleaseInterface(job, driver); }},
        {"allocate_port",
         [driver](Job& job) { return AllocatePort(job, driver); }},
        {"link", [driver](Job& job) { return Link(job, driver); }},
        {"shutdown_networkdriver",
         [driver](Job& job) { return ShutdownNetworkDriver(job, driver); }},
    };
    for (const Entry& e : entries) {
      if (absl::Status s = eng.Register(e.name, e.fn); !s.ok()) return s;
    }
    return absl::OkStatus();
  };
  return g;
}

}  // namespace berth
