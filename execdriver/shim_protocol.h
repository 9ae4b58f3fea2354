// What berthd and a container's shim (tools/berth-shim) share: the files in
// the container's directory and the messages on the shim's socket. libc only
// (the shim links nothing else).
//
// The shim is the container init's parent. It reaps it, appends its output
// to the json-file log, and, once the init is reaped and its output drained,
// writes the exit file and exits. Files in the container's directory:
//   shim.sock  a SOCK_SEQPACKET unix socket the shim listens on while it runs
//   exit       "<code> <oom 0|1> <finished, Unix nanoseconds>\n", written to
//              exit.tmp, fsynced and renamed: present means the container
//              exited with that status; a shim gone without it means the
//              container was lost (the shim was killed).
//
// Messages (one per datagram, kShimHeaderSize bytes of header, then data):
//   shim → berthd  kShimOutput   stream 0 (stdout) or 1 (stderr), the bytes
//   berthd → shim  kShimStdin    bytes for the container's stdin (OpenStdin)
//                  kShimCloseStdin  closes the container's stdin
// A client that does not keep up (its socket buffer is full) is dropped; the
// log file has everything. A message the shim does not understand drops the
// client. The shim takes at most kShimMaxClients clients at once.
#ifndef BERTH_EXECDRIVER_SHIM_PROTOCOL_H_
#define BERTH_EXECDRIVER_SHIM_PROTOCOL_H_

#include <cstdint>
#include <cstdio>
#include <cstring>

namespace berth::execdriver {

inline constexpr char kShimSocketName[] = "shim.sock";
inline constexpr char kShimExitName[] = "exit";
inline constexpr char kShimExitTempName[] = "exit.tmp";

inline constexpr uint8_t kShimOutput = 1;
inline constexpr uint8_t kShimStdin = 2;
inline constexpr uint8_t kShimCloseStdin = 3;

inline constexpr size_t kShimHeaderSize = 8;
// The most data bytes in one message.
inline constexpr size_t kShimMaxData = 32 * 1024;
inline constexpr int kShimMaxClients = 4;

// The descriptors the shim is started with (set up by the exec driver).
inline constexpr int kShimPidFd = 3;     // pidfd of the container's init
inline constexpr int kShimStdoutFd = 4;  // read end of the init's stdout
inline constexpr int kShimStderrFd = 5;  // read end of the init's stderr
inline constexpr int kShimStdinFd = 6;   // write end of its stdin (or /dev/null)
inline constexpr int kShimReadyFd = 7;   // the shim writes one byte when it listens

struct ShimHeader {
  uint8_t type;
  uint8_t stream;
  uint16_t reserved;
  uint32_t size;  // of the data that follows, at most kShimMaxData
};
static_assert(sizeof(ShimHeader) == kShimHeaderSize);

struct ShimExit {
  int code = 0;  // 0-255, or 128+signal
  bool oom_killed = false;
  int64_t finished_unix_nanos = 0;
};

// The exit file's text; `out` holds at least 64 bytes. Returns its length.
inline int FormatShimExit(const ShimExit& e, char* out, size_t size) {
  return std::snprintf(out, size, "%d %d %lld\n", e.code, e.oom_killed ? 1 : 0,
                       static_cast<long long>(e.finished_unix_nanos));
}

// False unless `text` is exactly what FormatShimExit writes.
inline bool ParseShimExit(const char* text, ShimExit* out) {
  int code = 0, oom = 0, used = 0;
  long long finished = 0;
  if (std::sscanf(text, "%d %d %lld\n%n", &code, &oom, &finished, &used) != 3) return false;
  if (used <= 0 || text[used] != '\0' || code < 0 || code > 255 + 128 || (oom != 0 && oom != 1)) return false;
  out->code = code;
  out->oom_killed = oom == 1;
  out->finished_unix_nanos = finished;
  return true;
}

}  // namespace berth::execdriver

#endif  // BERTH_EXECDRIVER_SHIM_PROTOCOL_H_
