#include "engine/remote/zmq_socket.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "engine/remote/security.h"
#include "engine/remote/wire.h"

namespace berth::remote {

void ConfigureSocket(zmq::socket_t& sock, const SocketTuning& tuning) {
  sock.set(zmq::sockopt::linger, 0);
  sock.set(zmq::sockopt::maxmsgsize, kMaxFrameBytes);
  sock.set(zmq::sockopt::sndhwm, tuning.send_hwm);
  sock.set(zmq::sockopt::rcvhwm, tuning.receive_hwm);
  // ZMTP heartbeats close connections whose peer went silent (a half-open TCP
  // connection, a frozen host); the disconnect monitors then report them.
  if (!tuning.send_heartbeats) return;
  const int beat_ms = static_cast<int>(absl::ToInt64Milliseconds(tuning.heartbeat_interval));
  sock.set(zmq::sockopt::heartbeat_ivl, beat_ms);
  sock.set(zmq::sockopt::heartbeat_timeout, beat_ms * tuning.heartbeat_liveness);
  sock.set(zmq::sockopt::heartbeat_ttl, beat_ms * tuning.heartbeat_liveness);
}

absl::Status SetCurveClient(zmq::socket_t& sock, const std::string& server_key, const std::string& client_key_file) {
  absl::StatusOr<std::string> server_pub = ResolvePublicKey(server_key);
  if (!server_pub.ok()) return server_pub.status();
  absl::StatusOr<KeyPair> mine = client_key_file.empty() ? GenerateKeyPair() : ReadKeyFile(client_key_file);
  if (!mine.ok()) return mine.status();
  if (mine->secret_key.empty()) return absl::InvalidArgumentError(absl::StrCat(client_key_file, ": no secret key"));
  sock.set(zmq::sockopt::curve_serverkey, *server_pub);
  sock.set(zmq::sockopt::curve_publickey, mine->public_key);
  sock.set(zmq::sockopt::curve_secretkey, mine->secret_key);
  return absl::OkStatus();
}

int PollOnce(zmq::pollitem_t* items, size_t n, std::chrono::milliseconds timeout) {
  try {
    return zmq::poll(items, n, timeout);
  } catch (const zmq::error_t& e) {
    if (e.num() != EINTR) throw;
    for (size_t i = 0; i < n; ++i) items[i].revents = 0;
    return 0;
  }
}

namespace {

// Connects a plain unix socket to `path`: 0, or the errno of the failure.
int ProbeUnixSocket(const std::string& path) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return errno;
  int rc = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  int err = rc == 0 ? 0 : errno;
  ::close(fd);
  return err;
}

absl::Status CreateDirectory(const std::string& dir, gid_t gid, bool with_group) {
  std::string partial;
  for (absl::string_view part : absl::StrSplit(dir, '/', absl::SkipEmpty())) {
    absl::StrAppend(&partial, "/", part);
    if (::mkdir(partial.c_str(), 0755) != 0 && errno != EEXIST) {
      return absl::InternalError(absl::StrCat("cannot create ", partial, ": ", std::strerror(errno)));
    }
  }
  // 0710 lets the socket's group reach the socket by name but not list or
  // change the directory.
  ::chmod(dir.c_str(), with_group ? 0710 : 0700);
  if (with_group && ::chown(dir.c_str(), 0, gid) != 0) {
    return absl::InternalError(absl::StrCat("cannot give ", dir, " to its group: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

// An existing directory: whoever owns or can write it can rename our socket and
// bind their own in its place, so such a directory is refused; our own gets the
// documented modes, as if we had created it.
absl::Status CheckDirectory(const std::string& path, const std::string& dir, const struct stat& st, gid_t gid,
                            bool with_group) {
  if (!S_ISDIR(st.st_mode)) return absl::InvalidArgumentError(absl::StrCat(dir, " is not a directory"));
  const uid_t me = ::geteuid();
  if (st.st_uid != me) {
    return absl::PermissionDeniedError(absl::StrCat("refusing to serve ipc://", path, ": ", dir, " belongs to uid ",
                                                    st.st_uid, ", who could replace the socket; use a directory owned by uid ",
                                                    me, " (berthd's user)"));
  }
  if ((st.st_mode & 0022) != 0) {
    return absl::PermissionDeniedError(absl::StrCat("refusing to serve ipc://", path, ": ", dir,
                                                    " is writable by other users, who could replace the socket; "
                                                    "use a directory only uid ", me, " can write"));
  }
  const mode_t want = with_group ? 0710 : 0700;
  if ((st.st_mode & 07777) != want && ::chmod(dir.c_str(), want) != 0) {
    return absl::InternalError(absl::StrCat("cannot set the mode of ", dir, ": ", std::strerror(errno)));
  }
  if (with_group && st.st_gid != gid && ::chown(dir.c_str(), me, gid) != 0) {
    return absl::InternalError(absl::StrCat("cannot give ", dir, " to its group: ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckIpcPath(const std::string& endpoint) {
  std::string path = endpoint.substr(6);
  if (path.size() >= sizeof(sockaddr_un::sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("ipc path too long: ", path));
  }
  int err = ProbeUnixSocket(path);
  if (err == 0) return absl::OkStatus();
  if (err == EACCES || err == EPERM) {
    return absl::PermissionDeniedError(absl::StrCat("cannot connect to ", endpoint, ": permission denied (",
                                                    "the socket belongs to root and berthd's --group)"));
  }
  return absl::UnavailableError(
      absl::StrCat("cannot connect to ", endpoint, ": no berthd is listening (", std::strerror(err), ")"));
}

absl::Status PrepareIpcPath(const std::string& path, gid_t gid, bool with_group) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == 0 || slash == std::string::npos ? std::string("/") : path.substr(0, slash);
  struct stat st;
  absl::Status s = ::stat(dir.c_str(), &st) != 0 ? CreateDirectory(dir, gid, with_group)
                                                  : CheckDirectory(path, dir, st, gid, with_group);
  if (!s.ok()) return s;
  // A socket file left by a process that is gone is removed; a live one is not
  // stolen from its owner.
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return absl::AlreadyExistsError(absl::StrCat(path, " exists and is not a socket"));
    if (ProbeUnixSocket(path) == 0) {
      return absl::AlreadyExistsError(absl::StrCat("another process is already serving ipc://", path));
    }
    ::unlink(path.c_str());
  }
  return absl::OkStatus();
}

}  // namespace berth::remote
