// One line of Docker's json-file log, encoded with nothing but libc, so that
// the per-container shim (tools/berth-shim), which must stay a few hundred
// KiB of memory, and berthd (json_log.h) write the same bytes:
//   {"log":"hello\n","stream":"stdout","time":"2015-03-01T12:00:00.123456789Z"}
// The time is RFC 3339 UTC with nanoseconds, trailing zeros dropped (Go's
// RFC3339Nano). In "log", '"', '\\' and control characters are escaped
// (\b \f \n \r \t, else \u00XX); bytes that are not UTF-8 become U+FFFD, one
// per byte, as Go's encoder does; everything else is copied as it is.
#ifndef BERTH_EXECDRIVER_JSON_LINE_H_
#define BERTH_EXECDRIVER_JSON_LINE_H_

#include <cstddef>
#include <cstdint>

namespace berth::execdriver {

// The most bytes EncodeJsonLogLine writes for `size` bytes of log: each input
// byte becomes at most 6 output bytes, plus the fixed part.
constexpr size_t JsonLogLineBound(size_t size) { return size * 6 + 128; }

// Writes the line (with its '\n') into `out`, which must hold
// JsonLogLineBound(size) bytes; returns its length. `stream` is "stdout" or
// "stderr"; `unix_nanos` the time since the Unix epoch.
size_t EncodeJsonLogLine(const char* log, size_t size, const char* stream, int64_t unix_nanos, char* out);

}  // namespace berth::execdriver

#endif  // BERTH_EXECDRIVER_JSON_LINE_H_
