// Pidfile: berthd's pid file, held with an exclusive flock for as long as the
// daemon runs.
//
// The lock, not the pid written in the file, says whether a daemon is running:
// a stale file whose pid now belongs to some other process does not block
// start-up, and two daemons can never both hold the same pid file.
#ifndef BERTH_DAEMON_PIDFILE_H_
#define BERTH_DAEMON_PIDFILE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace berth {

class Pidfile {
 public:
  // Locks `path` (creating it and its directory as needed) and writes our pid.
  // A lock held by another process, or a pid of a live berthd without a lock →
  // `pid file found, ensure berthd is not running or delete <path>`.
  static absl::StatusOr<std::unique_ptr<Pidfile>> Create(const std::string& path);
  ~Pidfile();  // releases the lock; the file stays unless Remove was called
  Pidfile(const Pidfile&) = delete;
  Pidfile& operator=(const Pidfile&) = delete;

  // Removes the file, then releases the lock. Idempotent.
  absl::Status Remove();
  const std::string& path() const { return path_; }

 private:
  Pidfile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  std::string path_;
  int fd_;
};

}  // namespace berth

#endif  // BERTH_DAEMON_PIDFILE_H_
