// berth-worker: hosts handler groups out of process for berthd.
//
//   berth-worker -H ENDPOINT --handlers GROUP[,GROUP…] [--name NAME] [--capacity N]
//                [--direct-endpoint ENDPOINT] [--trace FILE]
//
// Registers the groups' jobs with the engine, runs the jobs it is sent, and
// connects again (with backoff) when berthd restarts. SIGTERM/SIGINT drain:
// in-flight jobs finish, no new ones are taken, then it exits 0. A second signal
// stops at once.
//
// It says `connected` only once berthd has accepted it: a watcher asks berthd
// (as a client, with the worker's endpoint and keys) for its workers until this
// worker's name is among them; until then it says it is waiting, and warns
// every 10 s that nothing has accepted it (as when nothing listens there).
//
// --trace FILE writes, when it exits, a Chrome trace of the jobs it ran (the
// format of berthd's --trace, docs/observability.md), each span with the
// job's trace id, so that a request can be followed from berthd's file to
// this one.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "engine/engine.h"
#include "engine/log.h"
#include "engine/remote/client.h"
#include "engine/remote/wire.h"
#include "engine/remote/worker.h"
#include "engine/runtime.h"
#include "engine/streams.h"
#include "handlers/groups.h"
#include "handlers/observe/trace_recorder.h"
#include "tools/usage_exit.h"

namespace berth {
namespace {

remote::Worker* g_worker = nullptr;
std::atomic<int> g_signals{0};

void OnSignal(int) {
  if (g_worker == nullptr) return;
  if (g_signals.fetch_add(1) == 0) {
    g_worker->Drain();
  } else {
    g_worker->Stop();
  }
}

// True once berthd at `opts.endpoint` lists a worker named `opts.name`.
bool Accepted(const remote::WorkerOptions& opts) {
  remote::ClientOptions c;
  c.endpoint = opts.endpoint;
  c.server_key = opts.server_key;
  c.client_key_file = opts.client_key_file;
  c.connect_timeout = absl::Seconds(1);
  absl::StatusOr<std::unique_ptr<remote::Client>> client = remote::Client::Connect(c);
  if (!client.ok()) return false;
  Output out;
  std::shared_ptr<Table> table = out.AddTable();
  remote::JobRequest req;
  req.name = "workers";
  absl::StatusOr<remote::JobResult> r = (*client)->Run(req, nullptr, &out, nullptr);
  (void)out.Close();
  if (!r.ok() || r->status != 0) return false;
  for (const Env& w : table->data()) {
    if (w.Get("Name") == opts.name) return true;
  }
  return false;
}

// Reports `connected` once berthd accepted the worker; warns while it has not.
void WatchConnection(const remote::WorkerOptions& opts, const std::atomic<bool>& done) {
  absl::Time since = absl::Now();
  absl::Time warned = since;
  while (!done.load()) {
    if (Accepted(opts)) {
      spdlog::info("berth-worker {}: connected: berthd at {} accepted it", opts.name, opts.endpoint);
      return;
    }
    if (absl::Now() - warned >= absl::Seconds(10)) {
      warned = absl::Now();
      spdlog::warn("berth-worker {}: not accepted by {} after {} (is berthd running there?); still trying", opts.name,
                   opts.endpoint, absl::FormatDuration(absl::Trunc(absl::Now() - since, absl::Seconds(1))));
    }
    absl::SleepFor(absl::Milliseconds(200));
  }
}

int Main(int argc, char** argv) {
  CLI::App app{"berth-worker: host berth handler groups out of process"};
  app.set_version_flag("--version", std::string("berth-worker ") + BERTH_VERSION);
  remote::WorkerOptions opts;
  opts.endpoint = "ipc:///run/berth/berth.sock";
  if (const char* h = std::getenv("BERTH_HOST"); h != nullptr && *h != '\0') opts.endpoint = h;
  std::vector<std::string> groups;
  char host[256] = {};
  ::gethostname(host, sizeof host - 1);
  opts.name = absl::StrCat(host, "-", ::getpid());
  bool debug = false;
  std::string trace_file;
  app.add_option("-H,--host", opts.endpoint, "endpoint of berthd (env BERTH_HOST)")->capture_default_str();
  app.add_option("--handlers", groups, "handler groups to host, comma-separated (e.g. network,util)")
      ->required()
      ->delimiter(',');
  app.add_option("--name", opts.name, "name shown by `berth workers`")->capture_default_str();
  app.add_option("--capacity", opts.capacity, "jobs run at once (as HELLO allows)")
      ->capture_default_str()
      ->check(CLI::Range(1, static_cast<int>(remote::kMaxCapacity)));
  app.add_option("--idempotent", opts.idempotent,
                 "job names berthd may run again on another worker if this one is lost, comma-separated")
      ->delimiter(',');
  app.add_option("--server-key", opts.server_key, "CURVE: berthd's public key or a file holding it (tcp)");
  app.add_option("--key", opts.client_key_file, "CURVE: this worker's key file from `berth keygen`");
  app.add_option("--direct-endpoint", opts.direct_endpoint,
                 "also take jobs straight from clients berthd vouches for, at tcp://ADDR:PORT (PORT may be *; "
                 "CURVE under --key, else a loopback ADDR) or ipc:///PATH (docs/protocol.md, the direct path)");
  app.add_option("--trace", trace_file, "write a Chrome trace (JSON) of the jobs run here into FILE at exit");
  app.add_flag("-D,--debug", debug, "log debug messages");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return UsageExit(app, e, "berth-worker");
  }
  if (debug) spdlog::set_level(spdlog::level::debug);

  absl::StatusOr<std::vector<HandlerGroup>> found = FindGroups(groups, StandaloneGroups());
  if (!found.ok()) {
    std::fprintf(stderr, "berth-worker: %s\n", std::string(found.status().message()).c_str());
    return 2;
  }
  Engine engine;
  TraceRecorder trace(absl::StrCat("berth-worker ", opts.name));
  if (!trace_file.empty()) {
    if (absl::Status s = trace.Start(trace_file); !s.ok()) {
      std::fprintf(stderr, "berth-worker: %s\n", std::string(s.message()).c_str());
      return 2;
    }
    engine.AddObserver(&trace);
  }
  DescribeGroups(engine, *found);
  for (const HandlerGroup& g : *found) {
    if (absl::Status s = g.install(engine); !s.ok()) {
      std::fprintf(stderr, "berth-worker: cannot install %s: %s\n", g.name.c_str(), std::string(s.message()).c_str());
      return 1;
    }
    opts.jobs.insert(opts.jobs.end(), g.jobs.begin(), g.jobs.end());
  }
  remote::Worker worker(engine, opts);
  g_worker = &worker;
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  ::sigaction(SIGTERM, &sa, nullptr);
  ::sigaction(SIGINT, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  spdlog::info("berth-worker {}: connecting to {} to serve {}", opts.name, opts.endpoint,
               absl::StrJoin(opts.jobs, ", "));
  std::atomic<bool> done{false};
  std::thread watcher([&] { WatchConnection(opts, done); });
  absl::Status s = worker.Run();
  done = true;
  watcher.join();
  g_worker = nullptr;
  if (!trace_file.empty()) {
    absl::StatusOr<std::string> written = trace.Stop();
    if (!written.ok()) {
      std::fprintf(stderr, "berth-worker: %s\n", std::string(written.status().message()).c_str());
      return 1;
    }
    spdlog::info("berth-worker {}: wrote the trace {}", opts.name, *written);
  }
  if (!s.ok()) {
    std::fprintf(stderr, "berth-worker: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace berth

int main(int argc, char** argv) {
  berth::ConfigureProductionRuntime();
  return berth::Main(argc, argv);
}
