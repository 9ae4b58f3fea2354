// FleetNet: network namespaces standing in for hosts on one LAN, for tests and
// benches of berth across hosts (berthd on one host, workers on others).
//
// Host i (0-based) is the namespace `<prefix>-h<i>`, with lo up and one link,
// `eth0`, addressed 10.213.0.<i+1>/24. The links are veth pairs whose other
// ends, `v<i>`, are ports of the bridge `br0` in the namespace `<prefix>-sw`
// (the switch). Nothing is made in the caller's own namespace, so only the
// namespace names need to be unique: callers put their pid in the prefix.
//
// The destructor deletes every namespace it made (which deletes the links and
// the bridge with them), also when construction failed half-way.
#ifndef BERTH_TESTS_SUPPORT_FLEET_NET_H_
#define BERTH_TESTS_SUPPORT_FLEET_NET_H_

#include <string>
#include <vector>

namespace berth::testing {

class FleetNet {
 public:
  FleetNet(std::string prefix, int hosts);
  ~FleetNet();
  FleetNet(const FleetNet&) = delete;
  FleetNet& operator=(const FleetNet&) = delete;

  // False (and error() says which command failed and why) when the namespaces
  // or links could not be made.
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

  std::string Namespace(int host) const;
  // 10.213.0.<host+1>
  std::string Address(int host) const;
  // argv run inside the host's network namespace (nsenter --net, which keeps
  // the caller's /sys and cgroups).
  std::vector<std::string> Enter(int host, std::vector<std::string> argv) const;
  // `ip link set eth0 down|up` on the host: its only link cut, or restored.
  // Errors as text ("" on success).
  std::string Cut(int host) const;
  std::string Restore(int host) const;

 private:
  // Runs `ip -n <ns> args…`; on failure records the error (first one wins).
  bool Ip(const std::string& ns, std::vector<std::string> args);

  std::string prefix_;
  std::vector<std::string> made_;  // namespaces to delete
  std::string error_;
};

}  // namespace berth::testing

#endif  // BERTH_TESTS_SUPPORT_FLEET_NET_H_
