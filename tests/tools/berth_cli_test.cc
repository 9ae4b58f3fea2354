// The command lines as a user types them, with a real berthd (-b none on a
// scratch root) and real processes: berth's words reach jobs as typed, env has
// its own flag, usage errors exit 2 naming the word, 127 means only "no such
// job", paths are the client's, --timeout bounds jobs and scripts, the friendly
// verbs, image names; berthd's checks before it starts (dry run, root, lock,
// config file); berth-worker's connected message; bash completion.
#include <doctest/doctest.h>
#include <signal.h>

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace berth {
namespace {

using testing::Process;
using testing::ProcessOptions;
using testing::RunCommand;
using testing::RunResult;
using testing::TempDir;
using testing::ToolPath;
using testing::WaitFor;

// A berthd without networking on a scratch root, stopped at the end.
class Daemon {
 public:
  Daemon()
      : sock_("ipc://" + dir_.path() + "/run/berth.sock"),
        proc_(ProcessOptions{{ToolPath("BERTHD"), "-H", sock_, "-g", dir_ / "root", "-p", dir_ / "berthd.pid", "-b",
                              "none", "-G", "root"},
                             {"BERTH_DRIVER=vfs"},
                             "",
                             dir_.path()}) {
    REQUIRE_MESSAGE(WaitFor([&] { return absl::StrContains(proc_.Stderr(), "berthd ready in") || !proc_.running(); },
                            absl::Seconds(20)),
                    proc_.Stderr());
    REQUIRE_MESSAGE(proc_.running(), proc_.Stderr());
  }
  ~Daemon() {
    proc_.Signal(SIGTERM);
    (void)proc_.Wait(absl::Seconds(20));
  }
  // berth -H SOCK args…
  RunResult Berth(std::vector<std::string> args, std::string stdin_file = "") {
    std::vector<std::string> argv = {ToolPath("BERTH"), "-H", sock_};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, {}, std::move(stdin_file));
  }
  // berth args… with the endpoint from BERTH_HOST (so flags can go anywhere).
  RunResult BerthBare(std::vector<std::string> args) {
    std::vector<std::string> argv = {ToolPath("BERTH")};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(argv, {"BERTH_HOST=ipc:///nonexistent/berth.sock"});
  }
  const std::string& sock() const { return sock_; }
  const TempDir& dir() const { return dir_; }

 private:
  TempDir dir_;
  std::string sock_;
  Process proc_;
};

// `berth job WORDS` with a terminal on stdin (script(1) gives berth one); the
// output ends with `status=N`, berth's exit status.
RunResult JobOnTerminal(const Daemon& d, const std::string& words) {
  return RunCommand({"/usr/bin/script", "-qec",
                     absl::StrCat(ToolPath("BERTH"), " -H ", d.sock(), " job ", words, "; echo status=$?"),
                     "/dev/null"});
}

TEST_CASE("berth job: every word after NAME reaches the job exactly as typed") {
  Daemon d;
  CHECK(d.Berth({"job", "echo", "a", "--bar", "b"}).out == "a --bar b\n");
  CHECK(d.Berth({"job", "echo", "-H", "x"}).out == "-H x\n");
  CHECK(d.Berth({"job", "echo", "a", "--", "b"}).out == "a -- b\n");
  CHECK(d.Berth({"job", "echo", "/srv/v=1.tar", "A=B"}).out == "/srv/v=1.tar A=B\n");
  CHECK(d.Berth({"job", "echo", "-e", "X=1"}).out == "-e X=1\n");
  // An arg with '=' is an arg: env ignores nothing, it refuses args.
  RunResult env_arg = d.Berth({"job", "env", "A=1"});
  CHECK(env_arg.status == 1);
  CHECK(env_arg.err == "env: takes no arguments, got 'A=1'\n");
}

TEST_CASE("berth job: env entries are -e/--env KEY=VALUE before NAME") {
  Daemon d;
  RunResult env = d.Berth({"job", "-e", "A=1", "--env", "B=two words", "--env=C=x=y", "env"});
  CHECK(env.status == 0);
  CHECK(env.out.find("{\"A\":\"1\",\"B\":\"two words\",\"C\":\"x=y\",") == 0);
  RunResult bad = d.Berth({"job", "-e", "NOEQUALS", "env"});
  CHECK(bad.status == 2);
  CHECK(bad.err == "berth: --env: expected KEY=VALUE, got 'NOEQUALS'\n");
}

TEST_CASE("berth: global flags before or after the subcommand") {
  Daemon d;
  CHECK(d.BerthBare({"job", "-H", d.sock(), "echo", "after"}).out == "after\n");
  CHECK(d.BerthBare({"-H", d.sock(), "job", "echo", "before"}).out == "before\n");
  RunResult commands = d.BerthBare({"commands", "-H", d.sock()});
  CHECK(commands.status == 0);
  CHECK(absl::StrContains(commands.out, "echo\n"));
  CHECK(d.BerthBare({"job", "-H", d.sock(), "--timeout", "200ms", "sleep", "10"}).status == 124);
}

TEST_CASE("berth: usage errors exit 2 and name the offending word") {
  Daemon d;
  RunResult typo = d.Berth({"jbo"});
  CHECK(typo.status == 2);
  CHECK(typo.err == "berth: unknown command 'jbo' (did you mean 'job'?) (see berth --help)\n");
  RunResult flag = d.Berth({"--tiemout", "1s", "job", "echo"});
  CHECK(flag.status == 2);
  CHECK(flag.err == "berth: unknown flag '--tiemout' (see berth --help)\n");
  RunResult none = d.Berth({});
  CHECK(none.status == 2);
  CHECK(absl::StartsWith(none.err, "berth: a command is required: job, "));
  RunResult timeout = d.Berth({"--timeout", "soon", "job", "echo"});
  CHECK(timeout.status == 2);
  CHECK(timeout.err == "berth: --timeout: invalid duration 'soon' (use e.g. 1s, 250ms)\n");
  RunResult no_name = d.Berth({"job"});
  CHECK(no_name.status == 2);
  CHECK(absl::StartsWith(no_name.err, "berth: job needs a NAME"));
  CHECK(d.Berth({"--help"}).status == 0);
  CHECK(d.Berth({"job", "--help"}).status == 0);
}

TEST_CASE("berth: 127 only for no such job, with a suggestion; a missing object is 1") {
  Daemon d;
  RunResult typo = d.Berth({"job", "ehco", "x"});
  CHECK(typo.status == 127);
  CHECK(typo.err == "ehco: command not found\nberth: did you mean 'echo'? (berth commands lists them)\n");
  RunResult far = d.Berth({"job", "zzzzzzzz"});
  CHECK(far.status == 127);
  CHECK(far.err == "zzzzzzzz: command not found\n");
  RunResult image = d.Berth({"job", "image_inspect", "nosuch"});
  CHECK(image.status == 1);
  CHECK(absl::StrContains(image.err, "nosuch"));
  RunResult file = d.Berth({"job", "import", "/nonexistent/r.tar", "demo"});
  CHECK(file.status == 1);
  CHECK(file.err == "berth: import: cannot read '/nonexistent/r.tar': No such file or directory\n");
}

TEST_CASE("berth job import FILE: the client reads its own path and streams it") {
  Daemon d;
  TempDir work;
  REQUIRE(
      RunCommand({"/bin/sh", "-c",
                  absl::StrCat("cd ", work.path(), " && mkdir -p r/bin && echo hi >r/bin/f && tar -C r -cf v=1.tar .")})
          .status == 0);
  // Relative to berth's working directory, which is not berthd's.
  RunResult imported = RunCommand(
      {"/bin/sh", "-c",
       absl::StrCat("cd ", work.path(), " && exec ", ToolPath("BERTH"), " -H ", d.sock(), " job import v=1.tar demo")});
  CHECK_MESSAGE(imported.status == 0, imported.err);
  CHECK(imported.out.size() == 65);
  CHECK(absl::StrContains(d.Berth({"job", "images"}).out, "demo"));
  // import - reads stdin, which must not be a terminal: script(1) gives berth one.
  RunResult tty = JobOnTerminal(d, "import - x");
  CHECK(absl::StrContains(tty.out, "import: stdin is a terminal"));
  CHECK(absl::StrContains(tty.out, "status=2"));
}

TEST_CASE("berth help: every job with its summary; one job's args, env and stdin from the server") {
  Daemon d;
  RunResult all = d.Berth({"help"});
  CHECK(all.status == 0);
  CHECK(absl::StrContains(all.out, "echo                    prints its args joined by one space, and a newline\n"));
  CHECK(absl::StrContains(all.out, "\ncreate "));
  CHECK(absl::StrContains(all.out, "\nallocate_port "));  // -b none: the jobs exist and are described
  RunResult stop = d.Berth({"help", "stop"});
  CHECK(stop.status == 0);
  CHECK(absl::StartsWith(stop.out, "Usage: stop ID (a full id, a unique id prefix, or a name)\n"));
  CHECK(absl::StrContains(stop.out, "\nEnv (berth job -e KEY=VALUE):\n  t  seconds before SIGKILL (default 10)\n"));
  CHECK(absl::StrContains(d.Berth({"help", "cat"}).out, "\nStdin: read to its end; redirect a file or a pipe into it\n"));
  // The same as a job, and as JSON for programs.
  CHECK(d.Berth({"job", "help", "stop"}).out == stop.out);
  RunResult json = d.Berth({"job", "-e", "format=json", "help", "cat"});
  CHECK(json.out == "{\"Name\":\"cat\",\"Usage\":\"\",\"Summary\":\"copies its stdin to its stdout\",\"Env\":{},"
                    "\"Stdin\":\"required\"}\n");
  // The observe jobs (docs/observability.md) are described like the others.
  CHECK(absl::StrContains(all.out, "\nmetrics                 berthd's metrics as a Prometheus text page"));
  CHECK(absl::StartsWith(d.Berth({"help", "trace"}).out, "Usage: trace [start FILE | stop]\n"));
  RunResult events = d.Berth({"help", "events"});
  CHECK(events.status == 0);
  CHECK(absl::StrContains(events.out, "\n  filter  KEY=VALUE or a JSON array of them; KEY one of type, event, id, from\n"));
  CHECK(d.Berth({"help", "metrics"}).status == 0);
  RunResult missing = d.Berth({"help", "ehco"});
  CHECK(missing.status == 1);
  CHECK(missing.err == "help: no job named 'ehco'\n");
}

TEST_CASE("berth job: a job that requires stdin refuses a terminal; others run without one") {
  Daemon d;
  RunResult cat = JobOnTerminal(d, "cat");
  CHECK_MESSAGE(absl::StrContains(cat.out, "berth: cat reads its stdin, which is a terminal here: redirect a file "
                                           "(< FILE) or pipe into berth"),
                cat.out);
  CHECK(absl::StrContains(cat.out, "status=2"));
  RunResult echo = JobOnTerminal(d, "echo hi");
  CHECK(absl::StrContains(echo.out, "hi"));
  CHECK(absl::StrContains(echo.out, "status=0"));
  // Redirected, cat runs.
  TempDir work;
  const std::string file = work / "in.txt";
  REQUIRE(RunCommand({"/bin/sh", "-c", absl::StrCat("echo redirected >", file)}).status == 0);
  CHECK(d.Berth({"job", "cat"}, file).out == "redirected\n");
}

TEST_CASE("berth: sleep takes seconds; --timeout bounds jobs and scripts") {
  Daemon d;
  CHECK(d.Berth({"job", "sleep", "0.01"}).status == 0);
  absl::Time start = absl::Now();
  RunResult job = d.Berth({"--timeout", "300ms", "job", "sleep", "10"});
  CHECK(job.status == 124);
  start = absl::Now();
  RunResult script = d.Berth({"--timeout", "500ms", "run", "-e", "sleep 5s"});
  CHECK(script.status == 124);
  CHECK(absl::Now() - start < absl::Seconds(4));
  CHECK(absl::StrContains(script.err, "--timeout 500ms passed"));
  CHECK(d.Berth({"--timeout", "5s", "run", "-e", "echo in time"}).out == "in time\n");
}

TEST_CASE("berth run: unknown job names are found before anything runs") {
  Daemon d;
  RunResult plan = d.Berth({"run", "-n", "-e", "echo hi; ehco hi"});
  CHECK(plan.status == 2);
  CHECK(plan.err == "berth: -e:1:10: no such job 'ehco' (did you mean 'echo'?)\n");
  RunResult ran = d.Berth({"run", "-e", "echo ran; ehco hi"});
  CHECK(ran.status == 2);
  CHECK(ran.out.empty());
  RunResult local = d.Berth({"run", "--local", "-n", "-e", "version | ehco"});
  CHECK(local.status == 2);
  CHECK(absl::StrContains(local.err, "no such job 'ehco'"));
  CHECK(d.Berth({"run", "-n", "-e", "echo hi"}).out == "echo hi\n");
}

TEST_CASE("friendly verbs map onto jobs: version, info, images, ps, inspect, rmi") {
  Daemon d;
  RunResult version = d.Berth({"version"});
  CHECK(version.status == 0);
  CHECK(absl::StartsWith(version.out, "Client:\n  Version: "));
  CHECK(absl::StrContains(version.out, "Server:\n"));
  CHECK(absl::StrContains(version.out, "  ApiVersion: "));
  RunResult version_json = d.Berth({"version", "--format", "json"});
  CHECK(absl::StartsWith(version_json.out, "{\"Client\":{\"Version\":"));
  CHECK(absl::StrContains(d.Berth({"info"}).out, "Driver: vfs\n"));
  CHECK(absl::StartsWith(d.Berth({"info", "--format", "json"}).out, "{"));

  CHECK(d.Berth({"images"}).out == "REPOSITORY   TAG   IMAGE ID   CREATED   SIZE\n");
  TempDir work;
  REQUIRE(RunCommand({"/bin/sh", "-c",
                      absl::StrCat("mkdir -p ", work.path(), "/r && tar -C ", work.path(), "/r -cf ", work.path(),
                                   "/r.tar .")})
              .status == 0);
  RunResult imported = d.Berth({"job", "import", work / "r.tar", "demo"});
  REQUIRE_MESSAGE(imported.status == 0, imported.err);
  const std::string id = imported.out.substr(0, 12);
  RunResult images = d.Berth({"images"});
  CHECK(absl::StrContains(images.out, "\ndemo         latest   " + id + "   "));
  CHECK(d.Berth({"images", "-q"}).out == id + "\n");
  CHECK(absl::StartsWith(d.Berth({"images", "--format", "json"}).out, "[{\"Created\":"));
  CHECK(d.Berth({"ps"}).out == "CONTAINER ID   IMAGE   COMMAND   CREATED   STATUS   PORTS   NAMES\n");
  CHECK(d.Berth({"ps", "-a", "-q"}).out.empty());
  RunResult inspect = d.Berth({"inspect", "demo"});
  CHECK(inspect.status == 0);
  CHECK(absl::StrContains(inspect.out, imported.out.substr(0, 64)));
  RunResult missing = d.Berth({"inspect", "nosuch"});
  CHECK(missing.status == 1);
  CHECK(missing.err == "berth: no such container or image: nosuch\n");
  CHECK(d.Berth({"rmi", "demo"}).status == 0);
  CHECK(d.Berth({"images", "-q"}).out.empty());
}

TEST_CASE("image names: Docker's rules, repo:tag parsed, tag -f") {
  Daemon d;
  TempDir work;
  REQUIRE(RunCommand({"/bin/sh", "-c",
                      absl::StrCat("mkdir -p ", work.path(), "/r && tar -C ", work.path(), "/r -cf ", work.path(),
                                   "/r.tar .")})
              .status == 0);
  for (const std::string bad : {"Bad Name", "UPPER", "demo@x"}) {
    CAPTURE(bad);
    RunResult r = d.Berth({"job", "import", work / "r.tar", bad});
    CHECK(r.status == 1);
    CHECK(r.err == "Invalid repository name (" + bad + "), only [a-z0-9-_.] are allowed\n");
  }
  RunResult first = d.Berth({"job", "import", work / "r.tar", "demo:v1"});
  REQUIRE_MESSAGE(first.status == 0, first.err);
  CHECK(absl::StrContains(d.Berth({"images"}).out, "\ndemo         v1    "));
  CHECK(d.Berth({"job", "image_inspect", "demo:v1"}).status == 0);
  RunResult second = d.Berth({"job", "import", work / "r.tar", "other"});
  REQUIRE(second.status == 0);
  RunResult conflict = d.Berth({"job", "tag", "other", "demo:v1"});
  CHECK(conflict.status == 1);
  CHECK(absl::StartsWith(conflict.err, "Conflict: Tag v1 is already set to image "));
  CHECK(d.Berth({"job", "tag", "-f", "other", "demo:v1"}).status == 0);
  CHECK(absl::StrContains(d.Berth({"job", "image_inspect", "demo:v1"}).out, second.out.substr(0, 64)));
  RunResult both = d.Berth({"job", "tag", "other", "demo:v2", "v3"});
  CHECK(both.status == 1);
  CHECK(both.err == "both a tag in 'demo:v2' and a TAG argument 'v3': give one\n");
}

// berthd --dry-run with `flags` on a scratch root.
RunResult DryRun(const TempDir& dir, std::vector<std::string> flags) {
  std::vector<std::string> argv = {
      ToolPath("BERTHD"), "--dry-run", "-g", dir / "root", "-p", dir / "pid", "-H", "ipc://" + dir.path() + "/b.sock"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  return RunCommand(argv);
}

TEST_CASE("berthd --dry-run runs the start's checks; errors name the flag") {
  TempDir dir;
  const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
      {{"-e", "lxc"}, "berthd: --exec-driver: unknown exec driver 'lxc' (berth has: native)\n"},
      {{"-s", "zfs"},
       "berthd: --storage-driver: unknown graph driver 'zfs' (berth has: aufs, btrfs, devicemapper, "
       "overlay, vfs)\n"},
      {{"--storage-opt", "foo=bar"},
       "berthd: --storage-opt: unknown option 'foo=bar' (berth's graph drivers take no "
       "options)\n"},
      {{"-H", "/run/x.sock"}, "berthd: -H: '/run/x.sock' is not ipc:///PATH or tcp://HOST:PORT\n"},
      {{"--bip", "999.1.1.1/16"},
       "berthd: --bip: invalid CIDR '999.1.1.1/16' (want ADDRESS/PREFIX, e.g. "
       "172.17.42.1/16)\n"},
      {{"--mtu", "10"}, "berthd: --mtu: must be 0 (the default route's) or between 68 and 65535, got 10\n"},
      {{"--dns", "notanip"}, "berthd: --dns: invalid IPv4 address 'notanip'\n"},
      {{"--ip", "1.2.3"}, "berthd: --ip: invalid IPv4 address '1.2.3'\n"},
  };
  for (const auto& [flags, err] : cases) {
    CAPTURE(flags[0]);
    RunResult r = DryRun(dir, flags);
    CHECK(r.status == 1);
    CHECK(r.err == err);
  }
  RunResult unknown_group = DryRun(dir, {"--remote-handlers", "nosuch"});
  CHECK(unknown_group.status == 2);
  CHECK(unknown_group.err ==
        "berthd: --remote-handlers: unknown handler group 'nosuch' (known: network, util, version)\n");
  RunResult no_net = DryRun(dir, {"-b", "none", "--remote-handlers", "network"});
  CHECK(no_net.status == 2);
  CHECK(no_net.err ==
        "berthd: --remote-handlers: 'network' cannot be left to workers with -b none (networking is disabled)\n");
  RunResult tcp = DryRun(dir, {"-H", "tcp://0.0.0.0:23750"});
  CHECK(tcp.status == 1);
  CHECK(absl::StartsWith(tcp.err, "berthd: -H: refusing to serve tcp://0.0.0.0:23750 without CURVE keys"));
  // Booleans take =false; the plan shows what they became.
  RunResult off = DryRun(dir, {"-b", "none", "--iptables=false", "--icc=false"});
  CHECK(off.status == 1);
  CHECK(absl::StrContains(off.err, "You specified --iptables=false with --icc=false."));
  RunResult ok = DryRun(dir, {"-b", "none", "--iptables=false"});
  CHECK_MESSAGE(ok.status == 0, ok.err);
  CHECK(absl::StrContains(ok.out, "EnableIptables=0"));
  CHECK(absl::StrContains(ok.out, "EnableIpMasq=0"));
}

TEST_CASE("berthd --config-file: keys named as flags, conflicts name both, --dry-run shows the merge") {
  TempDir dir;
  auto write = [&](const std::string& name, const std::string& text) {
    std::string path = dir / name;
    REQUIRE(RunCommand({"/bin/sh", "-c", absl::StrCat("printf '%s' '", text, "' > ", path)}).status == 0);
    return path;
  };
  std::string good =
      write("good.json", R"({"bridge": "none", "iptables": false, "dns": ["1.1.1.1", "9.9.9.9"], "mtu": 1400})");
  RunResult merged = DryRun(dir, {"--config-file", good});
  CHECK_MESSAGE(merged.status == 0, merged.err);
  CHECK(absl::StrContains(merged.out, absl::StrCat("configuration (flags, then ", good, "):\n")));
  CHECK(absl::StrContains(merged.out, "  --bridge=none\n"));
  CHECK(absl::StrContains(merged.out, "  --iptables=false\n"));
  CHECK(absl::StrContains(merged.out, "  --dns=1.1.1.1,9.9.9.9\n"));
  CHECK(absl::StrContains(merged.out, "  --icc=true\n"));
  CHECK(absl::StrContains(merged.out, "Mtu=1400"));
  CHECK(absl::StrContains(merged.out, "EnableIptables=0"));
  RunResult both = DryRun(dir, {"--config-file", good, "--mtu", "1500"});
  CHECK(both.status == 2);
  CHECK(both.err == absl::StrCat("berthd: the flag --mtu and the key \"mtu\" in ", good, " both set mtu; keep one\n"));
  std::string unknown = write("unknown.json", R"({"bridge": "none", "colour": "blue"})");
  RunResult bad_key = DryRun(dir, {"--config-file", unknown});
  CHECK(bad_key.status == 2);
  CHECK(bad_key.err ==
        absl::StrCat("berthd: ", unknown,
                     ": unknown key \"colour\" (keys are berthd's long flag names, see berthd --help)\n"));
  std::string bad_ip = write("bad_ip.json", R"({"bridge": "none", "ip": "1.2.3"})");
  CHECK(DryRun(dir, {"--config-file", bad_ip}).err == "berthd: --ip: invalid IPv4 address '1.2.3'\n");
  RunResult missing = DryRun(dir, {"--config-file", dir / "missing.json"});
  CHECK(missing.status == 2);
  CHECK(absl::StartsWith(missing.err, "berthd: --config-file: cannot read "));
}

TEST_CASE("berthd: root is checked first; --help shows the defaults; --log-level") {
  TempDir dir;
  // As nobody (65534), with a flag that is also wrong: the root check speaks first.
  RunResult nobody = RunCommand({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                 ToolPath("BERTHD"), "--dry-run", "--ip", "1.2.3", "-g", dir / "root"});
  CHECK(nobody.status == 1);
  CHECK(nobody.err == "berthd: The berth daemon needs to be run as root\n");
  RunResult help = RunCommand({ToolPath("BERTHD"), "--help"});
  CHECK(help.status == 0);
  for (const char* shown : {"=/var/lib/berth", "=/var/run/berth.pid", "=native", "=0.0.0.0", "=berth",
                            "--log-level TEXT:{debug,info,warn,error}=info",
                            "add berth's firewall rules (default: true)", "enable SELinux support (default: false)"}) {
    CAPTURE(shown);
    CHECK(absl::StrContains(help.out, shown));
  }
  RunResult bad_level = RunCommand({ToolPath("BERTHD"), "--log-level", "loud", "--dry-run"});
  CHECK(bad_level.status == 2);  // a usage error (docs/daemon.md)
  CHECK(bad_level.err ==
        "berthd: --log-level: loud not in {debug,info,warn,error} (see berthd --help)\n");
}

TEST_CASE("berthd: the -g root is locked; a second berthd on it refuses") {
  Daemon d;
  RunResult second = RunCommand({ToolPath("BERTHD"), "-b", "none", "-g", d.dir() / "root", "-p", d.dir() / "other.pid",
                                 "-H", "ipc://" + d.dir().path() + "/other.sock", "-G", "root"},
                                {"BERTH_DRIVER=vfs"});
  CHECK(second.status == 1);
  CHECK(second.err == absl::StrCat("berthd: another berthd is using the root ", d.dir().path(), "/root (",
                                   d.dir().path(), "/root/berthd.lock is locked); give each berthd its own -g\n"));
  CHECK(d.Berth({"job", "echo", "still", "serving"}).out == "still serving\n");
}

TEST_CASE("berth-worker says connected only once berthd accepted it") {
  TempDir dir;
  Process lonely(ProcessOptions{{ToolPath("BERTH_WORKER"), "-H", "ipc://" + dir.path() + "/nowhere.sock", "--handlers",
                                 "util", "--name", "lonely"},
                                {},
                                "",
                                dir.path()});
  REQUIRE(WaitFor([&] { return absl::StrContains(lonely.Stderr(), "connecting to"); }, absl::Seconds(10)));
  absl::SleepFor(absl::Seconds(2));
  CHECK_FALSE(absl::StrContains(lonely.Stderr(), "connected:"));

  Daemon d;
  Process worker(ProcessOptions{
      {ToolPath("BERTH_WORKER"), "-H", d.sock(), "--handlers", "util", "--name", "helper"}, {}, "", dir.path()});
  CHECK_MESSAGE(WaitFor(
                    [&] {
                      return absl::StrContains(
                          worker.Stderr(), "berth-worker helper: connected: berthd at " + d.sock() + " accepted it");
                    },
                    absl::Seconds(20)),
                worker.Stderr());
  worker.Signal(SIGTERM);
  (void)worker.Wait(absl::Seconds(10));
}

TEST_CASE("bash completion: subcommands, and after `job` the server's job names") {
  Daemon d;
  auto complete = [&](const std::string& line) {
    return RunCommand({"/bin/bash", "-c",
                       absl::StrCat("source ", ToolPath("BERTH_COMPLETION"), "; COMP_WORDS=(", line,
                                    "); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _berth; echo \"${COMPREPLY[*]}\"")},
                      {absl::StrCat("PATH=", std::filesystem::path(ToolPath("BERTH")).parent_path().string(),
                                    ":/usr/bin:/bin")})
        .out;
  };
  CHECK(complete("berth jo") == "job\n");
  CHECK(complete(absl::StrCat("berth -H ", d.sock(), " job ec")) == "echo\n");
  CHECK(complete(absl::StrCat("berth job -H ", d.sock(), " container_ins")) == "container_inspect\n");
  CHECK(complete(absl::StrCat("berth -H ", d.sock(), " job echo ec")).find("echo") == std::string::npos);
}

}  // namespace
}  // namespace berth
