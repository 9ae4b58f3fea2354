// berth-shim: the monitor of one running container (docs/containers.md,
// "Live restore"). berthd's exec driver starts it as the parent of the
// container's init (execdriver/container.h), with the descriptors and files
// of execdriver/shim_protocol.h, and arguments
//   berth-shim ID DIR LOG OOM
// DIR the container's directory (the socket and the exit file), LOG the
// json-file log ("-": none), OOM the cgroup file with the "oom_kill N" count
// ("-": none).
//
// It reaps the init, appends its output to the log, passes the output to the
// connected clients (berthd) and their stdin messages to the container, and
// once the init is reaped and its output drained (or kDrainNanos after the
// reap), writes the exit file and exits. It never blocks on a client: writes
// to clients do not wait, and a client whose socket is full is dropped.
// It runs in a session of its own, so berthd's end (a crash, SIGKILL, or a
// signal to berthd's process group) does not end it; killing the shim kills
// the container (the init has PR_SET_PDEATHSIG SIGKILL).
//
// Memory: it links nothing but libc (statically), so that one shim costs a
// few hundred KiB of resident memory.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "execdriver/json_line.h"
#include "execdriver/shim_protocol.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif

namespace berth::execdriver {
namespace {

constexpr int64_t kDrainNanos = 2'000'000'000;
constexpr size_t kMaxPartialLine = 16 * 1024;  // as json_log.h
constexpr size_t kReadSize = 16 * 1024;

int64_t NowNanos(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void CloseFd(int& fd) {
  if (fd >= 0) close(fd);
  fd = -1;
}

// The json-file log: one write per line, partial lines at kMaxPartialLine.
class Log {
 public:
  explicit Log(const char* path) {
    if (std::strcmp(path, "-") != 0) fd_ = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  }
  void Write(int stream, const char* data, size_t size) {
    Partial& p = partial_[stream];
    while (size > 0) {
      const char* nl = static_cast<const char*>(std::memchr(data, '\n', size));
      size_t take = nl == nullptr ? size : static_cast<size_t>(nl - data) + 1;
      if (take > kMaxPartialLine - p.size) take = kMaxPartialLine - p.size;
      std::memcpy(p.data + p.size, data, take);
      p.size += take;
      data += take;
      size -= take;
      if (p.data[p.size - 1] == '\n' || p.size >= kMaxPartialLine) Emit(stream);
    }
  }
  void Flush() {
    for (int s = 0; s < 2; ++s) {
      if (partial_[s].size > 0) Emit(s);
    }
  }

 private:
  struct Partial {
    char data[kMaxPartialLine];
    size_t size = 0;
  };
  void Emit(int stream) {
    Partial& p = partial_[stream];
    size_t n = EncodeJsonLogLine(p.data, p.size, stream == 0 ? "stdout" : "stderr", NowNanos(CLOCK_REALTIME), line_);
    p.size = 0;
    if (fd_ >= 0) (void)!write(fd_, line_, n);
  }
  int fd_ = -1;
  Partial partial_[2];
  char line_[JsonLogLineBound(kMaxPartialLine)];
};

class Shim {
 public:
  Shim(const char* log_path, const char* oom_path) : log_(log_path), oom_path_(oom_path) {}
  bool Listen();
  void Run();
  void WriteExit();

 private:
  int BuildPollSet(struct pollfd* pfds, int* client_of);
  void ReadPipe(int stream);
  void Publish(int stream, const char* data, size_t size);
  void Accept();
  void ReadClient(int i);
  void FlushStdin();
  void Reap();
  bool OomKilled() const;

  Log log_;
  const char* oom_path_;
  int pipes_[2] = {kShimStdoutFd, kShimStderrFd};
  int stdin_ = kShimStdinFd;
  bool close_stdin_ = false;  // once what is pending is written
  char pending_[kShimMaxData];
  size_t pending_size_ = 0;
  size_t pending_off_ = 0;
  int listen_ = -1;
  int clients_[kShimMaxClients] = {-1, -1, -1, -1};
  bool reaped_ = false;
  int64_t drain_deadline_ = 0;
  ShimExit exit_;
  char buf_[kShimHeaderSize + kReadSize];
};

bool Shim::Listen() {
  listen_ = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listen_ < 0) return false;
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, kShimSocketName, sizeof(kShimSocketName));
  unlink(kShimSocketName);
  if (bind(listen_, reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)) != 0) return false;
  return listen(listen_, 8) == 0;
}

void Shim::Publish(int stream, const char* data, size_t size) {
  ShimHeader h = {kShimOutput, static_cast<uint8_t>(stream), 0, static_cast<uint32_t>(size)};
  struct iovec iov[2] = {{&h, sizeof(h)}, {const_cast<char*>(data), size}};
  struct msghdr msg = {};
  msg.msg_iov = iov;
  msg.msg_iovlen = 2;
  for (int& c : clients_) {
    if (c >= 0 && sendmsg(c, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) CloseFd(c);
  }
}

void Shim::ReadPipe(int stream) {
  ssize_t n = read(pipes_[stream], buf_, kReadSize);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n <= 0) {
    CloseFd(pipes_[stream]);
    return;
  }
  log_.Write(stream, buf_, static_cast<size_t>(n));
  Publish(stream, buf_, static_cast<size_t>(n));
}

void Shim::Accept() {
  int fd = accept4(listen_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return;
  for (int& c : clients_) {
    if (c < 0) {
      c = fd;
      return;
    }
  }
  close(fd);  // full
}

void Shim::ReadClient(int i) {
  ssize_t n = recv(clients_[i], buf_, sizeof(buf_), MSG_DONTWAIT);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  ShimHeader h;
  if (n < static_cast<ssize_t>(kShimHeaderSize)) {
    CloseFd(clients_[i]);
    return;
  }
  std::memcpy(&h, buf_, sizeof(h));
  size_t size = static_cast<size_t>(n) - kShimHeaderSize;
  if (h.size != size || (h.type != kShimStdin && h.type != kShimCloseStdin)) {
    CloseFd(clients_[i]);
    return;
  }
  if (h.type == kShimCloseStdin) {
    close_stdin_ = true;
  } else if (stdin_ >= 0 && !close_stdin_) {
    std::memcpy(pending_, buf_ + kShimHeaderSize, size);
    pending_size_ = size;
    pending_off_ = 0;
  }
  FlushStdin();
}

// Writes what it can of the pending stdin without blocking.
void Shim::FlushStdin() {
  while (stdin_ >= 0 && pending_off_ < pending_size_) {
    ssize_t n = write(stdin_, pending_ + pending_off_, pending_size_ - pending_off_);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) return;
    if (n < 0) {
      CloseFd(stdin_);  // the container closed its end
      break;
    }
    pending_off_ += static_cast<size_t>(n);
  }
  pending_size_ = pending_off_ = 0;
  if (close_stdin_) CloseFd(stdin_);
}

bool Shim::OomKilled() const {
  if (std::strcmp(oom_path_, "-") == 0) return false;
  int fd = open(oom_path_, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char text[1024];
  ssize_t n = read(fd, text, sizeof(text) - 1);
  close(fd);
  if (n <= 0) return false;
  text[n] = '\0';
  const char* at = std::strstr(text, "oom_kill ");
  return at != nullptr && std::strtoll(at + 9, nullptr, 10) > 0;
}

void Shim::Reap() {
  siginfo_t info = {};
  int rc;
  do {
    rc = waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(kShimPidFd), &info, WEXITED);
  } while (rc < 0 && errno == EINTR);
  exit_.code = rc < 0 ? 255 : info.si_code == CLD_EXITED ? (info.si_status & 0xff) : 128 + info.si_status;
  exit_.oom_killed = OomKilled();
  exit_.finished_unix_nanos = NowNanos(CLOCK_REALTIME);
  reaped_ = true;
  drain_deadline_ = NowNanos(CLOCK_MONOTONIC) + kDrainNanos;
}

// Poll slots: 0 the init, 1-2 the pipes, 3 the socket, 4 stdin, 5.. clients.
int Shim::BuildPollSet(struct pollfd* pfds, int* client_of) {
  bool stdin_busy = pending_off_ < pending_size_;
  pfds[0] = {reaped_ ? -1 : kShimPidFd, POLLIN, 0};
  pfds[1] = {pipes_[0], POLLIN, 0};
  pfds[2] = {pipes_[1], POLLIN, 0};
  pfds[3] = {listen_, POLLIN, 0};
  pfds[4] = {stdin_busy ? stdin_ : -1, POLLOUT, 0};
  int n = 5;
  for (int i = 0; i < kShimMaxClients; ++i) {
    if (clients_[i] < 0) continue;
    // While stdin is busy, clients are only watched for hang-ups.
    pfds[n] = {clients_[i], static_cast<short>(stdin_busy ? 0 : POLLIN), 0};
    client_of[n++] = i;
  }
  return n;
}

void Shim::Run() {
  struct pollfd pfds[5 + kShimMaxClients];
  int client_of[5 + kShimMaxClients];
  while (!reaped_ || pipes_[0] >= 0 || pipes_[1] >= 0) {
    int timeout = -1;
    if (reaped_) {
      int64_t left = drain_deadline_ - NowNanos(CLOCK_MONOTONIC);
      if (left <= 0) break;
      timeout = static_cast<int>(left / 1'000'000) + 1;
    }
    int n = BuildPollSet(pfds, client_of);
    int ready = poll(pfds, static_cast<nfds_t>(n), timeout);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) break;
    for (int s = 0; s < 2; ++s) {
      if (pfds[1 + s].fd >= 0 && (pfds[1 + s].revents & (POLLIN | POLLHUP | POLLERR)) != 0) ReadPipe(s);
    }
    if ((pfds[3].revents & POLLIN) != 0) Accept();
    if (pfds[4].fd >= 0 && pfds[4].revents != 0) FlushStdin();
    for (int i = 5; i < n; ++i) {
      int c = client_of[i];
      if ((pfds[i].revents & (POLLHUP | POLLERR)) != 0 && (pfds[i].revents & POLLIN) == 0) {
        CloseFd(clients_[c]);
      } else if (clients_[c] >= 0 && (pfds[i].revents & POLLIN) != 0) {
        ReadClient(c);
      }
    }
    if (pfds[0].fd >= 0 && (pfds[0].revents & (POLLIN | POLLHUP)) != 0) Reap();
  }
  log_.Flush();
}

// exit.tmp, fsync, rename: a reader sees the whole file or none.
void Shim::WriteExit() {
  char text[64];
  int len = FormatShimExit(exit_, text, sizeof(text));
  int fd = open(kShimExitTempName, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return;
  bool ok = write(fd, text, static_cast<size_t>(len)) == len && fsync(fd) == 0;
  close(fd);
  if (ok) rename(kShimExitTempName, kShimExitName);
  unlink(kShimSocketName);
}

}  // namespace
}  // namespace berth::execdriver

int main(int argc, char** argv) {
  using berth::execdriver::Shim;
  if (argc != 5) {
    static const char kUsage[] = "usage: berth-shim ID DIR LOG OOM (started by berthd only)\n";
    (void)!write(2, kUsage, sizeof(kUsage) - 1);
    return 2;
  }
  for (int sig = 1; sig < NSIG; ++sig) {
    if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
  }
  signal(SIGPIPE, SIG_IGN);
  signal(SIGHUP, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  fcntl(berth::execdriver::kShimStdoutFd, F_SETFD, FD_CLOEXEC);
  fcntl(berth::execdriver::kShimStderrFd, F_SETFD, FD_CLOEXEC);
  fcntl(berth::execdriver::kShimStdinFd, F_SETFL, O_NONBLOCK);
  if (chdir(argv[2]) != 0) return 1;
  static Shim shim(argv[3], argv[4]);
  if (!shim.Listen()) return 1;
  (void)!write(berth::execdriver::kShimReadyFd, "R", 1);
  close(berth::execdriver::kShimReadyFd);
  shim.Run();
  shim.WriteExit();
  return 0;
}
