// berthd's side of a container's shim; see monitor.h.
#include "execdriver/monitor.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "execdriver/shim_protocol.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace berth::execdriver {

bool ReadShimExitFile(const std::string& state_dir, ExitStatus* out) {
  std::string path = absl::StrCat(state_dir, "/", kShimExitName);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char text[128];
  ssize_t n = ::read(fd, text, sizeof(text) - 1);
  ::close(fd);
  if (n <= 0) return false;
  text[n] = '\0';
  ShimExit e;
  if (!ParseShimExit(text, &e)) return false;
  out->code = e.code;
  out->oom_killed = e.oom_killed;
  out->lost = false;
  out->finished_at = absl::FromUnixNanos(e.finished_unix_nanos);
  return true;
}

Monitor::Monitor(int shim_pidfd, int socket_fd, std::string state_dir, Hooks hooks)
    : shim_pidfd_(shim_pidfd), socket_fd_(socket_fd), state_dir_(std::move(state_dir)), hooks_(std::move(hooks)) {
  if (::pipe2(wake_, O_CLOEXEC) != 0) wake_[0] = wake_[1] = -1;
  thread_ = std::thread([this] { Run(); });
}

Monitor::~Monitor() {
  if (thread_.joinable()) thread_.join();
  for (int fd : wake_) {
    if (fd >= 0) ::close(fd);
  }
}

void Monitor::Stop() {
  if (wake_[1] >= 0) (void)!::write(wake_[1], "x", 1);
  if (thread_.joinable()) thread_.join();
}

int Monitor::ReadMessage() {
  char buf[kShimHeaderSize + kShimMaxData];
  ssize_t n = ::recv(socket_fd_, buf, sizeof(buf), MSG_DONTWAIT);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return 0;
  if (n < static_cast<ssize_t>(kShimHeaderSize)) return -1;
  ShimHeader h;
  std::memcpy(&h, buf, sizeof(h));
  size_t size = static_cast<size_t>(n) - kShimHeaderSize;
  if (h.type != kShimOutput || h.stream > 1 || h.size != size) return -1;
  hooks_.output(h.stream == 0 ? Stream::kStdout : Stream::kStderr, absl::string_view(buf + kShimHeaderSize, size));
  return 1;
}

void Monitor::Run() {
  bool connected = socket_fd_ >= 0;
  for (;;) {
    struct pollfd pfds[3] = {{shim_pidfd_, POLLIN, 0}, {connected ? socket_fd_ : -1, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    int n = ::poll(pfds, 3, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    if (pfds[2].revents != 0) return;  // Stop
    if (connected && (pfds[1].revents & POLLIN) != 0) {
      connected = ReadMessage() >= 0;
    } else if (connected && (pfds[1].revents & (POLLHUP | POLLERR)) != 0) {
      connected = false;
    }
    if ((pfds[0].revents & (POLLIN | POLLHUP)) != 0) break;
  }
  // The shim has exited: what it sent before is still queued, then EOF.
  while (connected && ReadMessage() == 1) {
  }
  Finish();
}

void Monitor::Finish() {
  // Reaps the shim when it is berthd's child (ECHILD for an adopted one).
  siginfo_t info = {};
  while (::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(shim_pidfd_), &info, WEXITED) < 0 &&
         errno == EINTR) {
  }
  ExitStatus status;
  if (!ReadShimExitFile(state_dir_, &status)) {
    status.lost = true;
    status.code = -1;
    status.finished_at = absl::Now();
  }
  hooks_.exited(status);
  hooks_.done();
}

}  // namespace berth::execdriver
