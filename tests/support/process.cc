#include "tests/support/process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/support/temp_dir.h"

extern char** environ;

namespace berth::testing {
namespace {

std::string MakeCaptureFile(const std::string& dir, const char* what) {
  std::string base = dir.empty() ? "/tmp" : dir;
  std::string tmpl = base + "/proc-" + what + "-XXXXXX";
  int fd = ::mkstemp(tmpl.data());
  if (fd >= 0) ::close(fd);
  return tmpl;
}

}  // namespace

Process::Process(ProcessOptions options) {
  out_path_ = MakeCaptureFile(options.dir, "out");
  err_path_ = MakeCaptureFile(options.dir, "err");
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
  for (const std::string& e : options.env) env.push_back(e);
  std::vector<char*> argv;
  for (std::string& a : options.argv) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  std::string in = options.stdin_file.empty() ? "/dev/null" : options.stdin_file;
  posix_spawn_file_actions_addopen(&fa, 0, in.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_path_.c_str(), O_WRONLY | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err_path_.c_str(), O_WRONLY | O_TRUNC, 0644);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  // Its own process group, so that the child's children can be killed with it;
  // default signal dispositions and an empty mask, whatever the test runner set.
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  if (posix_spawn(&pid_, argv[0], &fa, &attr, argv.data(), envp.data()) != 0) {
    std::perror(argv[0]);
    pid_ = -1;
    status_ = 127;
  }
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
}

Process::~Process() {
  if (pid_ > 0 && !status_.has_value()) {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    (void)Wait(absl::Seconds(10));
  }
  ::unlink(out_path_.c_str());
  ::unlink(err_path_.c_str());
}

std::optional<int> Process::Wait(absl::Duration timeout) {
  if (status_.has_value()) return status_;
  absl::Time until = absl::Now() + timeout;
  while (true) {
    int st = 0;
    struct rusage ru;
    pid_t r = ::wait4(pid_, &st, WNOHANG, &ru);
    if (r == pid_) {
      max_rss_ = static_cast<size_t>(ru.ru_maxrss) * 1024;
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      return status_;
    }
    if (r < 0) {
      status_ = -1;
      return status_;
    }
    if (absl::Now() >= until) return std::nullopt;
    absl::SleepFor(absl::Milliseconds(5));
  }
}

bool Process::running() { return !Wait(absl::ZeroDuration()).has_value(); }

void Process::Signal(int sig) {
  if (pid_ > 0 && !status_.has_value()) ::kill(pid_, sig);
}

std::string Process::Stdout() const { return ReadFileOrEmpty(out_path_); }
std::string Process::Stderr() const { return ReadFileOrEmpty(err_path_); }

size_t Process::PeakRss() const {
  std::ifstream in(absl::StrCat("/proc/", pid_, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return static_cast<size_t>(std::atoll(line.c_str() + 6)) * 1024;
  }
  return 0;
}

RunResult RunCommand(std::vector<std::string> argv, std::vector<std::string> env, std::string stdin_file,
                     absl::Duration timeout) {
  absl::Time start = absl::Now();
  Process p(ProcessOptions{std::move(argv), std::move(env), std::move(stdin_file), ""});
  RunResult r;
  std::optional<int> st = p.Wait(timeout);
  r.took = absl::Now() - start;
  r.status = st.value_or(-1);
  r.out = p.Stdout();
  r.err = p.Stderr();
  return r;
}

bool WaitFor(const std::function<bool()>& cond, absl::Duration timeout) {
  absl::Time until = absl::Now() + timeout;
  while (true) {
    if (cond()) return true;
    if (absl::Now() >= until) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
}

std::string ToolPath(const char* env_name) {
  const char* p = std::getenv(env_name);
  return p == nullptr ? "" : p;
}

}  // namespace berth::testing
