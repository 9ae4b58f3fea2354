// A berthd under test, as a real process in a network namespace the test
// creates (and always deletes): the namespace, the daemon, and `berth job`
// against it. Shared by the berthd suites that need networking.
//
// berthd enters the namespace with `nsenter --net` rather than `ip netns exec`,
// which would also remount /sys and so hide /sys/fs/cgroup from the daemon
// (containers need their cgroups).
#ifndef BERTH_TESTS_DAEMON_BERTHD_HARNESS_H_
#define BERTH_TESTS_DAEMON_BERTHD_HARNESS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace berth::testing {

// A network namespace for one test, deleted at the end.
class Netns {
 public:
  explicit Netns(const std::string& suffix);
  ~Netns();
  bool ok() const { return ok_; }
  const std::string& name() const { return name_; }
  const std::string& error() const { return error_; }
  // argv run inside the namespace (`ip netns exec`: its own /sys too).
  std::vector<std::string> Exec(std::vector<std::string> argv) const;
  // argv run inside the namespace's network only (nsenter --net).
  std::vector<std::string> Enter(std::vector<std::string> argv) const;
  // iptables-legacy-save without comments and counters.
  std::string Save() const;

 private:
  std::string name_;
  bool ok_ = false;
  std::string error_;
};

// True (and a message) when the namespace could not be made; under CI=true
// that fails the test instead.
bool Skip(const Netns& ns);

struct Berthd {
  const Netns& ns;
  const TempDir& dir;
  std::unique_ptr<Process> proc;
  std::string sock;
  // `env` adds to berthd's environment (default BERTH_DRIVER=vfs).
  Berthd(const Netns& n, const TempDir& d, std::vector<std::string> extra = {},
         std::vector<std::string> env = {"BERTH_DRIVER=vfs"});
  bool WaitReady(absl::Duration timeout = absl::Seconds(20));
  RunResult Job(std::vector<std::string> args, std::string stdin_file = "",
                absl::Duration timeout = absl::Seconds(30));
  // SIGTERM and the exit status (-1 if it did not exit within 30 s).
  int Stop();
};

// Occurrences of `needle` in `haystack`.
int Count(const std::string& haystack, const std::string& needle);

}  // namespace berth::testing

#endif  // BERTH_TESTS_DAEMON_BERTHD_HARNESS_H_
