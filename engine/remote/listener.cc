#include "engine/remote/listener.h"

#include <grp.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "engine/remote/wire.h"

namespace berth::remote {

absl::StatusOr<std::unique_ptr<Listener>> Listener::Bind(zmq::context_t& ctx, const ListenOptions& options) {
  if (options.endpoints.empty()) return absl::InvalidArgumentError("no endpoint to serve");
  gid_t gid = 0;
  if (!options.socket_group.empty()) {
    struct group* g = ::getgrnam(options.socket_group.c_str());
    if (g == nullptr) return absl::NotFoundError(absl::StrCat("unknown group '", options.socket_group, "'"));
    gid = g->gr_gid;
  }
  std::unique_ptr<Listener> l(new Listener());
  KeyPair server_keys;
  const bool curve = !options.curve_key_file.empty() || !options.authorized_keys_file.empty();
  if (curve) {
    if (options.curve_key_file.empty() || options.authorized_keys_file.empty()) {
      return absl::InvalidArgumentError("CURVE needs both the server key file and the authorized keys file");
    }
    absl::StatusOr<KeyPair> keys = ReadKeyFile(options.curve_key_file);
    if (!keys.ok()) return keys.status();
    if (keys->secret_key.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(options.curve_key_file, ": no secret key"));
    }
    server_keys = *keys;
    absl::StatusOr<std::unique_ptr<ZapHandler>> zap = ZapHandler::Start(ctx, options.authorized_keys_file);
    if (!zap.ok()) return zap.status();
    l->zap_ = *std::move(zap);
  }
  for (const std::string& ep : options.endpoints) {
    if (absl::Status s = l->BindOne(ctx, ep, options, curve ? &server_keys : nullptr, gid); !s.ok()) return s;
  }
  return l;
}

absl::Status Listener::BindOne(zmq::context_t& ctx, const std::string& ep, const ListenOptions& options,
                               const KeyPair* curve, gid_t gid) {
  const bool ipc = absl::StartsWith(ep, "ipc://");
  const bool tcp = absl::StartsWith(ep, "tcp://");
  const bool with_group = !options.socket_group.empty();
  if (!ipc && !tcp) {
    return absl::InvalidArgumentError(absl::StrCat("unsupported endpoint '", ep, "': use ipc:///path or tcp://host:port"));
  }
  if (tcp && curve == nullptr && !IsLoopbackTcp(ep)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "refusing to serve ", ep, " without CURVE keys: anyone who can reach it could run jobs as root. "
        "Give a server key and authorized keys, or listen on 127.0.0.1"));
  }
  std::string path = ipc ? ep.substr(6) : "";
  if (ipc) {
    if (path.empty() || path[0] != '/') {
      return absl::InvalidArgumentError(absl::StrCat("ipc endpoint '", ep, "' needs an absolute path"));
    }
    if (path.size() >= sizeof(sockaddr_un::sun_path)) {
      return absl::InvalidArgumentError(absl::StrCat("ipc path too long: ", path));
    }
    if (absl::Status s = PrepareIpcPath(path, gid, with_group); !s.ok()) return s;
  }
  auto sock = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::router);
  // Per connection, ZeroMQ queues at most 1,000 received frames before it stops
  // reading the socket: with 256 KiB chunks that is 256 MiB at worst (10,000
  // let one connection park 2.5 GB here).
  SocketTuning tuning = options.tuning;
  tuning.send_hwm = 10000;
  tuning.receive_hwm = 1000;
  // No PINGs of our own where the kernel reports a vanished peer (listener.h).
  tuning.send_heartbeats = !ipc && !IsLoopbackTcp(ep);
  ConfigureSocket(*sock, tuning);
  sock->set(zmq::sockopt::router_mandatory, 1);
  sock->set(zmq::sockopt::router_handover, 1);
  if (tcp && curve != nullptr) {
    sock->set(zmq::sockopt::curve_server, 1);
    sock->set(zmq::sockopt::curve_secretkey, curve->secret_key);
    sock->set(zmq::sockopt::zap_domain, "berth");
  }
  try {
    sock->bind(ep);
  } catch (const zmq::error_t& e) {
    return absl::UnavailableError(absl::StrCat("cannot serve ", ep, ": ", e.what()));
  }
  if (ipc) {
    ipc_paths_.push_back(path);
    ::chmod(path.c_str(), 0660);
    if (with_group && ::chown(path.c_str(), 0, gid) != 0) {
      return absl::InternalError(absl::StrCat("cannot give ", path, " to its group: ", std::strerror(errno)));
    }
  }
  bound_.push_back(sock->get(zmq::sockopt::last_endpoint));
  std::string mon = absl::StrCat("inproc://berth-monitor-", routers_.size());
  if (zmq_socket_monitor(sock->handle(), mon.c_str(), ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED) != 0) {
    return absl::InternalError(absl::StrCat("cannot monitor ", ep, ": ", zmq_strerror(zmq_errno())));
  }
  auto pair = std::make_unique<zmq::socket_t>(ctx, zmq::socket_type::pair);
  pair->set(zmq::sockopt::linger, 0);
  pair->connect(mon);
  routers_.push_back(std::move(sock));
  monitors_.push_back(std::move(pair));
  return absl::OkStatus();
}

std::vector<Listener::Event> Listener::TakeEvents(size_t i) {
  zmq::socket_t& mon = *monitors_[i];
  std::vector<Event> events;
  while (true) {
    zmq::message_t event;
    if (!mon.recv(event, zmq::recv_flags::dontwait)) break;
    bool more = event.more();
    if (event.size() >= 6) {
      // [uint16 event][uint32 value]: the value of both events is the fd.
      uint16_t code;
      uint32_t fd;
      std::memcpy(&code, event.data(), 2);
      std::memcpy(&fd, static_cast<const char*>(event.data()) + 2, 4);
      if (code == ZMQ_EVENT_ACCEPTED || code == ZMQ_EVENT_DISCONNECTED) {
        events.push_back(Event{static_cast<int>(fd), code == ZMQ_EVENT_ACCEPTED});
      }
    }
    while (more) {
      zmq::message_t rest;
      if (!mon.recv(rest, zmq::recv_flags::dontwait)) break;
      more = rest.more();
    }
  }
  return events;
}

Listener::~Listener() { Close(); }

void Listener::Close() {
  monitors_.clear();
  routers_.clear();
  zap_.reset();
  for (const std::string& p : ipc_paths_) ::unlink(p.c_str());
  ipc_paths_.clear();
}

}  // namespace berth::remote
