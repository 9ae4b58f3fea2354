// The berth wire protocol: one msgpack array per ZeroMQ frame.
//
// Every frame is `[version, type, id, ...fields]`; docs/protocol.md describes each
// type field by field. This file is the only place that knows the encoding: the
// server, the worker runtime and the client all speak through Frame.
//
// Decoding is for untrusted input: explicit msgpack unpack limits, exact shape
// checks, and an error (never an exception or a crash) for anything else.
#ifndef BERTH_ENGINE_REMOTE_WIRE_H_
#define BERTH_ENGINE_REMOTE_WIRE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/env.h"
#include "engine/remote/request.h"

namespace berth::remote {

inline constexpr uint32_t kProtocolVersion = 1;

// Frames larger than this are refused by ZeroMQ itself (ZMQ_MAXMSGSIZE): the peer
// is disconnected.
inline constexpr int64_t kMaxFrameBytes = 16 << 20;
// The most stream data one STDIN/STDOUT/STDERR frame carries.
inline constexpr size_t kMaxChunkBytes = 256 << 10;
// Flow control: for each job, each side may send this many stream bytes (stdin one
// way, stdout+stderr the other) before the receiver grants more with CREDIT frames.
inline constexpr uint64_t kInitialCredit = 1 << 20;
// A receiver grants credit back once it has consumed this many bytes.
inline constexpr uint64_t kCreditGrantBytes = 256 << 10;
// Limits on what a decoded frame may contain.
inline constexpr size_t kMaxArgs = 4096;
inline constexpr size_t kMaxEnvEntries = 4096;
inline constexpr size_t kMaxStringBytes = 1 << 20;
inline constexpr size_t kMaxNames = 4096;
// The most elements of any one array in a frame (args, env or names, plus the
// frame's own fields).
inline constexpr size_t kMaxArrayElements = 4096 + 16;
// The most msgpack objects in one frame, whatever their nesting: a JOB with
// 4,096 args and 4,096 env entries (4 objects each) has about 20,500. Decoding
// costs at most this many objects (24 bytes each) beyond the frame's bytes.
inline constexpr size_t kMaxFrameObjects = 4 * kMaxEnvEntries + kMaxArgs + 64;
// The most routes one LEASE carries, and the longest endpoint or key in one.
inline constexpr size_t kMaxRoutes = 256;
inline constexpr size_t kMaxEndpointBytes = 256;
// A direct-path ticket's size, and the worker's admission key's (ticket.h).
inline constexpr size_t kTicketBytes = 40;
inline constexpr size_t kAdmissionKeyBytes = 32;
// A JOB's trace id: at most this many printable ASCII characters.
inline constexpr size_t kMaxTraceIdBytes = 64;
// HELLO: the most jobs a worker may take at once.
inline constexpr uint32_t kMaxCapacity = 65536;

// ERROR frames carry a code so that a peer tells the cases apart without
// reading the text. An ERROR never ends a request (only END does).
enum class ErrorCode : uint16_t {
  kUnspecified = 0,   // from a peer that sends no code
  kBadFrame = 1,      // the frame could not be decoded (or is not one part)
  kIdInUse = 2,       // JOB with the id of a live request of this connection
  kNotAllowed = 3,    // a frame type this side may not send
  kNamesRefused = 4,  // HELLO: these names are not routed to this worker
  kForgotten = 5,     // to a worker: the server counted it lost (silent); HELLO again to serve
};

enum class FrameType : uint8_t {
  kJob = 1,        // requester → executor: run a job
  kStdin = 2,      // requester → executor: a chunk of the job's stdin
  kStdinEnd = 3,   // requester → executor: end of stdin
  kCancel = 4,     // requester → executor: cancel the job
  kCredit = 5,     // either way: the receiver may send this many more stream bytes
  kStdout = 6,     // executor → requester: a chunk of the job's stdout
  kStderr = 7,     // executor → requester: a chunk of the job's stderr
  kEnd = 8,        // executor → requester: the job's status and error text
  kError = 9,      // either way: the frame with this id (0: unknown) was refused
  kHeartbeat = 10, // either way: still alive
  kHello = 11,     // worker → server: the jobs I serve, my capacity
  kDrain = 12,     // worker → server: finishing in-flight jobs, send me no more
  kBye = 13,       // worker → server: leaving now
  // The direct path (docs/protocol.md, "The direct path"):
  kRefused = 14,   // executor → requester: the job did not run here; ends the request
  kWelcome = 15,   // server → worker: HELLO registered; the key that checks tickets
  kRoute = 16,     // client → server: which workers take `name` directly?
  kLease = 17,     // server → client: the answer to ROUTE
  kReport = 18,    // worker → server: jobs run on the direct path
};

// Why an executor refused a JOB on the direct path (REFUSED `code`). The job
// did not run: the requester may send it elsewhere.
enum class Refusal : uint16_t {
  kUnspecified = 0,
  kNotAdmitted = 1,  // no ticket, a forged or expired one, or one from an earlier berthd
  kAtCapacity = 2,   // the worker runs as many jobs as its capacity
  kNotServed = 3,    // the worker does not serve the name
  kDraining = 4,     // the worker is leaving
};

// A way to one worker, in a LEASE: where it takes jobs directly, its CURVE
// public key (Z85, empty without CURVE), the ticket that admits the bearer,
// and how many jobs it runs at once.
struct DirectRoute {
  std::string worker_name;
  std::string endpoint;
  std::string public_key;
  std::string ticket;
  uint32_t capacity = 0;
  bool operator==(const DirectRoute&) const = default;
};

absl::string_view FrameTypeName(FrameType type);

struct Frame {
  FrameType type = FrameType::kHeartbeat;
  uint64_t id = 0;  // request id, chosen by the requester; 0 for connection-level frames

  // kJob: the request, and how this sending of it goes on
  JobRequest job;
  bool has_stdin = false;    // STDIN frames (then STDIN_END) will follow
  bool end_tail = false;     // the requester accepts END frames that carry a tail
  std::string ticket;        // the direct path: the admission ticket from a LEASE

  // kEnd: the job's last output chunk, carried in the END frame itself instead
  // of in a STDOUT/STDERR frame just before it (only to requesters that set
  // end_tail). tail_stream is kStdout or kStderr; the bytes are in `data`.
  bool has_tail = false;
  FrameType tail_stream = FrameType::kStdout;

  // kStdin, kStdout, kStderr
  std::string data;
  // kCredit
  uint64_t credit = 0;
  // kEnd (status, message = error text); kError (message, error_code);
  // kRefused (refusal, message)
  int32_t status = 0;
  std::string message;
  ErrorCode error_code = ErrorCode::kUnspecified;
  Refusal refusal = Refusal::kUnspecified;

  // kHello
  std::string worker_name;
  uint32_t capacity = 0;
  std::vector<std::string> jobs;
  std::vector<std::string> idempotent;
  // kHello, optional: where the worker takes jobs directly, and its key
  std::string direct_endpoint;
  std::string direct_key;

  // kWelcome: the admission key (in `data`). kRoute: the name (in job.name).
  // kLease: the name (job.name), how long the routes hold, whether a job of
  // that name may run again after its worker is lost, and the routes.
  uint64_t lease_ms = 0;
  bool idempotent_name = false;
  std::vector<DirectRoute> routes;

  // kReport: the worker's direct-path jobs running now, and run in all.
  uint64_t direct_running = 0;
  uint64_t direct_served = 0;
};

// Encoders. Each returns the frame's bytes.
std::string EncodeFrame(const Frame& frame);
// JOB `id` for `job`; has_stdin and end_tail as in Frame. A relay sends one
// request on under its own id, with the time still left as its timeout.
std::string EncodeJob(uint64_t id, const JobRequest& job, bool has_stdin, bool end_tail);
// The same JOB carrying a direct-path ticket (end_tail is then always sent).
std::string EncodeTicketedJob(uint64_t id, const JobRequest& job, bool has_stdin, bool end_tail,
                              absl::string_view ticket);
std::string EncodeRefused(uint64_t id, Refusal code, absl::string_view message);
std::string EncodeData(FrameType type, uint64_t id, absl::string_view data);
std::string EncodeCredit(uint64_t id, uint64_t bytes);
std::string EncodeEnd(uint64_t id, int32_t status, absl::string_view message);
// END with the job's last output chunk (`stream` is kStdout or kStderr).
std::string EncodeEndWithTail(uint64_t id, int32_t status, absl::string_view message, FrameType stream,
                              absl::string_view tail);
std::string EncodeError(uint64_t id, ErrorCode code, absl::string_view message);
std::string EncodeSimple(FrameType type, uint64_t id);  // kStdinEnd, kCancel, kHeartbeat, kDrain, kBye

// Decodes one frame. Errors say what is wrong, e.g.
// `unsupported protocol version 7 (this berth speaks 1)` or `JOB frame: args must be an array of strings`.
absl::StatusOr<Frame> DecodeFrame(const void* data, size_t size);

// The id of a frame that failed to decode, when enough of it is readable to say
// (so the error reply can name the request); 0 otherwise.
uint64_t PeekFrameId(const void* data, size_t size);

// The job data an encoded frame carries: a STDIN, STDOUT or STDERR chunk, or
// the tail of an END; `bytes` 0 for every other frame (and for one that does
// not decode). For counting what the server sends; costs a walk of the frame.
struct StreamChunk {
  FrameType stream = FrameType::kHeartbeat;
  size_t bytes = 0;
};
StreamChunk PeekStreamChunk(const void* data, size_t size);

}  // namespace berth::remote

#endif  // BERTH_ENGINE_REMOTE_WIRE_H_
