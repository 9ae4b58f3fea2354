// Real containers from a busybox image, run by a real berthd in a network
// namespace the test creates: output and exit status, isolation and
// confinement, cgroup limits (OOM, pids), published ports reached from another
// namespace and from berthd's host, links under --icc=false, stop's SIGKILL
// after t, logs after exit and after a restart, a delete that leaves nothing,
// hostile images that try to make berthd write outside their rootfs, restart
// policies (on exit and at restore), the seccomp filter with its opt-out, and
// live restore: containers outliving berthd under their shims, adopted again.
// Needs root; every container's cgroup lives under a parent of the test's own.
#include <doctest/doctest.h>

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "execdriver/container.h"
#include "nlohmann/json.hpp"
#include "tests/daemon/berthd_harness.h"
#include "tests/support/busybox_rootfs.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace berth {
namespace {

using nlohmann::json;
using testing::Berthd;
using testing::Count;
using testing::Netns;
using testing::ReadFileOrEmpty;
using testing::RunCommand;
using testing::RunResult;
using testing::Skip;
using testing::TempDir;
using testing::WaitFor;

// berthd in its own namespace with the busybox image imported as `bb`, and
// the containers' cgroups under a parent of this host's own.
class Host {
 public:
  explicit Host(const std::string& suffix, std::vector<std::string> flags = {}) : ns_(suffix) {
    cgroups_.parent = absl::StrCat("berth-t-", ::getpid(), "-", suffix);
    if (!ns_.ok()) return;
    flags.push_back("--cgroup-parent");
    flags.push_back(cgroups_.parent);
    flags_ = flags;
    d_ = std::make_unique<Berthd>(ns_, dir_, flags_, std::vector<std::string>{});
  }
  ~Host() {
    if (d_ != nullptr && d_->proc->running()) d_->Stop();
    (void)execdriver::Container::RemoveCgroupParent(cgroups_);
  }
  // Starts berthd (again) and imports the image once; "" or what failed.
  std::string Ready() {
    if (d_ == nullptr) d_ = std::make_unique<Berthd>(ns_, dir_, flags_, std::vector<std::string>{});
    if (!d_->WaitReady()) return "berthd did not start: " + d_->proc->Stderr();
    if (imported_) return "";
    std::string tar = dir_ / "busybox.tar";
    if (absl::Status s = testing::WriteBusyboxTar(tar); !s.ok()) return s.ToString();
    RunResult imported = d_->Job({"import", "-", "bb"}, tar);
    imported_ = imported.status == 0;
    return imported_ ? "" : "import: " + imported.err;
  }
  int Stop() {
    int st = d_->Stop();
    d_.reset();
    return st;
  }
  // SIGKILL: a crash (shims go on).
  void Kill() {
    d_->proc->Signal(SIGKILL);
    (void)d_->proc->Wait(absl::Seconds(10));
    d_.reset();
  }
  RunResult Job(std::vector<std::string> args, std::string stdin_file = "") {
    return d_->Job(std::move(args), std::move(stdin_file), absl::Seconds(60));
  }
  // create with `env`, then start; returns the id ("" on failure, reported).
  std::string Start(std::vector<std::string> env) {
    std::vector<std::string> args;
    for (std::string& e : env) args.insert(args.end(), {"-e", std::move(e)});
    args.push_back("create");
    RunResult created = Job(args);
    REQUIRE_MESSAGE(created.status == 0, created.err);
    std::string id = created.out.substr(0, created.out.find('\n'));
    RunResult started = Job({"start", id});
    CHECK_MESSAGE(started.status == 0, started.err);
    return id;
  }
  // create + start + wait: the exit code.
  int Run(std::vector<std::string> env, std::string* id_out = nullptr) {
    std::string id = Start(std::move(env));
    if (id_out != nullptr) *id_out = id;
    RunResult waited = Job({"wait", id});
    REQUIRE_MESSAGE(waited.status == 0, waited.err);
    return std::stoi(waited.out);
  }
  json Inspect(const std::string& id) {
    RunResult r = Job({"container_inspect", id});
    REQUIRE_MESSAGE(r.status == 0, r.err);
    return json::parse(r.out);
  }
  const Netns& ns() const { return ns_; }
  const TempDir& dir() const { return dir_; }
  const execdriver::CgroupOptions& cgroups() const { return cgroups_; }
  Berthd& berthd() { return *d_; }

 private:
  Netns ns_;
  TempDir dir_;
  execdriver::CgroupOptions cgroups_;
  std::vector<std::string> flags_;
  std::unique_ptr<Berthd> d_;
  bool imported_ = false;
};

std::string Cmd(const std::string& script) { return "Cmd=" + json({"sh", "-c", script}).dump(); }

// busybox wget under `timeout` (Debian's busybox 1.35 crashes on wget -T).
// Inside a container, keep the shell as PID 1 ("...; exit $?"): PID 1 ignores
// the signals timeout sends.
std::vector<std::string> Wget(const std::string& url) {
  std::string bb = testing::BusyboxBinary();
  return {bb, "timeout", "3", bb, "wget", "-q", "-O", "-", url};
}

// The Cmd of a busybox httpd on port 80 serving `body` (a shell word) as /.
std::string Httpd(const std::string& body) {
  return Cmd(absl::StrCat("mkdir -p /www && echo ", body, " > /www/index.html && exec httpd -f -p 80 -h /www"));
}

// A client namespace joined to berthd's by a veth pair: 192.168.200.2 here,
// 192.168.200.1 on berthd's side.
class Client {
 public:
  explicit Client(const Netns& host) : ns_("client") {
    auto in_host = [&](std::vector<std::string> a) { return RunCommand(host.Exec(a)).status; };
    std::string veth = absl::StrCat("vc", ::getpid() % 100000);
    ok_ = ns_.ok() &&
          in_host({"/usr/sbin/ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns_.name()}) == 0 &&
          in_host({"/usr/sbin/ip", "addr", "add", "192.168.200.1/24", "dev", veth}) == 0 &&
          in_host({"/usr/sbin/ip", "link", "set", veth, "up"}) == 0 &&
          RunCommand(ns_.Exec({"/usr/sbin/ip", "addr", "add", "192.168.200.2/24", "dev", "eth0"})).status == 0 &&
          RunCommand(ns_.Exec({"/usr/sbin/ip", "link", "set", "eth0", "up"})).status == 0;
  }
  bool ok() const { return ok_; }
  RunResult Fetch(const std::string& url) {
    return RunCommand(ns_.Exec(Wget(url)));
  }

 private:
  Netns ns_;
  bool ok_ = false;
};

// Fetches `url` from berthd's own namespace (its host) with the host's busybox.
RunResult FetchFromHost(const Netns& ns, const std::string& url) { return RunCommand(ns.Exec(Wget(url))); }

bool CgroupExists(const execdriver::CgroupOptions& o, const std::string& id) {
  return std::filesystem::exists(absl::StrCat(o.mount_root, "/memory/", o.parent, "/", id)) ||
         std::filesystem::exists(absl::StrCat(o.mount_root, "/pids/", o.parent, "/", id));
}

TEST_CASE("a container runs its command: output, exit status, PID 1, its own hostname, processes and network") {
  Host h("run");
  if (Skip(h.ns())) return;
  REQUIRE(h.Ready() == "");
  std::string id;
  int code = h.Run({"Image=bb", "Hostname=box", "Name=first",
                    Cmd("echo out; echo err >&2; echo pid=$$; hostname; "
                        "for p in /proc/[0-9]*; do echo proc=${p#/proc/}; done; ls /sys/class/net; exit 3")},
                   &id);
  CHECK(code == 3);
  RunResult logs = h.Job({"logs", "first"});
  CHECK(logs.status == 0);
  CHECK(logs.out == "out\npid=1\nbox\nproc=1\neth0\nlo\n");
  CHECK(logs.err == "err\n");
  json c = h.Inspect(id);
  CHECK(c["State"]["Running"] == false);
  CHECK(c["State"]["ExitCode"] == 3);
  CHECK(c["Name"] == "/first");
  CHECK(c["Config"]["Hostname"] == "box");
  // Its log is Docker's json-file, one object per line.
  std::string log = ReadFileOrEmpty(h.dir() / absl::StrCat("root/containers/", id, "/", id, "-json.log"));
  REQUIRE(Count(log, "\n") == 7);
  json first = json::parse(log.substr(0, log.find('\n')));
  CHECK(first["log"] == "out\n");
  CHECK(first["stream"] == "stdout");
  CHECK(first["time"].get<std::string>().back() == 'Z');
  // The list: stopped containers only with all=true.
  CHECK(h.Job({"containers"}).out == "[]\n");
  json all = json::parse(h.Job({"-e", "all=true", "containers"}).out);
  REQUIRE(all.size() == 1);
  CHECK(all[0]["Status"].get<std::string>().rfind("Exited (3) ", 0) == 0);
}

// (This kernel has no /proc/kcore; /proc/timer_list stands for the masked paths.)
TEST_CASE("a container cannot mount, mknod a disk, load modules or write sysrq-trigger; /proc paths are masked") {
  Host h("confine");
  if (Skip(h.ns())) return;
  REQUIRE(h.Ready() == "");
  int code = h.Run({"Image=bb", "Name=confined",
                    Cmd("mount -t tmpfs t /mnt 2>/dev/null; echo mount=$?; "
                        "mknod /tmp/sda b 8 0 2>/dev/null; echo mknod=$?; "
                        "echo h > /proc/sysrq-trigger 2>/dev/null; echo sysrq=$?; "
                        "grep CapBnd /proc/self/status; wc -c < /proc/timer_list")});
  CHECK(code == 0);
  RunResult logs = h.Job({"logs", "confined"});
  // mount is refused by the seccomp filter now (busybox's mount then exits 1;
  // with only the missing CAP_SYS_ADMIN refusing it, it exited 255).
  CHECK(logs.out == "mount=1\nmknod=1\nsysrq=1\nCapBnd:\t00000000a80425fb\n0\n");
}

TEST_CASE("cgroup limits: an OOM kill is 137 and recorded; a fork bomb stops at the pids limit") {
  Host h("limits");
  if (Skip(h.ns())) return;
  REQUIRE(h.Ready() == "");
  std::string id;
  CHECK(h.Run({"Image=bb", "Memory=32m", Cmd("dd if=/dev/zero of=/dev/null bs=64M count=1")}, &id) == 137);
  CHECK(h.Inspect(id)["State"]["OOMKilled"] == true);

  // The subshell forks until the pids limit refuses (ash then gives up on it);
  // the container's init survives and holds what was made.
  std::string bomb = h.Start(
      {"Image=bb", "PidsLimit=32", Cmd("(for i in $(seq 100); do sleep 60 & done); echo survived; exec sleep 60")});
  REQUIRE(WaitFor([&] { return Count(h.Job({"logs", bomb}).out, "survived") == 1; }, absl::Seconds(20)));
  CHECK(Count(h.Job({"logs", bomb}).err, "can't fork") >= 1);
  json top = json::parse(h.Job({"top", bomb}).out);
  CHECK(top["Processes"].size() <= 32);
  CHECK(top["Processes"].size() >= 25);
  // The host still forks.
  CHECK(RunCommand({"/bin/true"}).status == 0);
  CHECK(h.Job({"kill", bomb}).status == 0);
  CHECK(h.Job({"wait", bomb}).out == "137\n");
  CHECK_FALSE(CgroupExists(h.cgroups(), bomb));
}

TEST_CASE("busybox httpd published on a host port: reached through DNAT from another namespace and via 127.0.0.1") {
  Host h("web");
  if (Skip(h.ns())) return;
  REQUIRE(h.Ready() == "");
  Client client(h.ns());
  REQUIRE(client.ok());
  std::string web = h.Start({"Image=bb", "Name=web", R"(PortBindings={"80/tcp":[{"HostIp":"","HostPort":"8080"}]})",
                             Httpd("hello-web")});
  json ports = json::parse(h.Job({"containers"}).out)[0]["Ports"];
  CHECK(ports.dump() == R"([{"IP":"0.0.0.0","PrivatePort":80,"PublicPort":8080,"Type":"tcp"}])");
  REQUIRE(WaitFor([&] { return FetchFromHost(h.ns(), "http://127.0.0.1:8080/").out == "hello-web\n"; },
                  absl::Seconds(10)));
  CHECK(client.Fetch("http://192.168.200.1:8080/").out == "hello-web\n");
  std::string ip = h.Inspect(web)["NetworkSettings"]["IPAddress"];
  CHECK(Count(h.ns().Save(), absl::StrCat("--to-destination ", ip, ":80")) == 1);

  // Deleting it (forced, while running) leaves no rule, cgroup, layer, mount
  // or record behind.
  CHECK(h.Job({"container_delete", "web"}).err ==
        "Conflict, You cannot remove a running container. Stop the container before attempting removal or use -f\n");
  CHECK(h.Job({"-e", "force=true", "container_delete", "web"}).status == 0);
  CHECK(Count(h.ns().Save(), ip) == 0);
  CHECK_FALSE(CgroupExists(h.cgroups(), web));
  CHECK_FALSE(std::filesystem::exists(h.dir() / ("root/containers/" + web)));
  CHECK(Count(ReadFileOrEmpty("/proc/self/mountinfo"), web) == 0);
  bool layer_left = false;
  for (const auto& e : std::filesystem::recursive_directory_iterator(h.dir() / "root")) {
    layer_left |= e.path().filename().string().find(web) != std::string::npos;
    if (e.is_directory() && e.path().filename() == "graph") break;
  }
  CHECK_FALSE(layer_left);
  CHECK(h.Job({"container_inspect", "web"}).err == "No such container: web\n");
  CHECK(FetchFromHost(h.ns(), "http://127.0.0.1:8080/").status != 0);
}

TEST_CASE("links under --icc=false: the linked container reaches its parent by name, an unlinked one does not") {
  Host h("links", {"--icc=false"});
  if (Skip(h.ns())) return;
  REQUIRE(h.Ready() == "");
  h.Start({"Image=bb", "Name=web", "ExposedPorts=[\"80/tcp\"]",
           Httpd("linked-ok")});
  std::string fetch = "for i in 1 2 3 4 5 6 7 8 9 10; do timeout 2 wget -q -O- http://$0/ && exit 0; sleep 0.2; done; exit 1";
  std::string app;
  CHECK(h.Run({"Image=bb", "Name=app", R"(Links=["/web:db"])",
               "Cmd=" + json({"sh", "-c", "env | grep ^DB_PORT_80_TCP= ; grep -w db /etc/hosts | cut -f2; " + fetch, "db"})
                            .dump()},
              &app) == 0);
  std::string web_ip = h.Inspect("web")["NetworkSettings"]["IPAddress"];
  CHECK(h.Job({"logs", "app"}).out == absl::StrCat("DB_PORT_80_TCP=tcp://", web_ip, ":80\ndb\nlinked-ok\n"));
  std::string loner;
  CHECK(h.Run({"Image=bb", "Name=loner", "Cmd=" + json({"sh", "-c", "timeout 2 wget -q -O- http://$0/; exit $?", web_ip}).dump()},
              &loner) != 0);
  // The link's rules went with app.
  std::string rules = h.ns().Save();
  CAPTURE(rules);
  CHECK(Count(rules, "-A BERTH") == 0);
}

TEST_CASE("stop: SIGTERM, then SIGKILL after t; kill; restart; errors name the container") {
  Host h("stop");
  if (Skip(h.ns())) return;
  REQUIRE(h.Ready() == "");
  std::string id = h.Start({"Image=bb", "Name=stubborn", Cmd("trap '' TERM; sleep 60")});
  absl::Time start = absl::Now();
  RunResult stop = h.Job({"-e", "t=1", "stop", "stubborn"});
  absl::Duration took = absl::Now() - start;
  CHECK(stop.status == 0);
  CHECK(took >= absl::Seconds(1));
  CHECK(took < absl::Seconds(8));
  CHECK(h.Job({"wait", "stubborn"}).out == "137\n");
  // A stopped container: stop again is fine, kill is not.
  CHECK(h.Job({"stop", "stubborn"}).status == 0);
  RunResult kill = h.Job({"kill", "stubborn"});
  CHECK(kill.status == 1);
  CHECK(kill.err == "Container /stubborn is not running\n");

  std::string polite = h.Start({"Image=bb", "Name=polite", Cmd("trap 'exit 7' TERM; while true; do sleep 0.1; done")});
  CHECK(h.Job({"-e", "signal=TERM", "kill", "polite"}).status == 0);
  CHECK(h.Job({"wait", "polite"}).out == "7\n");
  CHECK(h.Job({"-e", "t=0", "restart", "polite"}).status == 0);
  CHECK(h.Inspect("polite")["State"]["Running"] == true);
  CHECK(h.Job({"-e", "signal=NOPE", "kill", "polite"}).err == "signal: invalid signal 'NOPE'\n");
  CHECK(h.Job({"-e", "t=0", "stop", polite.substr(0, 10)}).status == 0);

  RunResult missing = h.Job({"start", "nosuch"});
  CHECK(missing.status == 1);
  CHECK(missing.err == "No such container: nosuch\n");
  RunResult image = h.Job({"-e", "Image=nosuch", "-e", Cmd("true"), "create"});
  CHECK(image.status == 1);
  CHECK(image.err == "No such image: nosuch\n");
  RunResult conflict = h.Job({"-e", "Image=bb", "-e", "Name=polite", "-e", Cmd("true"), "create"});
  CHECK(conflict.status == 1);
  CHECK(conflict.err == absl::StrCat("Conflict, The name /polite is already assigned to ", polite.substr(0, 12),
                                     ". You have to delete (or rename) that container to be able to assign /polite "
                                     "to a container again.\n"));
  RunResult nocmd = h.Job({"-e", "Image=bb", "create"});
  CHECK(nocmd.err == "No command specified\n");
  RunResult broken_json = h.Job({"-e", "Image=bb", "-e", R"(Cmd=["sh",)", "create"});
  CHECK(broken_json.status == 1);
  CHECK(broken_json.err == "Cmd: want a JSON array of strings, got '[\"sh\",'\n");
  CHECK(h.Job({"-e", "Image=bb", "-e", "Cmd=true", "-e", "Memory=12q", "create"}).err ==
        "Memory: invalid size '12q'\n");
  RunResult notfound = h.Job({"-e", "Image=bb", "-e", R"(Cmd=["nosuchprogram"])", "-e", "Name=broken", "create"});
  REQUIRE(notfound.status == 0);
  RunResult bad_start = h.Job({"start", "broken"});
  CHECK(bad_start.status == 1);
  CHECK(Count(bad_start.err, R"(exec: "nosuchprogram": executable file not found in $PATH)") == 1);
  CHECK(h.Inspect("broken")["State"]["Running"] == false);
}

TEST_CASE("logs after the container exits and after berthd restarts; shutdown stops running containers") {
  Host h("logs");
  if (Skip(h.ns())) return;
  REQUIRE(h.Ready() == "");
  CHECK(h.Run({"Image=bb", "Name=talker", Cmd("echo one; echo two; echo three >&2")}) == 0);
  std::string sleeper = h.Start({"Image=bb", "Name=sleeper", Cmd("sleep 1000")});
  int pid = h.Inspect(sleeper)["State"]["Pid"];
  REQUIRE(pid > 0);
  CHECK(h.Stop() == 0);
  CHECK(::kill(pid, 0) != 0);  // stopped by the shutdown hook, and reaped
  CHECK_FALSE(CgroupExists(h.cgroups(), sleeper));

  REQUIRE(h.Ready() == "");
  RunResult logs = h.Job({"logs", "talker"});
  CHECK(logs.out == "one\ntwo\n");
  CHECK(logs.err == "three\n");
  CHECK(h.Job({"-e", "tail=1", "logs", "talker"}).out == "");
  CHECK(h.Job({"-e", "tail=2", "logs", "talker"}).out == "two\n");
  std::string stamped = h.Job({"-e", "timestamps=true", "logs", "talker"}).out;
  std::vector<std::string> words = absl::StrSplit(stamped.substr(0, stamped.find('\n')), ' ');
  REQUIRE(words.size() == 2);
  CHECK(words[0].back() == 'Z');
  CHECK(words[1] == "one");
  CHECK(h.Inspect("sleeper")["State"]["Running"] == false);
  // follow ends when the container stops.
  h.Start({"Image=bb", "Name=follow", Cmd("echo a; sleep 0.5; echo b")});
  RunResult follow = h.Job({"-e", "follow=true", "logs", "follow"});
  CHECK(follow.out == "a\nb\n");
}

TEST_CASE("attach: the job's stdin reaches a container created with OpenStdin, its output comes back") {
  Host h("attach");
  if (Skip(h.ns())) return;
  REQUIRE(h.Ready() == "");
  h.Start({"Image=bb", "Name=cat", "OpenStdin=true", Cmd("tr a-z A-Z")});
  std::string input = h.dir() / "input";
  testing::WriteFileOrDie(input, "shout this\n");
  RunResult attached = h.Job({"attach", "cat"}, input);
  CHECK(attached.status == 0);
  CHECK(attached.out == "SHOUT THIS\n");
  CHECK(h.Job({"wait", "cat"}).out == "0\n");
  // An attach whose deadline passes ends (124); the container goes on.
  h.Start({"Image=bb", "Name=ticker", Cmd("while true; do echo tick; sleep 0.2; done")});
  absl::Time start = absl::Now();
  RunResult timed = RunCommand({testing::ToolPath("BERTH"), "-H", h.berthd().sock, "--timeout", "1s", "job", "attach",
                                "ticker"});
  CHECK(timed.status == 124);
  CHECK(absl::Now() - start < absl::Seconds(5));
  CHECK(Count(timed.out, "tick\n") >= 2);
  CHECK(h.Inspect("ticker")["State"]["Running"] == true);
  RunResult waited = RunCommand({testing::ToolPath("BERTH"), "-H", h.berthd().sock, "--timeout", "300ms", "job",
                                 "wait", "ticker"});
  CHECK(waited.status == 124);
}

// An image whose /etc/hosts is a symlink to a host path, and one whose /etc is
// a symlink to /: berthd writes the container's files inside its rootfs only.
TEST_CASE("a hostile image cannot make berthd write outside its rootfs") {
  Host h("hostile");
  if (Skip(h.ns())) return;
  REQUIRE(h.Ready() == "");
  std::string victim = h.dir() / "victim";
  testing::WriteFileOrDie(victim, "untouched\n");
  std::string host_hostname = ReadFileOrEmpty("/etc/hostname");
  for (std::string kind : {"hosts-link", "etc-link"}) {
    CAPTURE(kind);
    std::string root = h.dir() / ("image-" + kind);
    REQUIRE(testing::BuildBusyboxRootfs(root).ok());
    if (kind == "hosts-link") {
      std::filesystem::create_symlink(victim, root + "/etc/hosts");
    } else {
      std::filesystem::remove_all(root + "/etc");
      std::filesystem::create_symlink("/", root + "/etc");
    }
    std::string tar = root + ".tar";
    REQUIRE(RunCommand({"/bin/tar", "-C", root, "-cf", tar, "."}).status == 0);
    REQUIRE(h.Job({"import", "-", kind}, tar).status == 0);
    std::string id;
    CHECK(h.Run({"Image=" + kind, "Name=" + kind, "Hostname=evil", Cmd("cat /etc/hostname")}, &id) == 0);
    CHECK(h.Job({"logs", id}).out == "evil\n");
  }
  CHECK(ReadFileOrEmpty(victim) == "untouched\n");
  CHECK(ReadFileOrEmpty("/etc/hostname") == host_hostname);
}

// berthd SIGKILLed with a container running: the next berthd removes what is
// left of it (its process, cgroup, mount, rules), records it stopped with -127,
// holds its port, and starts it again on request.
TEST_CASE("a SIGKILLed berthd leaves nothing running; the restarted one cleans up and can start the container again") {
  Host h("crash");
  if (Skip(h.ns())) return;
  REQUIRE(h.Ready() == "");
  std::string web = h.Start({"Image=bb", "Name=web", R"(PortBindings={"80/tcp":[{"HostIp":"","HostPort":"8080"}]})",
                             Httpd("again")});
  int pid = h.Inspect(web)["State"]["Pid"];
  REQUIRE(pid > 0);
  h.berthd().proc->Signal(SIGKILL);
  REQUIRE(h.berthd().proc->Wait(absl::Seconds(10)).has_value());
  REQUIRE(h.Stop() != 0);

  REQUIRE(h.Ready() == "");
  json c = h.Inspect("web");
  CHECK(c["State"]["Running"] == false);
  CHECK(c["State"]["ExitCode"] == -127);
  CHECK(WaitFor([&] { return ::kill(pid, 0) != 0; }, absl::Seconds(10)));
  CHECK_FALSE(CgroupExists(h.cgroups(), web));
  CHECK(Count(ReadFileOrEmpty("/proc/self/mountinfo"), web) == 0);
  CHECK(Count(h.ns().Save(), "DNAT") == 0);
  // Its port is held for it, and given back when it starts.
  RunResult other = h.Job({"-e", "Image=bb", "-e", "Name=other", "-e",
                           R"(PortBindings={"80/tcp":[{"HostIp":"","HostPort":"8080"}]})", "-e", Cmd("true"),
                           "create"});
  REQUIRE(other.status == 0);
  RunResult taken = h.Job({"start", "other"});
  CHECK(taken.status == 1);
  CHECK(Count(taken.err, "Bind for 0.0.0.0:8080 failed: port is already allocated") == 1);
  CHECK(h.Job({"start", "web"}).status == 0);
  CHECK(WaitFor([&] { return FetchFromHost(h.ns(), "http://127.0.0.1:8080/").out == "again\n"; }, absl::Seconds(10)));
  CHECK(Count(h.ns().Save(), "DNAT") == 1);
}

// A container that counts its runs in its own rootfs (which a restart keeps)
// and exits 4 until run `succeed_at`, then 0.
std::string CountingRuns(int succeed_at) {
  return Cmd(absl::StrCat("n=$(cat /runs 2>/dev/null || echo 0); n=$((n+1)); echo $n > /runs; echo run $n; ",
                          "[ $n -ge ", succeed_at, " ] && exit 0; exit 4"));
}

TEST_CASE("restart policy on-failure: two failures are restarted, the success ends it; wait sees only the end") {
  Host h("onfail");
  if (Skip(h.ns())) return;
  REQUIRE(h.Ready() == "");
  std::string id;
  absl::Time start = absl::Now();
  CHECK(h.Run({"Image=bb", "Name=flaky", "RestartPolicy=on-failure:5", CountingRuns(3)}, &id) == 0);
  // Back-off: 100 ms, then 200 ms.
  CHECK(absl::Now() - start >= absl::Milliseconds(300));
  CHECK(h.Job({"logs", "flaky"}).out == "run 1\nrun 2\nrun 3\n");
  json c = h.Inspect(id);
  CHECK(c["RestartCount"] == 2);
  CHECK(c["State"]["Running"] == false);
  CHECK(c["State"]["Restarting"] == false);
  CHECK(c["HostConfig"]["RestartPolicy"]["Name"] == "on-failure");

  // A limit of 2: the first run and two restarts, all failing.
  CHECK(h.Run({"Image=bb", "Name=doomed", R"(RestartPolicy={"Name":"on-failure","MaximumRetryCount":2})",
               CountingRuns(100)},
              &id) == 4);
  CHECK(h.Job({"logs", "doomed"}).out == "run 1\nrun 2\nrun 3\n");
  CHECK(h.Inspect(id)["RestartCount"] == 2);

  // no: one run.
  CHECK(h.Run({"Image=bb", "Name=once", "RestartPolicy=no", CountingRuns(3)}, &id) == 4);
  CHECK(h.Inspect(id)["RestartCount"] == 0);
}

TEST_CASE("restart policy always: restarts exit 0; a user's stop or kill is final; a user's start resets the count") {
  Host h("always");
  if (Skip(h.ns())) return;
  REQUIRE(h.Ready() == "");
  std::string id = h.Start({"Image=bb", "Name=loop", "RestartPolicy=always", Cmd("echo up; sleep 0.1")});
  REQUIRE(WaitFor([&] { return h.Inspect(id)["RestartCount"].get<int>() >= 3; }, absl::Seconds(20)));
  CHECK(h.Inspect(id)["State"]["Running"] == true);
  CHECK(h.Job({"-e", "t=1", "stop", "loop"}).status == 0);
  CHECK(h.Job({"wait", "loop"}).status == 0);
  json stopped = h.Inspect(id);
  CHECK(stopped["State"]["Running"] == false);
  CHECK(stopped["State"]["Restarting"] == false);
  int count = stopped["RestartCount"];
  absl::SleepFor(absl::Milliseconds(500));
  CHECK(h.Inspect(id)["RestartCount"] == count);
  CHECK(h.Inspect(id)["State"]["Running"] == false);

  std::string sleeper = h.Start({"Image=bb", "Name=sleeper", "RestartPolicy=always", Cmd("exec sleep 1000")});
  CHECK(h.Job({"kill", "sleeper"}).status == 0);
  CHECK(h.Job({"wait", "sleeper"}).out == "137\n");
  absl::SleepFor(absl::Milliseconds(500));
  CHECK(h.Inspect(sleeper)["State"]["Running"] == false);
  CHECK(h.Inspect(sleeper)["RestartCount"] == 0);

  // A start by a user: the count starts again from 0.
  CHECK(h.Job({"start", "loop"}).status == 0);
  CHECK(h.Inspect(id)["RestartCount"].get<int>() <= 1);
  CHECK(h.Job({"-e", "force=true", "container_delete", "loop"}).status == 0);
  CHECK_FALSE(CgroupExists(h.cgroups(), id));
}

TEST_CASE("restart policy at restore: after a berthd crash, always and on-failure containers start again, no does not") {
  Host h("restore");
  if (Skip(h.ns())) return;
  REQUIRE(h.Ready() == "");
  std::string always = h.Start({"Image=bb", "Name=always", "RestartPolicy=always", Cmd("exec sleep 1000")});
  std::string onfail = h.Start({"Image=bb", "Name=onfail", "RestartPolicy=on-failure:1", Cmd("exec sleep 1000")});
  std::string never = h.Start({"Image=bb", "Name=never", Cmd("exec sleep 1000")});
  int old_pid = h.Inspect(always)["State"]["Pid"];
  h.berthd().proc->Signal(SIGKILL);
  REQUIRE(h.berthd().proc->Wait(absl::Seconds(10)).has_value());
  h.Stop();
  REQUIRE(h.Ready() == "");
  for (const std::string& id : {always, onfail}) {
    json c = h.Inspect(id);
    CHECK(c["State"]["Running"] == true);
    CHECK(c["RestartCount"] == 1);
    CHECK(c["State"]["Pid"].get<int>() != old_pid);
  }
  json n = h.Inspect(never);
  CHECK(n["State"]["Running"] == false);
  CHECK(n["State"]["ExitCode"] == -127);
  // The old process is gone (a zombie of an adoptive parent counts as gone).
  std::string stat = ReadFileOrEmpty(absl::StrCat("/proc/", old_pid, "/stat"));
  CHECK((stat.empty() || stat.find(") Z ") != std::string::npos));
  CHECK(h.Job({"-e", "t=0", "stop", "always"}).status == 0);
  CHECK(h.Job({"-e", "t=0", "stop", "onfail"}).status == 0);
}

TEST_CASE("seccomp: unshare in a container fails with EPERM; with SecurityOpt seccomp=unconfined it works") {
  Host h("seccomp");
  if (Skip(h.ns())) return;
  REQUIRE(h.Ready() == "");
  std::string probe = "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status; unshare -U true 2>&1 && echo unshare=ok; exit 0";
  CHECK(h.Run({"Image=bb", "Name=filtered", Cmd(probe)}) == 0);
  std::string filtered = h.Job({"logs", "filtered"}).out;
  CHECK(filtered.rfind("NoNewPrivs:\t1\nSeccomp:\t2\n", 0) == 0);
  CHECK_MESSAGE(Count(filtered, "Operation not permitted") == 1, filtered);
  std::string id;
  CHECK(h.Run({"Image=bb", "Name=unconfined", R"(SecurityOpt=["seccomp=unconfined"])", Cmd(probe)}, &id) == 0);
  CHECK(h.Job({"logs", "unconfined"}).out == "NoNewPrivs:\t1\nSeccomp:\t0\nunshare=ok\n");
  CHECK(h.Inspect(id)["HostConfig"]["SecurityOpt"].dump() == R"(["seccomp=unconfined"])");
  RunResult bad = h.Job({"-e", "Image=bb", "-e", "Cmd=true", "-e", "SecurityOpt=apparmor:unconfined", "create"});
  CHECK(bad.status == 1);
  CHECK(bad.err ==
        "SecurityOpt: unsupported option (berth knows seccomp=unconfined and no-new-privileges) "
        "'apparmor:unconfined'\n");
}


// ---- live restore (shims outlive berthd) ----

// A process that exists and is not a zombie.
bool Alive(int pid) {
  std::string stat = ReadFileOrEmpty(absl::StrCat("/proc/", pid, "/stat"));
  size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z' && stat[paren + 2] != 'X';
}

// Whatever a failed test leaves running under its shims: each container's
// cgroup is killed and removed, its shim then ends by itself.
// A client requesting `url` over and over on a thread of its own until
// Stop, counting the answers that are not `want`: traffic through a
// published port while berthd is away.
class Traffic {
 public:
  Traffic(Client& client, std::string url, std::string want)
      : thread_([this, &client, url = std::move(url), want = std::move(want)] {
          while (!done_) {
            ++requests_;
            if (client.Fetch(url).out != want) ++failures_;
          }
        }) {}
  ~Traffic() { Stop(); }
  // After three more requests (so some came after berthd was back), stops.
  void Stop() {
    if (!thread_.joinable()) return;
    int now = requests_;
    CHECK(WaitFor([&] { return requests_ >= now + 3; }, absl::Seconds(20)));
    done_ = true;
    thread_.join();
  }
  int requests() const { return requests_; }
  int failures() const { return failures_; }

 private:
  std::atomic<bool> done_{false};
  std::atomic<int> requests_{0}, failures_{0};
  std::thread thread_;
};

struct KillContainers {
  const execdriver::CgroupOptions& cgroups;
  std::vector<std::string> ids;
  ~KillContainers() {
    for (const std::string& id : ids) (void)execdriver::Container::RemoveStaleCgroup(cgroups, id);
  }
};

TEST_CASE("live restore: 20 containers outlive berthd's SIGKILL, DNAT traffic goes on, all are adopted again") {
  Host h("live", {"--live-restore"});
  if (Skip(h.ns())) return;
  REQUIRE(h.Ready() == "");
  Client client(h.ns());
  REQUIRE(client.ok());
  KillContainers cleanup{h.cgroups(), {}};
  std::vector<std::string> web;
  for (int i = 0; i < 4; ++i) {
    web.push_back(h.Start({"Image=bb", absl::StrCat("Name=web", i),
                           absl::StrCat(R"(PortBindings={"80/tcp":[{"HostIp":"","HostPort":")", 8081 + i, R"("}]})"),
                           Httpd(absl::StrCat("web", i))}));
    cleanup.ids.push_back(web.back());
  }
  // Exits 7 on SIGTERM (a trap: PID 1 ignores signals without a handler).
  std::string ender = h.Start({"Image=bb", "Name=ender", Cmd("trap 'exit 7' TERM; echo ready; while true; do sleep 1; done")});
  std::string victim = h.Start({"Image=bb", "Name=victim", Cmd("exec sleep 1000")});
  // Attached to again after the restart, stdin included.
  std::string cat = h.Start({"Image=bb", "Name=cat", "OpenStdin=true", R"(Cmd=["cat"])"});
  // Exits 3 while berthd is away; its policy restarts it at restore.
  std::string phoenix = h.Start({"Image=bb", "Name=phoenix", R"(RestartPolicy={"Name":"always"})",
                                 Cmd("trap 'exit 3' TERM; echo ready; while true; do sleep 1; done")});
  cleanup.ids.insert(cleanup.ids.end(), {ender, victim, cat, phoenix});
  for (int i = 0; i < 12; ++i) {
    cleanup.ids.push_back(h.Start({"Image=bb", absl::StrCat("Name=sleeper", i), Cmd("exec sleep 1000")}));
  }
  REQUIRE(cleanup.ids.size() == 20);
  for (int i = 0; i < 4; ++i) {
    REQUIRE(WaitFor([&] { return client.Fetch(absl::StrCat("http://192.168.200.1:", 8081 + i, "/")).out ==
                                 absl::StrCat("web", i, "\n"); },
                    absl::Seconds(10)));
  }
  // Their traps are set ("ready"): PID 1 ignores a SIGTERM it has no handler for.
  for (const char* name : {"ender", "phoenix"}) {
    REQUIRE(WaitFor([&] { return h.Job({"logs", name}).out == "ready\n"; }, absl::Seconds(10)));
  }
  std::map<std::string, int> pids;
  for (const std::string& id : cleanup.ids) pids[id] = h.Inspect(id)["State"]["Pid"];
  int ender_shim = h.Inspect(ender)["State"]["ShimPid"];
  int phoenix_shim = h.Inspect(phoenix)["State"]["ShimPid"];
  std::string orphan = cleanup.ids.back();
  int orphan_shim = h.Inspect(orphan)["State"]["ShimPid"];
  std::string rules_before = h.ns().Save();

  // A client keeps requesting through the published port during the outage.
  Traffic traffic(client, "http://192.168.200.1:8081/", "web0\n");
  h.Kill();
  for (const auto& [id, pid] : pids) CHECK_MESSAGE(Alive(pid), id);
  // One container exits while berthd is away; its shim records it and ends.
  REQUIRE(::kill(pids[ender], SIGTERM) == 0);
  REQUIRE(::kill(pids[phoenix], SIGTERM) == 0);
  // And one loses its shim while berthd is away: the container dies with it.
  REQUIRE(::kill(orphan_shim, SIGKILL) == 0);
  CHECK(WaitFor([&] { return !Alive(ender_shim) && !Alive(phoenix_shim) && !Alive(pids[orphan]); },
                absl::Seconds(10)));
  REQUIRE(h.Ready() == "");
  traffic.Stop();
  CHECK(traffic.failures() == 0);
  MESSAGE(traffic.requests() << " requests through the DNAT rule during the outage and re-adoption, "
                             << traffic.failures() << " failed");

  // The 17 still running are adopted, and the restarted one runs; the rules
  // are exactly as they were.
  json running = json::parse(h.Job({"containers"}).out);
  CHECK(running.size() == 18);
  json lost = h.Inspect(orphan);
  CHECK(lost["State"]["Lost"] == true);
  CHECK(lost["State"]["Running"] == false);
  CHECK(lost["State"]["ExitCode"] == -1);
  CHECK_FALSE(CgroupExists(h.cgroups(), orphan));
  json ph = h.Inspect(phoenix);
  CHECK(ph["State"]["Running"] == true);
  CHECK(ph["RestartCount"] == 1);
  CHECK(ph["State"]["Pid"] != pids[phoenix]);
  CHECK(h.ns().Save() == rules_before);
  for (const std::string& id : web) {
    std::string ip = h.Inspect(id)["NetworkSettings"]["IPAddress"];
    CHECK(Count(h.ns().Save(), absl::StrCat("--to-destination ", ip, ":80")) == 1);
  }
  // The userland proxy is back for the host's own 127.0.0.1.
  CHECK(WaitFor([&] { return FetchFromHost(h.ns(), "http://127.0.0.1:8082/").out == "web1\n"; }, absl::Seconds(10)));
  // The one that exited meanwhile shows its real exit code.
  json e = h.Inspect(ender);
  CHECK(e["State"]["Running"] == false);
  CHECK(e["State"]["ExitCode"] == 7);
  CHECK(h.Job({"wait", "ender"}).out == "7\n");
  CHECK_FALSE(CgroupExists(h.cgroups(), ender));
  // The jobs work on adopted containers: attach (stdin and output) ...
  std::string input = h.dir() / "input";
  std::ofstream(input) << "through the shim\n";
  RunResult attached = h.Job({"attach", "cat"}, input);
  CHECK(attached.status == 0);
  CHECK(attached.out == "through the shim\n");
  CHECK(h.Job({"wait", "cat"}).out == "0\n");
  CHECK(Count(h.Job({"logs", "cat"}).out, "through the shim") == 1);
  // ... top, logs, stop, kill.
  CHECK(h.Job({"top", "web0"}).out.find("httpd") != std::string::npos);
  CHECK(h.Job({"logs", "web0"}).status == 0);
  std::string ip0 = h.Inspect(web[0])["NetworkSettings"]["IPAddress"];
  CHECK(h.Job({"-e", "t=1", "stop", "web0"}).status == 0);
  CHECK(h.Inspect(web[0])["State"]["ExitCode"] != 0);
  CHECK(Count(h.ns().Save(), ip0) == 0);
  CHECK_FALSE(Alive(pids[web[0]]));
  CHECK_FALSE(CgroupExists(h.cgroups(), web[0]));
  CHECK(h.Job({"container_delete", "web0"}).status == 0);
  CHECK(Count(ReadFileOrEmpty("/proc/self/mountinfo"), web[0]) == 0);
  CHECK(h.Job({"-e", "signal=KILL", "kill", "web1"}).status == 0);
  CHECK(h.Job({"wait", "web1"}).out == "137\n");

  // A killed shim: its container dies with it and is reported lost.
  int victim_shim = h.Inspect(victim)["State"]["ShimPid"];
  REQUIRE(::kill(victim_shim, SIGKILL) == 0);
  CHECK(WaitFor([&] { return h.Inspect(victim)["State"]["Lost"] == true; }, absl::Seconds(10)));
  json v = h.Inspect(victim);
  CHECK(v["State"]["Running"] == false);
  CHECK(v["State"]["ExitCode"] == -1);
  CHECK(WaitFor([&] { return !Alive(pids[victim]); }, absl::Seconds(10)));
  CHECK_FALSE(CgroupExists(h.cgroups(), victim));
  json all = json::parse(h.Job({"-e", "all=true", "containers"}).out);
  bool lost_listed = false;
  for (const json& c : all) lost_listed |= c["Names"][0] == "/victim" && c["Status"].get<std::string>().rfind("Lost ", 0) == 0;
  CHECK(lost_listed);

  for (const std::string& id : cleanup.ids) (void)h.Job({"-e", "t=0", "stop", id});
}

TEST_CASE("live restore: a shutdown leaves the containers and their rules, the next berthd adopts them") {
  Host h("liveterm", {"--live-restore"});
  if (Skip(h.ns())) return;
  REQUIRE(h.Ready() == "");
  Client client(h.ns());
  REQUIRE(client.ok());
  std::string id = h.Start({"Image=bb", "Name=web", R"(PortBindings={"80/tcp":[{"HostIp":"","HostPort":"8080"}]})",
                            Httpd("kept")});
  KillContainers cleanup{h.cgroups(), {id}};
  REQUIRE(WaitFor([&] { return client.Fetch("http://192.168.200.1:8080/").out == "kept\n"; }, absl::Seconds(10)));
  std::string rules = h.ns().Save();
  int pid = h.Inspect(id)["State"]["Pid"];
  CHECK(h.Stop() == 0);
  CHECK(Alive(pid));
  CHECK(h.ns().Save() == rules);
  CHECK(client.Fetch("http://192.168.200.1:8080/").out == "kept\n");
  REQUIRE(h.Ready() == "");
  CHECK(h.Inspect(id)["State"]["Running"] == true);
  CHECK(h.Inspect(id)["State"]["Pid"] == pid);
  CHECK(h.ns().Save() == rules);
  CHECK(WaitFor([&] { return FetchFromHost(h.ns(), "http://127.0.0.1:8080/").out == "kept\n"; }, absl::Seconds(10)));
  CHECK(h.Job({"-e", "t=0", "stop", "web"}).status == 0);
  CHECK(Count(h.ns().Save(), "--dport 8080") == 0);
}

TEST_CASE("live restore: an adopted container's link rules go when it stops, even if its link target died") {
  Host h("livelink", {"--live-restore", "--icc=false"});
  if (Skip(h.ns())) return;
  REQUIRE(h.Ready() == "");
  std::string web = h.Start({"Image=bb", "Name=web", "ExposedPorts=[\"80/tcp\"]", Cmd("exec sleep 600")});
  std::string app = h.Start({"Image=bb", "Name=app", R"(Links=["/web:db"])", Cmd("exec sleep 600")});
  KillContainers cleanup{h.cgroups(), {web, app}};
  const int link_rules = Count(h.ns().Save(), "-A BERTH");
  CHECK(link_rules > 0);  // --icc=false: only the link lets app reach web
  int web_pid = h.Inspect(web)["State"]["Pid"];
  h.Kill();
  // The link's target ends while berthd is away.
  REQUIRE(::kill(web_pid, SIGKILL) == 0);
  CHECK(WaitFor([&] { return !Alive(web_pid); }, absl::Seconds(10)));
  REQUIRE(h.Ready() == "");
  CHECK(h.Inspect(web)["State"]["Running"] == false);
  CHECK(Count(h.ns().Save(), "-A BERTH") == link_rules);  // adopted as they were
  CHECK(h.Job({"-e", "t=0", "stop", "app"}).status == 0);
  CHECK(Count(h.ns().Save(), "-A BERTH") == 0);
  // The rootfs the crashed berthd mounted is unmounted when it stops.
  CHECK(Count(ReadFileOrEmpty("/proc/self/mountinfo"), app) == 0);
}

TEST_CASE("live restore with --firewall nftables: the port answers through the restart, elements kept once") {
  Host h("livenft", {"--live-restore", "--firewall", "nftables", "--icc=false"});
  if (Skip(h.ns())) return;
  REQUIRE(h.Ready() == "");
  Client client(h.ns());
  REQUIRE(client.ok());
  std::string web = h.Start({"Image=bb", "Name=web", R"(PortBindings={"80/tcp":[{"HostIp":"","HostPort":"8080"}]})",
                             Httpd("nft")});
  std::string app = h.Start({"Image=bb", "Name=app", R"(Links=["/web:db"])", Cmd("exec sleep 600")});
  KillContainers cleanup{h.cgroups(), {web, app}};
  REQUIRE(WaitFor([&] { return client.Fetch("http://192.168.200.1:8080/").out == "nft\n"; }, absl::Seconds(10)));
  auto table = [&] { return RunCommand(h.ns().Enter({"nft", "list", "table", "ip", "berth"})).out; };
  const std::string before = table();
  const std::string app_ip = h.Inspect(app)["NetworkSettings"]["IPAddress"];
  CHECK(Count(before, app_ip) > 0);  // the link's elements

  Traffic traffic(client, "http://192.168.200.1:8080/", "nft\n");
  h.Kill();
  REQUIRE(h.Ready() == "");
  traffic.Stop();
  CHECK(traffic.failures() == 0);
  MESSAGE(traffic.requests() << " requests through nftables' DNAT during berthd's restart, " << traffic.failures()
                             << " failed");
  CHECK(table() == before);  // nothing written twice, nothing lost
  CHECK(WaitFor([&] { return FetchFromHost(h.ns(), "http://127.0.0.1:8080/").out == "nft\n"; }, absl::Seconds(10)));
  CHECK(h.Job({"-e", "t=0", "stop", "app"}).status == 0);
  CHECK(Count(table(), app_ip) == 0);  // the link's elements went with it
  CHECK(h.Job({"-e", "t=0", "stop", "web"}).status == 0);
  CHECK(Count(table(), "8080") == 0);
}

TEST_CASE("without --live-restore a crashed berthd leaves no orphan: shim and container are killed at restore") {
  Host h("nolive");
  if (Skip(h.ns())) return;
  REQUIRE(h.Ready() == "");
  std::string id = h.Start({"Image=bb", "Name=orphan", Cmd("exec sleep 1000")});
  KillContainers cleanup{h.cgroups(), {id}};
  json before = h.Inspect(id);
  int pid = before["State"]["Pid"], shim = before["State"]["ShimPid"];
  h.Kill();
  CHECK(Alive(pid));
  REQUIRE(h.Ready() == "");
  CHECK(WaitFor([&] { return !Alive(pid) && !Alive(shim); }, absl::Seconds(10)));
  json after = h.Inspect(id);
  CHECK(after["State"]["Running"] == false);
  CHECK(after["State"]["ExitCode"] == -127);
  CHECK_FALSE(CgroupExists(h.cgroups(), id));
}

TEST_CASE("live restore: a record of a release without the shim (no ShimPid) loads, is marked stopped, keeps its name") {
  Host h("upgrade", {"--live-restore"});
  if (Skip(h.ns())) return;
  REQUIRE(h.Ready() == "");
  std::string id = h.Start({"Image=bb", "Name=old", R"(PortBindings={"80/tcp":[{"HostIp":"","HostPort":"8090"}]})",
                            Cmd("exec httpd -f -p 80")});
  KillContainers cleanup{h.cgroups(), {id}};
  std::string ip = h.Inspect(id)["NetworkSettings"]["IPAddress"];
  int pid = h.Inspect(id)["State"]["Pid"];
  h.Kill();
  // The record as the previous release wrote it: no shim fields.
  std::string path = h.dir() / absl::StrCat("root/containers/", id, "/config.json");
  json record = json::parse(ReadFileOrEmpty(path));
  for (const char* key : {"PidStartTime", "ShimPid", "ShimStartTime", "Lost"}) record["State"].erase(key);
  std::ofstream(path) << record.dump();
  REQUIRE(h.Ready() == "");
  json c = h.Inspect("old");
  CHECK(c["Id"] == id);
  CHECK(c["State"]["Running"] == false);
  CHECK(c["State"]["ExitCode"] == -127);
  CHECK(WaitFor([&] { return !Alive(pid); }, absl::Seconds(10)));
  // Its rules went with it; the image and its tag are still there.
  CHECK(Count(h.ns().Save(), ip) == 0);
  CHECK(h.Job({"image_inspect", "bb"}).status == 0);
  // It starts again on its held port.
  CHECK(h.Job({"start", "old"}).status == 0);
  CHECK(Count(h.ns().Save(), "--dport 8090") == 1);
  CHECK(h.Job({"-e", "t=0", "stop", "old"}).status == 0);
}

}  // namespace
}  // namespace berth
