// The one place where berth sets up ZeroMQ sockets: the options every peer uses
// (linger, the frame size limit, queue limits, ZMTP heartbeats), CURVE on the
// connecting side, a poll that survives signals, and the checks of an ipc
// endpoint's path — the client's "is anyone listening there" and the server's
// rules for the socket's directory. Client, server (listener.h) and worker use
// these instead of each setting options of its own.
//
// Thread safety: the functions keep no state; a socket is used by one thread.
#ifndef BERTH_ENGINE_REMOTE_ZMQ_SOCKET_H_
#define BERTH_ENGINE_REMOTE_ZMQ_SOCKET_H_

#include <sys/types.h>

#include <chrono>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include <zmq.hpp>

namespace berth::remote {

struct SocketTuning {
  // Frames ZeroMQ queues per connection each way before it stops reading (or
  // refuses to send): a bound on what one peer can park in this process.
  int send_hwm = 100000;
  int receive_hwm = 100000;
  // ZMTP heartbeats: a connection silent for interval × liveness is closed.
  absl::Duration heartbeat_interval = absl::Seconds(1);
  int heartbeat_liveness = 3;
  // False: this side sends no ZMTP PINGs of its own (it still answers the
  // peer's, and closes the connection when the peer's PINGs stop for the TTL
  // they carry). See Listener for why the server's local endpoints do so.
  bool send_heartbeats = true;
};

// Sets linger 0, ZMQ_MAXMSGSIZE (kMaxFrameBytes: a larger frame drops the
// connection), the HWMs and, with send_heartbeats, the heartbeat options on `sock`.
void ConfigureSocket(zmq::socket_t& sock, const SocketTuning& tuning);

// Makes `sock` a CURVE client of the server whose public key is `server_key`
// (40 Z85 characters or a key file, see security.h), with the keypair in
// `client_key_file`, or a fresh one when it is empty. Errors name the file:
// `<file>: no secret key`.
absl::Status SetCurveClient(zmq::socket_t& sock, const std::string& server_key, const std::string& client_key_file);

// zmq::poll that returns 0 with every revents cleared when a signal interrupts
// it (EINTR), instead of throwing; other errors still throw zmq::error_t.
int PollOnce(zmq::pollitem_t* items, size_t n, std::chrono::milliseconds timeout);

// Client side, before connecting to `endpoint` (ipc://PATH): is a server
// listening at PATH? Errors:
// `cannot connect to ipc://PATH: no berthd is listening (No such file or directory)`,
// `cannot connect to ipc://PATH: permission denied (the socket belongs to root and berthd's --group)`.
absl::Status CheckIpcPath(const std::string& endpoint);

// Server side, before binding ipc://PATH: creates PATH's directory (0700, or
// 0710 owned by `gid` when `with_group`), or checks an existing one and gives
// it those modes. Refuses a directory owned by another uid or writable by group
// or others — they could replace the socket:
// `refusing to serve ipc://PATH: DIR belongs to uid U, who could replace the socket; ...`,
// `refusing to serve ipc://PATH: DIR is writable by other users, who could replace the socket; ...`.
// A socket file left by a process that is gone is removed; a live one is not
// taken: `another process is already serving ipc://PATH`.
absl::Status PrepareIpcPath(const std::string& path, gid_t gid, bool with_group);

}  // namespace berth::remote

#endif  // BERTH_ENGINE_REMOTE_ZMQ_SOCKET_H_
