// fleet_bench: berth across hosts. Network namespaces stand in for hosts on
// one bridge (tests/support/fleet_net.h): berthd on host 0, worker hosts 1-3,
// the clients on host 4; tcp with CURVE keys from `berth keygen`, as
// docs/scaling.md sets a fleet up. It measures, with berthd, berth-worker and
// the load as separate processes or threads on this machine:
//
//   scaling   jobs/s of `sleep 2ms` kept 64 in flight, with 1, 2 and 3 worker
//             hosts of capacity 4 each, through berthd's relay and on the
//             direct path (the workers also take jobs at their own address,
//             docs/protocol.md). The job waits rather than computes, so even a
//             2-core machine shows what more hosts give; rounds go 1, 2, 3
//             hosts and again, so noise falls on all counts alike.
//   ceiling   jobs/s of `echo` (no wait at all) kept 64 in flight to 3 worker
//             hosts of capacity 64: through berthd, what one berthd relays
//             when workers are never the limit — its broker ceiling; and on
//             the direct path, where berthd is not in the way.
//   curve     the same echo load against two berthds on host 0's loopback,
//             one with CURVE and one plain, in alternating slices. (berthd
//             serves plain tcp on loopback only, so CURVE's cost is measured
//             there; across hosts it is CURVE or nothing.)
//
// The load is tests/support/job_load.h: its own wire-protocol connection, from
// host 4 (or host 0 for the loopback pair), or a remote::Client on the direct
// path, which is measured once its jobs end straight from the workers. Any
// job that does not end 0 stops the bench. Last line, for scripts:
//   fleet_bench hosts=3 scale_vs_1=R curve_vs_plain=R direct_scale_vs_1=R
// (jobs/s with three worker hosts over jobs/s with one, through the relay;
// CURVE echo throughput over plain; the first ratio on the direct path).
// Needs root (network namespaces).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/support/fleet.h"
#include "tests/support/fleet_net.h"
#include "tests/support/job_load.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace berth {
namespace {

using testing::FleetBerthd;
using testing::FleetBinaries;
using testing::FleetKeys;
using testing::FleetNet;
using testing::FleetWorkerOptions;
using testing::JobLoad;
using testing::JobLoadOptions;
using testing::Process;

constexpr int kClientHost = 4;
constexpr int kWindow = 64;
const std::string kFleetEndpoint = "tcp://10.213.0.1:7730";
const std::string kCurveLoopback = "tcp://127.0.0.1:7731";
const std::string kPlainLoopback = "tcp://127.0.0.1:7732";

struct Options {
  absl::Duration slice = absl::Seconds(1);
  int rounds = 3;
  FleetBinaries bin;
};

// Thrown to end the bench: unwinding deletes the namespaces and stops the
// processes it made.
struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

[[noreturn]] void Die(const std::string& why) { throw Failure(why); }

// Jobs/s of `load` over `d`, after it has settled (on the direct path: once
// its jobs go straight to the workers); dies if a job failed.
double Rate(JobLoad& load, absl::Duration d, bool direct) {
  if (!testing::WaitFor([&] {
        return (direct ? load.direct_completed() : load.completed()) >= kWindow || !load.error().empty();
      }, absl::Seconds(20))) {
    Die("the load did not get going within 20s");
  }
  if (!load.error().empty()) Die(load.error());
  const int64_t c0 = load.completed();
  const absl::Time t0 = absl::Now();
  absl::SleepFor(d);
  const double rate = static_cast<double>(load.completed() - c0) / absl::ToDoubleSeconds(absl::Now() - t0);
  load.Stop(absl::Seconds(10));
  for (const auto& [id, j] : load.jobs()) {
    if (j.ends != 1 || j.status != 0) {
      Die(absl::StrCat("job ", id, " ended ", j.ends, " time(s), status ", j.status, ": ", j.message));
    }
  }
  return rate;
}

class Bench {
 public:
  explicit Bench(const Options& o)
      : o_(o),
        net_(absl::StrCat("berth-fb-", ::getpid()), 5),
        keys_(dir_.path(), o.bin.berth),
        fleet_(net_, o.bin, keys_, dir_ / "fleet", kFleetEndpoint, true,
               {"--remote-handlers", "util", "-H", kCurveLoopback}),
        plain_(net_, o.bin, keys_, dir_ / "plain", kPlainLoopback, false, {"--remote-handlers", "util"}) {
    if (!net_.ok()) Die(net_.error());
    if (!keys_.error.empty()) Die(keys_.error);
    std::filesystem::create_directories(dir_ / "fleet");
    std::filesystem::create_directories(dir_ / "plain");
    for (FleetBerthd* d : {&fleet_, &plain_}) {
      if (std::string e = d->Start(); !e.empty()) Die(e);
    }
  }

  // jobs/s with 1..3 worker hosts, averaged over the rounds: [0..2] through
  // the relay, [3..5] on the direct path.
  std::vector<double> Scaling() {
    std::vector<double> sum(6, 0);
    for (int round = 0; round < o_.rounds; ++round) {
      std::vector<std::unique_ptr<Process>> workers;
      std::vector<std::string> names;
      for (int hosts = 1; hosts <= 3; ++hosts) {
        names.push_back(absl::StrCat("s", hosts));
        workers.push_back(Worker(hosts, names.back(), 4, kFleetEndpoint, true));
        if (!fleet_.WaitForWorkers(names, absl::Seconds(20))) Die("workers did not connect: " + fleet_.Workers());
        for (bool direct : {false, true}) {
          JobLoad load(Load(kClientHost, kFleetEndpoint, true, "sleep", {"2ms"}, direct));
          sum[hosts - 1 + (direct ? 3 : 0)] += Rate(load, o_.slice, direct);
        }
      }
      StopAll(workers);  // drained and gone before the next round starts them again
    }
    for (double& s : sum) s /= o_.rounds;
    return sum;
  }

  // Echo jobs/s to 3 worker hosts that never limit it: {relay, direct}.
  std::pair<double, double> Ceiling() {
    std::vector<std::unique_ptr<Process>> workers;
    std::vector<std::string> names;
    for (int host = 1; host <= 3; ++host) {
      names.push_back(absl::StrCat("c", host));
      workers.push_back(Worker(host, names.back(), kWindow, kFleetEndpoint, true));
    }
    if (!fleet_.WaitForWorkers(names, absl::Seconds(20))) Die("workers did not connect: " + fleet_.Workers());
    double relay = 0, direct = 0;
    for (int round = 0; round < o_.rounds; ++round) {
      JobLoad r(Load(kClientHost, kFleetEndpoint, true, "echo", {std::string(120, 'p')}));
      relay += Rate(r, o_.slice, false);
      JobLoad d(Load(kClientHost, kFleetEndpoint, true, "echo", {std::string(120, 'p')}, true));
      direct += Rate(d, o_.slice, true);
    }
    StopAll(workers);
    return {relay / o_.rounds, direct / o_.rounds};
  }

  // Echo jobs/s on host 0's loopback: {CURVE, plain}, in alternating slices.
  std::pair<double, double> CurveAndPlain() {
    std::vector<std::unique_ptr<Process>> workers;
    workers.push_back(Worker(0, "lc", kWindow, kCurveLoopback, true));
    workers.push_back(Worker(0, "lp", kWindow, kPlainLoopback, false));
    if (!fleet_.WaitForWorkers({"lc"}, absl::Seconds(20)) || !plain_.WaitForWorkers({"lp"}, absl::Seconds(20))) {
      Die("loopback workers did not connect");
    }
    double curve = 0, plain = 0;
    for (int round = 0; round < o_.rounds; ++round) {
      JobLoad c(Load(0, kCurveLoopback, true, "echo", {std::string(120, 'p')}));
      curve += Rate(c, o_.slice, false);
      JobLoad p(Load(0, kPlainLoopback, false, "echo", {std::string(120, 'p')}));
      plain += Rate(p, o_.slice, false);
    }
    StopAll(workers);
    return {curve / o_.rounds, plain / o_.rounds};
  }

 private:
  std::unique_ptr<Process> Worker(int host, const std::string& name, int capacity, const std::string& ep,
                                  bool curve) {
    FleetWorkerOptions w;
    w.host = host;
    w.endpoint = ep;
    w.name = name;
    w.capacity = capacity;
    w.curve = curve;
    if (host > 0) w.direct_endpoint = absl::StrCat("tcp://", net_.Address(host), ":7740");
    return StartFleetWorker(net_, o_.bin, keys_, dir_.path(), w);
  }
  JobLoadOptions Load(int host, const std::string& ep, bool curve, std::string name, std::vector<std::string> args,
                      bool direct = false) const {
    JobLoadOptions l;
    l.direct = direct;
    l.netns = net_.Namespace(host);
    l.endpoint = ep;
    if (curve) {
      l.server_key = keys_.server_pub;
      l.client_key = keys_.client_key;
    }
    l.name = std::move(name);
    l.args = std::move(args);
    l.window = kWindow;
    return l;
  }
  // Drains (SIGTERM) and waits for every worker.
  static void StopAll(std::vector<std::unique_ptr<Process>>& workers) {
    for (auto& w : workers) w->Signal(SIGTERM);
    for (auto& w : workers) w->Wait(absl::Seconds(10));
    workers.clear();
  }

  const Options& o_;
  FleetNet net_;
  testing::TempDir dir_;
  FleetKeys keys_;
  FleetBerthd fleet_;
  FleetBerthd plain_;
};

int Run(const Options& o) {
  std::filesystem::create_directories("/run/netns");
  std::vector<double> scaling;
  std::pair<double, double> ceiling;
  std::pair<double, double> cp;
  {
    Bench b(o);
    scaling = b.Scaling();
    ceiling = b.Ceiling();
    cp = b.CurveAndPlain();
  }
  std::printf("berthd on host 0, worker hosts on a bridge, clients on host 4; tcp + CURVE; %d in flight\n", kWindow);
  for (int h = 1; h <= 3; ++h) {
    std::printf("  sleep 2ms, %d worker host(s) of capacity 4   relay %9.0f jobs/s   direct %9.0f jobs/s\n", h,
                scaling[h - 1], scaling[h + 2]);
  }
  std::printf("  echo, 3 worker hosts of capacity %d: relay %.0f jobs/s (berthd's broker ceiling), direct %.0f jobs/s\n",
              kWindow, ceiling.first, ceiling.second);
  std::printf("  echo on host 0's loopback: CURVE %.0f jobs/s, plain tcp %.0f jobs/s\n", cp.first, cp.second);
  std::printf("fleet_bench hosts=3 scale_vs_1=%.2f curve_vs_plain=%.2f direct_scale_vs_1=%.2f\n",
              scaling[2] / scaling[0], cp.first / cp.second, scaling[5] / scaling[3]);
  return 0;
}

int Main(int argc, char** argv) {
  Options o;
  const std::filesystem::path tools =
      std::filesystem::canonical("/proc/self/exe").parent_path().parent_path().parent_path();
  o.bin = {tools / "berthd", tools / "berth", tools / "berth-worker"};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::printf(
          "usage: fleet_bench [--rounds N] [--slice-ms MS] [--tools DIR]\n"
          "  berth across hosts (network namespaces on a bridge, tcp + CURVE): jobs/s of `sleep 2ms`\n"
          "  with 1, 2 and 3 worker hosts through berthd's relay and on the direct path, berthd's broker\n"
          "  ceiling (echo), CURVE beside plain tcp.\n"
          "  Last line: fleet_bench hosts=3 scale_vs_1=R curve_vs_plain=R direct_scale_vs_1=R. Needs root.\n"
          "  --tools: where berthd, berth and berth-worker are (default: this build's tools/)\n");
      return 0;
    } else if (a == "--rounds") {
      o.rounds = std::max(1, std::atoi(value().c_str()));
    } else if (a == "--slice-ms") {
      o.slice = absl::Milliseconds(std::max(100, std::atoi(value().c_str())));
    } else if (a == "--tools") {
      std::string dir = value();
      o.bin = {dir + "/berthd", dir + "/berth", dir + "/berth-worker"};
    } else {
      Die("unknown argument '" + a + "' (see --help)");
    }
  }
  if (::geteuid() != 0) Die("needs root (it makes network namespaces)");
  return Run(o);
}

}  // namespace
}  // namespace berth

int main(int argc, char** argv) {
  try {
    return berth::Main(argc, argv);
  } catch (const berth::Failure& e) {
    std::fprintf(stderr, "fleet_bench: %s\n", e.what());
    return 1;
  }
}
