// Monitor: the thread that watches one container process. It polls the
// stdout and stderr pipes and the process's pidfd; it reaps the process with
// waitid(P_PIDFD) the moment it exits (so no zombie is left, whether or not
// anybody waits), and goes on draining the pipes until both are at EOF.
// When the init of a PID namespace dies the kernel kills the rest of the
// namespace, so the pipes close soon after; in case something outside still
// holds a write end, draining stops kDrainTimeout after the reap.
//
// Hooks run on the monitor thread, in this order: `output` for every chunk,
// `reaped` once with the exit status, `done` once at the end.
#ifndef BERTH_EXECDRIVER_MONITOR_H_
#define BERTH_EXECDRIVER_MONITOR_H_

#include <functional>
#include <thread>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "execdriver/container.h"

namespace berth::execdriver {

inline constexpr absl::Duration kDrainTimeout = absl::Seconds(2);

class Monitor {
 public:
  struct Hooks {
    std::function<void(Stream, absl::string_view)> output;
    std::function<void(int code)> reaped;  // 0-255, or 128+signal
    std::function<void()> done;
  };
  // Takes ownership of `stdout_fd` and `stderr_fd` (closed when read to EOF),
  // not of `pidfd`, which must stay open until the Monitor is destroyed.
  Monitor(int pidfd, int stdout_fd, int stderr_fd, Hooks hooks);
  ~Monitor();  // joins the thread: the process must have been made to exit
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

 private:
  void Run();
  bool ReadPipe(int& fd, Stream stream);
  int Reap();

  int pidfd_;
  int fds_[2];
  Hooks hooks_;
  std::thread thread_;
};

}  // namespace berth::execdriver

#endif  // BERTH_EXECDRIVER_MONITOR_H_
