// Process: a child process for tests — started with argv and env, stdout and
// stderr captured to files, stdin from a file or /dev/null, waited for with a
// deadline, and killed (with its whole process group) if the test leaves it.
#ifndef BERTH_TESTS_SUPPORT_PROCESS_H_
#define BERTH_TESTS_SUPPORT_PROCESS_H_

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace berth::testing {

struct ProcessOptions {
  std::vector<std::string> argv;
  std::vector<std::string> env;  // extra NAME=VALUE entries on top of ours
  std::string stdin_file;        // "" = /dev/null
  std::string dir;               // where stdout/stderr files go ("" = a temp file)
};

class Process {
 public:
  explicit Process(ProcessOptions options);
  ~Process();  // SIGKILLs and reaps the process if it is still running
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  // Exit status (0-255, or 128+signal) once it ends; nullopt on timeout.
  std::optional<int> Wait(absl::Duration timeout);
  bool running();
  void Signal(int sig);
  std::string Stdout() const;
  std::string Stderr() const;
  // Peak resident memory (VmHWM) in bytes while running; 0 if unknown.
  size_t PeakRss() const;
  // Peak resident memory of the process once waited for (from wait4).
  size_t waited_max_rss() const { return max_rss_; }

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
  std::string out_path_;
  std::string err_path_;
  size_t max_rss_ = 0;
};

// Runs a command to completion (with a deadline) and returns exit status and
// output; the status is -1 on timeout.
struct RunResult {
  int status = -1;
  std::string out;
  std::string err;
  absl::Duration took;
};
RunResult RunCommand(std::vector<std::string> argv, std::vector<std::string> env = {},
                     std::string stdin_file = "", absl::Duration timeout = absl::Seconds(30));

// Polls `cond` every 10 ms until it holds or `timeout` passes.
bool WaitFor(const std::function<bool()>& cond, absl::Duration timeout);

// The path of a binary under test from the environment (set by meson), or "".
std::string ToolPath(const char* env_name);

}  // namespace berth::testing

#endif  // BERTH_TESTS_SUPPORT_PROCESS_H_
