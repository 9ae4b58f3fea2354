// berth across hosts: berthd, three worker hosts and a client host, each a
// network namespace on one bridge (tests/support/fleet_net.h), all over tcp
// with CURVE as docs/scaling.md sets them up; the faults docs/scaling.md
// describes, with every job counted by an independent load (job_load.h).
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdlib>

#include "absl/strings/match.h"
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
using testing::TempDir;
using testing::ToolPath;
using testing::WaitFor;

constexpr int kClientHost = 4;
// The END's way from berthd to the client, on a loaded 2-core machine and
// under the sanitizers too (measured: a few ms idle).
constexpr absl::Duration kTrip = absl::Milliseconds(400);
const std::string kEndpoint = "tcp://10.213.0.1:7730";

bool SkipWithout(const FleetNet& net) {
  if (net.ok()) return false;
  const char* ci = std::getenv("CI");
  if (ci != nullptr && std::string(ci) == "true") FAIL("cannot make the hosts' namespaces: " << net.error());
  MESSAGE("skipped: cannot make the hosts' namespaces: " << net.error());
  return true;
}

// Jobs that ended after `since` with a status other than 0.
std::vector<JobLoad::Job> FailedSince(const JobLoad& load, absl::Time since) {
  std::vector<JobLoad::Job> out;
  for (const auto& [id, j] : load.jobs()) {
    if (j.ends > 0 && j.ended >= since && j.status != 0) out.push_back(j);
  }
  return out;
}

// What the hosts' kernels say about the link to berthd, for a failure message.
std::string Diagnose(const FleetNet& net, int host) {
  std::string out;
  for (int h : {0, host}) {
    for (const char* what : {"route", "neigh"}) {
      out += absl::StrCat("ip ", what, " on host ", h, ":\n",
                          testing::RunCommand(net.Enter(h, {"/usr/sbin/ip", what})).out);
    }
    out += absl::StrCat("ss -tn on host ", h, ":\n", testing::RunCommand(net.Enter(h, {"/usr/bin/ss", "-tn"})).out);
  }
  return out;
}

bool Listed(const FleetBerthd& d, const std::string& worker) { return absl::StrContains(d.Workers(), worker + " "); }

struct Fleet {
  FleetNet net{absl::StrCat("berth-t-", ::getpid(), "-fl"), 5};
  TempDir dir;
  FleetBinaries bin{ToolPath("BERTHD"), ToolPath("BERTH"), ToolPath("BERTH_WORKER")};
  FleetKeys keys{dir.path(), bin.berth};
  FleetBerthd berthd{net, bin, keys, dir.path(), kEndpoint, true, {"--remote-handlers", "util"}};
  std::vector<std::unique_ptr<Process>> workers;

  // w1 declares `sleep` idempotent (berthd may run it again elsewhere); w2
  // and w3 do not. Each also takes jobs directly (clients that do not ask for
  // that see no change).
  void StartWorkers() {
    for (int host = 1; host <= 3; ++host) {
      FleetWorkerOptions o;
      o.host = host;
      o.endpoint = kEndpoint;
      o.name = absl::StrCat("w", host);
      o.capacity = 4;
      o.direct_endpoint = DirectEndpoint(host);
      if (host == 1) o.idempotent = {"sleep"};
      workers.push_back(StartFleetWorker(net, bin, keys, dir.path(), o));
    }
  }
  std::string DirectEndpoint(int host) const { return absl::StrCat("tcp://", net.Address(host), ":7740"); }
  JobLoadOptions Load(std::string name, std::vector<std::string> args, int window) const {
    return JobLoadOptions{.netns = net.Namespace(kClientHost),
                          .endpoint = kEndpoint,
                          .server_key = keys.server_pub,
                          .client_key = keys.client_key,
                          .name = std::move(name),
                          .args = std::move(args),
                          .window = window};
  }
};

// Every job sent ended exactly once, and no END came for a job never sent.
void CheckEachAnsweredOnce(const JobLoad& load) {
  int lost = 0, twice = 0;
  for (const auto& [id, j] : load.jobs()) {
    lost += j.ends == 0;
    twice += j.ends > 1;
  }
  CHECK(lost == 0);
  CHECK(twice == 0);
  CHECK(load.stray_ends() == 0);
}

// berthd and the three workers serving; false when the test is skipped.
bool Up(Fleet& f) {
  if (SkipWithout(f.net)) return false;
  REQUIRE_MESSAGE(f.keys.error.empty(), f.keys.error);
  std::string started = f.berthd.Start();
  REQUIRE_MESSAGE(started.empty(), started);
  f.StartWorkers();
  REQUIRE_MESSAGE(f.berthd.WaitForWorkers({"w1", "w2", "w3"}, absl::Seconds(20)), f.berthd.Workers());
  return true;
}

TEST_CASE("a fleet across hosts: a link cut and restored, every job answered exactly once") {
  Fleet f;
  if (!Up(f)) return;

  // 16 jobs in flight for 12 slots: every worker is busy, 4 jobs wait in berthd.
  JobLoad load(f.Load("sleep", {"300ms"}, 16));
  REQUIRE(WaitFor([&] { return load.completed() >= 40 || !load.error().empty(); }, absl::Seconds(30)));
  REQUIRE_MESSAGE(load.error().empty(), load.error());

  // w2's link cut (not idempotent): its jobs end 126 within 3 s, naming it.
  // berthd loses a worker 3 s after its last frame, which came before the
  // link was down; kTrip covers the END's way to the client, on a loaded
  // machine too.
  REQUIRE(f.net.Cut(2).empty());
  const absl::Time cut = absl::Now();
  REQUIRE(WaitFor([&] { return !Listed(f.berthd, "w2"); }, absl::Seconds(10)));
  std::vector<JobLoad::Job> failed = FailedSince(load, cut);
  CHECK(!failed.empty());
  for (const JobLoad::Job& j : failed) {
    CAPTURE(j.message);
    CHECK(j.status == 126);
    CHECK(absl::StartsWith(j.message, "sleep: worker w2 was lost ("));
    CHECK(j.ended - cut <= absl::Seconds(3) + kTrip);
  }
  MESSAGE(failed.size() << " job(s) of w2 ended 126, the last "
                        << absl::FormatDuration(failed.empty() ? absl::ZeroDuration() : failed.back().ended - cut)
                        << " after the cut");

  // Restored: w2 is back in service within 5 s, by itself.
  absl::Time restored = absl::Now();
  REQUIRE(f.net.Restore(2).empty());
  CHECK_MESSAGE(WaitFor([&] { return Listed(f.berthd, "w2"); }, absl::Seconds(5)),
                f.workers[1]->Stderr() << f.berthd.Log() << Diagnose(f.net, 2));
  MESSAGE("w2 listed again " << absl::FormatDuration(absl::Now() - restored) << " after its link came back");

  // w1's link cut (sleep is idempotent there): its jobs run again on w2 or w3.
  absl::Time cut1 = absl::Now();
  REQUIRE(f.net.Cut(1).empty());
  REQUIRE(WaitFor([&] { return !Listed(f.berthd, "w1"); }, absl::Seconds(10)));
  int64_t before = load.completed();
  REQUIRE(WaitFor([&] { return load.completed() >= before + 20; }, absl::Seconds(10)));
  CHECK(FailedSince(load, cut1).empty());
  REQUIRE(f.net.Restore(1).empty());
  CHECK_MESSAGE(WaitFor([&] { return Listed(f.berthd, "w1"); }, absl::Seconds(5)), f.workers[0]->Stderr() << f.berthd.Log() << Diagnose(f.net, 1));

  load.Stop(absl::Seconds(10));
  CheckEachAnsweredOnce(load);
  int ok = 0, unavailable = 0;
  for (const auto& [id, j] : load.jobs()) {
    ok += j.status == 0;
    unavailable += j.status == 126;
  }
  CHECK(ok + unavailable == static_cast<int>(load.jobs().size()));
  CHECK(unavailable == static_cast<int>(failed.size()));
  MESSAGE(load.jobs().size() << " jobs: " << ok << " ok, " << unavailable << " 126");
}

TEST_CASE("a fleet across hosts: berthd restarted, the workers on other hosts come back by themselves") {
  Fleet f;
  if (!Up(f)) return;

  CHECK(f.berthd.Stop() == 0);
  std::string started = f.berthd.Start();
  REQUIRE_MESSAGE(started.empty(), started);
  const absl::Time ready = absl::Now();
  CHECK_MESSAGE(f.berthd.WaitForWorkers({"w1", "w2", "w3"}, absl::Seconds(15)), f.berthd.Workers());
  MESSAGE("all three workers back " << absl::FormatDuration(absl::Now() - ready) << " after berthd was ready");
  for (auto& w : f.workers) CHECK(w->running());

  JobLoad load(f.Load("sleep", {"10ms"}, 8));
  CHECK(WaitFor([&] { return load.completed() >= 50 || !load.error().empty(); }, absl::Seconds(20)));
  load.Stop(absl::Seconds(10));
  CHECK_MESSAGE(load.error().empty(), load.error());
  CheckEachAnsweredOnce(load);
  CHECK(FailedSince(load, absl::InfinitePast()).empty());
}

TEST_CASE("the direct path across hosts: a link cut ends that host's jobs 126; berthd restarted, the client carries on") {
  Fleet f;
  if (!Up(f)) return;
  JobLoadOptions options = f.Load("sleep", {"50ms"}, 8);
  options.direct = true;
  JobLoad load(options);
  REQUIRE(WaitFor([&] { return load.direct_completed() >= 40 || !load.error().empty(); }, absl::Seconds(30)));
  REQUIRE_MESSAGE(load.error().empty(), load.error());

  // w2's link cut: the client's jobs there end 126 within 3 s of the cut,
  // naming the worker (and, for those it sent directly, the endpoint); the
  // others go on.
  REQUIRE(f.net.Cut(2).empty());
  const absl::Time cut = absl::Now();
  REQUIRE(WaitFor([&] { return !FailedSince(load, cut).empty(); }, absl::Seconds(10)));
  int64_t before = load.completed();
  REQUIRE(WaitFor([&] { return load.completed() >= before + 20; }, absl::Seconds(10)));
  std::vector<JobLoad::Job> failed = FailedSince(load, cut);
  for (const JobLoad::Job& j : failed) {
    CAPTURE(j.message);
    CHECK(j.status == 126);
    CHECK((absl::StartsWith(j.message, absl::StrCat("sleep: lost contact with worker w2 at ", f.DirectEndpoint(2),
                                                    " (no heartbeat for 3s)")) ||
           absl::StartsWith(j.message, "sleep: worker w2 was lost (")));
    CHECK(j.ended - cut <= absl::Seconds(3) + kTrip);
  }
  const absl::Time restored = absl::Now();
  REQUIRE(f.net.Restore(2).empty());
  CHECK_MESSAGE(WaitFor([&] { return Listed(f.berthd, "w2"); }, absl::Seconds(5)), f.workers[1]->Stderr());

  // berthd restarted: jobs keep going straight to the workers meanwhile, and
  // once the workers hold berthd's new keys the client takes a new lease.
  CHECK(f.berthd.Stop() == 0);
  std::string started = f.berthd.Start();
  REQUIRE_MESSAGE(started.empty(), started);
  REQUIRE(f.berthd.WaitForWorkers({"w1", "w2", "w3"}, absl::Seconds(15)));
  const int64_t direct = load.direct_completed();
  CHECK(WaitFor([&] { return load.direct_completed() >= direct + 40; }, absl::Seconds(20)));
  load.Stop(absl::Seconds(10));
  CHECK_MESSAGE(load.error().empty(), load.error());
  CheckEachAnsweredOnce(load);
  for (const JobLoad::Job& j : FailedSince(load, restored)) {
    FAIL_CHECK("failed after w2's link came back: ", j.status, " ", j.message, " sent ",
               absl::FormatDuration(j.sent - restored), " ended ", absl::FormatDuration(j.ended - restored),
               " cut-to-restore ", absl::FormatDuration(restored - cut));
  }
  MESSAGE(load.jobs().size() << " jobs, " << load.direct_completed() << " of them straight from a worker, "
                             << failed.size() << " ended 126 with w2's link");
}

}  // namespace
}  // namespace berth
