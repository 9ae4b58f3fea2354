// Network namespace handles (see netns.h).

#include "net/netns.h"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"

namespace berth::net {
namespace {

// The namespace kinds NS_GET_NSTYPE can report, for the error that names
// what the file is instead.
const char* KindName(int type) {
  switch (type) {
    case CLONE_NEWNS:
      return "mount";
    case CLONE_NEWUTS:
      return "UTS";
    case CLONE_NEWIPC:
      return "IPC";
    case CLONE_NEWUSER:
      return "user";
    case CLONE_NEWPID:
      return "PID";
    case CLONE_NEWCGROUP:
      return "cgroup";
#ifdef CLONE_NEWTIME
    case CLONE_NEWTIME:
      return "time";
#endif
    default:
      return "non-network";
  }
}

absl::Status NotANetns(absl::string_view path, absl::StatusCode code,
                       absl::string_view reason) {
  return absl::Status(
      code, absl::StrCat("'", path, "' is not a network namespace: ", reason));
}

absl::StatusCode CodeForOpen(int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return absl::StatusCode::kNotFound;
    case EACCES:
    case EPERM:
      return absl::StatusCode::kPermissionDenied;
    default:
      return absl::StatusCode::kInvalidArgument;
  }
}

}  // namespace

absl::StatusOr<Netns> Netns::Open(absl::string_view path) {
  std::string p(path);
  int fd = open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    return NotANetns(p, CodeForOpen(err), strerror(err));
  }
  // Every later error closes the file again; a Netns owns it from the end.
  auto fail = [&](absl::string_view reason) {
    close(fd);
    return NotANetns(p, absl::StatusCode::kInvalidArgument, reason);
  };
  int type = ioctl(fd, NS_GET_NSTYPE);
  if (type < 0) {
    // Any other file answers ENOTTY (or EINVAL): the ioctl is nsfs's.
    int err = errno;
    return fail(err == ENOTTY || err == EINVAL ? "not a namespace file"
                                               : strerror(err));
  }
  if (type != CLONE_NEWNET) {
    return fail(absl::StrCat("it is a ", KindName(type), " namespace"));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) return fail(strerror(errno));
  return Netns(fd, std::move(p), st.st_dev, st.st_ino);
}

absl::StatusOr<Netns> Netns::Current() {
  return Open("/proc/thread-self/ns/net");
}

Netns::Netns(Netns&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      path_(std::move(other.path_)),
      dev_(other.dev_),
      ino_(other.ino_) {}

Netns& Netns::operator=(Netns&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    path_ = std::move(other.path_);
    dev_ = other.dev_;
    ino_ = other.ino_;
  }
  return *this;
}

Netns::~Netns() {
  if (fd_ >= 0) close(fd_);
}

absl::Status Netns::RunInside(absl::FunctionRef<absl::Status()> fn) const {
  absl::Status result;
  // The thread ends with the call: the namespace it joined dies with it and
  // never leaks into a thread that does anything else.
  std::thread inside([&] {
    if (setns(fd_, CLONE_NEWNET) != 0) {
      int err = errno;
      result = absl::Status(err == EPERM ? absl::StatusCode::kPermissionDenied
                                         : absl::StatusCode::kInternal,
                            absl::StrCat("entering network namespace '", path_,
                                         "': ", strerror(err)));
      return;
    }
    result = fn();
  });
  inside.join();
  return result;
}

}  // namespace berth::net
