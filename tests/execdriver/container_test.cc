// Real containers from the busybox rootfs: output and exit status, signals,
// exec errors, namespaces, the user, attach, and what Destroy leaves (nothing).
#include "execdriver/container.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "doctest/doctest.h"
#include "execdriver/json_log.h"
#include "tests/execdriver/sandbox.h"
#include "tests/support/process.h"

namespace berth::execdriver {
namespace {

using testing::RunOutput;
using testing::Sandbox;

std::unique_ptr<Container> CreateOrDie(Spec spec) {
  auto c = Container::Create(std::move(spec));
  REQUIRE_MESSAGE(c.ok(), c.status().ToString());
  return *std::move(c);
}

TEST_CASE("container: invalid specs are refused before anything is made") {
  testing::TempDir dir;
  Spec spec;
  spec.id = "bad";
  spec.argv = {"true"};
  spec.rootfs = dir / "missing";
  spec.cgroups.mount_root = dir / "cgroups";  // nothing may be made here
  auto no_rootfs = Container::Create(spec);
  CHECK(no_rootfs.status().message() == "rootfs " + dir / "missing" + " is not a directory");
  spec.rootfs = dir.path();
  spec.argv.clear();
  CHECK(Container::Create(spec).status().message() == "no command specified");
  spec.argv = {"true"};
  spec.id.clear();
  CHECK(Container::Create(spec).status().message() == "container id is empty");
  spec.id = "bad";
  spec.log_path = dir / "no/such/dir/log.json";
  CHECK(absl::StartsWith(Container::Create(spec).status().message(), "cannot open log "));
  CHECK(!std::filesystem::exists(dir / "cgroups"));
}

TEST_CASE("container: stdout and stderr reach the json-file log with their streams; exit status") {
  if (testing::SkipContainerTest()) return;
  Sandbox box;
  Spec spec = box.MakeSpec({"sh", "-c", "echo out; echo err >&2; printf partial; exit 3"});
  std::string log_path = spec.log_path;
  RunOutput r = box.Run(std::move(spec));
  REQUIRE_MESSAGE(r.start.ok(), r.start.ToString());
  CHECK(r.status.code == 3);
  CHECK(!r.status.oom_killed);
  CHECK(r.status.finished_at <= absl::Now());
  auto log = ReadJsonLog(log_path);
  REQUIRE(log.ok());
  REQUIRE(log->size() == 3);
  std::vector<std::pair<Stream, std::string>> lines;
  for (const LogEntry& e : *log) lines.emplace_back(e.stream, e.log);
  // stdout and stderr are separate pipes: only the order within a stream holds.
  CHECK(std::count(lines.begin(), lines.end(), std::pair{Stream::kStdout, std::string("out\n")}) == 1);
  CHECK(std::count(lines.begin(), lines.end(), std::pair{Stream::kStderr, std::string("err\n")}) == 1);
  CHECK(std::count(lines.begin(), lines.end(), std::pair{Stream::kStdout, std::string("partial")}) == 1);
}

TEST_CASE("container: argv[0] is looked up in PATH; Docker's error when it is not found") {
  if (testing::SkipContainerTest()) return;
  Sandbox box;
  auto c = CreateOrDie(box.MakeSpec({"nosuch"}));
  absl::Status started = c->Start();
  CHECK(started.message() == "exec: \"nosuch\": executable file not found in $PATH");
  CHECK(c->Exited());  // Start reaped the failed init
  CHECK(c->Wait().code == 127);
  CHECK(c->Destroy().ok());

  Spec custom = box.MakeSpec({"hello"});
  custom.env = {"PATH=/opt/none:/usr/bin"};  // busybox's applets are in /bin only
  auto d = CreateOrDie(std::move(custom));
  CHECK(d->Start().message() == "exec: \"hello\": executable file not found in $PATH");

  auto e = CreateOrDie(box.MakeSpec({"/etc/passwd"}));
  CHECK(e->Start().message() == "exec: \"/etc/passwd\": Permission denied");
  auto f = CreateOrDie(box.MakeSpec({"/no/such"}));
  CHECK(f->Start().message() == "exec: \"/no/such\": No such file or directory");

  RunOutput ok = box.Run(box.MakeSpec({"sh", "-c", "echo $PATH; echo $HOME; echo $HOSTNAME"}));
  CHECK(ok.out == "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n/root\nbox\n");
}

TEST_CASE("container: killed by a signal reports 128+signal; SIGTERM to an init ignoring it does nothing") {
  if (testing::SkipContainerTest()) return;
  Sandbox box;
  auto c = CreateOrDie(box.MakeSpec({"sh", "-c", "trap '' TERM; echo ready; sleep 60"}));
  std::atomic<bool> ready{false};
  c->SubscribeOutput([&](Stream, absl::string_view data, bool) {
    if (absl::StrContains(data, "ready")) ready = true;
  });
  REQUIRE(c->Start().ok());
  REQUIRE(testing::WaitFor([&] { return ready.load(); }, absl::Seconds(10)));
  REQUIRE(c->Signal(SIGTERM).ok());
  CHECK(!c->WaitFor(absl::Milliseconds(500)));
  REQUIRE(c->Signal(SIGKILL).ok());
  ExitStatus st = c->Wait();
  CHECK(st.code == 128 + SIGKILL);
  CHECK(!st.oom_killed);
  CHECK(c->Signal(SIGKILL).message() == "container c0 is not running");
  CHECK(c->Destroy().ok());

  // An init with a handler can be asked to stop with SIGTERM.
  auto d = CreateOrDie(box.MakeSpec({"sh", "-c", "trap 'exit 42' TERM; while true; do sleep 0.05; done"}));
  REQUIRE(d->Start().ok());
  absl::SleepFor(absl::Milliseconds(200));
  REQUIRE(d->Signal(SIGTERM).ok());
  CHECK(d->WaitFor(absl::Seconds(10)));
  CHECK(d->Wait().code == 42);
}

TEST_CASE("container: PID 1, only its own processes, its hostname, only lo (up)") {
  if (testing::SkipContainerTest()) return;
  Sandbox box;
  Spec spec = box.MakeSpec({"sh", "-c",
                            "echo $$; ls -d /proc/[0-9]* | wc -l; hostname; ls /sys/class/net; "
                            "cat /sys/class/net/lo/flags; ps -o pid,comm | grep -c sleep; sleep 0"});
  spec.hostname = "web1";
  RunOutput r = box.Run(std::move(spec));
  REQUIRE_MESSAGE(r.start.ok(), r.start.ToString());
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n');
  REQUIRE_MESSAGE(lines.size() >= 6, r.out << r.err);
  CHECK(lines[0] == "1");
  int procs = 0;
  CHECK(absl::SimpleAtoi(absl::StripAsciiWhitespace(lines[1]), &procs));
  CHECK(procs <= 4);  // sh, ls, wc — the host has hundreds
  CHECK(lines[2] == "web1");
  CHECK(lines[3] == "lo");
  CHECK(lines[4] == "0x9");  // IFF_UP | IFF_LOOPBACK
  CHECK(r.status.code == 0);
}

TEST_CASE("container: User= app, 1000:1000, unknown name; the working dir is created") {
  if (testing::SkipContainerTest()) return;
  Sandbox box;
  Spec app = box.MakeSpec({"sh", "-c", "id -u; id -g; id -G; grep CapEff /proc/self/status; pwd; echo $HOME"});
  app.user = "app";
  app.working_dir = "/work/dir";
  RunOutput r = box.Run(std::move(app));
  REQUIRE_MESSAGE(r.start.ok(), r.start.ToString());
  CHECK(r.out == "1000\n1000\n1000 50\nCapEff:\t0000000000000000\n/work/dir\n/home/app\n");

  Spec pair = box.MakeSpec({"sh", "-c", "id -u; id -g; id -G"});
  pair.user = "1000:1000";
  CHECK(box.Run(std::move(pair)).out == "1000\n1000\n1000\n");

  Spec unknown = box.MakeSpec({"true"});
  unknown.user = "nosuch";
  auto c = Container::Create(std::move(unknown));
  REQUIRE(!c.ok());
  CHECK(c.status().message() == "unable to find user nosuch: no matching entries in passwd file");
}

TEST_CASE("container: an image whose /etc/passwd points at the host reads nothing outside the rootfs") {
  if (testing::SkipContainerTest()) return;
  Sandbox box;
  std::filesystem::remove(box.rootfs() + "/etc/passwd");
  std::filesystem::create_symlink("/etc/passwd", box.rootfs() + "/etc/passwd");  // a loop, inside
  Spec root_user = box.MakeSpec({"true"});
  root_user.user = "daemon";  // in the host's /etc/passwd
  CHECK(!Container::Create(std::move(root_user)).ok());
  std::filesystem::remove_all(box.rootfs() + "/etc");
  std::filesystem::create_symlink("/", box.rootfs() + "/etc");
  Spec again = box.MakeSpec({"true"});
  again.user = "daemon";
  auto c = Container::Create(std::move(again));
  REQUIRE(!c.ok());
  CHECK(c.status().message() == "unable to find user daemon: no matching entries in passwd file");
}

TEST_CASE("container: attach — live output chunks, stdin reaches cat, EOF once") {
  if (testing::SkipContainerTest()) return;
  Sandbox box;
  Spec spec = box.MakeSpec({"cat"});
  spec.open_stdin = true;
  auto c = CreateOrDie(std::move(spec));
  absl::Mutex mu;
  std::string seen;
  int eofs = 0;
  c->SubscribeOutput([&](Stream s, absl::string_view data, bool eof) {
    absl::MutexLock lock(&mu);
    if (s == Stream::kStdout) seen.append(data.data(), data.size());
    if (eof) ++eofs;
  });
  int dropped = c->SubscribeOutput([&](Stream, absl::string_view, bool) { FAIL("unsubscribed"); });
  c->UnsubscribeOutput(dropped);
  REQUIRE(c->Start().ok());
  REQUIRE(c->WriteStdin("hello\n").ok());
  CHECK(testing::WaitFor(
      [&] {
        absl::MutexLock l(&mu);
        return seen == "hello\n";
      },
      absl::Seconds(10)));
  REQUIRE(c->WriteStdin("again\n").ok());
  CHECK(testing::WaitFor(
      [&] {
        absl::MutexLock l(&mu);
        return seen == "hello\nagain\n";
      },
      absl::Seconds(10)));
  c->CloseStdin();
  CHECK(absl::IsUnavailable(c->WriteStdin("late")));
  CHECK(c->Wait().code == 0);
  {
    absl::MutexLock lock(&mu);
    CHECK(eofs == 1);
  }
  // After EOF a subscriber hears it at once.
  bool late_eof = false;
  c->SubscribeOutput([&](Stream, absl::string_view, bool eof) { late_eof = eof; });
  CHECK(late_eof);

  auto no_stdin = CreateOrDie(box.MakeSpec({"true"}));
  CHECK(absl::IsFailedPrecondition(no_stdin->WriteStdin("x")));
}

TEST_CASE("container: Destroy leaves no cgroup, no process, no mount, no zombie") {
  if (testing::SkipContainerTest()) return;
  Sandbox box;
  std::set<std::string> mounts_before = testing::HostMounts();
  Spec spec = box.MakeSpec({"sh", "-c", "sleep 60 & sleep 60 & wait"});
  std::string id = spec.id;
  auto c = CreateOrDie(std::move(spec));
  pid_t pid = c->pid();
  CHECK(std::filesystem::exists(c->NetnsPath()));
  REQUIRE(c->Start().ok());
  REQUIRE(testing::WaitFor(
      [&] {
        auto p = c->Pids();
        return p.ok() && p->size() == 3;
      },
      absl::Seconds(10)));
  std::vector<pid_t> pids = *c->Pids();
  CHECK(std::find(pids.begin(), pids.end(), pid) != pids.end());
  for (const std::string& dir : box.CgroupDirs(id)) {
    if (!absl::StrContains(dir, "/freezer/")) CHECK(std::filesystem::exists(dir));
  }
  CHECK(testing::NewMounts(mounts_before, box.dir().path()).empty());  // the container's are its own
  REQUIRE(c->Destroy().ok());
  CHECK(c->Exited());
  CHECK(c->Wait().code == 128 + SIGKILL);
  for (pid_t p : pids) CHECK(::kill(p, 0) != 0);
  for (const std::string& dir : box.CgroupDirs(id)) CHECK(!std::filesystem::exists(dir));
  CHECK(testing::NewMounts(mounts_before, box.dir().path()).empty());
  CHECK(testing::ZombieChildren().empty());
  CHECK(c->Destroy().ok());  // idempotent
  CHECK(absl::IsFailedPrecondition(c->Start()));

  // Destroyed before Start: the waiting init is killed and reaped too.
  auto never = CreateOrDie(box.MakeSpec({"true"}));
  pid_t never_pid = never->pid();
  REQUIRE(never->Destroy().ok());
  CHECK(::kill(never_pid, 0) != 0);

  // Nobody waits: the monitor still reaps.
  auto quick = CreateOrDie(box.MakeSpec({"true"}));
  pid_t quick_pid = quick->pid();
  REQUIRE(quick->Start().ok());
  CHECK(testing::WaitFor([&] { return quick->Exited(); }, absl::Seconds(10)));
  struct stat st;
  CHECK(::stat(("/proc/" + std::to_string(quick_pid)).c_str(), &st) != 0);
  CHECK(testing::ZombieChildren().empty());
}

TEST_CASE("container: containers created from several threads at once each get their own output and status") {
  if (testing::SkipContainerTest()) return;
  Sandbox box;
  absl::Mutex mu;
  std::vector<Spec> specs;
  for (int i = 0; i < 16; ++i) {
    specs.push_back(box.MakeSpec({"sh", "-c", "echo " + std::to_string(i) + "; exit " + std::to_string(i)}));
  }
  std::vector<std::string> problems;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < 16; i += 4) {
        std::string log_path = specs[i].log_path;
        auto c = Container::Create(specs[i]);
        absl::Status started = c.ok() ? (*c)->Start() : c.status();
        // Bounded: a pipe end held by another container's init would stall here.
        bool done = started.ok() && (*c)->WaitFor(absl::Seconds(20));
        int code = done ? (*c)->Wait().code : -1;
        if (c.ok()) (void)(*c)->Destroy();
        auto log = ReadJsonLog(log_path);
        std::string out = log.ok() && log->size() == 1 ? (*log)[0].log : "";
        if (code != i || out != std::to_string(i) + "\n") {
          absl::MutexLock lock(&mu);
          problems.push_back(std::to_string(i) + ": " + started.ToString() + " code " + std::to_string(code) +
                             " out '" + out + "'");
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  CHECK_MESSAGE(problems.empty(), absl::StrJoin(problems, "; "));
  CHECK(testing::ZombieChildren().empty());
}

TEST_CASE("container: Stats reads the cgroup's memory, CPU and pids") {
  if (testing::SkipContainerTest()) return;
  Sandbox box;
  Spec spec = box.MakeSpec({"sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; sleep 60"});
  spec.resources.memory_bytes = 64 << 20;
  auto c = CreateOrDie(std::move(spec));
  REQUIRE(c->Start().ok());
  absl::SleepFor(absl::Milliseconds(300));
  auto stats = c->Stats();
  REQUIRE(stats.ok());
  CHECK(stats->memory_usage_bytes > 0);
  CHECK(stats->memory_limit_bytes == 64 << 20);
  CHECK(stats->cpu_usage_ns > 0);
  CHECK(stats->pids_current >= 1);
  REQUIRE(c->Destroy().ok());
}

TEST_CASE("container: a `true` container from Create to Destroy (timing)") {
  if (testing::SkipContainerTest()) return;
  Sandbox box;
  constexpr int kRuns = 10;
  absl::Duration total;
  for (int i = 0; i < kRuns; ++i) {
    Spec spec = box.MakeSpec({"true"});
    spec.log_path.clear();
    absl::Time t0 = absl::Now();
    auto c = CreateOrDie(std::move(spec));
    REQUIRE(c->Start().ok());
    CHECK(c->Wait().code == 0);
    REQUIRE(c->Destroy().ok());
    total += absl::Now() - t0;
  }
  MESSAGE("true container Create->Start->Wait->Destroy: " << total / kRuns << " on average");
}

}  // namespace
}  // namespace berth::execdriver
