// berth: the command-line client.
//
//   berth [-H ENDPOINT] [--timeout DURATION] job NAME [ARG…] [KEY=VALUE…]
//   berth commands | workers | keygen [-o BASE]
//   berth run [--local] [-n] (FILE | -e SCRIPT)
//
// Runs jobs on berthd (or any berth server): stdin is forwarded when it is not a
// terminal, stdout and stderr stream as they arrive, and berth exits with the
// job's status. Ctrl-C cancels the job and exits 130.
#include <signal.h>
#include <unistd.h>

#include <fcntl.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <thread>
#include <cstdlib>
#include <iostream>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "engine/job_line.h"
#include "engine/remote/forwarding.h"
#include "engine/script/parser.h"
#include "engine/script/plan.h"
#include "engine/script/run.h"
#include "handlers/groups.h"
#include "handlers/version.h"
#include "engine/remote/client.h"
#include "engine/remote/security.h"
#include "engine/runtime.h"
#include "engine/status.h"
#include "engine/streams.h"

namespace berth {
namespace {

constexpr char kDefaultEndpoint[] = "ipc:///run/berth/berth.sock";

int cancel_pipe[2] = {-1, -1};
std::atomic<bool> interrupted{false};

void OnInterrupt(int) {
  interrupted = true;
  char c = 1;
  ssize_t n = ::write(cancel_pipe[1], &c, 1);
  (void)n;
}

struct Common {
  std::string endpoint;
  std::string timeout;
  std::string server_key;
  std::string key_file;
};

int Fail(int status, absl::string_view message) {
  std::fprintf(stderr, "berth: %.*s\n", static_cast<int>(message.size()), message.data());
  return status;
}

absl::StatusOr<std::unique_ptr<remote::Client>> ConnectTo(const Common& c) {
  remote::ClientOptions opts;
  opts.endpoint = c.endpoint;
  opts.server_key = c.server_key;
  opts.client_key_file = c.key_file;
  return remote::Client::Connect(opts);
}

// Runs one job remotely, streaming to this process's stdout/stderr.
int RunJob(const Common& c, remote::JobRequest req, bool forward_stdin) {
  if (!c.timeout.empty()) {
    absl::Duration d;
    if (!absl::ParseDuration(c.timeout, &d) || d <= absl::ZeroDuration()) {
      return Fail(2, absl::StrCat("invalid --timeout '", c.timeout, "' (use e.g. 1s, 250ms)"));
    }
    req.timeout = d;
  }
  auto client = ConnectTo(c);
  if (!client.ok()) return Fail(kStatusUnavailable, client.status().message());

  if (::pipe2(cancel_pipe, O_CLOEXEC) != 0) return Fail(1, "cannot create a pipe");
  struct sigaction sa = {};
  sa.sa_handler = OnInterrupt;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  Output out;
  out.AddFd(STDOUT_FILENO);
  Output err;
  err.AddFd(STDERR_FILENO);
  std::unique_ptr<Source> in;
  if (forward_stdin && !::isatty(STDIN_FILENO)) in = MakeFdSource(STDIN_FILENO);
  absl::StatusOr<remote::JobResult> r = (*client)->Run(req, in.get(), &out, &err, cancel_pipe[0]);
  if (!r.ok()) return Fail(1, r.status().message());
  if (interrupted) return kStatusCancelled;
  // The job's own stderr already carried its error text; only say something for
  // failures that did not come from the job (a lost server, a deadline).
  if (r->status != 0 && !err.used() && !r->error.empty()) Fail(r->status, r->error);
  return r->status;
}

int Workers(const Common& c) {
  auto client = ConnectTo(c);
  if (!client.ok()) return Fail(kStatusUnavailable, client.status().message());
  Output out;
  auto table = out.AddTable();
  Output err;
  err.AddFd(STDERR_FILENO);
  remote::JobRequest req;
  req.name = "workers";
  absl::StatusOr<remote::JobResult> r = (*client)->Run(req, nullptr, &out, &err);
  (void)out.Close();
  if (!r.ok()) return Fail(1, r.status().message());
  if (r->status != 0) return r->status;
  if (table->Len() == 0) {
    std::printf("no workers connected\n");
    return 0;
  }
  std::printf("%-20s %-9s %-9s %-10s %-7s %-9s %s\n", "NAME", "CAPACITY", "IN-FLIGHT", "COMPLETED", "FAILED",
              "STATE", "JOBS");
  for (const Env& w : table->data()) {
    std::string jobs;
    for (const std::string& j : w.GetList("Jobs")) absl::StrAppend(&jobs, jobs.empty() ? "" : ",", j);
    std::printf("%-20s %-9s %-9s %-10s %-7s %-9s %s\n", w.Get("Name").c_str(), w.Get("Capacity").c_str(),
                w.Get("InFlight").c_str(), w.Get("Completed").c_str(), w.Get("Failed").c_str(),
                w.GetBool("Draining") ? "draining" : "serving", jobs.c_str());
  }
  return 0;
}

struct RunFlags {
  std::string file;
  std::string inline_script;
  bool dry_run = false;
  bool local = false;
};

// `berth run`: a job script against berthd (each job forwarded over the wire) or
// in-process with --local.
int RunScriptCommand(const Common& c, const RunFlags& f) {
  if (f.file.empty() == f.inline_script.empty()) return Fail(2, "run needs a FILE or -e 'SCRIPT' (not both)");
  std::string text;
  std::string name = "-e";
  if (!f.file.empty()) {
    name = f.file;
    FILE* in = f.file == "-" ? stdin : std::fopen(f.file.c_str(), "r");
    if (in == nullptr) return Fail(2, absl::StrCat("cannot read ", f.file, ": ", std::strerror(errno)));
    char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, in)) > 0) text.append(buf, n);
    if (in != stdin) std::fclose(in);
  } else {
    text = f.inline_script;
  }
  absl::StatusOr<Script> script = ParseScript(text, name);
  if (!script.ok()) return Fail(2, script.status().message());
  if (f.dry_run) {
    absl::StatusOr<std::string> plan = PlanScript(*script);
    if (!plan.ok()) return Fail(2, plan.status().message());
    std::fputs(plan->c_str(), stdout);
    return 0;
  }

  Engine engine;
  if (f.local) {
    std::vector<HandlerGroup> groups = StandaloneGroups();
    groups.push_back(VersionGroup());
    for (const HandlerGroup& g : groups) {
      if (absl::Status s = g.install(engine); !s.ok()) return Fail(1, s.message());
    }
  } else {
    remote::ClientOptions opts;
    opts.endpoint = c.endpoint;
    opts.server_key = c.server_key;
    opts.client_key_file = c.key_file;
    // Fail early and clearly if the server cannot be reached at all.
    if (auto probe = remote::Client::Connect(opts); !probe.ok()) {
      return Fail(kStatusUnavailable, probe.status().message());
    }
    remote::InstallForwarding(engine, opts);
  }

  Output out;
  out.AddFd(STDOUT_FILENO);
  Output err;
  err.AddFd(STDERR_FILENO);
  Input in;
  if (!::isatty(STDIN_FILENO) && f.file != "-") (void)in.AddFd(STDIN_FILENO);
  ScriptCancel cancel;
  ScriptOptions so;
  so.stdout_sink = &out;
  so.stderr_sink = &err;
  so.stdin_source = in.has_source() ? &in : nullptr;
  so.cancel = &cancel;

  // Ctrl-C and SIGTERM cancel the running jobs; the script ends with 130.
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &mask, nullptr);
  std::atomic<bool> finished{false};
  std::thread waiter([&] {
    while (!finished.load()) {
      timespec tick{0, 100 * 1000 * 1000};
      if (::sigtimedwait(&mask, nullptr, &tick) > 0) cancel.Cancel();
    }
  });
  absl::StatusOr<ScriptResult> result = RunScript(engine, *script, so);
  finished = true;
  waiter.join();
  (void)out.Close();
  (void)err.Close();
  if (!result.ok()) return Fail(2, result.status().message());
  return result->status;
}

int Keygen(const std::string& base) {
  absl::StatusOr<remote::KeyPair> keys = remote::GenerateKeyPair();
  if (!keys.ok()) return Fail(1, keys.status().message());
  if (absl::Status s = remote::WriteKeyPair(*keys, base); !s.ok()) return Fail(1, s.message());
  std::printf("wrote %s.key (secret, mode 0600) and %s.pub\npublic key: %s\n", base.c_str(), base.c_str(),
              keys->public_key.c_str());
  return 0;
}

int Main(int argc, char** argv) {
  CLI::App app{"berth: run jobs on a berth engine (berthd) over ZeroMQ"};
  app.set_version_flag("--version", std::string("berth ") + BERTH_VERSION);
  app.require_subcommand(1);
  Common c;
  const char* host = std::getenv("BERTH_HOST");
  c.endpoint = host != nullptr && *host != '\0' ? host : kDefaultEndpoint;
  if (const char* k = std::getenv("BERTH_SERVER_KEY")) c.server_key = k;
  if (const char* k = std::getenv("BERTH_KEY")) c.key_file = k;
  app.add_option("-H,--host", c.endpoint, "endpoint of the engine: ipc:///path or tcp://host:port (env BERTH_HOST)")
      ->capture_default_str();
  app.add_option("--timeout", c.timeout, "deadline for the job, e.g. 1s or 250ms (status 124 when it passes)");
  app.add_option("--server-key", c.server_key,
                 "CURVE: the server's public key, or a file holding it (tcp; env BERTH_SERVER_KEY)");
  app.add_option("--key", c.key_file, "CURVE: this client's key file from `berth keygen` (env BERTH_KEY)");

  auto* job = app.add_subcommand("job", "run one job: NAME [ARG...] [KEY=VALUE...]");
  std::vector<std::string> words;
  job->add_option("words", words, "the job name, its args, and KEY=VALUE env entries")->required();
  job->prefix_command();  // everything after NAME belongs to the job
  auto* commands = app.add_subcommand("commands", "list the jobs the engine serves");
  auto* workers = app.add_subcommand("workers", "list the connected workers, their jobs and counters");
  auto* keygen = app.add_subcommand("keygen", "write a new CURVE keypair (BASE.key, BASE.pub)");
  std::string base = "berth";
  keygen->add_option("-o,--output", base, "path prefix of the key files")->capture_default_str();

  auto* run = app.add_subcommand("run", "run a job script (see docs/scripts.md) against the engine, or --local");
  RunFlags run_flags;
  run->add_option("file", run_flags.file, "the script file ('-' reads it from stdin)");
  run->add_option("-e", run_flags.inline_script, "the script itself");
  run->add_flag("-n,--dry-run", run_flags.dry_run, "check the script and print its plan; run nothing");
  run->add_flag("--local", run_flags.local, "run the jobs in this process (util and version jobs)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  if (*job) {
    for (const std::string& extra : job->remaining()) words.push_back(extra);
    remote::JobRequest req;
    bool have_name = false;
    for (const std::string& w : words) {
      size_t eq = w.find('=');
      if (eq != std::string::npos && have_name) {
        if (absl::Status s = req.env.Set(w.substr(0, eq), w.substr(eq + 1)); !s.ok()) return Fail(2, s.message());
      } else if (!have_name) {
        req.name = w;
        have_name = true;
      } else {
        req.args.push_back(w);
      }
    }
    if (!have_name || req.name.empty()) return Fail(2, "job needs a NAME");
    return RunJob(c, std::move(req), true);
  }
  if (*commands) {
    remote::JobRequest req;
    req.name = "commands";
    return RunJob(c, std::move(req), false);
  }
  if (*workers) return Workers(c);
  if (*run) return RunScriptCommand(c, run_flags);
  if (*keygen) return Keygen(base);
  return 2;
}

}  // namespace
}  // namespace berth

int main(int argc, char** argv) {
  berth::ConfigureProductionRuntime();
  return berth::Main(argc, argv);
}
