#include "engine/remote/wire.h"

#include <msgpack.hpp>
#include <msgpack/v2/null_visitor.hpp>
#include <msgpack/v2/parse.hpp>

#include <random>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace berth::remote {
namespace {

constexpr char kDataMustBeBin[] = "data must be bin of at most 262144 bytes";
constexpr int kMaxDepth = 4;

bool ValidTraceId(absl::string_view id) {
  if (id.size() > kMaxTraceIdBytes) return false;
  for (unsigned char c : id) {
    if (c < 0x21 || c > 0x7e) return false;
  }
  return true;
}

using Packer = msgpack::packer<msgpack::sbuffer>;

void PackHeader(Packer& pk, size_t fields, FrameType type, uint64_t id) {
  pk.pack_array(static_cast<uint32_t>(3 + fields));
  pk.pack_uint32(kProtocolVersion);
  pk.pack_uint8(static_cast<uint8_t>(type));
  pk.pack_uint64(id);
}

void PackStr(Packer& pk, absl::string_view s) {
  pk.pack_str(static_cast<uint32_t>(s.size()));
  pk.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
}

void PackBin(Packer& pk, absl::string_view s) {
  pk.pack_bin(static_cast<uint32_t>(s.size()));
  pk.pack_bin_body(s.data(), static_cast<uint32_t>(s.size()));
}

void PackStrings(Packer& pk, const std::vector<std::string>& v) {
  pk.pack_array(static_cast<uint32_t>(v.size()));
  for (const std::string& s : v) PackStr(pk, s);
}

std::string Take(msgpack::sbuffer& buf) { return std::string(buf.data(), buf.size()); }

// ---- decoding helpers: each checks the shape and names the field ----

absl::Status Bad(FrameType type, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(FrameTypeName(type), " frame: ", what));
}

bool AsUint(const msgpack::object& o, uint64_t* out) {
  if (o.type != msgpack::type::POSITIVE_INTEGER) return false;
  *out = o.via.u64;
  return true;
}

bool AsInt32(const msgpack::object& o, int32_t* out) {
  if (o.type == msgpack::type::POSITIVE_INTEGER) {
    if (o.via.u64 > INT32_MAX) return false;
    *out = static_cast<int32_t>(o.via.u64);
    return true;
  }
  if (o.type == msgpack::type::NEGATIVE_INTEGER) {
    if (o.via.i64 < INT32_MIN) return false;
    *out = static_cast<int32_t>(o.via.i64);
    return true;
  }
  return false;
}

bool AsString(const msgpack::object& o, std::string* out) {
  if (o.type != msgpack::type::STR) return false;
  out->assign(o.via.str.ptr, o.via.str.size);
  return true;
}

// Stream data is bin, never str (the document says so, and a str would be
// checked against the string limit instead of the chunk limit).
bool AsBytes(const msgpack::object& o, std::string* out) {
  if (o.type != msgpack::type::BIN) return false;
  out->assign(o.via.bin.ptr, o.via.bin.size);
  return true;
}

bool AsBool(const msgpack::object& o, bool* out) {
  if (o.type != msgpack::type::BOOLEAN) return false;
  *out = o.via.boolean;
  return true;
}

bool AsStrings(const msgpack::object& o, size_t max, std::vector<std::string>* out) {
  if (o.type != msgpack::type::ARRAY || o.via.array.size > max) return false;
  out->clear();
  out->reserve(o.via.array.size);
  for (uint32_t i = 0; i < o.via.array.size; ++i) {
    std::string s;
    if (!AsString(o.via.array.ptr[i], &s)) return false;
    out->push_back(std::move(s));
  }
  return true;
}

absl::Status DecodeEnv(const msgpack::object& o, Env* env) {
  if (o.type != msgpack::type::ARRAY || o.via.array.size > kMaxEnvEntries) {
    return Bad(FrameType::kJob, "env must be an array of [key, value, is_json] entries");
  }
  env->Reserve(o.via.array.size);
  for (uint32_t i = 0; i < o.via.array.size; ++i) {
    const msgpack::object& e = o.via.array.ptr[i];
    std::string key, value;
    bool is_json = false;
    if (e.type != msgpack::type::ARRAY || e.via.array.size != 3 || !AsString(e.via.array.ptr[0], &key) ||
        !AsString(e.via.array.ptr[1], &value) || !AsBool(e.via.array.ptr[2], &is_json)) {
      return Bad(FrameType::kJob, absl::StrCat("env entry ", i, " must be [key, value, is_json]"));
    }
    absl::Status s = is_json ? env->SetJsonText(key, value) : env->Set(key, value);
    if (!s.ok()) return Bad(FrameType::kJob, s.message());
  }
  return absl::OkStatus();
}

bool AsEndpoint(const msgpack::object& o, std::string* out) {
  return AsString(o, out) && out->size() <= kMaxEndpointBytes &&
         (absl::StartsWith(*out, "tcp://") || absl::StartsWith(*out, "ipc://"));
}

bool AsKey(const msgpack::object& o, std::string* out) {
  return AsString(o, out) && (out->empty() || out->size() == 40);
}

absl::Status DecodeRoutes(const msgpack::object& o, std::vector<DirectRoute>* routes) {
  if (o.type != msgpack::type::ARRAY || o.via.array.size > kMaxRoutes) {
    return Bad(FrameType::kLease, absl::StrCat("routes must be an array of at most ", kMaxRoutes, " routes"));
  }
  for (uint32_t i = 0; i < o.via.array.size; ++i) {
    const msgpack::object& e = o.via.array.ptr[i];
    DirectRoute r;
    uint64_t capacity = 0;
    if (e.type != msgpack::type::ARRAY || e.via.array.size != 5 || !AsString(e.via.array.ptr[0], &r.worker_name) ||
        !AsEndpoint(e.via.array.ptr[1], &r.endpoint) || !AsKey(e.via.array.ptr[2], &r.public_key) ||
        !AsBytes(e.via.array.ptr[3], &r.ticket) || r.ticket.size() != kTicketBytes ||
        !AsUint(e.via.array.ptr[4], &capacity) || capacity == 0 || capacity > kMaxCapacity) {
      return Bad(FrameType::kLease, absl::StrCat("route ", i, " must be [worker, endpoint, key, ticket, capacity]"));
    }
    r.capacity = static_cast<uint32_t>(capacity);
    routes->push_back(std::move(r));
  }
  return absl::OkStatus();
}

}  // namespace

absl::string_view FrameTypeName(FrameType type) {
  switch (type) {
    case FrameType::kJob: return "JOB";
    case FrameType::kStdin: return "STDIN";
    case FrameType::kStdinEnd: return "STDIN_END";
    case FrameType::kCancel: return "CANCEL";
    case FrameType::kCredit: return "CREDIT";
    case FrameType::kStdout: return "STDOUT";
    case FrameType::kStderr: return "STDERR";
    case FrameType::kEnd: return "END";
    case FrameType::kError: return "ERROR";
    case FrameType::kHeartbeat: return "HEARTBEAT";
    case FrameType::kHello: return "HELLO";
    case FrameType::kDrain: return "DRAIN";
    case FrameType::kBye: return "BYE";
    case FrameType::kRefused: return "REFUSED";
    case FrameType::kWelcome: return "WELCOME";
    case FrameType::kRoute: return "ROUTE";
    case FrameType::kLease: return "LEASE";
    case FrameType::kReport: return "REPORT";
  }
  return "UNKNOWN";
}

}  // namespace berth::remote

namespace berth::remote {

namespace {

// JOB, with the optional end_tail and ticket fields when `fields` asks for them
// (6: neither, 7: end_tail, 8: both).
std::string PackJob(uint64_t id, const JobRequest& request, bool has_stdin, bool end_tail, absl::string_view ticket,
                    size_t fields) {
  msgpack::sbuffer buf(256);
  Packer pk(buf);
  PackHeader(pk, fields, FrameType::kJob, id);
  PackStr(pk, request.name);
  PackStrings(pk, request.args);
  pk.pack_array(static_cast<uint32_t>(request.env.entries().size()));
  for (const Env::Entry& e : request.env.entries()) {
    pk.pack_array(3);
    PackStr(pk, e.key);
    PackStr(pk, e.value);
    if (e.json) {
      pk.pack_true();
    } else {
      pk.pack_false();
    }
  }
  uint64_t deadline_ms = 0;  // no deadline
  if (request.timeout != absl::InfiniteDuration()) {
    deadline_ms = static_cast<uint64_t>(std::max<int64_t>(1, absl::ToInt64Milliseconds(request.timeout)));
  }
  pk.pack_uint64(deadline_ms);
  PackStr(pk, request.trace_id);
  if (has_stdin) {
    pk.pack_true();
  } else {
    pk.pack_false();
  }
  if (fields >= 7) pk.pack(end_tail);
  if (fields >= 8) PackBin(pk, ticket);
  return Take(buf);
}

}  // namespace

std::string EncodeJob(uint64_t id, const JobRequest& request, bool has_stdin, bool end_tail) {
  // end_tail is an optional field of a later revision: sent only when true, so
  // that a JOB without it reads the same to every decoder.
  return PackJob(id, request, has_stdin, end_tail, "", end_tail ? 7 : 6);
}

std::string EncodeTicketedJob(uint64_t id, const JobRequest& request, bool has_stdin, bool end_tail,
                              absl::string_view ticket) {
  return PackJob(id, request, has_stdin, end_tail, ticket, 8);
}

std::string EncodeRefused(uint64_t id, Refusal code, absl::string_view message) {
  msgpack::sbuffer buf(64 + message.size());
  Packer pk(buf);
  PackHeader(pk, 2, FrameType::kRefused, id);
  pk.pack_uint16(static_cast<uint16_t>(code));
  PackStr(pk, message);
  return Take(buf);
}

std::string EncodeData(FrameType type, uint64_t id, absl::string_view data) {
  msgpack::sbuffer buf(data.size() + 32);
  Packer pk(buf);
  PackHeader(pk, 1, type, id);
  PackBin(pk, data);
  return Take(buf);
}

std::string EncodeCredit(uint64_t id, uint64_t bytes) {
  msgpack::sbuffer buf(32);
  Packer pk(buf);
  PackHeader(pk, 1, FrameType::kCredit, id);
  pk.pack_uint64(bytes);
  return Take(buf);
}

std::string EncodeEnd(uint64_t id, int32_t status, absl::string_view message) {
  msgpack::sbuffer buf(64 + message.size());
  Packer pk(buf);
  PackHeader(pk, 2, FrameType::kEnd, id);
  pk.pack_int32(status);
  PackStr(pk, message);
  return Take(buf);
}

std::string EncodeEndWithTail(uint64_t id, int32_t status, absl::string_view message, FrameType stream,
                              absl::string_view tail) {
  msgpack::sbuffer buf(72 + message.size() + tail.size());
  Packer pk(buf);
  PackHeader(pk, 4, FrameType::kEnd, id);
  pk.pack_int32(status);
  PackStr(pk, message);
  pk.pack_uint8(static_cast<uint8_t>(stream));
  PackBin(pk, tail);
  return Take(buf);
}

std::string EncodeError(uint64_t id, ErrorCode code, absl::string_view message) {
  msgpack::sbuffer buf(64 + message.size());
  Packer pk(buf);
  PackHeader(pk, 2, FrameType::kError, id);
  PackStr(pk, message);
  pk.pack_uint16(static_cast<uint16_t>(code));
  return Take(buf);
}

std::string EncodeSimple(FrameType type, uint64_t id) {
  msgpack::sbuffer buf(16);
  Packer pk(buf);
  PackHeader(pk, 0, type, id);
  return Take(buf);
}

std::string EncodeFrame(const Frame& f) {
  switch (f.type) {
    case FrameType::kJob:
      return f.ticket.empty() ? EncodeJob(f.id, f.job, f.has_stdin, f.end_tail)
                              : EncodeTicketedJob(f.id, f.job, f.has_stdin, f.end_tail, f.ticket);
    case FrameType::kRefused:
      return EncodeRefused(f.id, f.refusal, f.message);
    case FrameType::kStdin:
    case FrameType::kStdout:
    case FrameType::kStderr:
      return EncodeData(f.type, f.id, f.data);
    case FrameType::kCredit:
      return EncodeCredit(f.id, f.credit);
    case FrameType::kEnd:
      return f.has_tail ? EncodeEndWithTail(f.id, f.status, f.message, f.tail_stream, f.data)
                        : EncodeEnd(f.id, f.status, f.message);
    case FrameType::kError:
      return EncodeError(f.id, f.error_code, f.message);
    case FrameType::kHello: {
      msgpack::sbuffer buf(128);
      Packer pk(buf);
      PackHeader(pk, f.direct_endpoint.empty() ? 4 : 6, FrameType::kHello, f.id);
      PackStr(pk, f.worker_name);
      pk.pack_uint32(f.capacity);
      PackStrings(pk, f.jobs);
      PackStrings(pk, f.idempotent);
      if (!f.direct_endpoint.empty()) {
        PackStr(pk, f.direct_endpoint);
        PackStr(pk, f.direct_key);
      }
      return Take(buf);
    }
    case FrameType::kWelcome:  // the admission key, bin
    case FrameType::kRoute: {  // the name, str
      msgpack::sbuffer buf(64);
      Packer pk(buf);
      PackHeader(pk, 1, f.type, f.id);
      if (f.type == FrameType::kWelcome) {
        PackBin(pk, f.data);
      } else {
        PackStr(pk, f.job.name);
      }
      return Take(buf);
    }
    case FrameType::kLease: {
      msgpack::sbuffer buf(128 + 128 * f.routes.size());
      Packer pk(buf);
      PackHeader(pk, 4, FrameType::kLease, f.id);
      PackStr(pk, f.job.name);
      pk.pack_uint64(f.lease_ms);
      pk.pack(f.idempotent_name);
      pk.pack_array(static_cast<uint32_t>(f.routes.size()));
      for (const DirectRoute& r : f.routes) {
        pk.pack_array(5);
        PackStr(pk, r.worker_name);
        PackStr(pk, r.endpoint);
        PackStr(pk, r.public_key);
        PackBin(pk, r.ticket);
        pk.pack_uint32(r.capacity);
      }
      return Take(buf);
    }
    case FrameType::kReport: {
      msgpack::sbuffer buf(32);
      Packer pk(buf);
      PackHeader(pk, 2, FrameType::kReport, f.id);
      pk.pack_uint64(f.direct_running);
      pk.pack_uint64(f.direct_served);
      return Take(buf);
    }
    case FrameType::kStdinEnd:
    case FrameType::kCancel:
    case FrameType::kHeartbeat:
    case FrameType::kDrain:
    case FrameType::kBye:
      return EncodeSimple(f.type, f.id);
  }
  return EncodeSimple(FrameType::kHeartbeat, f.id);
}

namespace {

// Number of fields after [version, type, id] each frame type requires. Later
// revisions of version 1 may append fields; decoders ignore extra trailing ones.
size_t RequiredFields(FrameType type) {
  switch (type) {
    case FrameType::kJob: return 6;
    case FrameType::kStdin:
    case FrameType::kStdout:
    case FrameType::kStderr:
    case FrameType::kCredit:
    case FrameType::kError:
    case FrameType::kWelcome:
    case FrameType::kRoute: return 1;
    case FrameType::kEnd:
    case FrameType::kRefused:
    case FrameType::kReport: return 2;
    case FrameType::kHello:
    case FrameType::kLease: return 4;
    default: return 0;
  }
}

msgpack::unpack_limit Limits() {
  // array, map, str, bin, ext, depth
  return msgpack::unpack_limit(kMaxArrayElements, 0, kMaxStringBytes, kMaxChunkBytes, 0, kMaxDepth);
}

absl::StatusOr<Frame> DecodeObject(const msgpack::object& root) {
  if (root.type != msgpack::type::ARRAY || root.via.array.size < 3) {
    return absl::InvalidArgumentError("a frame must be a msgpack array [version, type, id, ...]");
  }
  const msgpack::object* f = root.via.array.ptr;
  uint64_t version = 0, type = 0, id = 0;
  if (!AsUint(f[0], &version)) return absl::InvalidArgumentError("frame version must be an unsigned integer");
  if (version != kProtocolVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported protocol version ", version, " (this berth speaks ", kProtocolVersion, ")"));
  }
  if (!AsUint(f[1], &type) || type < 1 || type > static_cast<uint64_t>(FrameType::kReport)) {
    return absl::InvalidArgumentError("unknown frame type");
  }
  if (!AsUint(f[2], &id)) return absl::InvalidArgumentError("frame id must be an unsigned integer");
  Frame out;
  out.type = static_cast<FrameType>(type);
  out.id = id;
  const size_t fields = root.via.array.size - 3;
  if (fields < RequiredFields(out.type)) {
    return Bad(out.type, absl::StrCat("needs ", RequiredFields(out.type), " fields after the id, got ", fields));
  }
  const msgpack::object* a = f + 3;
  switch (out.type) {
    case FrameType::kJob: {
      JobRequest& job = out.job;
      if (!AsString(a[0], &job.name) || job.name.empty()) return Bad(out.type, "name must be a non-empty string");
      if (!AsStrings(a[1], kMaxArgs, &job.args)) return Bad(out.type, "args must be an array of strings");
      if (absl::Status s = DecodeEnv(a[2], &job.env); !s.ok()) return s;
      uint64_t deadline_ms = 0;
      if (!AsUint(a[3], &deadline_ms)) return Bad(out.type, "deadline_ms must be an unsigned integer");
      if (deadline_ms > 0) job.timeout = absl::Milliseconds(std::min<uint64_t>(deadline_ms, uint64_t{1} << 53));
      if (!AsString(a[4], &job.trace_id) || !ValidTraceId(job.trace_id)) {
        return Bad(out.type, "trace_id must be a string of at most 64 printable ASCII characters (or empty)");
      }
      if (!AsBool(a[5], &out.has_stdin)) return Bad(out.type, "has_stdin must be a boolean");
      if (fields >= 7 && !AsBool(a[6], &out.end_tail)) return Bad(out.type, "end_tail must be a boolean");
      if (fields >= 8 && (!AsBytes(a[7], &out.ticket) || out.ticket.size() != kTicketBytes)) {
        return Bad(out.type, absl::StrCat("ticket must be bin of ", kTicketBytes, " bytes"));
      }
      if (id == 0) return Bad(out.type, "id must not be 0");
      break;
    }
    case FrameType::kStdin:
    case FrameType::kStdout:
    case FrameType::kStderr:
      if (!AsBytes(a[0], &out.data)) return Bad(out.type, kDataMustBeBin);
      break;
    case FrameType::kCredit:
      if (!AsUint(a[0], &out.credit)) return Bad(out.type, "bytes must be an unsigned integer");
      break;
    case FrameType::kEnd:
      if (!AsInt32(a[0], &out.status)) return Bad(out.type, "status must be a 32-bit integer");
      if (!AsString(a[1], &out.message)) return Bad(out.type, "message must be a string");
      if (fields >= 4) {
        // The optional tail: tail_stream and tail come as a pair.
        uint64_t stream = 0;
        if (!AsUint(a[2], &stream) ||
            (stream != static_cast<uint64_t>(FrameType::kStdout) && stream != static_cast<uint64_t>(FrameType::kStderr))) {
          return Bad(out.type, "tail_stream must be 6 (STDOUT) or 7 (STDERR), followed by the tail");
        }
        if (!AsBytes(a[3], &out.data)) return Bad(out.type, "tail must be bin of at most 262144 bytes");
        out.has_tail = true;
        out.tail_stream = static_cast<FrameType>(stream);
      }
      break;
    case FrameType::kError: {
      if (!AsString(a[0], &out.message)) return Bad(out.type, "message must be a string");
      uint64_t code = 0;
      if (fields >= 2 && (!AsUint(a[1], &code) || code > 0xffff)) return Bad(out.type, "code must be an unsigned integer");
      out.error_code = static_cast<ErrorCode>(code);
      break;
    }
    case FrameType::kHello: {
      uint64_t capacity = 0;
      if (!AsString(a[0], &out.worker_name) || out.worker_name.empty()) {
        return Bad(out.type, "worker name must be a non-empty string");
      }
      if (!AsUint(a[1], &capacity) || capacity == 0 || capacity > kMaxCapacity) {
        return Bad(out.type, absl::StrCat("capacity must be an integer from 1 to ", kMaxCapacity));
      }
      out.capacity = static_cast<uint32_t>(capacity);
      if (!AsStrings(a[2], kMaxNames, &out.jobs)) return Bad(out.type, "jobs must be an array of strings");
      if (!AsStrings(a[3], kMaxNames, &out.idempotent)) return Bad(out.type, "idempotent must be an array of strings");
      if (fields >= 6 && (!AsEndpoint(a[4], &out.direct_endpoint) || !AsKey(a[5], &out.direct_key))) {
        return Bad(out.type, "direct_endpoint must be a tcp:// or ipc:// endpoint, followed by direct_key (40 Z85 characters or empty)");
      }
      break;
    }
    case FrameType::kRefused: {
      uint64_t code = 0;
      if (!AsUint(a[0], &code) || code > 0xffff) return Bad(out.type, "code must be an unsigned integer");
      out.refusal = static_cast<Refusal>(code);
      if (!AsString(a[1], &out.message)) return Bad(out.type, "message must be a string");
      break;
    }
    case FrameType::kWelcome:
      if (!AsBytes(a[0], &out.data) || out.data.size() != kAdmissionKeyBytes) {
        return Bad(out.type, absl::StrCat("key must be bin of ", kAdmissionKeyBytes, " bytes"));
      }
      break;
    case FrameType::kRoute:
      if (!AsString(a[0], &out.job.name) || out.job.name.empty()) return Bad(out.type, "name must be a non-empty string");
      break;
    case FrameType::kLease: {
      if (!AsString(a[0], &out.job.name)) return Bad(out.type, "name must be a string");
      if (!AsUint(a[1], &out.lease_ms)) return Bad(out.type, "lease_ms must be an unsigned integer");
      if (!AsBool(a[2], &out.idempotent_name)) return Bad(out.type, "idempotent must be a boolean");
      if (absl::Status s = DecodeRoutes(a[3], &out.routes); !s.ok()) return s;
      break;
    }
    case FrameType::kReport:
      if (!AsUint(a[0], &out.direct_running) || !AsUint(a[1], &out.direct_served)) {
        return Bad(out.type, "running and served must be unsigned integers");
      }
      break;
    default:
      break;
  }
  return out;
}

}  // namespace

namespace {

// Strings and bins are referenced in the input rather than copied into the
// zone: DecodeObject copies each into the Frame once, while the input is alive.
// Only within the limits: msgpack's v1 API checks them only when copying.
bool ReferenceInput(msgpack::type::object_type type, size_t size, void*) {
  if (type == msgpack::type::STR) return size <= kMaxStringBytes;
  if (type == msgpack::type::BIN) return size <= kMaxChunkBytes;
  return false;
}

}  // namespace

namespace {

// Walks a frame's msgpack without building objects (a SAX-style visitor) and
// stops at the first thing beyond the limits, so that a hostile frame costs
// time in proportion to the bytes read before that point and no memory. It
// also counts objects: nested empty arrays are one byte each on the wire but
// a msgpack::object each once decoded, and without this bound one 16 MiB frame
// of them cost ~400 MB and a second of the I/O thread.
struct FrameScanner : msgpack::v2::null_visitor {
  bool peek_only = false;  // PeekFrameId: stop after [version, type, id]
  int depth = 0;
  size_t objects = 0;
  size_t root_index = 0;  // elements of the root array seen so far
  uint64_t type = 0;
  uint64_t id = 0;
  uint64_t tail_stream = 0;  // root element 5 (END with a tail: its stream)
  size_t bin_index = 0;      // the last bin at the root: its index and size
  size_t bin_bytes = 0;
  std::string error;

  bool Count() {
    if (++objects > kMaxFrameObjects) {
      return Fail(absl::StrCat("frame exceeds a size limit (more than ", kMaxFrameObjects, " objects)"));
    }
    if (depth == 1 && root_index >= 3 && peek_only) return false;
    return true;
  }
  bool Fail(std::string why) {
    if (error.empty()) error = std::move(why);
    return false;
  }
  bool Header(uint64_t v) {
    if (depth != 1) return true;
    if (root_index == 1) type = v;
    if (root_index == 2) id = v;
    return true;
  }
  bool visit_nil() { return Count(); }
  bool visit_boolean(bool) { return Count(); }
  bool visit_positive_integer(uint64_t v) {
    if (depth == 1 && root_index == 5) tail_stream = v;
    return Count() && Header(v);
  }
  bool visit_negative_integer(int64_t) { return Count(); }
  bool visit_float32(float) { return Count(); }
  bool visit_float64(double) { return Count(); }
  bool visit_str(const char*, uint32_t size) {
    if (size > kMaxStringBytes) return Fail(absl::StrCat("frame exceeds a size limit (a string of ", size, " bytes)"));
    return Count();
  }
  bool visit_bin(const char*, uint32_t size) {
    if (depth == 1) bin_index = root_index, bin_bytes = size;
    if (size > kMaxChunkBytes) {
      if (IsDataFrame()) return Fail(std::string(kDataMustBeBin));
      return Fail(absl::StrCat("frame exceeds a size limit (a bin of ", size, " bytes)"));
    }
    return Count();
  }
  bool visit_ext(const char*, uint32_t) { return Fail("malformed frame (ext types are not used)"); }
  bool start_array(uint32_t n) {
    if (!Count()) return false;
    if (++depth > kMaxDepth) return Fail("frame exceeds a size limit (nesting deeper than 4)");
    if (n > kMaxArrayElements) return Fail(absl::StrCat("frame exceeds a size limit (an array of ", n, " elements)"));
    return true;
  }
  bool end_array_item() {
    if (depth == 1) ++root_index;
    return !(peek_only && depth == 1 && root_index >= 3);
  }
  bool end_array() {
    --depth;
    return true;
  }
  bool start_map(uint32_t) { return Fail("malformed frame (maps are not used)"); }
  void parse_error(size_t, size_t) { Fail("malformed frame (parse error)"); }
  void insufficient_bytes(size_t, size_t) { Fail("truncated frame"); }

  bool IsDataFrame() const {
    return depth == 1 && root_index == 3 &&
           (type == static_cast<uint64_t>(FrameType::kStdin) || type == static_cast<uint64_t>(FrameType::kStdout) ||
            type == static_cast<uint64_t>(FrameType::kStderr));
  }
};

absl::Status ScanFrame(const void* data, size_t size) {
  FrameScanner scan;
  size_t offset = 0;
  bool ok = false;
  try {
    ok = msgpack::v2::parse(static_cast<const char*>(data), size, offset, scan);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("malformed frame (", e.what(), ")"));
  }
  if (!scan.error.empty()) {
    if (scan.error == kDataMustBeBin) {
      return absl::InvalidArgumentError(
          absl::StrCat(FrameTypeName(static_cast<FrameType>(scan.type)), " frame: ", kDataMustBeBin));
    }
    return absl::InvalidArgumentError(scan.error);
  }
  if (!ok) return absl::InvalidArgumentError("malformed frame");
  if (offset != size) return absl::InvalidArgumentError("trailing bytes after the frame");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Frame> DecodeFrame(const void* data, size_t size) {
  // First a scan that allocates nothing and stops at the first object beyond
  // the limits: only then are objects made, at most kMaxFrameObjects of them.
  // Every object takes at least a byte, so a frame smaller than that bound
  // cannot hold too many and skips the scan (most frames: a second parse of
  // each cost the worker relay ~10% of its throughput).
  if (size > kMaxFrameObjects) {
    if (absl::Status s = ScanFrame(data, size); !s.ok()) return s;
  }
  // One zone per thread, cleared after each frame: a typical frame's objects
  // fit in the zone's first chunk, which is kept, so decoding allocates little
  // beyond the Frame's own fields.
  thread_local msgpack::zone zone;
  struct ClearZone {
    ~ClearZone() { zone.clear(); }
  } clear_zone;
  try {
    size_t offset = 0;
    msgpack::object root =
        msgpack::unpack(zone, static_cast<const char*>(data), size, offset, ReferenceInput, nullptr, Limits());
    if (offset != size) return absl::InvalidArgumentError("trailing bytes after the frame");
    return DecodeObject(root);
  } catch (const msgpack::insufficient_bytes&) {
    return absl::InvalidArgumentError("truncated frame");
  } catch (const msgpack::size_overflow& e) {
    return absl::InvalidArgumentError(absl::StrCat("frame exceeds a size limit (", e.what(), ")"));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("malformed frame (", e.what(), ")"));
  }
}

uint64_t PeekFrameId(const void* data, size_t size) {
  FrameScanner scan;
  scan.peek_only = true;
  size_t offset = 0;
  try {
    (void)msgpack::v2::parse(static_cast<const char*>(data), size, offset, scan);
  } catch (const std::exception&) {
  }
  return scan.root_index > 2 ? scan.id : 0;
}

StreamChunk PeekStreamChunk(const void* data, size_t size) {
  // Frames berth encodes start [array, version, type] in one byte each
  // (PackHeader): only those that can carry stream bytes are walked.
  const auto* b = static_cast<const uint8_t*>(data);
  if (size < 4 || (b[0] & 0xf0) != 0x90 || b[1] >= 0x80) return {};
  const auto type = static_cast<FrameType>(b[2]);
  if (type != FrameType::kStdin && type != FrameType::kStdout && type != FrameType::kStderr && type != FrameType::kEnd) {
    return {};
  }
  FrameScanner scan;
  size_t offset = 0;
  try {
    if (!msgpack::v2::parse(static_cast<const char*>(data), size, offset, scan)) return {};
  } catch (const std::exception&) {
    return {};
  }
  if (type != FrameType::kEnd) return scan.bin_index == 3 ? StreamChunk{type, scan.bin_bytes} : StreamChunk{};
  if (scan.bin_index != 6) return {};
  return StreamChunk{static_cast<FrameType>(scan.tail_stream), scan.bin_bytes};
}

}  // namespace berth::remote
