// A network namespace held open by its file (/proc/<pid>/ns/net,
// /run/netns/<name>), and the one safe way to act inside it: a short-lived
// thread that joins it.
//
// Sockets (netlink, TCP, ...) belong to the namespace of the thread that
// created them, for their whole life, whichever thread uses them later. So to
// configure a container's namespace berth creates a socket there on a thread
// made for the purpose and uses it from wherever it likes. A long-lived thread
// (a job thread, the proxy thread) never changes namespace: everything else it
// does would silently happen in the wrong one.
//
// Thread safety: a Netns is immutable after Open; RunInside may be called from
// several threads at once.

#ifndef BERTH_NET_NETNS_H_
#define BERTH_NET_NETNS_H_

#include <sys/types.h>

#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace berth::net {

class Netns {
 public:
  // Opens `path` (O_RDONLY | O_CLOEXEC) and checks with the kernel
  // (NS_GET_NSTYPE) that it is a network namespace. The error names the path
  // and the reason, e.g.
  //   '/run/netns/x' is not a network namespace: No such file or directory
  //   '/etc/hostname' is not a network namespace: not a namespace file
  //   '/proc/1/ns/mnt' is not a network namespace: it is a mount namespace
  // with code NotFound when the file does not exist, PermissionDenied when
  // it may not be opened, InvalidArgument otherwise.
  static absl::StatusOr<Netns> Open(absl::string_view path);
  // The namespace of the calling thread (/proc/thread-self/ns/net).
  static absl::StatusOr<Netns> Current();

  Netns(Netns&& other) noexcept;
  Netns& operator=(Netns&& other) noexcept;
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;
  ~Netns();

  // The open file, for IFLA_NET_NS_FD; owned by this object.
  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  // Whether both name the same namespace (the nsfs inode), however they
  // were reached (/proc/<pid>/ns/net and a bind mount of it are the same).
  bool SameAs(const Netns& other) const {
    return dev_ == other.dev_ && ino_ == other.ino_;
  }

  // Runs `fn` on a new thread that has joined this namespace and waits for
  // it; returns what `fn` returned. The calling thread's namespace does not
  // change. If the thread cannot join (setns fails), `fn` does not run and
  // the error says `entering network namespace '<path>': <reason>`.
  absl::Status RunInside(absl::FunctionRef<absl::Status()> fn) const;

 private:
  Netns(int fd, std::string path, dev_t dev, ino_t ino)
      : fd_(fd), path_(std::move(path)), dev_(dev), ino_(ino) {}

  int fd_ = -1;
  std::string path_;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
};

}  // namespace berth::net

#endif  // BERTH_NET_NETNS_H_
