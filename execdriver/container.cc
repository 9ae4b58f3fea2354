// Container: the lifecycle of container.h. The pieces live next door:
// child.h (what the cloned init does), cgroups.h, monitor.h, json_log.h.
#include "execdriver/container.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "execdriver/cgroups.h"
#include "execdriver/child.h"
#include "execdriver/json_log.h"
#include "execdriver/monitor.h"
#include "execdriver/subscribers.h"
#include "execdriver/userns.h"

namespace berth::execdriver {
namespace {

constexpr size_t kChildStackSize = 256 * 1024;
constexpr int kNamespaces = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET;

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
  std::unique_ptr<JsonLogWriter> log;
  Fds fds;
  pid_t pid = -1;
  int pidfd = -1;
  std::unique_ptr<Monitor> monitor;

  // Serializes Start and Destroy (Destroy sends SIGKILL before taking it, so
  // a Start stuck in the init's set-up returns).
  absl::Mutex lifecycle_mu;

  mutable absl::Mutex mu;
  bool started ABSL_GUARDED_BY(mu) = false;
  bool exited ABSL_GUARDED_BY(mu) = false;  // reaped and drained
  bool destroyed ABSL_GUARDED_BY(mu) = false;
  ExitStatus status ABSL_GUARDED_BY(mu);

  Subscribers subscribers;

  absl::Mutex stdin_mu;
  int stdin_fd ABSL_GUARDED_BY(stdin_mu) = -1;

  // The pidfd stays open until here, so a signal can never reach a process
  // that reused the pid.
  ~Impl() { CloseFd(pidfd); }
  absl::Status Clone();
  absl::Status WriteIdMapsOrKill();
  void StartMonitor();
  void OnOutput(Stream stream, absl::string_view data);
  void OnReaped(int code);
  void OnDone();
  absl::Status ReadChildError();
};

absl::Status Container::Impl::Clone() {
  void* stack =
      ::mmap(nullptr, kChildStackSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (stack == MAP_FAILED) {
    return absl::ResourceExhaustedError(absl::StrCat("cannot map the init's stack: ", std::strerror(errno)));
  }
  plan->start_fd = fds.start.read;
  plan->error_fd = fds.error.write;
  plan->stdio[0] = spec.open_stdin ? fds.in.read : fds.devnull;
  plan->stdio[1] = fds.out.write;
  plan->stdio[2] = fds.err.write;
  // No handler of this process may run in the child before it resets them.
  sigset_t all, old;
  sigfillset(&all);
  ::pthread_sigmask(SIG_SETMASK, &all, &old);
  int child_pidfd = -1;
  int flags = kNamespaces | (spec.userns.enabled() ? CLONE_NEWUSER : 0);
  pid = ::clone(&ChildPlan::Main, static_cast<char*>(stack) + kChildStackSize, flags | CLONE_PIDFD | SIGCHLD,
                plan.get(), &child_pidfd);
  int err = errno;
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ::munmap(stack, kChildStackSize);  // the child runs on its own copy
  if (pid < 0) {
    return absl::InternalError(
        absl::StrCat("cannot clone the container's init into new namespaces: ", std::strerror(err)));
  }
  pidfd = child_pidfd;
  fds.CloseChildEnds();
  return WriteIdMapsOrKill();
}

// The init waits for Start before anything, so its maps are in place before
// it runs a single step (userns.h).
absl::Status Container::Impl::WriteIdMapsOrKill() {
  if (!spec.userns.enabled()) return absl::OkStatus();
  absl::Status s = WriteIdMaps(pid, spec.userns);
  if (s.ok()) return s;
  (void)::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return s;
}

void Container::Impl::StartMonitor() {
  Monitor::Hooks hooks;
  hooks.output = [this](Stream s, absl::string_view d) { OnOutput(s, d); };
  hooks.reaped = [this](int code) { OnReaped(code); };
  hooks.done = [this] { OnDone(); };
  int out = std::exchange(fds.out.read, -1);
  int err = std::exchange(fds.err.read, -1);
  monitor = std::make_unique<Monitor>(pidfd, out, err, std::move(hooks));
}

void Container::Impl::OnOutput(Stream stream, absl::string_view data) {
  if (log != nullptr) (void)log->Write(stream, data);
  subscribers.Publish(stream, data);
}

// Runs before Destroy can remove the cgroup: Destroy waits for the monitor.
void Container::Impl::OnReaped(int code) {
  bool oom = false;
  if (cgroup != nullptr) {
    absl::StatusOr<int64_t> kills = cgroup->OomKillCount();
    oom = kills.ok() && *kills > 0;
  }
  absl::MutexLock lock(&mu);
  status.code = code;
  status.oom_killed = oom;
  status.finished_at = absl::Now();
}

void Container::Impl::OnDone() {
  if (log != nullptr) (void)log->Flush();
  subscribers.PublishEof();
  {
    absl::MutexLock lock(&stdin_mu);
    CloseFd(stdin_fd);
  }
  absl::MutexLock lock(&mu);
  exited = true;
}

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
    absl::StatusOr<std::unique_ptr<JsonLogWriter>> log = JsonLogWriter::Open(s.log_path);
    if (!log.ok()) return log.status();
    impl->log = *std::move(log);
  }
  for (auto [pipe, what] : {std::pair{&impl->fds.start, "start"},
                            {&impl->fds.error, "error"},
                            {&impl->fds.out, "stdout"},
                            {&impl->fds.err, "stderr"}}) {
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
  if (absl::Status st2 = impl->Clone(); !st2.ok()) {
    (void)impl->cgroup->Destroy();
    return st2;
  }
  impl->stdin_fd = std::exchange(impl->fds.in.write, -1);
  impl->StartMonitor();
  std::unique_ptr<Container> c(new Container(std::move(impl)));
  // The init waits for Start, so it is in every group before it runs anything.
  if (absl::Status joined = c->impl_->cgroup->Join(c->impl_->pid); !joined.ok()) {
    (void)c->Destroy();
    return joined;
  }
  return c;
}

Container::Container(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Container::~Container() { (void)Destroy(); }

pid_t Container::pid() const { return impl_->pid; }

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
  // The pidfd names this process only: no signal reaches a reused pid.
  if (::syscall(SYS_pidfd_send_signal, impl_->pidfd, sig, nullptr, 0) == 0) return absl::OkStatus();
  if (errno == ESRCH || Exited()) {
    return absl::FailedPreconditionError(absl::StrCat("container ", impl_->spec.id, " is not running"));
  }
  return absl::InternalError(
      absl::StrCat("cannot send signal ", sig, " to container ", impl_->spec.id, ": ", std::strerror(errno)));
}

absl::Status Container::Destroy() {
  // Fails with ESRCH once reaped: harmless.
  (void)::syscall(SYS_pidfd_send_signal, impl_->pidfd, SIGKILL, nullptr, 0);
  absl::MutexLock lifecycle(&impl_->lifecycle_mu);
  {
    absl::MutexLock lock(&impl_->mu);
    if (impl_->destroyed) return absl::OkStatus();
  }
  impl_->monitor.reset();  // joins once the init is reaped and output drained
  CloseFd(impl_->fds.start.write);
  CloseStdin();
  absl::Status removed = impl_->cgroup != nullptr ? impl_->cgroup->Destroy() : absl::OkStatus();
  if (!removed.ok()) return removed;
  absl::MutexLock lock(&impl_->mu);
  impl_->destroyed = true;
  impl_->exited = true;
  return absl::OkStatus();
}

int Container::SubscribeOutput(OutputFn fn) { return impl_->subscribers.Add(std::move(fn)); }

void Container::UnsubscribeOutput(int token) { impl_->subscribers.Remove(token); }

absl::Status Container::WriteStdin(absl::string_view data) {
  if (!impl_->spec.open_stdin) {
    return absl::FailedPreconditionError(
        absl::StrCat("container ", impl_->spec.id, " was not created with open_stdin"));
  }
  absl::MutexLock lock(&impl_->stdin_mu);
  if (impl_->stdin_fd < 0) {
    return absl::UnavailableError(absl::StrCat("stdin of container ", impl_->spec.id, " is closed"));
  }
  int err = WriteNoSigpipe(impl_->stdin_fd, data);
  if (err == 0) return absl::OkStatus();
  CloseFd(impl_->stdin_fd);
  return absl::UnavailableError(
      absl::StrCat("stdin of container ", impl_->spec.id, " is closed: ", std::strerror(err)));
}

void Container::CloseStdin() {
  absl::MutexLock lock(&impl_->stdin_mu);
  CloseFd(impl_->stdin_fd);
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
