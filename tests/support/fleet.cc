// berthd and workers on namespace hosts; see fleet.h.
#include "tests/support/fleet.h"

#include <signal.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/support/temp_dir.h"

namespace berth::testing {
namespace {

// The public key (Z85) from a .pub file written by `berth keygen`.
std::string PublicKey(const std::string& pub_file) {
  std::string text = ReadFileOrEmpty(pub_file);
  size_t at = text.find("public: ");
  if (at == std::string::npos) return "";
  return text.substr(at + 8, 40);
}

}  // namespace

FleetKeys::FleetKeys(const std::string& dir, const std::string& berth) {
  std::vector<std::string> pubs;
  for (const char* who : {"server", "worker", "client"}) {
    const std::string base = absl::StrCat(dir, "/", who);
    RunResult r = RunCommand({berth, "keygen", "-o", base});
    if (r.status != 0) {
      error = absl::StrCat("berth keygen -o ", base, ": ", r.err);
      return;
    }
    if (std::string(who) != "server") pubs.push_back(PublicKey(base + ".pub"));
  }
  server_key = dir + "/server.key";
  server_pub = dir + "/server.pub";
  worker_key = dir + "/worker.key";
  client_key = dir + "/client.key";
  authorized = dir + "/authorized_keys";
  WriteFileOrDie(authorized, absl::StrJoin(pubs, "\n") + "\n");
}

FleetBerthd::FleetBerthd(const FleetNet& net, const FleetBinaries& bin, const FleetKeys& keys, std::string dir,
                         std::string tcp_endpoint, bool curve, std::vector<std::string> extra)
    : net_(net),
      bin_(bin),
      keys_(keys),
      dir_(std::move(dir)),
      tcp_(std::move(tcp_endpoint)),
      ipc_("ipc://" + dir_ + "/run/berth.sock"),
      curve_(curve),
      extra_(std::move(extra)) {}

std::string FleetBerthd::Start(absl::Duration timeout) {
  std::vector<std::string> argv = {bin_.berthd, "-H", ipc_, "-H", tcp_, "-g", dir_ + "/root", "-p",
                                   dir_ + "/berthd.pid", "-G", "root", "-b", "none"};
  if (curve_) {
    for (const std::string& a : {std::string("--curve-key"), keys_.server_key, std::string("--authorized-keys"),
                                 keys_.authorized}) {
      argv.push_back(a);
    }
  }
  argv.insert(argv.end(), extra_.begin(), extra_.end());
  proc_ = std::make_unique<Process>(ProcessOptions{net_.Enter(0, argv), {"BERTH_DRIVER=vfs"}, "", dir_});
  bool up = WaitFor([&] { return absl::StrContains(proc_->Stderr(), "berthd ready in") || !proc_->running(); },
                    timeout);
  if (up && proc_->running()) return "";
  return absl::StrCat("berthd did not become ready: ", proc_->Stderr());
}

int FleetBerthd::Stop() {
  if (proc_ == nullptr) return -1;
  proc_->Signal(SIGTERM);
  std::optional<int> st = proc_->Wait(absl::Seconds(30));
  return st.has_value() ? *st : -1;
}

std::string FleetBerthd::Workers() const {
  RunResult r = RunCommand({bin_.berth, "-H", ipc_, "workers"}, {}, "", absl::Seconds(10));
  return r.status == 0 ? r.out : "";
}

bool FleetBerthd::WaitForWorkers(const std::vector<std::string>& names, absl::Duration timeout) const {
  return WaitFor(
      [&] {
        std::string list = Workers();
        for (const std::string& n : names) {
          if (!absl::StrContains(list, n + " ")) return false;
        }
        return true;
      },
      timeout);
}

std::unique_ptr<Process> StartFleetWorker(const FleetNet& net, const FleetBinaries& bin, const FleetKeys& keys,
                                          const std::string& dir, const FleetWorkerOptions& o) {
  std::vector<std::string> argv = {bin.worker, "-H", o.endpoint, "--handlers", o.handlers, "--name", o.name,
                                   "--capacity", absl::StrCat(o.capacity)};
  if (!o.idempotent.empty()) {
    argv.push_back("--idempotent");
    argv.push_back(absl::StrJoin(o.idempotent, ","));
  }
  if (!o.direct_endpoint.empty()) {
    argv.push_back("--direct-endpoint");
    argv.push_back(o.direct_endpoint);
  }
  if (o.curve) {
    for (const std::string& a : {std::string("--server-key"), keys.server_pub, std::string("--key"), keys.worker_key}) {
      argv.push_back(a);
    }
  }
  return std::make_unique<Process>(ProcessOptions{net.Enter(o.host, argv), {}, "", dir});
}

}  // namespace berth::testing
