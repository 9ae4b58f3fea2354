// berth: the command-line client.
//
//   berth [GLOBAL…] job [-e KEY=VALUE…] NAME [ARG…]
//   berth [GLOBAL…] commands | workers | help [NAME] | keygen [-o BASE]
//   berth [GLOBAL…] run [--local] [-n] (FILE | -e SCRIPT)
//   berth completion bash
//   berth [GLOBAL…] version | info | images | ps | inspect | logs | start | stop | rm | rmi | events | trace-svg
//     (docker-style verbs over the jobs: tools/berth/verbs.h)
//   GLOBAL: -H ENDPOINT, --timeout DURATION, --server-key KEY, --key FILE,
//   --direct, --trace FILE; they may also come after the subcommand (before a
//   job's NAME).
//
// Runs jobs on berthd (or any berth server): stdin is forwarded when it is not a
// terminal, stdout and stderr stream as they arrive, and berth exits with the
// job's status. Ctrl-C cancels the job and exits 130.
//
// Every word after a job's NAME reaches the job exactly as typed (`-x`, `--`,
// `a=b` included); env entries are given only with -e/--env before NAME.
// `import FILE REPO`: the client reads FILE and streams it (the server never
// sees the client's paths); `import - REPO` refuses a terminal on stdin, and so
// does every job whose help (`berth help NAME`) says it requires stdin (`cat`).
//
// Exit status: the job's own; 2 for a usage error (the message names the
// offending word, with "did you mean" for a mistyped subcommand); 127 only when
// the server has no job of that name (with "did you mean" for a near one); 124
// when --timeout passes (for jobs and scripts alike); 126 when the server cannot
// be reached; 130 after Ctrl-C. With --trace FILE, a FILE that cannot be
// written turns a 0 into 1 (tools/berth/client_trace.h).
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "engine/engine.h"
#include "engine/job_line.h"
#include "engine/remote/client.h"
#include "engine/remote/forwarding.h"
#include "engine/remote/security.h"
#include "engine/runtime.h"
#include "engine/script/parser.h"
#include "engine/script/plan.h"
#include "engine/script/run.h"
#include "engine/status.h"
#include "engine/streams.h"
#include "handlers/groups.h"
#include "handlers/version.h"
#include "tools/berth/client_trace.h"
#include "tools/berth/completion.h"
#include "tools/berth/did_you_mean.h"
#include "tools/berth/progress.h"
#include "tools/berth/verbs.h"

namespace berth {
namespace {

constexpr char kDefaultEndpoint[] = "ipc:///run/berth/berth.sock";
// A script's trace id leaves room for ".N" (up to 7 digits) within the 64
// characters a trace id may have (docs/protocol.md).
constexpr size_t kMaxScriptTraceId = 56;

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
  bool direct = false;
  std::string trace_file;
  ClientTrace* trace = nullptr;  // --trace: every connection reports its jobs there
};

int Fail(int status, absl::string_view message) {
  std::fprintf(stderr, "berth: %.*s\n", static_cast<int>(message.size()), message.data());
  return status;
}

remote::ClientOptions ClientOptionsOf(const Common& c) {
  remote::ClientOptions opts;
  opts.endpoint = c.endpoint;
  opts.server_key = c.server_key;
  opts.client_key_file = c.key_file;
  opts.direct = c.direct;
  if (c.trace != nullptr) c.trace->Attach(opts);
  return opts;
}

absl::StatusOr<std::unique_ptr<remote::Client>> ConnectTo(const Common& c) {
  return remote::Client::Connect(ClientOptionsOf(c));
}

// --timeout as a Duration: InfiniteDuration when not given.
absl::StatusOr<absl::Duration> Timeout(const Common& c) {
  if (c.timeout.empty()) return absl::InfiniteDuration();
  absl::Duration d;
  if (!absl::ParseDuration(c.timeout, &d) || d <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--timeout: invalid duration '", c.timeout, "' (use e.g. 1s, 250ms)"));
  }
  return d;
}

// The names of the jobs the server (or `local`) serves.
absl::StatusOr<std::vector<std::string>> ServerJobs(const Common& c) {
  auto client = ConnectTo(c);
  if (!client.ok()) return client.status();
  Output out;
  std::shared_ptr<std::string> text = out.AddBuffer();
  remote::JobRequest req;
  req.name = "commands";
  absl::StatusOr<remote::JobResult> r = (*client)->Run(req, nullptr, &out, nullptr);
  (void)out.Close();
  if (!r.ok()) return r.status();
  if (r->status != 0) return absl::UnknownError(r->error);
  std::vector<std::string> names = absl::StrSplit(*text, '\n', absl::SkipEmpty());
  return names;
}

// Runs one job remotely, streaming to this process's stdout/stderr. `in` is the
// job's stdin (null: none).
// With `captured`, stdout goes there instead; with `captured_err`, stderr too.
int RunJob(const Common& c, remote::JobRequest req, std::unique_ptr<Source> in, std::string* captured = nullptr,
           std::string* captured_err = nullptr) {
  absl::StatusOr<absl::Duration> timeout = Timeout(c);
  if (!timeout.ok()) return Fail(2, timeout.status().message());
  if (*timeout != absl::InfiniteDuration()) req.timeout = *timeout;
  // BERTH_TRACE_ID in berth's environment names the request in berthd's traces.
  if (const char* trace = std::getenv("BERTH_TRACE_ID"); trace != nullptr && req.trace_id.empty()) {
    req.trace_id = trace;
  }
  // A long stdin (an import) shows its progress on a terminal.
  in = WithProgress(std::move(in));
  auto client = ConnectTo(c);
  if (!client.ok()) return Fail(kStatusUnavailable, client.status().message());

  if (::pipe2(cancel_pipe, O_CLOEXEC) != 0) return Fail(1, "cannot create a pipe");
  struct sigaction sa = {};
  sa.sa_handler = OnInterrupt;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  Output out;
  std::shared_ptr<std::string> out_text;
  if (captured != nullptr) {
    out_text = out.AddBuffer();
  } else {
    out.AddFd(STDOUT_FILENO);
  }
  Output err;
  std::shared_ptr<std::string> err_text = err.AddBuffer();
  if (captured_err == nullptr) err.AddFd(STDERR_FILENO);
  absl::StatusOr<remote::JobResult> r = (*client)->Run(req, in.get(), &out, &err, cancel_pipe[0]);
  (void)out.Close();
  (void)err.Close();
  if (captured != nullptr) *captured = *out_text;
  if (captured_err != nullptr) *captured_err = *err_text;
  if (!r.ok()) return Fail(1, r.status().message());
  if (interrupted) return kStatusCancelled;
  if (r->status == kStatusNotFound && absl::StartsWith(*err_text, absl::StrCat(req.name, ": command not found"))) {
    // The server has no such job: suggest a near name it does serve.
    if (absl::StatusOr<std::vector<std::string>> jobs = ServerJobs(c); jobs.ok()) {
      std::string hint = DidYouMean(req.name, *jobs);
      if (!hint.empty()) std::fprintf(stderr, "berth: did you mean '%s'? (berth commands lists them)\n", hint.c_str());
    }
    return r->status;
  }
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
  // DIRECT: jobs the worker runs / has run straight from clients ("-": it
  // takes none that way).
  std::printf("%-20s %-9s %-9s %-10s %-7s %-13s %-9s %s\n", "NAME", "CAPACITY", "IN-FLIGHT", "COMPLETED", "FAILED",
              "DIRECT", "STATE", "JOBS");
  for (const Env& w : table->data()) {
    std::string jobs;
    for (const std::string& j : w.GetList("Jobs")) absl::StrAppend(&jobs, jobs.empty() ? "" : ",", j);
    std::string direct = w.Get("DirectEndpoint").empty()
                             ? "-"
                             : absl::StrCat(w.Get("DirectRunning"), "/", w.Get("DirectServed"));
    std::printf("%-20s %-9s %-9s %-10s %-7s %-13s %-9s %s\n", w.Get("Name").c_str(), w.Get("Capacity").c_str(),
                w.Get("InFlight").c_str(), w.Get("Completed").c_str(), w.Get("Failed").c_str(), direct.c_str(),
                w.GetBool("Draining") ? "draining" : "serving", jobs.c_str());
  }
  return 0;
}

// Every job name a script calls that `known` lacks, as `FILE:LINE:COL: no such
// job 'NAME'`, or OK. Names built from a ${…} are only known at run time.
absl::Status CheckJobNames(const Script& script, const std::vector<std::string>& known) {
  for (const ScriptStatement& st : script.statements) {
    for (const ScriptPipeline& p : st.pipelines) {
      for (const ScriptJob& j : p.jobs) {
        if (j.words.empty() || j.words[0].pieces.size() != 1 || j.words[0].pieces[0].is_ref) continue;
        const std::string& name = j.words[0].pieces[0].literal;
        if (std::find(known.begin(), known.end(), name) != known.end()) continue;
        return absl::NotFoundError(absl::StrCat(script.file, ":", j.pos.line, ":", j.pos.col, ": no such job '", name,
                                                "'", DidYouMeanSuffix(name, known)));
      }
    }
  }
  return absl::OkStatus();
}

struct RunFlags {
  std::string file;
  std::string inline_script;
  bool dry_run = false;
  bool local = false;
};

// The trace id a script's jobs are numbered under (ID.1, ID.2, …):
// BERTH_TRACE_ID from berth's environment, or a fresh one.
absl::StatusOr<std::string> ScriptTraceId() {
  const char* given = std::getenv("BERTH_TRACE_ID");
  if (given == nullptr || *given == '\0') return remote::NewTraceId();
  const std::string id = given;
  if (id.size() > kMaxScriptTraceId) {
    return absl::InvalidArgumentError(absl::StrCat("BERTH_TRACE_ID: at most ", kMaxScriptTraceId,
                                                   " characters for a script (each job's id adds .N), got ", id.size()));
  }
  return id;
}

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
  absl::StatusOr<absl::Duration> timeout = Timeout(c);
  if (!timeout.ok()) return Fail(2, timeout.status().message());
  absl::StatusOr<std::string> trace_prefix = ScriptTraceId();
  if (!trace_prefix.ok()) return Fail(2, trace_prefix.status().message());

  Engine engine;
  std::vector<std::string> known;
  if (f.local) {
    std::vector<HandlerGroup> groups = StandaloneGroups();
    groups.push_back(VersionGroup());
    for (const HandlerGroup& g : groups) {
      if (absl::Status s = g.install(engine); !s.ok()) return Fail(1, s.message());
    }
    known = engine.Commands();
  } else {
    absl::StatusOr<std::vector<std::string>> jobs = ServerJobs(c);
    if (!jobs.ok()) return Fail(kStatusUnavailable, jobs.status().message());
    known = *std::move(jobs);
  }
  // Unknown job names are found before anything runs, with or without -n.
  if (absl::Status s = CheckJobNames(*script, known); !s.ok()) return Fail(2, s.message());
  if (f.dry_run) {
    absl::StatusOr<std::string> plan = PlanScript(*script);
    if (!plan.ok()) return Fail(2, plan.status().message());
    std::fputs(plan->c_str(), stdout);
    return 0;
  }
  if (!f.local) {
    remote::ClientOptions opts = ClientOptionsOf(c);
    // Fail early and clearly if the server cannot be reached at all.
    if (auto probe = remote::Client::Connect(opts); !probe.ok()) {
      return Fail(kStatusUnavailable, probe.status().message());
    }
    remote::InstallForwarding(engine, opts, *std::move(trace_prefix));
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
  // --timeout bounds the whole script: when it passes, the script is cancelled
  // and berth exits 124, as a single job does.
  std::atomic<bool> finished{false};
  std::atomic<bool> timed_out{false};
  const absl::Time deadline = *timeout == absl::InfiniteDuration() ? absl::InfiniteFuture() : absl::Now() + *timeout;
  std::thread waiter([&] {
    while (!finished.load()) {
      timespec tick{0, 20 * 1000 * 1000};
      if (::sigtimedwait(&mask, nullptr, &tick) > 0) cancel.Cancel();
      if (absl::Now() >= deadline && !timed_out.exchange(true)) cancel.Cancel();
    }
  });
  absl::StatusOr<ScriptResult> result = RunScript(engine, *script, so);
  finished = true;
  waiter.join();
  (void)out.Close();
  (void)err.Close();
  if (!result.ok()) return Fail(2, result.status().message());
  if (timed_out && result->status != 0) {
    return Fail(kStatusDeadlineExceeded, absl::StrCat("--timeout ", c.timeout, " passed: script cancelled"));
  }
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

// `import SRC REPO [TAG]` with SRC a path: the client opens it (so relative
// paths are the user's) and streams it as stdin with SRC '-'. With SRC '-',
// stdin must not be a terminal. Other jobs get stdin when it is not a terminal.
absl::StatusOr<std::unique_ptr<Source>> JobStdin(remote::JobRequest& req) {
  if (req.name == "import" && !req.args.empty()) {
    if (req.args[0] != "-") {
      int fd = ::open(req.args[0].c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        return absl::NotFoundError(absl::StrCat("import: cannot read '", req.args[0], "': ", std::strerror(errno)));
      }
      req.args[0] = "-";
      return MakeFdSource(fd);  // open until berth exits
    }
    if (::isatty(STDIN_FILENO)) {
      return absl::InvalidArgumentError(
          "import: stdin is a terminal; give a file (berth job import FILE REPO) or redirect one (< FILE)");
    }
  }
  if (::isatty(STDIN_FILENO)) return nullptr;
  return MakeFdSource(STDIN_FILENO);
}

// What the server's `help` says of job `name`'s stdin: "none", "optional",
// "required", or "" when it cannot say (no such job, an older server).
std::string ServerStdinUse(const Common& c, const std::string& name) {
  remote::JobRequest req;
  req.name = "help";
  req.args = {name};
  (void)req.env.Set("format", "json");
  std::string out, err;
  if (RunJob(c, std::move(req), nullptr, &out, &err) != 0) return "";
  absl::StatusOr<Env> help = Env::FromJson(out);
  return help.ok() ? help->Get("Stdin") : "";
}

int JobCommand(const Common& c, const std::vector<std::string>& env, const std::vector<std::string>& words) {
  remote::JobRequest req;
  if (words.empty() || words[0].empty()) return Fail(2, "job needs a NAME (berth job [-e KEY=VALUE]... NAME [ARG]...)");
  req.name = words[0];
  req.args.assign(words.begin() + 1, words.end());
  for (const std::string& e : env) {
    size_t eq = e.find('=');
    if (eq == std::string::npos || eq == 0) return Fail(2, absl::StrCat("--env: expected KEY=VALUE, got '", e, "'"));
    if (absl::Status s = req.env.Set(e.substr(0, eq), e.substr(eq + 1)); !s.ok()) {
      return Fail(2, absl::StrCat("--env: ", s.message()));
    }
  }
  absl::StatusOr<std::unique_ptr<Source>> in = JobStdin(req);
  if (!in.ok()) return Fail(in.status().code() == absl::StatusCode::kInvalidArgument ? 2 : 1, in.status().message());
  // A terminal is never sent as stdin: a job that needs one would wait for
  // input nobody is typing, so ask before starting it.
  if (*in == nullptr && ::isatty(STDIN_FILENO) && ServerStdinUse(c, req.name) == "required") {
    return Fail(2, absl::StrCat(req.name, " reads its stdin, which is a terminal here: redirect a file (< FILE) or "
                                          "pipe into berth"));
  }
  return RunJob(c, std::move(req), *std::move(in));
}

// A CLI11 parse error as berth reports it: status 2 and the offending word.
int UsageError(CLI::App& app, const CLI::ParseError& e) {
  std::vector<std::string> names;
  for (const CLI::App* sub : app.get_subcommands({})) names.push_back(sub->get_name());
  std::vector<std::string> left = app.remaining(true);
  if (!left.empty()) {
    const std::string& w = left[0];
    if (absl::StartsWith(w, "-")) return Fail(2, absl::StrCat("unknown flag '", w, "' (see berth --help)"));
    if (app.get_subcommands().empty()) {
      return Fail(2, absl::StrCat("unknown command '", w, "'", DidYouMeanSuffix(w, names), " (see berth --help)"));
    }
    return Fail(2, absl::StrCat("unexpected argument '", w, "'"));
  }
  if (app.get_subcommands().empty()) {
    return Fail(2, absl::StrCat("a command is required: ", absl::StrJoin(names, ", "), " (see berth --help)"));
  }
  return Fail(2, e.what());
}

// The flags every subcommand takes, before or after its name.
void AddGlobalFlags(CLI::App& app, Common& c) {
  app.add_option("-H,--host", c.endpoint, "endpoint of the engine: ipc:///path or tcp://host:port (env BERTH_HOST)")
      ->capture_default_str();
  app.add_option("--timeout", c.timeout,
                 "deadline for the job or script, e.g. 1s or 250ms (status 124 when it passes)");
  app.add_option("--server-key", c.server_key,
                 "CURVE: the server's public key, or a file holding it (tcp; env BERTH_SERVER_KEY)");
  app.add_option("--key", c.key_file, "CURVE: this client's key file from `berth keygen` (env BERTH_KEY)");
  app.add_flag("--direct", c.direct,
               "send jobs straight to the workers that take them directly, as berthd allows (docs/protocol.md, "
               "the direct path); pays off for many jobs, as in `run`");
  app.add_option("--trace", c.trace_file,
                 "when berth exits, write FILE: a Chrome trace (JSON) of the job requests it sent, a span each with "
                 "its trace id, status and where it ran (docs/observability.md, Traces); a FILE it cannot write "
                 "turns status 0 into 1")
      ->option_text("FILE");
}

int Main(int argc, char** argv) {
  ClientTrace trace;  // time zero of --trace's file
  CLI::App app{"berth: run jobs on a berth engine (berthd) over ZeroMQ"};
  app.set_version_flag("--version", std::string("berth ") + BERTH_VERSION);
  app.require_subcommand(1);
  // Global flags also work after the subcommand.
  app.fallthrough();
  Common c;
  const char* host = std::getenv("BERTH_HOST");
  c.endpoint = host != nullptr && *host != '\0' ? host : kDefaultEndpoint;
  if (const char* k = std::getenv("BERTH_SERVER_KEY")) c.server_key = k;
  if (const char* k = std::getenv("BERTH_KEY")) c.key_file = k;
  AddGlobalFlags(app, c);
  auto* job = app.add_subcommand(
      "job",
      "run one job: [-e KEY=VALUE]... NAME [ARG]... (every word after NAME reaches the job as typed; "
      "`berth help NAME` shows a job's args and env)");
  std::vector<std::string> env;
  job->add_option("-e,--env", env, "set an env entry of the job (repeatable)")->allow_extra_args(false);
  job->prefix_command();  // NAME and everything after it belong to the job
  // Falling through to the parent would hand NAME to it and parse the job's own
  // words as flags; the global flags are declared on `job` itself instead.
  job->fallthrough(false);
  AddGlobalFlags(*job, c);
  auto* commands = app.add_subcommand("commands", "list the jobs the engine serves");
  auto* workers = app.add_subcommand("workers", "list the connected workers, their jobs and counters");
  auto* help = app.add_subcommand("help", "without NAME, every job and what it does; with NAME, its args, env and stdin");
  std::string help_name;
  help->add_option("NAME", help_name, "a job's name");
  auto* keygen = app.add_subcommand("keygen", "write a new CURVE keypair (BASE.key, BASE.pub)");
  std::string base = "berth";
  keygen->add_option("-o,--output", base, "path prefix of the key files")->capture_default_str();

  auto* run = app.add_subcommand("run", "run a job script (see docs/scripts.md) against the engine, or --local");
  RunFlags run_flags;
  run->add_option("file", run_flags.file, "the script file ('-' reads it from stdin)");
  run->add_option("-e", run_flags.inline_script, "the script itself");
  run->add_flag("-n,--dry-run", run_flags.dry_run,
                "check the script (its job names too) and print its plan; run nothing");
  run->add_flag("--local", run_flags.local, "run the jobs in this process (util and version jobs)");

  Verbs verbs(app);
  auto* completion = app.add_subcommand("completion", "print the bash completion script for berth");
  std::string shell;
  completion->add_option("shell", shell, "the shell (bash)")->required()->check(CLI::IsMember({"bash"}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return UsageError(app, e);
  }
  // What the command line asks for; its status is berth's.
  auto dispatch = [&]() -> int {
    if (*job) return JobCommand(c, env, job->remaining());
    int verb_status = 0;
    if (verbs.Run([&](remote::JobRequest req, std::string* out,
                      std::string* err) { return RunJob(c, std::move(req), nullptr, out, err); },
                  [&](remote::JobRequest req) { return RunJob(c, std::move(req), nullptr); }, &verb_status)) {
      return verb_status;
    }
    if (*commands) {
      remote::JobRequest req;
      req.name = "commands";
      return RunJob(c, std::move(req), nullptr);
    }
    if (*workers) return Workers(c);
    if (*help) {
      remote::JobRequest req;
      req.name = "help";
      if (!help_name.empty()) req.args = {help_name};
      return RunJob(c, std::move(req), nullptr);
    }
    if (*run) return RunScriptCommand(c, run_flags);
    if (*keygen) return Keygen(base);
    if (*completion) {
      std::fputs(BashCompletion(app).c_str(), stdout);
      return 0;
    }
    return 2;
  };
  if (absl::Status s = trace.Start(c.trace_file); !s.ok()) return Fail(2, s.message());
  c.trace = &trace;
  return trace.Finish(dispatch());
}

}  // namespace
}  // namespace berth

int main(int argc, char** argv) {
  berth::ConfigureProductionRuntime();
  return berth::Main(argc, argv);
}
