// The berthd test harness; see berthd_harness.h.
#include "tests/daemon/berthd_harness.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <sstream>

#include <doctest/doctest.h>

#include "absl/strings/str_cat.h"

namespace berth::testing {

Netns::Netns(const std::string& suffix) : name_(absl::StrCat("berth-t-", ::getpid(), "-", suffix)) {
  RunCommand({"/usr/sbin/ip", "netns", "del", name_});
  RunResult r = RunCommand({"/usr/sbin/ip", "netns", "add", name_});
  ok_ = r.status == 0;
  error_ = r.err;
  if (ok_) RunCommand({"/usr/sbin/ip", "netns", "exec", name_, "/usr/sbin/ip", "link", "set", "lo", "up"});
}

Netns::~Netns() {
  if (ok_) RunCommand({"/usr/sbin/ip", "netns", "del", name_});
}

std::vector<std::string> Netns::Exec(std::vector<std::string> argv) const {
  std::vector<std::string> full = {"/usr/sbin/ip", "netns", "exec", name_};
  full.insert(full.end(), argv.begin(), argv.end());
  return full;
}

std::vector<std::string> Netns::Enter(std::vector<std::string> argv) const {
  std::vector<std::string> full = {"/usr/bin/nsenter", "--net=/run/netns/" + name_, "--"};
  full.insert(full.end(), argv.begin(), argv.end());
  return full;
}

std::string Netns::Save() const {
  RunResult r = RunCommand(Exec({"/usr/sbin/iptables-legacy-save"}));
  // Drop comments and counters so that two dumps compare by rules alone.
  std::stringstream in(r.out), out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line[0] == ':') line = line.substr(0, line.find(' '));
    out << line << "\n";
  }
  return out.str();
}

bool Skip(const Netns& ns) {
  if (ns.ok()) return false;
  const char* ci = std::getenv("CI");
  if (ci != nullptr && std::string(ci) == "true") FAIL("cannot create a network namespace: " << ns.error());
  MESSAGE("skipped: cannot create a network namespace: " << ns.error());
  return true;
}

Berthd::Berthd(const Netns& n, const TempDir& d, std::vector<std::string> extra, std::vector<std::string> env)
    : ns(n), dir(d) {
  sock = "ipc://" + dir.path() + "/run/berth.sock";
  std::vector<std::string> argv = {ToolPath("BERTHD"), "-H", sock, "-g", dir / "root", "-p", dir / "berthd.pid",
                                   "-G", "root"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  proc = std::make_unique<Process>(ProcessOptions{ns.Enter(argv), std::move(env), "", dir.path()});
}

bool Berthd::WaitReady(absl::Duration timeout) {
  return WaitFor([&] { return proc->Stderr().find("berthd ready in") != std::string::npos || !proc->running(); },
                 timeout) &&
         proc->running();
}

RunResult Berthd::Job(std::vector<std::string> args, std::string stdin_file, absl::Duration timeout) {
  std::vector<std::string> argv = {ToolPath("BERTH"), "-H", sock, "job"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, {}, std::move(stdin_file), timeout);
}

int Berthd::Stop() {
  proc->Signal(SIGTERM);
  std::optional<int> st = proc->Wait(absl::Seconds(30));
  return st.has_value() ? *st : -1;
}

int Count(const std::string& haystack, const std::string& needle) {
  int n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

}  // namespace berth::testing
