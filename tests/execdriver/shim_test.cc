// The shim (tools/berth-shim) and berthd's side of it: the exit file's
// format, a monitor facing a hostile or dead shim, a real shim killed under
// its container (lost), and a container detached and adopted again.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "doctest/doctest.h"
#include "execdriver/container.h"
#include "execdriver/json_log.h"
#include "execdriver/monitor.h"
#include "execdriver/shim_protocol.h"
#include "tests/execdriver/sandbox.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace berth::execdriver {
namespace {

using testing::Sandbox;

TEST_CASE("shim: the exit file is code, OOM flag and finish time; anything else is refused") {
  char text[64];
  ShimExit e{137, true, 1764480000123456789};
  FormatShimExit(e, text, sizeof(text));
  CHECK(std::string(text) == "137 1 1764480000123456789\n");
  ShimExit back;
  REQUIRE(ParseShimExit(text, &back));
  CHECK(back.code == 137);
  CHECK(back.oom_killed);
  CHECK(back.finished_unix_nanos == 1764480000123456789);
  for (const char* torn : {"", "7", "7 0", "7 2 1\n", "-1 0 1\n", "7 0 1\nmore", "x 0 1\n"}) {
    CHECK_MESSAGE(!ParseShimExit(torn, &back), torn);
  }
}

// A fake shim: a child process holding the other end of a socket pair.
struct FakeShim {
  pid_t pid = -1;
  int pidfd = -1;
  int ours = -1;    // berthd's end
  int theirs = -1;  // the fake shim's end
  explicit FakeShim(const std::function<void(int)>& body) {
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
    ours = sv[0];
    theirs = sv[1];
    pid = ::fork();
    if (pid == 0) {
      ::close(ours);
      body(theirs);
      ::_exit(0);
    }
    ::close(theirs);
    pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  }
  ~FakeShim() {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);  // the monitor may have reaped it already: ECHILD
    ::close(pidfd);
    ::close(ours);
  }
};

struct Seen {
  std::atomic<int> chunks{0};
  absl::Notification exited;
  ExitStatus status;
  Monitor::Hooks Hooks() {
    Monitor::Hooks h;
    h.output = [this](Stream, absl::string_view) { ++chunks; };
    h.exited = [this](const ExitStatus& s) {
      status = s;
      exited.Notify();
    };
    h.done = [] {};
    return h;
  }
};

void SendOutput(int fd, absl::string_view data) {
  ShimHeader h = {kShimOutput, 0, 0, static_cast<uint32_t>(data.size())};
  std::string msg(reinterpret_cast<const char*>(&h), sizeof(h));
  msg.append(data.data(), data.size());
  (void)!::send(fd, msg.data(), msg.size(), 0);
}

TEST_CASE("shim: a garbage message drops the connection; a shim gone without an exit file means lost") {
  testing::TempDir dir;
  FakeShim shim([](int fd) {
    SendOutput(fd, "fine");
    (void)!::send(fd, "garbage!garbage!", 16, 0);  // a header that lies about its size
    SendOutput(fd, "never read");
    ::pause();
  });
  Seen seen;
  Monitor monitor(shim.pidfd, shim.ours, dir.path(), seen.Hooks());
  absl::SleepFor(absl::Milliseconds(200));  // the monitor must not end while the shim runs
  CHECK_FALSE(seen.exited.HasBeenNotified());
  ::kill(shim.pid, SIGKILL);
  REQUIRE(seen.exited.WaitForNotificationWithTimeout(absl::Seconds(10)));
  CHECK(seen.chunks == 1);
  CHECK(seen.status.lost);
  CHECK(seen.status.code == -1);
}

TEST_CASE("shim: the exit file the shim wrote is the status; Stop ends the monitor of a running shim") {
  testing::TempDir dir;
  std::string exit_path = dir / kShimExitName;
  {
    FakeShim shim([&](int fd) {
      SendOutput(fd, "last words");
      std::ofstream(exit_path) << "3 0 1764480000000000000\n";
    });
    Seen seen;
    Monitor monitor(shim.pidfd, shim.ours, dir.path(), seen.Hooks());
    REQUIRE(seen.exited.WaitForNotificationWithTimeout(absl::Seconds(10)));
    CHECK(seen.chunks == 1);  // sent before it exited: still delivered
    CHECK_FALSE(seen.status.lost);
    CHECK(seen.status.code == 3);
    CHECK(seen.status.finished_at == absl::FromUnixNanos(1764480000000000000));
  }
  FakeShim running([](int) { ::pause(); });
  Seen seen;
  Monitor monitor(running.pidfd, running.ours, dir.path(), seen.Hooks());
  absl::Time t0 = absl::Now();
  monitor.Stop();
  CHECK(absl::Now() - t0 < absl::Seconds(2));
  CHECK_FALSE(seen.exited.HasBeenNotified());
}

TEST_CASE("shim: killing a container's shim kills the container, which is lost; nothing is left") {
  if (testing::SkipContainerTest()) return;
  Sandbox box;
  Spec spec = box.MakeSpec({"sleep", "100"});
  std::string id = spec.id;
  auto c = Container::Create(std::move(spec));
  REQUIRE_MESSAGE(c.ok(), c.status().ToString());
  REQUIRE((*c)->Start().ok());
  ContainerHandle h = (*c)->handle();
  CHECK(h.shim_pid > 0);
  CHECK(h.start_time > 0);
  CHECK(ProcessStartTime(h.pid).value_or(0) == h.start_time);
  REQUIRE(::kill(h.shim_pid, SIGKILL) == 0);
  REQUIRE((*c)->WaitFor(absl::Seconds(10)));
  ExitStatus st = (*c)->Wait();
  CHECK(st.lost);
  CHECK(st.code == -1);
  CHECK(testing::WaitFor([&] { return !ProcessStartTime(h.pid).ok(); }, absl::Seconds(10)));
  REQUIRE((*c)->Destroy().ok());
  for (const std::string& d : box.CgroupDirs(id)) CHECK_FALSE(std::filesystem::exists(d));
}

TEST_CASE("shim: a detached container runs on; adopted again, its output, signals and exit status are seen") {
  if (testing::SkipContainerTest()) return;
  Sandbox box;
  Spec spec = box.MakeSpec({"sh", "-c", "trap 'echo bye; exit 5' TERM; echo hi; while true; do sleep 0.1; done"});
  Spec again = spec;
  auto c = Container::Create(std::move(spec));
  REQUIRE_MESSAGE(c.ok(), c.status().ToString());
  REQUIRE((*c)->Start().ok());
  // "hi" comes after the trap is set: PID 1 ignores a SIGTERM it has no handler for.
  REQUIRE(testing::WaitFor([&] {
    auto log = ReadJsonLog(again.log_path);
    return log.ok() && !log->empty();
  }, absl::Seconds(10)));
  ContainerHandle h = (*c)->handle();
  (*c)->Detach();
  c->reset();  // the destructor leaves a detached container alone
  CHECK(ProcessStartTime(h.pid).value_or(0) == h.start_time);

  ContainerHandle stale = h;
  stale.shim_start_time += 1;  // another process with that pid
  CHECK(Container::Adopt(again, stale).status().message() == "shim of container " + again.id + " is gone");

  auto adopted = Container::Adopt(again, h);
  REQUIRE_MESSAGE(adopted.ok(), adopted.status().ToString());
  std::atomic<bool> said_bye{false};
  (*adopted)->SubscribeOutput([&](Stream, absl::string_view data, bool) {
    if (data.find("bye") != absl::string_view::npos) said_bye = true;
  });
  REQUIRE((*adopted)->Signal(SIGTERM).ok());
  ExitStatus st = (*adopted)->Wait();
  CHECK(st.code == 5);
  CHECK_FALSE(st.lost);
  CHECK(said_bye);
  REQUIRE((*adopted)->Destroy().ok());
  auto log = ReadJsonLog(again.log_path);
  REQUIRE(log.ok());
  REQUIRE(log->size() == 2);
  CHECK((*log)[0].log == "hi\n");
  CHECK((*log)[1].log == "bye\n");
}

}  // namespace
}  // namespace berth::execdriver
