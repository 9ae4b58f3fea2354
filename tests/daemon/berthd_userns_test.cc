// berthd --userns-remap with real containers from the busybox image: the
// container's root is an unprivileged host uid (read from the host side, in
// /proc/PID/status), what it writes into a bind-mounted volume belongs to that
// uid, the image still works on overlay and vfs (commands, httpd on a
// published port), the layers on disk are shifted; the flag's errors and
// --dry-run; and without the flag, nothing changes.
//
// The subordinate-id files are the test's own (BERTH_SUBUID_FILE and
// BERTH_SUBGID_FILE, which berthd reads for tests only): the host's
// /etc/subuid is never touched. The remapped user is `nobody`, which every
// Debian system has. Needs root.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
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
using testing::Netns;
using testing::ReadFileOrEmpty;
using testing::RunCommand;
using testing::RunResult;
using testing::Skip;
using testing::TempDir;
using testing::ToolPath;
using testing::WriteFileOrDie;

constexpr uid_t kUid = 300000;  // the test's subordinate ranges
constexpr gid_t kGid = 310000;

// The test's own /etc/subuid and /etc/subgid, as berthd's environment.
std::vector<std::string> SubidEnv(const TempDir& dir, const std::string& driver) {
  WriteFileOrDie(dir / "subuid", absl::StrCat("# test ranges\nsomeone:100000:65536\nnobody:", kUid, ":65536\n"));
  WriteFileOrDie(dir / "subgid", absl::StrCat("nobody:", kGid, ":65536\n"));
  std::vector<std::string> env = {"BERTH_SUBUID_FILE=" + dir / "subuid", "BERTH_SUBGID_FILE=" + dir / "subgid"};
  if (!driver.empty()) env.push_back("BERTH_DRIVER=" + driver);
  return env;
}

// berthd in its own namespace, with the busybox image imported as `bb`.
class Host {
 public:
  Host(const std::string& suffix, std::vector<std::string> flags, const std::string& driver)
      : ns_(suffix) {
    cgroups_.parent = absl::StrCat("berth-t-", ::getpid(), "-", suffix);
    if (!ns_.ok()) return;
    flags.insert(flags.end(), {"--cgroup-parent", cgroups_.parent});
    d_ = std::make_unique<Berthd>(ns_, dir_, flags, SubidEnv(dir_, driver));
  }
  ~Host() {
    if (d_ != nullptr && d_->proc->running()) d_->Stop();
    (void)execdriver::Container::RemoveCgroupParent(cgroups_);
  }
  std::string Ready() {
    if (!d_->WaitReady()) return "berthd did not start: " + d_->proc->Stderr();
    std::string tar = dir_ / "busybox.tar";
    if (absl::Status s = testing::WriteBusyboxTar(tar); !s.ok()) return s.ToString();
    RunResult imported = d_->Job({"import", "-", "bb"}, tar);
    return imported.status == 0 ? "" : "import: " + imported.err;
  }
  RunResult Job(std::vector<std::string> args) { return d_->Job(std::move(args), "", absl::Seconds(60)); }
  std::string Create(std::vector<std::string> env) {
    std::vector<std::string> args;
    for (std::string& e : env) args.insert(args.end(), {"-e", std::move(e)});
    args.push_back("create");
    RunResult created = Job(args);
    REQUIRE_MESSAGE(created.status == 0, created.err);
    return created.out.substr(0, created.out.find('\n'));
  }
  // create + start + wait: the exit code; the output in *logs.
  int Run(std::vector<std::string> env, std::string* logs) {
    std::string id = Create(std::move(env));
    RunResult started = Job({"start", id});
    REQUIRE_MESSAGE(started.status == 0, started.err);
    RunResult waited = Job({"wait", id});
    REQUIRE_MESSAGE(waited.status == 0, waited.err);
    *logs = Job({"logs", id}).out;
    return std::stoi(waited.out);
  }
  json Inspect(const std::string& id) { return json::parse(Job({"container_inspect", id}).out); }
  const Netns& ns() const { return ns_; }
  const TempDir& dir() const { return dir_; }
  Berthd& berthd() { return *d_; }
  // Stops berthd and starts it again on the same root with `flags`.
  bool Restart(std::vector<std::string> flags) {
    if (d_->Stop() != 0) return false;
    flags.insert(flags.end(), {"--cgroup-parent", cgroups_.parent});
    d_ = std::make_unique<Berthd>(ns_, dir_, flags, SubidEnv(dir_, "vfs"));
    return d_->WaitReady();
  }

 private:
  Netns ns_;
  TempDir dir_;
  execdriver::CgroupOptions cgroups_;
  std::unique_ptr<Berthd> d_;
};

std::string Cmd(const std::string& script) { return "Cmd=" + json({"sh", "-c", script}).dump(); }

// The Uid: or Gid: line of /proc/<pid>/status: "real effective saved fs".
std::string StatusIds(int pid, const std::string& key) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return line.substr(key.size() + 2);
  }
  return "";
}

std::string Ids(unsigned id) { return absl::StrCat(id, "\t", id, "\t", id, "\t", id); }

void CheckRemappedContainers(const std::string& suffix, const std::string& driver) {
  Host h(suffix, {"-b", "none", "--userns-remap", "nobody"}, driver);
  if (Skip(h.ns())) return;
  REQUIRE_MESSAGE(h.Ready() == "", h.Ready());
  CHECK(json::parse(h.Job({"info"}).out)["Driver"] == driver);

  // Root in the container, an unprivileged uid on the host.
  std::string id = h.Create({"Image=bb", Cmd("id; sleep 60")});
  RunResult started = h.Job({"start", id});
  REQUIRE_MESSAGE(started.status == 0, started.err);
  int pid = h.Inspect(id)["State"]["Pid"].get<int>();
  CHECK(StatusIds(pid, "Uid") == Ids(kUid));
  CHECK(StatusIds(pid, "Gid") == Ids(kGid));
  std::vector<std::string> map = absl::StrSplit(ReadFileOrEmpty(absl::StrCat("/proc/", pid, "/uid_map")), ' ',
                                                absl::SkipWhitespace());
  CHECK(map == std::vector<std::string>{"0", absl::StrCat(kUid), "65536\n"});
  CHECK(h.Job({"kill", id}).status == 0);
  CHECK(h.Job({"wait", id}).status == 0);
  CHECK(h.Job({"logs", id}).out.find("uid=0(root) gid=0(root)") == 0);

  // The image works: its files are root's inside, /dev nodes work, /proc
  // and /sys are mounted, the /etc files berthd writes are root's.
  std::string logs;
  CHECK(h.Run({"Image=bb", Cmd("stat -c '%u:%g %n' /bin/busybox /etc/hosts /dev && echo x > /dev/null && "
                               "head -c 4 /dev/zero | wc -c && ls /proc/self/ns/user && ls /sys/kernel >/dev/null && "
                               "touch /made && stat -c '%u:%g %n' /made && test -c /dev/pts/ptmx && "
                               "grep -E '^(CapBnd|NoNewPrivs|Seccomp):' /proc/self/status")},
              &logs) == 0);
  CHECK_MESSAGE(logs == "0:0 /bin/busybox\n0:0 /etc/hosts\n0:0 /dev\n4\n/proc/self/ns/user\n0:0 /made\n"
                        "CapBnd:\t00000000a80425fb\nNoNewPrivs:\t1\nSeccomp:\t2\n",
                logs);

  // Another user of the image is the range's uid 1000 on the host, for what it writes too.
  std::string user_id = h.Create({"Image=bb", "User=1000:1000", Cmd("id -u && touch /tmp/mine")});
  REQUIRE(h.Job({"start", user_id}).status == 0);
  REQUIRE(h.Job({"wait", user_id}).out == "0\n");
  CHECK(h.Job({"logs", user_id}).out == "1000\n");
  std::string layer_file = driver == "vfs" ? "/vfs/dir/" + user_id + "/tmp/mine" : "/overlay/" + user_id + "/diff/tmp/mine";
  struct stat mine;
  REQUIRE(::lstat((h.dir() / absl::StrCat("root/", kUid, ".", kGid)) .append(layer_file).c_str(), &mine) == 0);
  CHECK(mine.st_uid == kUid + 1000);
  CHECK(mine.st_gid == kGid + 1000);

  // On disk, the remapped root's state and layers are shifted.
  std::string root = h.dir() / absl::StrCat("root/", kUid, ".", kGid);
  CHECK(std::filesystem::is_directory(root + "/containers"));
  bool found = false;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root + "/" + driver)) {
    if (e.path().filename() != "busybox" || e.is_symlink()) continue;
    struct stat st;
    REQUIRE(::lstat(e.path().c_str(), &st) == 0);
    CHECK(st.st_uid == kUid);
    found = true;
  }
  CHECK(found);

  // A volume: what the container's root creates there belongs to the host uid.
  std::string vol = h.dir() / "vol";
  REQUIRE(::mkdir(vol.c_str(), 0755) == 0);
  REQUIRE(::chown(vol.c_str(), kUid, kGid) == 0);
  WriteFileOrDie(h.dir() / "ro.txt", "from the host\n");
  CHECK(h.Run({"Image=bb", "Binds=" + json({vol + ":/data", h.dir() / "ro.txt" + ":/etc/ro.txt:ro"}).dump(),
               Cmd("echo hi > /data/made && mkdir /data/sub && cat /etc/ro.txt && "
                   "(echo no > /etc/ro.txt) 2>/dev/null || echo read-only")},
              &logs) == 0);
  CHECK(logs == "from the host\nread-only\n");
  struct stat st;
  REQUIRE(::stat((vol + "/made").c_str(), &st) == 0);
  CHECK(st.st_uid == kUid);
  CHECK(st.st_gid == kGid);
  REQUIRE(::stat((vol + "/sub").c_str(), &st) == 0);
  CHECK(st.st_uid == kUid);
  CHECK(ReadFileOrEmpty(h.dir() / "ro.txt") == "from the host\n");
}

TEST_CASE("--userns-remap on overlay: root is a host uid, volumes, layers, /dev, /proc and /sys work") {
  CheckRemappedContainers("uo", "overlay");
}

TEST_CASE("--userns-remap on vfs") { CheckRemappedContainers("uv", "vfs"); }

TEST_CASE("--userns-remap: busybox httpd serves on a published port") {
  Host h("uh", {"--userns-remap", "nobody"}, "vfs");
  if (Skip(h.ns())) return;
  REQUIRE_MESSAGE(h.Ready() == "", h.Ready());
  std::string id = h.Create({"Image=bb", R"(PortBindings={"80/tcp":[{"HostIp":"","HostPort":"18080"}]})",
                             Cmd("mkdir /www && echo served > /www/index.html && exec httpd -f -p 80 -h /www")});
  REQUIRE(h.Job({"start", id}).status == 0);
  std::string bb = testing::BusyboxBinary();
  bool served = testing::WaitFor(
      [&] {
        RunResult r = RunCommand(h.ns().Enter({bb, "timeout", "3", bb, "wget", "-q", "-O", "-",
                                               "http://127.0.0.1:18080/"}));
        return r.out == "served\n";
      },
      absl::Seconds(20));
  CHECK(served);
  CHECK(h.Job({"-e", "t=1", "stop", id}).status == 0);
}

// An image whose /data links to a host directory (which the image also has,
// so the link resolves): the bind lands on the image's copy, never the host's.
// The image has no /etc either: the one berthd makes is the container root's.
TEST_CASE("Binds: a symlink in the image cannot send a bind mount to a host path") {
  Host h("ul", {"-b", "none", "--userns-remap", "nobody"}, "vfs");
  if (Skip(h.ns())) return;
  REQUIRE_MESSAGE(h.Ready() == "", h.Ready());
  std::string victim = h.dir() / "victim";
  REQUIRE(std::filesystem::create_directory(victim));
  std::string vol = h.dir() / "vol";
  REQUIRE(std::filesystem::create_directory(vol));
  REQUIRE(::chown(vol.c_str(), kUid, kGid) == 0);
  WriteFileOrDie(vol + "/from-volume", "v\n");
  std::string root = h.dir() / "image";
  REQUIRE(testing::BuildBusyboxRootfs(root).ok());
  std::filesystem::create_directories(root + victim);
  std::filesystem::create_symlink(victim, root + "/data");
  std::filesystem::remove_all(root + "/etc");  // berthd makes it, for the container's root
  std::string tar = root + ".tar";
  REQUIRE(RunCommand({"/bin/tar", "-C", root, "-cf", tar, "."}).status == 0);
  REQUIRE(h.berthd().Job({"import", "-", "linked"}, tar).status == 0);
  std::string logs;
  CHECK(h.Run({"Image=linked", "Binds=" + json({vol + ":/data"}).dump(),
               Cmd("ls " + victim + " && echo new > /data/new && ls /data && stat -c %u:%g /etc")},
              &logs) == 0);
  CHECK(logs == "from-volume\nfrom-volume\nnew\n0:0\n");
  CHECK(std::filesystem::is_empty(victim));
  CHECK(ReadFileOrEmpty(vol + "/new") == "new\n");
}

TEST_CASE("without --userns-remap nothing changes: root is host root, state in the root itself; with it, another state") {
  Host h("un", {"-b", "none"}, "vfs");
  if (Skip(h.ns())) return;
  REQUIRE_MESSAGE(h.Ready() == "", h.Ready());
  std::string id = h.Create({"Image=bb", Cmd("sleep 60")});
  REQUIRE(h.Job({"start", id}).status == 0);
  int pid = h.Inspect(id)["State"]["Pid"].get<int>();
  CHECK(StatusIds(pid, "Uid") == Ids(0));
  CHECK(ReadFileOrEmpty(absl::StrCat("/proc/", pid, "/uid_map")).find("4294967295") != std::string::npos);
  CHECK(h.Job({"kill", id}).status == 0);
  CHECK(std::filesystem::is_directory(h.dir() / "root/containers"));
  CHECK(!std::filesystem::exists(h.dir() / absl::StrCat("root/", kUid, ".", kGid)));

  // The same root with the flag is another state: no images, no containers;
  // it is kept across restarts, and the unremapped state is back without it.
  REQUIRE(h.Restart({"-b", "none", "--userns-remap", "nobody"}));
  CHECK(json::parse(h.Job({"images"}).out).empty());
  CHECK(json::parse(h.Job({"-e", "all=true", "containers"}).out).empty());
  REQUIRE(testing::WriteBusyboxTar(h.dir() / "bb2.tar").ok());
  REQUIRE(h.berthd().Job({"import", "-", "remapped"}, h.dir() / "bb2.tar").status == 0);
  std::string remapped_id = h.Create({"Image=remapped", Cmd("id -u")});
  REQUIRE(h.Restart({"-b", "none", "--userns-remap", "nobody"}));
  REQUIRE(h.Job({"start", remapped_id}).status == 0);
  CHECK(h.Job({"wait", remapped_id}).out == "0\n");
  REQUIRE(h.Restart({"-b", "none"}));
  CHECK(json::parse(h.Job({"images"}).out).size() == 1);
  CHECK(h.Job({"container_inspect", remapped_id}).status != 0);
  CHECK(h.Job({"container_inspect", id}).status == 0);
}

TEST_CASE("--userns-remap errors name the value, in --dry-run and from daemon.json; the plan shows the root") {
  TempDir dir;
  std::vector<std::string> env = SubidEnv(dir, "vfs");
  auto dry = [&](std::vector<std::string> extra) {
    std::vector<std::string> argv = {ToolPath("BERTHD"), "-g", dir / "root", "-p", dir / "pid", "-b", "none",
                                     "--config-file", dir / "none.json", "--dry-run"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return RunCommand(argv, env);
  };
  WriteFileOrDie(dir / "none.json", "{}");
  RunResult ok = dry({"--userns-remap", "nobody"});
  CHECK_MESSAGE(ok.status == 0, ok.err);
  CHECK(ok.out.find("--userns-remap=nobody") != std::string::npos);
  CHECK(ok.out.find(absl::StrCat("RemappedRoot=", kUid, ".", kGid)) != std::string::npos);
  CHECK(!std::filesystem::exists(dir / "root"));

  RunResult nouser = dry({"--userns-remap", "no-such-user-x"});
  CHECK(nouser.status == 1);
  CHECK(nouser.err == "berthd: --userns-remap: no user 'no-such-user-x' in the host's user database\n");
  RunResult norange = dry({"--userns-remap", "nobody:root"});
  CHECK(norange.status == 1);
  CHECK(norange.err == "berthd: --userns-remap: no subordinate gid range for 'root' in " + dir / "subgid" + "\n");
  RunResult form = dry({"--userns-remap", "a:b:c"});
  CHECK(form.err == "berthd: --userns-remap: want default, USER, USER:GROUP, UID or UID:GID, got 'a:b:c'\n");

  WriteFileOrDie(dir / "daemon.json", R"({"userns-remap": "root"})");
  RunResult from_file = RunCommand({ToolPath("BERTHD"), "-g", dir / "root", "-p", dir / "pid", "-b", "none",
                                    "--config-file", dir / "daemon.json", "--dry-run"},
                                   env);
  CHECK(from_file.status == 1);
  CHECK(from_file.err == "berthd: --userns-remap: no subordinate uid range for 'root' in " + dir / "subuid" + "\n");
  RunResult without = dry({});
  CHECK(without.status == 0);
  CHECK(without.out.find("RemappedRoot") == std::string::npos);
}

}  // namespace
}  // namespace berth
