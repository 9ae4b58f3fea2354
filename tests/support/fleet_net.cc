// Network namespaces as hosts; see fleet_net.h.
#include "tests/support/fleet_net.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/support/process.h"

namespace berth::testing {
namespace {

constexpr const char* kIp = "/usr/sbin/ip";

std::string LinkSet(const std::string& ns, const char* state) {
  RunResult r = RunCommand({kIp, "-n", ns, "link", "set", "eth0", state});
  return r.status == 0 ? "" : absl::StrCat("ip -n ", ns, " link set eth0 ", state, ": ", r.err);
}

}  // namespace

FleetNet::FleetNet(std::string prefix, int hosts) : prefix_(std::move(prefix)) {
  const std::string sw = prefix_ + "-sw";
  std::vector<std::string> all = {sw};
  for (int i = 0; i < hosts; ++i) all.push_back(Namespace(i));
  for (const std::string& ns : all) {
    RunCommand({kIp, "netns", "del", ns});  // a leftover of a crashed run with our pid
    RunResult r = RunCommand({kIp, "netns", "add", ns});
    if (r.status != 0) {
      error_ = absl::StrCat("ip netns add ", ns, ": ", r.err);
      return;
    }
    made_.push_back(ns);
    if (!Ip(ns, {"link", "set", "lo", "up"})) return;
  }
  if (!Ip(sw, {"link", "add", "br0", "type", "bridge"}) || !Ip(sw, {"link", "set", "br0", "up"})) return;
  for (int i = 0; i < hosts; ++i) {
    const std::string port = absl::StrCat("v", i);
    const std::string host = Namespace(i);
    if (!Ip(sw, {"link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", host}) ||
        !Ip(sw, {"link", "set", port, "master", "br0", "up"}) ||
        !Ip(host, {"addr", "add", Address(i) + "/24", "dev", "eth0"}) || !Ip(host, {"link", "set", "eth0", "up"})) {
      return;
    }
  }
}

FleetNet::~FleetNet() {
  for (const std::string& ns : made_) RunCommand({kIp, "netns", "del", ns});
}

bool FleetNet::Ip(const std::string& ns, std::vector<std::string> args) {
  std::vector<std::string> argv = {kIp, "-n", ns};
  argv.insert(argv.end(), args.begin(), args.end());
  RunResult r = RunCommand(argv);
  if (r.status != 0 && error_.empty()) error_ = absl::StrCat(absl::StrJoin(argv, " "), ": ", r.err);
  return r.status == 0;
}

std::string FleetNet::Namespace(int host) const { return absl::StrCat(prefix_, "-h", host); }

std::string FleetNet::Address(int host) const { return absl::StrCat("10.213.0.", host + 1); }

std::vector<std::string> FleetNet::Enter(int host, std::vector<std::string> argv) const {
  std::vector<std::string> full = {"/usr/bin/nsenter", "--net=/run/netns/" + Namespace(host), "--"};
  full.insert(full.end(), argv.begin(), argv.end());
  return full;
}

std::string FleetNet::Cut(int host) const { return LinkSet(Namespace(host), "down"); }

std::string FleetNet::Restore(int host) const { return LinkSet(Namespace(host), "up"); }

}  // namespace berth::testing
