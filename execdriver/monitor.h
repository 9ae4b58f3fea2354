// Monitor: berthd's thread that watches one container through its shim
// (shim_protocol.h). It reads the output messages from the shim's socket and
// polls the shim's pidfd; when the shim exits (it does once the init is
// reaped and its output drained) it reaps the shim if it is berthd's child,
// reads what is left on the socket, and reads the exit file: the exit status,
// or `lost` when the shim died without writing it.
//
// berthd never blocks on the shim: the socket is non-blocking, a message that
// is not a well-formed output message ends the connection (the log file
// still has everything), and the shim's end is learnt from its pidfd, not
// from anything the shim says.
//
// Hooks run on the monitor thread, in this order: `output` for every chunk,
// `exited` once with the status, `done` once at the end. Stop() ends the
// thread early without any of `exited` and `done` (a live restore leaves the
// container running).
#ifndef BERTH_EXECDRIVER_MONITOR_H_
#define BERTH_EXECDRIVER_MONITOR_H_

#include <functional>
#include <string>
#include <thread>

#include "absl/strings/string_view.h"
#include "execdriver/container.h"

namespace berth::execdriver {

class Monitor {
 public:
  struct Hooks {
    std::function<void(Stream, absl::string_view)> output;
    std::function<void(const ExitStatus&)> exited;
    std::function<void()> done;
  };
  // Does not own `shim_pidfd` (it must stay open until the Monitor is
  // destroyed) nor `socket_fd` (-1: no connection, only the end is watched).
  Monitor(int shim_pidfd, int socket_fd, std::string state_dir, Hooks hooks);
  ~Monitor();  // joins the thread: the shim must have been made to exit, or Stop called
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;

  // Ends the thread without waiting for the shim; returns once it has ended.
  void Stop();

 private:
  void Run();
  // 1: a message was passed on; 0: none is queued; -1: EOF or a bad
  // message, the connection is dropped.
  int ReadMessage();
  void Finish();

  int shim_pidfd_;
  int socket_fd_;
  std::string state_dir_;
  Hooks hooks_;
  int wake_[2] = {-1, -1};
  bool stopped_ = false;
  std::thread thread_;
};

// The exit file the shim wrote in `state_dir`, or nullopt-like false when it
// is missing or torn.
bool ReadShimExitFile(const std::string& state_dir, ExitStatus* out);

}  // namespace berth::execdriver

#endif  // BERTH_EXECDRIVER_MONITOR_H_
