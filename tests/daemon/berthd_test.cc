// berthd as a real process: start-up on a scratch root (also inside a network
// namespace), start-up failures, the shutdown order, signals.
#include <doctest/doctest.h>

#include <signal.h>
#include <unistd.h>


#include "absl/strings/str_cat.h"
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

std::vector<std::string> BerthdArgs(const TempDir& dir, std::vector<std::string> extra = {}) {
  std::vector<std::string> a = {ToolPath("BERTHD"), "-H", "ipc://" + dir.path() + "/run/berth.sock",
                                "-g", dir / "root", "-p", dir / "berthd.pid", "-b", "none", "-D"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

bool Ready(Process& p) { return p.Stderr().find("berthd ready in") != std::string::npos; }

RunResult Berth(const TempDir& dir, std::vector<std::string> args) {
  std::vector<std::string> argv = {ToolPath("BERTH"), "-H", "ipc://" + dir.path() + "/run/berth.sock"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv);
}

TEST_CASE("SIGTERM: hooks in the documented order, the pid file last, exit 0") {
  TempDir dir;
  Process d(ProcessOptions{BerthdArgs(dir), {"BERTH_DRIVER=vfs"}, "", dir.path()});
  REQUIRE_MESSAGE(WaitFor([&] { return Ready(d) || !d.running(); }, absl::Seconds(15)), d.Stderr());
  REQUIRE_MESSAGE(d.running(), d.Stderr());
  CHECK(Berth(dir, {"job", "info"}).out.find("\"Driver\":\"vfs\"") != std::string::npos);
  CHECK(::access((dir / "berthd.pid").c_str(), F_OK) == 0);
  d.Signal(SIGTERM);
  auto st = d.Wait(absl::Seconds(15));
  REQUIRE(st.has_value());
  CHECK(*st == 0);
  std::string log = d.Stderr();
  std::vector<std::string> expected = {"shutdown: stopped", "shutdown: graph driver vfs cleaned up",
                                       "shutdown: graphdb closed", "shutdown: pid file"};
  size_t pos = 0;
  for (const std::string& e : expected) {
    CAPTURE(e);
    size_t at = log.find(e, pos);
    CHECK(at != std::string::npos);
    if (at != std::string::npos) pos = at;
  }
  CHECK(::access((dir / "berthd.pid").c_str(), F_OK) != 0);
}

TEST_CASE("start-up failures exit non-zero with the step's message and release what was taken") {
  TempDir dir;
  RunResult both = RunCommand({ToolPath("BERTHD"), "-H", "ipc://" + dir.path() + "/s.sock", "-g", dir / "root", "-p",
                               dir / "pid", "-b", "br0", "--bip", "10.0.0.1/24"});
  CHECK(both.status == 1);
  CHECK(both.err.find("berthd: You specified -b & --bip, mutually exclusive options. Please specify only one.") !=
        std::string::npos);

  RunResult icc = RunCommand({ToolPath("BERTHD"), "-H", "ipc://" + dir.path() + "/s.sock", "-g", dir / "root", "-p",
                              dir / "pid", "--iptables=false", "--icc=false"});
  CHECK(icc.status == 1);
  CHECK(icc.err.find("ICC uses iptables to function") != std::string::npos);

  RunResult named = RunCommand({ToolPath("BERTHD"), "-H", "ipc://" + dir.path() + "/s.sock", "-g", dir / "root",
                                "-p", dir / "pid", "-b", "none", "-s", "devicemapper"});
  CHECK(named.status == 1);
  CHECK(::access((dir / "pid").c_str(), F_OK) != 0);  // the pid file's hook ran
  CHECK(::access((dir / "s.sock").c_str(), F_OK) != 0);

  // A second berthd on the same pid file.
  Process first(ProcessOptions{BerthdArgs(dir), {"BERTH_DRIVER=vfs"}, "", dir.path()});
  REQUIRE(WaitFor([&] { return Ready(first) || !first.running(); }, absl::Seconds(15)));
  RunResult second = RunCommand({ToolPath("BERTHD"), "-H", "ipc://" + dir.path() + "/other.sock", "-g",
                                 dir / "root2", "-p", dir / "berthd.pid", "-b", "none"},
                                {"BERTH_DRIVER=vfs"});
  CHECK(second.status == 1);
  CHECK(second.err.find("berthd: pid file found, ensure berthd is not running or delete " + (dir / "berthd.pid")) !=
        std::string::npos);
  CHECK(first.running());
}

TEST_CASE("$BERTH_DRIVER picks the graph driver; --dry-run touches nothing") {
  TempDir dir;
  RunResult dry = RunCommand({ToolPath("BERTHD"), "-g", dir / "root", "-p", dir / "pid", "-b", "none", "--dry-run"});
  CHECK(dry.status == 0);
  CHECK(dry.out.find("daemon_graphdriver Root=" + (dir / "root")) != std::string::npos);
  CHECK(dry.out.find("init_networkdriver") == std::string::npos);
  CHECK(::access((dir / "root").c_str(), F_OK) != 0);
  CHECK(::access((dir / "pid").c_str(), F_OK) != 0);

  Process d(ProcessOptions{BerthdArgs(dir), {"BERTH_DRIVER=overlay"}, "", dir.path()});
  REQUIRE_MESSAGE(WaitFor([&] { return Ready(d) || !d.running(); }, absl::Seconds(15)), d.Stderr());
  CHECK(Berth(dir, {"job", "info"}).out.find("\"Driver\":\"overlay\"") != std::string::npos);
}

TEST_CASE("berthd on a scratch root inside a network namespace") {
  TempDir dir;
  std::string ns = absl::StrCat("berth-t-", ::getpid(), "-d");
  RunCommand({"/usr/sbin/ip", "netns", "del", ns});
  RunResult add = RunCommand({"/usr/sbin/ip", "netns", "add", ns});
  if (add.status != 0) {
    const char* ci = std::getenv("CI");
    if (ci != nullptr && std::string(ci) == "true") FAIL("cannot create a network namespace: " << add.err);
    MESSAGE("skipped: cannot create a network namespace: " << add.err);
    return;
  }
  std::vector<std::string> argv = {"/usr/sbin/ip", "netns", "exec", ns};
  for (const std::string& a : BerthdArgs(dir)) argv.push_back(a);
  {
    Process d(ProcessOptions{argv, {"BERTH_DRIVER=vfs"}, "", dir.path()});
    REQUIRE_MESSAGE(WaitFor([&] { return Ready(d) || !d.running(); }, absl::Seconds(15)), d.Stderr());
    RunResult v = Berth(dir, {"job", "version"});
    CHECK(v.status == 0);
    d.Signal(SIGTERM);
    auto st = d.Wait(absl::Seconds(15));
    REQUIRE(st.has_value());
    CHECK(*st == 0);
  }
  CHECK(RunCommand({"/usr/sbin/ip", "netns", "del", ns}).status == 0);
}

}  // namespace
}  // namespace berth
