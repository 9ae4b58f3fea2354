#include "daemon/pidfile.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "engine/log.h"

namespace berth {
namespace {

absl::Status Found(const std::string& path) {
  return absl::AlreadyExistsError(
      absl::StrCat("pid file found, ensure berthd is not running or delete ", path));
}

// A zombie (killed, not yet reaped by its parent) or a process being torn
// down is dead: it holds no lock and serves nothing.
bool Dead(pid_t pid) {
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  if (!std::getline(stat, line)) return true;
  // pid (comm) STATE ...: comm may hold spaces and parentheses, so take the last ')'.
  size_t close = line.rfind(')');
  if (close == std::string::npos || close + 2 >= line.size()) return false;
  char state = line[close + 2];
  return state == 'Z' || state == 'X' || state == 'x';
}

std::string ProcessName(pid_t pid) {
  std::ifstream comm(absl::StrCat("/proc/", pid, "/comm"));
  std::string name;
  std::getline(comm, name);
  return name;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Pidfile>> Pidfile::Create(const std::string& path) {
  if (size_t slash = path.rfind('/'); slash != std::string::npos && slash > 0) {
    std::string dir = path.substr(0, slash);
    std::string partial;
    for (size_t i = 1; i <= dir.size(); ++i) {
      if (i == dir.size() || dir[i] == '/') {
        partial = dir.substr(0, i);
        if (::mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) {
          return absl::InternalError(absl::StrCat("cannot create ", partial, ": ", std::strerror(errno)));
        }
      }
    }
  }
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot open pid file ", path, ": ", std::strerror(errno)));
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    ::close(fd);
    if (err == EWOULDBLOCK) return Found(path);
    return absl::InternalError(absl::StrCat("cannot lock pid file ", path, ": ", std::strerror(err)));
  }
  // We hold the lock, so no berthd that locks is running. A pid left in the file
  // may still be a live berthd that did not lock (refuse), a zombie (dead, its
  // lock released: take over), or a reused pid.
  char buf[32] = {};
  ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
  int old = 0;
  if (n > 0 && absl::SimpleAtoi(absl::StripAsciiWhitespace(buf), &old) && old > 0 && old != ::getpid() &&
      ::kill(old, 0) == 0 && !Dead(old)) {
    if (ProcessName(old) == "berthd") {
      ::close(fd);
      return Found(path);
    }
    spdlog::info("pid file {} names pid {} ({}), which is not berthd: taking it over", path, old, ProcessName(old));
  }
  std::string pid = absl::StrCat(::getpid(), "\n");
  // No fsync: after a crash the lock, not the file's content, tells the truth.
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    int err = errno;
    ::close(fd);
    return absl::InternalError(absl::StrCat("cannot write pid file ", path, ": ", std::strerror(err)));
  }
  return std::unique_ptr<Pidfile>(new Pidfile(path, fd));
}

Pidfile::~Pidfile() {
  if (fd_ >= 0) ::close(fd_);
}

absl::Status Pidfile::Remove() {
  if (fd_ < 0) return absl::OkStatus();
  absl::Status s;
  if (::unlink(path_.c_str()) != 0 && errno != ENOENT) {
    s = absl::InternalError(absl::StrCat("cannot remove pid file ", path_, ": ", std::strerror(errno)));
  }
  ::close(fd_);
  fd_ = -1;
  return s;
}

}  // namespace berth
