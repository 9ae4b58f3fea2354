// Container: the lifecycle of container.h. The pieces live next door:
// child.h (what the cloned init does), cgroups.h, monitor.h, json_log.h.
#include "execdriver/container.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "execdriver/cgroups.h"
#include "execdriver/child.h"
#include "execdriver/monitor.h"
#include "execdriver/shim_launch.h"
#include "execdriver/shim_protocol.h"
#include "execdriver/subscribers.h"
#include "execdriver/userns.h"

namespace berth::execdriver {
namespace {

constexpr size_t kChildStackSize = 256 * 1024;

// A pipe's two ends, both close-on-exec; -1 once closed.
struct Pipe {
  int read = -1;
  int write = -1;
  absl::Status Open(absl::string_view what) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      return absl::InternalError(absl::StrCat("cannot create ", what, " pipe: ", std::strerror(errno)));
    }
    read = fds[0];
    write = fds[1];
    return absl::OkStatus();
  }
};

// write() of all of `data` with SIGPIPE blocked on this thread (a pending one
// is consumed), so a reader gone away is an errno, not a signal to berthd.
int WriteNoSigpipe(int fd, absl::string_view data) {
  sigset_t pipe_set, old;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  ::pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  int err = 0;
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = errno;
      break;
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  if (err == EPIPE) {
    struct timespec zero = {0, 0};
    (void)::sigtimedwait(&pipe_set, nullptr, &zero);
  }
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return err;
}

void CloseFd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// The pipes and stdin of one container; the child's ends are closed in the
// parent right after clone.
struct Fds {
  Pipe start, error, out, err, in;
  int devnull = -1;
  ~Fds() {
    for (int* fd : {&start.read, &start.write, &error.read, &error.write, &out.read, &out.write, &err.read, &err.write,
                    &in.read, &in.write, &devnull}) {
      CloseFd(*fd);
    }
  }
  void CloseChildEnds() {
    for (int* fd : {&start.read, &error.write, &out.write, &err.write, &in.read, &devnull}) CloseFd(*fd);
  }
};

}  // namespace

struct Container::Impl {
  Spec spec;
  std::unique_ptr<ChildPlan> plan;
  std::unique_ptr<Cgroup> cgroup;
  Fds fds;
  Pipe report;  // from the shim's launcher: the init's pid, then ready
  pid_t pid = -1;
  int pidfd = -1;  // the init's (pidfd_open): signals never reach a reused pid
  ContainerHandle handle;
  int shim_pidfd = -1;
  int sock = -1;  // connected to the shim; -1 if the connection failed
  std::unique_ptr<Monitor> monitor;

  // Serializes Start and Destroy (Destroy sends SIGKILL before taking it, so
  // a Start stuck in the init's set-up returns).
  absl::Mutex lifecycle_mu;

  mutable absl::Mutex mu;
  bool started ABSL_GUARDED_BY(mu) = false;
  bool exited ABSL_GUARDED_BY(mu) = false;  // reaped and drained
  bool destroyed ABSL_GUARDED_BY(mu) = false;
  bool detached ABSL_GUARDED_BY(mu) = false;  // left running: never killed here
  ExitStatus status ABSL_GUARDED_BY(mu);

  Subscribers subscribers;

  absl::Mutex stdin_mu;
  bool stdin_open ABSL_GUARDED_BY(stdin_mu) = false;

  // The pidfds stay open until here, so a signal can never reach a process
  // that reused a pid.
  ~Impl() {
    CloseFd(pidfd);
    CloseFd(shim_pidfd);
    CloseFd(sock);
  }
  absl::Status LaunchShim(const std::string& shim_path);
  absl::Status AwaitShim();
  absl::Status WriteIdMapsOrKill();
  void StartMonitor();
  void Connect();
  void OnOutput(Stream stream, absl::string_view data);
  void OnExited(const ExitStatus& status);
  void OnDone();
  absl::Status ReadChildError();
  absl::Status Send(uint8_t type, absl::string_view data);
};

absl::Status Container::Impl::LaunchShim(const std::string& shim_path) {
  ShimLaunch launch(spec, shim_path, spec.state_dir, cgroup->OomKillFile());
  launch.init = plan.get();
  launch.stdout_fd = fds.out.read;
  launch.stderr_fd = fds.err.read;
  launch.stdin_fd = spec.open_stdin ? fds.in.write : fds.devnull;
  launch.report_fd = report.write;
  plan->start_fd = fds.start.read;
  plan->error_fd = fds.error.write;
  plan->stdio[0] = spec.open_stdin ? fds.in.read : fds.devnull;
  plan->stdio[1] = fds.out.write;
  plan->stdio[2] = fds.err.write;
  void* stack =
      ::mmap(nullptr, kChildStackSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot map the shim's stack: ", std::strerror(errno)));
  }
  // No handler of this process may run in the children before they reset them.
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  pid_t shim = ::clone(&ShimLaunch::Main, static_cast<char*>(stack) + kChildStackSize, CLONE_PIDFD | SIGCHLD,
                       &launch, &shim_pidfd);
  int err = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ::munmap(stack, kChildStackSize);  // the child runs on its own copy
  if (shim < 0) return absl::InternalError(absl::StrCat("cannot clone the container's shim: ", std::strerror(err)));
  handle.shim_pid = shim;
  fds.CloseChildEnds();
  // The shim's ends are the shim's now.
  for (int* fd : {&fds.out.read, &fds.err.read, &fds.in.write, &report.write}) CloseFd(*fd);
  if (absl::Status s = AwaitShim(); !s.ok()) return s;
  return WriteIdMapsOrKill();
}

// The init waits for Start before anything, so its maps are in place before
// it runs a single step (userns.h). On failure it is killed; its shim reaps it.
absl::Status Container::Impl::WriteIdMapsOrKill() {
  if (!spec.userns.enabled()) return absl::OkStatus();
  absl::Status s = WriteIdMaps(pid, spec.userns);
  if (!s.ok()) (void)::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
  return s;
}

// The init's pid, then the shim's ready byte (within kShimGrace).
absl::Status Container::Impl::AwaitShim() {
  int32_t reported = 0;
  ssize_t n;
  do {
    n = ::read(report.read, &reported, sizeof(reported));
  } while (n < 0 && errno == EINTR);
  if (n != sizeof(reported) || reported <= 0) {
    return absl::InternalError(absl::StrCat("cannot clone the container's init into new namespaces: ",
                                            n == sizeof(reported) ? std::strerror(-reported) : "its shim died"));
  }
  pid = reported;
  pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  handle.pid = pid;
  handle.start_time = ProcessStartTime(pid).value_or(0);
  handle.shim_start_time = ProcessStartTime(handle.shim_pid).value_or(0);
  struct pollfd pfd = {report.read, POLLIN, 0};
  char ready = 0;
  if (::poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(kShimGrace))) != 1 ||
      ::read(report.read, &ready, 1) != 1) {
    return absl::InternalError(absl::StrCat("the shim of container ", spec.id, " did not start (", spec.shim_path,
                                            ")"));
  }
  CloseFd(report.read);
  return absl::OkStatus();
}

// Through /proc/self/fd/<dir>: the directory's path may be longer than a
// socket address can be.
void Container::Impl::Connect() {
  int dir = ::open(spec.state_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return;
  int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "/proc/self/fd/%d/%s", dir, kShimSocketName);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<struct sockaddr*>(&addr), sizeof(addr)) == 0) {
    sock = fd;
  } else if (fd >= 0) {
    ::close(fd);
  }
  ::close(dir);
}

void Container::Impl::StartMonitor() {
  Connect();
  Monitor::Hooks hooks;
  hooks.output = [this](Stream s, absl::string_view d) { OnOutput(s, d); };
  hooks.exited = [this](const ExitStatus& st) { OnExited(st); };
  hooks.done = [this] { OnDone(); };
  monitor = std::make_unique<Monitor>(shim_pidfd, sock, spec.state_dir, std::move(hooks));
}

void Container::Impl::OnOutput(Stream stream, absl::string_view data) { subscribers.Publish(stream, data); }

// Runs before Destroy can remove the cgroup: Destroy waits for the monitor.
void Container::Impl::OnExited(const ExitStatus& exit) {
  absl::MutexLock lock(&mu);
  status = exit;
}

void Container::Impl::OnDone() {
  subscribers.PublishEof();
  {
    absl::MutexLock lock(&stdin_mu);
    stdin_open = false;
  }
  absl::MutexLock lock(&mu);
  exited = true;
}

// One message to the shim; waits at most kShimGrace for room, so a shim that
// stopped reading cannot hold berthd.
absl::Status Container::Impl::Send(uint8_t type, absl::string_view data) {
  ShimHeader h = {type, 0, 0, static_cast<uint32_t>(data.size())};
  struct iovec iov[2] = {{&h, sizeof(h)}, {const_cast<char*>(data.data()), data.size()}};
  struct msghdr msg = {};
  msg.msg_iov = iov;
  msg.msg_iovlen = 2;
  absl::Time deadline = absl::Now() + kShimGrace;
  for (;;) {
    if (::sendmsg(sock, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) return absl::OkStatus();
    if (errno == EINTR) continue;
    absl::Duration left = deadline - absl::Now();
    if (errno != EAGAIN || left <= absl::ZeroDuration()) {
      return absl::UnavailableError(absl::StrCat("stdin of container ", spec.id, " is closed: ",
                                                 errno == EAGAIN ? "its shim does not read" : std::strerror(errno)));
    }
    struct pollfd pfd = {sock, POLLOUT, 0};
    (void)::poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(left)) + 1);
  }
}

absl::StatusOr<int64_t> ProcessStartTime(pid_t pid) {
  std::string path = absl::StrCat("/proc/", pid, "/stat");
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrCat("no process ", pid));
  char buf[1024];
  ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
  ::close(fd);
  if (n <= 0) return absl::NotFoundError(absl::StrCat("no process ", pid));
  absl::string_view text(buf, static_cast<size_t>(n));
  size_t paren = text.rfind(')');  // the command may hold spaces and ')'
  if (paren == absl::string_view::npos) return absl::InternalError(absl::StrCat("cannot parse ", path));
  std::vector<absl::string_view> fields = absl::StrSplit(text.substr(paren + 1), ' ', absl::SkipEmpty());
  int64_t start = 0;
  // fields[0] is field 3 (state): field 22 is fields[19].
  if (fields.size() < 20 || !absl::SimpleAtoi(fields[19], &start)) {
    return absl::InternalError(absl::StrCat("cannot parse ", path));
  }
  // A zombie has ended; only its parent's wait is missing.
  if (fields[0] == "Z" || fields[0] == "X") return absl::NotFoundError(absl::StrCat("process ", pid, " has exited"));
  return start;
}

namespace {

// A pidfd of `pid` if it is still the process that started at `start_time`.
int OpenIfSame(pid_t pid, int64_t start_time) {
  if (pid <= 0 || start_time == 0) return -1;
  int fd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (fd < 0) return -1;
  // Checked after opening: the pidfd then pins that very process.
  absl::StatusOr<int64_t> now = ProcessStartTime(pid);
  if (!now.ok() || *now != start_time) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Container>> Container::Create(Spec spec) {
  if (spec.id.empty()) return absl::InvalidArgumentError("container id is empty");
  struct stat st;
  if (::stat(spec.rootfs.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("rootfs ", spec.rootfs, " is not a directory"));
  }
  auto impl = std::make_unique<Impl>();
  impl->spec = std::move(spec);
  // The init resolves it after clone, from berthd's working directory.
  impl->spec.rootfs = std::filesystem::absolute(impl->spec.rootfs).lexically_normal().string();
  const Spec& s = impl->spec;
  absl::StatusOr<std::unique_ptr<ChildPlan>> plan = ChildPlan::Build(s);
  if (!plan.ok()) return plan.status();
  impl->plan = *std::move(plan);
  if (!s.log_path.empty()) {
    // The shim appends to it; a log that cannot be opened fails here.
    int fd = ::open(s.log_path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) return absl::InternalError(absl::StrCat("cannot open log ", s.log_path, ": ", std::strerror(errno)));
    ::close(fd);
  }
  if (impl->spec.state_dir.empty()) impl->spec.state_dir = std::filesystem::path(s.log_path).parent_path().string();
  if (s.state_dir.empty() || ::stat(s.state_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat("state dir '", s.state_dir, "' is not a directory"));
  }
  if (s.shim_path.empty()) {
    absl::StatusOr<std::string> shim = FindShim();
    if (!shim.ok()) return shim.status();
    impl->spec.shim_path = *shim;
  }
  (void)::unlink(absl::StrCat(s.state_dir, "/", kShimExitName).c_str());  // a previous run's
  for (auto [pipe, what] : {std::pair{&impl->fds.start, "start"},
                            {&impl->fds.error, "error"},
                            {&impl->fds.out, "stdout"},
                            {&impl->fds.err, "stderr"},
                            {&impl->report, "report"}}) {
    if (absl::Status st2 = pipe->Open(what); !st2.ok()) return st2;
  }
  if (s.open_stdin) {
    if (absl::Status st2 = impl->fds.in.Open("stdin"); !st2.ok()) return st2;
  } else if ((impl->fds.devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
    return absl::InternalError(absl::StrCat("cannot open /dev/null: ", std::strerror(errno)));
  }
  absl::StatusOr<std::unique_ptr<Cgroup>> cgroup = Cgroup::Create(s.cgroups, s.id, s.resources);
  if (!cgroup.ok()) return cgroup.status();
  impl->cgroup = *std::move(cgroup);
  impl->stdin_open = s.open_stdin;
  absl::Status launched = impl->LaunchShim(s.shim_path);
  if (impl->shim_pidfd >= 0) impl->StartMonitor();  // reaps the shim, whatever happened
  std::unique_ptr<Container> c(new Container(std::move(impl)));
  if (!launched.ok()) {
    (void)c->Destroy();
    return launched;
  }
  // The init waits for Start, so it is in every group before it runs anything.
  if (absl::Status joined = c->impl_->cgroup->Join(c->impl_->pid); !joined.ok()) {
    (void)c->Destroy();
    return joined;
  }
  return c;
}

absl::StatusOr<std::unique_ptr<Container>> Container::Adopt(const Spec& spec, const ContainerHandle& handle) {
  auto impl = std::make_unique<Impl>();
  impl->spec = spec;
  impl->handle = handle;
  impl->shim_pidfd = OpenIfSame(handle.shim_pid, handle.shim_start_time);
  if (impl->shim_pidfd < 0) return absl::NotFoundError(absl::StrCat("shim of container ", spec.id, " is gone"));
  impl->pid = handle.pid;
  impl->pidfd = OpenIfSame(handle.pid, handle.start_time);
  impl->cgroup = Cgroup::Open(spec.cgroups, spec.id);
  impl->stdin_open = spec.open_stdin;
  {
    absl::MutexLock lock(&impl->mu);
    impl->started = true;
  }
  impl->StartMonitor();
  return std::unique_ptr<Container>(new Container(std::move(impl)));
}

absl::Status Container::KillLeftover(const ContainerHandle& handle) {
  int shim = OpenIfSame(handle.shim_pid, handle.shim_start_time);
  int init = OpenIfSame(handle.pid, handle.start_time);
  for (int fd : {init, shim}) {
    if (fd >= 0) (void)::syscall(SYS_pidfd_send_signal, fd, SIGKILL, nullptr, 0);
  }
  absl::Status s;
  if (shim >= 0) {
    struct pollfd pfd = {shim, POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(kShimGrace))) != 1) {
      s = absl::DeadlineExceededError(absl::StrCat("shim ", handle.shim_pid, " did not die"));
    }
  }
  for (int fd : {init, shim}) {
    if (fd >= 0) ::close(fd);
  }
  return s;
}

Container::Container(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Container::~Container() { (void)Destroy(); }

pid_t Container::pid() const { return impl_->pid; }

ContainerHandle Container::handle() const { return impl_->handle; }

std::string Container::NetnsPath() const { return absl::StrCat("/proc/", impl_->pid, "/ns/net"); }

absl::Status Container::Impl::ReadChildError() {
  ChildError e{};
  size_t got = 0;
  while (got < sizeof(e)) {
    ssize_t n = ::read(fds.error.read, reinterpret_cast<char*>(&e) + got, sizeof(e) - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  CloseFd(fds.error.read);
  if (got == 0) return absl::OkStatus();  // EOF: execve succeeded
  if (got < sizeof(e)) return absl::InternalError("container init: truncated error report");
  return plan->Describe(e);
}

absl::Status Container::Start() {
  absl::MutexLock lifecycle(&impl_->lifecycle_mu);
  {
    absl::MutexLock lock(&impl_->mu);
    if (impl_->destroyed)
      return absl::FailedPreconditionError(absl::StrCat("container ", impl_->spec.id, " is destroyed"));
    if (impl_->started)
      return absl::FailedPreconditionError(absl::StrCat("container ", impl_->spec.id, " is already started"));
    impl_->started = true;
  }
  int err = WriteNoSigpipe(impl_->fds.start.write, "\1");
  CloseFd(impl_->fds.start.write);
  if (err != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot start container ", impl_->spec.id, ": its init is gone: ", std::strerror(err)));
  }
  absl::Status status = impl_->ReadChildError();
  if (!status.ok()) (void)Wait();  // the init exits 127; the monitor reaps it
  return status;
}

ExitStatus Container::Wait() {
  absl::MutexLock lock(&impl_->mu);
  impl_->mu.Await(absl::Condition(&impl_->exited));
  return impl_->status;
}

bool Container::Exited() const {
  absl::MutexLock lock(&impl_->mu);
  return impl_->exited;
}

bool Container::WaitFor(absl::Duration timeout) {
  absl::MutexLock lock(&impl_->mu);
  return impl_->mu.AwaitWithTimeout(absl::Condition(&impl_->exited), timeout);
}

absl::Status Container::Signal(int sig) {
  if (impl_->pidfd < 0) {
    return absl::FailedPreconditionError(absl::StrCat("container ", impl_->spec.id, " is not running"));
  }
  // The pidfd names this process only: no signal reaches a reused pid.
  if (::syscall(SYS_pidfd_send_signal, impl_->pidfd, sig, nullptr, 0) == 0) return absl::OkStatus();
  if (errno == ESRCH || Exited()) {
    return absl::FailedPreconditionError(absl::StrCat("container ", impl_->spec.id, " is not running"));
  }
  return absl::InternalError(
      absl::StrCat("cannot send signal ", sig, " to container ", impl_->spec.id, ": ", std::strerror(errno)));
}

absl::Status Container::Destroy() {
  {
    absl::MutexLock lock(&impl_->mu);
    if (impl_->detached) return absl::OkStatus();
  }
  // Fails with ESRCH once reaped: harmless.
  if (impl_->pidfd >= 0) (void)::syscall(SYS_pidfd_send_signal, impl_->pidfd, SIGKILL, nullptr, 0);
  absl::MutexLock lifecycle(&impl_->lifecycle_mu);
  {
    absl::MutexLock lock(&impl_->mu);
    if (impl_->destroyed) return absl::OkStatus();
  }
  CloseFd(impl_->fds.start.write);  // an init not started yet exits
  // A shim that does not end once its init is killed is killed too.
  if (!WaitFor(kShimGrace) && impl_->shim_pidfd >= 0) {
    (void)::syscall(SYS_pidfd_send_signal, impl_->shim_pidfd, SIGKILL, nullptr, 0);
  }
  impl_->monitor.reset();  // joins once the shim has exited
  CloseStdin();
  absl::Status removed = impl_->cgroup != nullptr ? impl_->cgroup->Destroy() : absl::OkStatus();
  if (!removed.ok()) return removed;
  absl::MutexLock lock(&impl_->mu);
  impl_->destroyed = true;
  impl_->exited = true;
  return absl::OkStatus();
}

void Container::Detach() {
  absl::MutexLock lifecycle(&impl_->lifecycle_mu);
  {
    absl::MutexLock lock(&impl_->mu);
    if (impl_->destroyed) return;
    impl_->destroyed = true;
    impl_->detached = true;
  }
  if (impl_->monitor != nullptr) impl_->monitor->Stop();
  impl_->monitor.reset();
  absl::MutexLock lock(&impl_->mu);
  impl_->exited = true;  // for Wait: this object will learn nothing more
}

int Container::SubscribeOutput(OutputFn fn) { return impl_->subscribers.Add(std::move(fn)); }

void Container::UnsubscribeOutput(int token) { impl_->subscribers.Remove(token); }

absl::Status Container::WriteStdin(absl::string_view data) {
  if (!impl_->spec.open_stdin) {
    return absl::FailedPreconditionError(
        absl::StrCat("container ", impl_->spec.id, " was not created with open_stdin"));
  }
  absl::MutexLock lock(&impl_->stdin_mu);
  if (!impl_->stdin_open || impl_->sock < 0) {
    return absl::UnavailableError(absl::StrCat("stdin of container ", impl_->spec.id, " is closed"));
  }
  while (!data.empty()) {
    absl::string_view chunk = data.substr(0, kShimMaxData);
    if (absl::Status s = impl_->Send(kShimStdin, chunk); !s.ok()) {
      impl_->stdin_open = false;
      return s;
    }
    data.remove_prefix(chunk.size());
  }
  return absl::OkStatus();
}

void Container::CloseStdin() {
  absl::MutexLock lock(&impl_->stdin_mu);
  if (!impl_->stdin_open) return;
  impl_->stdin_open = false;
  if (impl_->sock >= 0) (void)impl_->Send(kShimCloseStdin, "");
}

absl::StatusOr<std::vector<pid_t>> Container::Pids() const {
  if (impl_->cgroup == nullptr) return std::vector<pid_t>{};
  return impl_->cgroup->Pids();
}

absl::StatusOr<CgroupStats> Container::Stats() const {
  if (impl_->cgroup == nullptr) return absl::FailedPreconditionError("container has no cgroup");
  return impl_->cgroup->Stats();
}

absl::Status Container::RemoveStaleCgroup(const CgroupOptions& options, absl::string_view id) {
  return Cgroup::RemoveStale(options, id);
}

absl::Status Container::RemoveCgroupParent(const CgroupOptions& options) { return Cgroup::RemoveParent(options); }

}  // namespace berth::execdriver
