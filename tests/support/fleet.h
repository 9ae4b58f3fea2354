// A berth fleet on FleetNet hosts (tests/support/fleet_net.h): berthd on host 0
// serving tcp with CURVE, berth-worker processes on other hosts, and the CURVE
// keys they use — written with `berth keygen` and authorized as an operator
// would (docs/scaling.md). Shared by tests/remote/fleet_test.cc and
// tools/bench/fleet_bench.
//
// berthd also serves an ipc socket in its directory, reachable from any
// namespace, so that the caller can ask `berth workers` without CURVE.
#ifndef BERTH_TESTS_SUPPORT_FLEET_H_
#define BERTH_TESTS_SUPPORT_FLEET_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "tests/support/fleet_net.h"
#include "tests/support/process.h"

namespace berth::testing {

struct FleetBinaries {
  std::string berthd, berth, worker;
};

// Keypairs for berthd (server.key/.pub), the workers (worker.key) and the
// clients (client.key) in `dir`, and authorized_keys listing the latter two.
struct FleetKeys {
  std::string server_key, server_pub, worker_key, client_key, authorized;
  std::string error;  // "" when all were written
  FleetKeys(const std::string& dir, const std::string& berth);
};

class FleetBerthd {
 public:
  // Not started yet: call Start. berthd's state lives in `dir`; with `curve`
  // false it serves plain tcp (which berthd allows on loopback only).
  FleetBerthd(const FleetNet& net, const FleetBinaries& bin, const FleetKeys& keys, std::string dir,
              std::string tcp_endpoint, bool curve, std::vector<std::string> extra);
  // Starts berthd in host 0's namespace and waits until it is ready; "" or why not.
  std::string Start(absl::Duration timeout = absl::Seconds(20));
  // SIGTERM; the exit status, or -1 if it did not exit within 30 s.
  int Stop();
  bool running() const { return proc_ != nullptr && proc_->running(); }
  const std::string& tcp() const { return tcp_; }
  const std::string& ipc() const { return ipc_; }
  // `berth workers` over the ipc socket ("" when it fails).
  std::string Workers() const;
  // True once every name in `names` is listed by `berth workers` (within `timeout`).
  bool WaitForWorkers(const std::vector<std::string>& names, absl::Duration timeout) const;
  std::string Log() const { return proc_ ? proc_->Stderr() : ""; }

 private:
  const FleetNet& net_;
  const FleetBinaries& bin_;
  const FleetKeys& keys_;
  std::string dir_, tcp_, ipc_;
  bool curve_;
  std::vector<std::string> extra_;
  std::unique_ptr<Process> proc_;
};

struct FleetWorkerOptions {
  int host = 1;
  std::string endpoint;  // berthd's tcp endpoint
  std::string name;
  std::string handlers = "util";
  int capacity = 4;
  std::vector<std::string> idempotent;
  bool curve = true;
  std::string direct_endpoint;  // --direct-endpoint, if any
};

// A berth-worker on `options.host`, its output in `dir`.
std::unique_ptr<Process> StartFleetWorker(const FleetNet& net, const FleetBinaries& bin, const FleetKeys& keys,
                                          const std::string& dir, const FleetWorkerOptions& options);

}  // namespace berth::testing

#endif  // BERTH_TESTS_SUPPORT_FLEET_H_
