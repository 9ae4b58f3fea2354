// container_bench: the busybox image's `true` as a berth container beside the
// same rootfs run by `runc run` (Debian's runc) as an OCI bundle, interleaved
// in the same run, then berthd's resident memory per running container.
//
//   container_bench [--runs N] [--containers N] [--berthd PATH]
//
// berth is driven through its real socket by the client library, and berthd
// runs with its defaults (bridge networking, overlay when it works) inside a
// network namespace of its own; each berth container gets eth0 on the bridge,
// runc's default spec gives its container a network namespace with only lo.
//
// Printed: p50/p99 of
//   runc run                          (create + start + wait + delete, one command)
//   berth start + wait                (the container already created)
//   berth create+start+wait+delete    (the whole cycle, like runc run)
//   berth-shim fork+execve+exit       (the part of a start the shim adds:
//                                      its own process, measured directly)
// then the resident memory of berthd per running container and of each
// container's shim (VmRSS of /proc/<ShimPid>/status), and last the ratios,
// berth's time over runc's, and the shim's part of berth's start + wait:
//   container_bench start_wait_vs_runc=R cycle_vs_runc=R rss_per_container_kib=K
//                   shim_rss_kib=S shim_exec_of_start=F
// Targets: start_wait_vs_runc <= 0.5, cycle_vs_runc <= 1.0, shim_rss_kib
// <= 1024. Needs root.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/numbers.h"
#include "engine/engine.h"
#include "engine/log.h"
#include "engine/remote/client.h"
#include "engine/runtime.h"
#include "engine/streams.h"
#include "nlohmann/json.hpp"
#include "tests/support/busybox_rootfs.h"
#include "tests/support/process.h"

namespace berth {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;
using testing::RunCommand;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "container_bench: %s\n", what.c_str());
  std::exit(1);
}

double Ms(Clock::time_point since) { return std::chrono::duration<double, std::milli>(Clock::now() - since).count(); }

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

// One job on berthd; dies on failure. Returns stdout.
std::string Job(remote::Client& c, const std::string& name, std::vector<std::string> args, Env env = {},
                int stdin_fd = -1) {
  remote::JobRequest req;
  req.name = name;
  req.args = std::move(args);
  req.env = std::move(env);
  Output out, err;
  auto out_buf = out.AddBuffer();
  auto err_buf = err.AddBuffer();
  std::unique_ptr<Source> in = stdin_fd >= 0 ? MakeFdSource(stdin_fd) : nullptr;
  absl::StatusOr<remote::JobResult> r = c.Run(req, in.get(), &out, &err);
  if (!r.ok() || r->status != 0) {
    Die(absl::StrCat(name, ": ", r.ok() ? r->error : std::string(r.status().message()), " ", *err_buf));
  }
  return *out_buf;
}

std::string Create(remote::Client& c, const std::string& script) {
  Env env;
  (void)env.Set("Image", "bb");
  (void)env.SetJson("Cmd", json::array({"sh", "-c", script}));
  std::string id = Job(c, "create", {}, env);
  return id.substr(0, id.find('\n'));
}

// runc run of the bundle; its wall time in ms.
double RuncRun(const std::string& runc, const std::string& bundle, int n) {
  auto start = Clock::now();
  testing::RunResult r = RunCommand({runc, "run", "--bundle", bundle, absl::StrCat("berth-bench-", ::getpid(), "-", n)});
  double ms = Ms(start);
  if (r.status != 0) Die("runc run failed: " + r.err);
  return ms;
}

// A "<key>: N kB" line of /proc/<pid>/status: VmRSS, RssAnon.
long RssKib(pid_t pid, const std::string& key = "VmRSS") {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return std::stol(line.substr(key.size() + 1));
  }
  return 0;
}

// fork + execve + exit of the shim binary (it prints its usage and exits 2
// without its descriptors): what starting one more process per container costs.
double ShimExec(const std::string& shim) {
  auto start = Clock::now();
  pid_t pid = ::fork();
  if (pid == 0) {
    int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 2);
    ::execl(shim.c_str(), shim.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  double ms = Ms(start);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 2) Die("cannot run " + shim);
  return ms;
}

struct Options {
  int runs = 200;
  int containers = 100;
  std::string berthd;
};

Options ParseArgs(int argc, char** argv) {
  Options o;
  o.berthd = std::filesystem::canonical("/proc/self/exe").parent_path().parent_path().parent_path() / "berthd";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Die(a + " needs a value");
      return argv[++i];
    };
    if (a == "--help" || a == "-h") {
      std::printf(
          "usage: container_bench [--runs N] [--containers N] [--berthd PATH]\n"
          "  `true` from a busybox image: berth (through berthd's socket) beside runc run,\n"
          "  interleaved; p50/p99 of each, berthd's RSS per running `sleep` container,\n"
          "  and the ratios last. Needs root, runc and busybox-static.\n");
      std::exit(0);
    } else if (a == "--runs") {
      if (!absl::SimpleAtoi(value(), &o.runs) || o.runs < 1) Die("--runs: want a positive number");
    } else if (a == "--containers") {
      if (!absl::SimpleAtoi(value(), &o.containers) || o.containers < 1) Die("--containers: want a positive number");
    } else if (a == "--berthd") {
      o.berthd = value();
    } else {
      Die("unknown argument '" + a + "' (see --help)");
    }
  }
  return o;
}

// The runc bundle: the busybox rootfs and `runc spec` with `true` as its process.
void MakeBundle(const std::string& runc, const std::string& bundle) {
  if (absl::Status s = testing::BuildBusyboxRootfs(bundle + "/rootfs"); !s.ok()) Die(s.ToString());
  if (RunCommand({runc, "spec", "--bundle", bundle}).status != 0) Die("runc spec failed");
  std::ifstream in(bundle + "/config.json");
  json spec = json::parse(in);
  spec["process"]["args"] = {"true"};
  spec["process"]["terminal"] = false;
  std::ofstream(bundle + "/config.json") << spec.dump(2);
}

int Main(int argc, char** argv) {
  Options o = ParseArgs(argc, argv);
  if (::geteuid() != 0) Die("needs root (namespaces, cgroups)");
  std::string runc = "/usr/sbin/runc";
  if (!std::filesystem::exists(runc)) Die("runc not found at /usr/sbin/runc (apt-get install runc)");
  std::string base = absl::StrCat("/tmp/berth-container-bench-", ::getpid());
  std::string netns = absl::StrCat("berth-bench-", ::getpid());
  std::string cgroup_parent = netns;
  std::filesystem::create_directories(base);
  MakeBundle(runc, base + "/bundle");
  if (absl::Status s = testing::WriteBusyboxTar(base + "/busybox.tar"); !s.ok()) Die(s.ToString());
  if (RunCommand({"/usr/sbin/ip", "netns", "add", netns}).status != 0) Die("ip netns add failed");

  std::string ep = "ipc://" + base + "/run/berth.sock";
  testing::Process berthd(testing::ProcessOptions{
      {"/usr/bin/nsenter", "--net=/run/netns/" + netns, "--", o.berthd, "-g", base + "/root", "-p", base + "/pid",
       "-H", ep, "-G", "root", "--cgroup-parent", cgroup_parent},
      {},
      "",
      base});
  if (!testing::WaitFor([&] { return berthd.Stderr().find("berthd ready in") != std::string::npos; },
                        absl::Seconds(30))) {
    Die("berthd did not start: " + berthd.Stderr());
  }
  remote::ClientOptions copts;
  copts.endpoint = ep;
  absl::StatusOr<std::unique_ptr<remote::Client>> client = remote::Client::Connect(copts);
  if (!client.ok()) Die(std::string(client.status().message()));
  remote::Client& c = **client;
  int tar = ::open((base + "/busybox.tar").c_str(), O_RDONLY | O_CLOEXEC);
  Job(c, "import", {"-", "bb"}, {}, tar);
  ::close(tar);

  std::vector<double> runc_ms, start_wait_ms, cycle_ms, shim_ms;
  std::string shim = (std::filesystem::path(o.berthd).parent_path() / "berth-shim").string();
  for (int i = 0; i < o.runs; ++i) {
    runc_ms.push_back(RuncRun(runc, base + "/bundle", i));
    shim_ms.push_back(ShimExec(shim));
    auto cycle = Clock::now();
    std::string id = Create(c, "true");
    auto sw = Clock::now();
    Job(c, "start", {id});
    Job(c, "wait", {id});
    start_wait_ms.push_back(Ms(sw));
    Job(c, "container_delete", {id});
    cycle_ms.push_back(Ms(cycle));
  }

  // Resident memory with `containers` sleepers up.
  long before = RssKib(berthd.pid());
  std::vector<std::string> sleepers;
  for (int i = 0; i < o.containers; ++i) {
    sleepers.push_back(Create(c, "exec sleep 1000"));
    Job(c, "start", {sleepers.back()});
  }
  long after = RssKib(berthd.pid());
  long shim_total = 0, shim_anon = 0;
  for (const std::string& id : sleepers) {
    json record = json::parse(Job(c, "container_inspect", {id}));
    shim_total += RssKib(record["State"]["ShimPid"].get<int>());
    shim_anon += RssKib(record["State"]["ShimPid"].get<int>(), "RssAnon");
  }
  double shim_rss = static_cast<double>(shim_total) / o.containers;
  for (const std::string& id : sleepers) {
    Env force;
    (void)force.SetBool("force", true);
    Job(c, "container_delete", {id}, force);
  }
  client->reset();
  berthd.Signal(SIGTERM);
  berthd.Wait(absl::Seconds(60));
  RunCommand({"/usr/sbin/ip", "netns", "del", netns});
  for (const char* ctl : {"memory", "cpu", "pids", "devices"}) {
    std::filesystem::remove(absl::StrCat("/sys/fs/cgroup/", ctl, "/", cgroup_parent));
  }
  std::filesystem::remove_all(base);

  double rss_per = static_cast<double>(after - before) / o.containers;
  std::printf("`true` in a container, %d runs each, interleaved (ms):\n", o.runs);
  std::printf("  %-34s p50 %7.2f  p99 %7.2f\n", "runc run", Percentile(runc_ms, 0.5), Percentile(runc_ms, 0.99));
  std::printf("  %-34s p50 %7.2f  p99 %7.2f\n", "berth start + wait", Percentile(start_wait_ms, 0.5),
              Percentile(start_wait_ms, 0.99));
  std::printf("  %-34s p50 %7.2f  p99 %7.2f\n", "berth create+start+wait+delete", Percentile(cycle_ms, 0.5),
              Percentile(cycle_ms, 0.99));
  std::printf("  %-34s p50 %7.2f  p99 %7.2f\n", "berth-shim fork+execve+exit", Percentile(shim_ms, 0.5),
              Percentile(shim_ms, 0.99));
  std::printf("berthd RSS: %ld KiB idle, %ld KiB with %d sleep containers up (%.0f KiB each)\n", before, after,
              o.containers, rss_per);
  std::printf(
      "shim RSS: %.0f KiB per shim (VmRSS, mean of %d), %.0f KiB of it anonymous; the rest is the static binary's "
      "file pages, shared by every shim\n",
      shim_rss, o.containers, static_cast<double>(shim_anon) / o.containers);
  std::printf(
      "container_bench start_wait_vs_runc=%.2f cycle_vs_runc=%.2f rss_per_container_kib=%.0f shim_rss_kib=%.0f "
      "shim_exec_of_start=%.2f\n",
      Percentile(start_wait_ms, 0.5) / Percentile(runc_ms, 0.5), Percentile(cycle_ms, 0.5) / Percentile(runc_ms, 0.5),
      rss_per, shim_rss, Percentile(shim_ms, 0.5) / Percentile(start_wait_ms, 0.5));
  return 0;
}

}  // namespace
}  // namespace berth

int main(int argc, char** argv) {
  berth::ConfigureProductionRuntime();
  spdlog::set_level(spdlog::level::off);
  return berth::Main(argc, argv);
}
