// The per-container monitor thread; see monitor.h.
#include "execdriver/monitor.h"

#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "absl/time/clock.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace berth::execdriver {

Monitor::Monitor(int pidfd, int stdout_fd, int stderr_fd, Hooks hooks)
    : pidfd_(pidfd), fds_{stdout_fd, stderr_fd}, hooks_(std::move(hooks)) {
  thread_ = std::thread([this] { Run(); });
}

Monitor::~Monitor() {
  if (thread_.joinable()) thread_.join();
}

// False once the pipe is at EOF (and closed).
bool Monitor::ReadPipe(int& fd, Stream stream) {
  char buf[65536];
  ssize_t n = ::read(fd, buf, sizeof(buf));
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return true;
  if (n <= 0) {
    ::close(fd);
    fd = -1;
    return false;
  }
  hooks_.output(stream, absl::string_view(buf, static_cast<size_t>(n)));
  return true;
}

int Monitor::Reap() {
  siginfo_t info = {};
  int rc;
  do {
    rc = ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd_), &info, WEXITED);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) return 255;
  if (info.si_code == CLD_EXITED) return info.si_status & 0xff;
  return 128 + info.si_status;  // CLD_KILLED or CLD_DUMPED
}

void Monitor::Run() {
  bool reaped = false;
  absl::Time drain_deadline = absl::InfiniteFuture();
  while (fds_[0] >= 0 || fds_[1] >= 0 || !reaped) {
    struct pollfd pfds[3] = {{fds_[0], POLLIN, 0}, {fds_[1], POLLIN, 0}, {reaped ? -1 : pidfd_, POLLIN, 0}};
    int timeout = -1;
    if (reaped) {
      timeout = static_cast<int>(absl::ToInt64Milliseconds(drain_deadline - absl::Now()));
      if (timeout <= 0) break;
    }
    int n = ::poll(pfds, 3, timeout);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    for (int i = 0; i < 2; ++i) {
      if (fds_[i] >= 0 && (pfds[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        ReadPipe(fds_[i], i == 0 ? Stream::kStdout : Stream::kStderr);
      }
    }
    if (!reaped && (pfds[2].revents & (POLLIN | POLLHUP)) != 0) {
      reaped = true;
      hooks_.reaped(Reap());
      drain_deadline = absl::Now() + kDrainTimeout;
    }
  }
  for (int& fd : fds_) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  hooks_.done();
}

}  // namespace berth::execdriver
