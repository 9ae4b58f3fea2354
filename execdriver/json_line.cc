// The json-file log line encoder; see json_line.h. libc only.
#include "execdriver/json_line.h"

#include <cstdio>
#include <cstring>
#include <ctime>

namespace berth::execdriver {
namespace {

// The length of the valid UTF-8 sequence at p (1-4), or 0 if it is not one.
size_t Utf8Length(const unsigned char* p, size_t left) {
  unsigned char c = p[0];
  size_t n;
  uint32_t min;
  uint32_t cp;
  if (c < 0x80) return 1;
  if ((c & 0xe0) == 0xc0) {
    n = 2, min = 0x80, cp = c & 0x1f;
  } else if ((c & 0xf0) == 0xe0) {
    n = 3, min = 0x800, cp = c & 0x0f;
  } else if ((c & 0xf8) == 0xf0) {
    n = 4, min = 0x10000, cp = c & 0x07;
  } else {
    return 0;
  }
  if (left < n) return 0;
  for (size_t i = 1; i < n; ++i) {
    if ((p[i] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (p[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return n;
}

char* Append(char* out, const char* s) {
  size_t n = std::strlen(s);
  std::memcpy(out, s, n);
  return out + n;
}

char* EscapeInto(const unsigned char* p, size_t size, char* out) {
  static const char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < size;) {
    unsigned char c = p[i];
    if (c >= 0x80) {
      size_t n = Utf8Length(p + i, size - i);
      if (n == 0) {
        out = Append(out, "\xef\xbf\xbd");
        ++i;
      } else {
        std::memcpy(out, p + i, n);
        out += n;
        i += n;
      }
      continue;
    }
    ++i;
    switch (c) {
      case '"': out = Append(out, "\\\""); continue;
      case '\\': out = Append(out, "\\\\"); continue;
      case '\b': out = Append(out, "\\b"); continue;
      case '\f': out = Append(out, "\\f"); continue;
      case '\n': out = Append(out, "\\n"); continue;
      case '\r': out = Append(out, "\\r"); continue;
      case '\t': out = Append(out, "\\t"); continue;
      default: break;
    }
    if (c < 0x20) {
      out = Append(out, "\\u00");
      *out++ = kHex[c >> 4];
      *out++ = kHex[c & 0xf];
    } else {
      *out++ = static_cast<char>(c);
    }
  }
  return out;
}

// RFC3339Nano: seconds, then the nanoseconds without trailing zeros.
char* TimeInto(int64_t unix_nanos, char* out) {
  int64_t secs = unix_nanos / 1000000000;
  int64_t nanos = unix_nanos % 1000000000;
  if (nanos < 0) nanos += 1000000000, --secs;
  time_t t = static_cast<time_t>(secs);
  struct tm tm;
  gmtime_r(&t, &tm);
  out += std::strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
  if (nanos != 0) {
    char frac[16];
    std::snprintf(frac, sizeof(frac), ".%09lld", static_cast<long long>(nanos));
    size_t n = std::strlen(frac);
    while (frac[n - 1] == '0') --n;
    std::memcpy(out, frac, n);
    out += n;
  }
  *out++ = 'Z';
  return out;
}

}  // namespace

size_t EncodeJsonLogLine(const char* log, size_t size, const char* stream, int64_t unix_nanos, char* out) {
  char* p = Append(out, "{\"log\":\"");
  p = EscapeInto(reinterpret_cast<const unsigned char*>(log), size, p);
  p = Append(p, "\",\"stream\":\"");
  p = Append(p, stream);
  p = Append(p, "\",\"time\":\"");
  p = TimeInto(unix_nanos, p);
  p = Append(p, "\"}\n");
  return static_cast<size_t>(p - out);
}

}  // namespace berth::execdriver
