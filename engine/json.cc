#include "engine/json.h"

#include <cstdint>

#include "absl/strings/str_cat.h"

namespace berth::json {
namespace {

absl::Status Truncated() {
  return absl::OutOfRangeError("unexpected end of JSON input");
}

absl::Status Syntax(absl::string_view in, size_t pos, absl::string_view what) {
  if (pos >= in.size()) return Truncated();
  char c = in[pos];
  std::string shown = (c >= 0x20 && c < 0x7f) ? absl::StrCat("'", absl::string_view(&c, 1), "'")
                                               : absl::StrCat("byte ", static_cast<int>(static_cast<unsigned char>(c)));
  return absl::InvalidArgumentError(
      absl::StrCat("invalid JSON at offset ", pos, ": ", what, ", found ", shown));
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

absl::Status ReadHex4(absl::string_view in, size_t* pos, uint32_t* out) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) {
    if (*pos >= in.size()) return Truncated();
    int h = HexValue(in[*pos]);
    if (h < 0) return Syntax(in, *pos, "expected a hex digit in \\u escape");
    v = v * 16 + static_cast<uint32_t>(h);
    ++*pos;
  }
  *out = v;
  return absl::OkStatus();
}

void AppendUtf8(std::string* out, uint32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Scans a string; decodes it into *out when out is non-null.
absl::Status ScanString(absl::string_view in, size_t* pos, std::string* out) {
  if (*pos >= in.size()) return Truncated();
  if (in[*pos] != '"') return Syntax(in, *pos, "expected '\"'");
  ++*pos;
  while (true) {
    // Copy the run of plain bytes in one go.
    size_t start = *pos;
    while (*pos < in.size()) {
      unsigned char c = static_cast<unsigned char>(in[*pos]);
      if (c == '"' || c == '\\' || c < 0x20) break;
      ++*pos;
    }
    if (out != nullptr) out->append(in.data() + start, *pos - start);
    if (*pos >= in.size()) return Truncated();
    char c = in[*pos];
    if (c == '"') {
      ++*pos;
      return absl::OkStatus();
    }
    if (c != '\\') return Syntax(in, *pos, "control character in string");
    ++*pos;
    if (*pos >= in.size()) return Truncated();
    char e = in[*pos];
    ++*pos;
    char decoded = 0;
    switch (e) {
      case '"': decoded = '"'; break;
      case '\\': decoded = '\\'; break;
      case '/': decoded = '/'; break;
      case 'b': decoded = '\b'; break;
      case 'f': decoded = '\f'; break;
      case 'n': decoded = '\n'; break;
      case 'r': decoded = '\r'; break;
      case 't': decoded = '\t'; break;
      case 'u': {
        uint32_t cp = 0;
        if (absl::Status s = ReadHex4(in, pos, &cp); !s.ok()) return s;
        if (cp >= 0xD800 && cp <= 0xDBFF) {
          // A high surrogate must be followed by \u and a low surrogate.
          if (*pos + 1 >= in.size()) return Truncated();
          if (in[*pos] != '\\' || in[*pos + 1] != 'u') {
            return Syntax(in, *pos, "expected a low surrogate after a high surrogate");
          }
          *pos += 2;
          uint32_t lo = 0;
          if (absl::Status s = ReadHex4(in, pos, &lo); !s.ok()) return s;
          if (lo < 0xDC00 || lo > 0xDFFF) {
            return Syntax(in, *pos - 1, "expected a low surrogate after a high surrogate");
          }
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
          return Syntax(in, *pos - 1, "unpaired low surrogate");
        }
        if (out != nullptr) AppendUtf8(out, cp);
        continue;
      }
      default:
        return Syntax(in, *pos - 1, "invalid escape");
    }
    if (out != nullptr) out->push_back(decoded);
  }
}

absl::Status ScanNumber(absl::string_view in, size_t* pos) {
  if (*pos < in.size() && in[*pos] == '-') ++*pos;
  if (*pos >= in.size()) return Truncated();
  if (in[*pos] == '0') {
    ++*pos;
  } else if (IsDigit(in[*pos])) {
    while (*pos < in.size() && IsDigit(in[*pos])) ++*pos;
  } else {
    return Syntax(in, *pos, "expected a digit");
  }
  if (*pos < in.size() && in[*pos] == '.') {
    ++*pos;
    if (*pos >= in.size()) return Truncated();
    if (!IsDigit(in[*pos])) return Syntax(in, *pos, "expected a digit after '.'");
    while (*pos < in.size() && IsDigit(in[*pos])) ++*pos;
  }
  if (*pos < in.size() && (in[*pos] == 'e' || in[*pos] == 'E')) {
    ++*pos;
    if (*pos < in.size() && (in[*pos] == '+' || in[*pos] == '-')) ++*pos;
    if (*pos >= in.size()) return Truncated();
    if (!IsDigit(in[*pos])) return Syntax(in, *pos, "expected a digit in exponent");
    while (*pos < in.size() && IsDigit(in[*pos])) ++*pos;
  }
  return absl::OkStatus();
}

absl::Status ScanLiteral(absl::string_view in, size_t* pos, absl::string_view word) {
  for (char w : word) {
    if (*pos >= in.size()) return Truncated();
    if (in[*pos] != w) return Syntax(in, *pos, absl::StrCat("invalid literal, expected '", word, "'"));
    ++*pos;
  }
  return absl::OkStatus();
}

absl::Status ScanValue(absl::string_view in, size_t* pos, int depth) {
  SkipSpace(in, pos);
  if (*pos >= in.size()) return Truncated();
  char c = in[*pos];
  switch (c) {
    case '"':
      return ScanString(in, pos, nullptr);
    case 't':
      return ScanLiteral(in, pos, "true");
    case 'f':
      return ScanLiteral(in, pos, "false");
    case 'n':
      return ScanLiteral(in, pos, "null");
    case '{':
    case '[': {
      if (depth >= kMaxDepth) {
        return absl::InvalidArgumentError(
            absl::StrCat("invalid JSON at offset ", *pos, ": nesting deeper than ", kMaxDepth));
      }
      const bool object = c == '{';
      const char close = object ? '}' : ']';
      ++*pos;
      SkipSpace(in, pos);
      if (*pos >= in.size()) return Truncated();
      if (in[*pos] == close) {
        ++*pos;
        return absl::OkStatus();
      }
      while (true) {
        if (object) {
          SkipSpace(in, pos);
          if (absl::Status s = ScanString(in, pos, nullptr); !s.ok()) return s;
          SkipSpace(in, pos);
          if (*pos >= in.size()) return Truncated();
          if (in[*pos] != ':') return Syntax(in, *pos, "expected ':'");
          ++*pos;
        }
        if (absl::Status s = ScanValue(in, pos, depth + 1); !s.ok()) return s;
        SkipSpace(in, pos);
        if (*pos >= in.size()) return Truncated();
        if (in[*pos] == close) {
          ++*pos;
          return absl::OkStatus();
        }
        if (in[*pos] != ',') return Syntax(in, *pos, object ? "expected ',' or '}'" : "expected ',' or ']'");
        ++*pos;
      }
    }
    default:
      if (c == '-' || IsDigit(c)) return ScanNumber(in, pos);
      return Syntax(in, *pos, "expected a JSON value");
  }
}

absl::Status ExpectEnd(absl::string_view in, size_t pos) {
  SkipSpace(in, &pos);
  if (pos != in.size()) return Syntax(in, pos, "expected end of input");
  return absl::OkStatus();
}

}  // namespace

void SkipSpace(absl::string_view in, size_t* pos) {
  while (*pos < in.size()) {
    char c = in[*pos];
    if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
    ++*pos;
  }
}

absl::Status SkipValue(absl::string_view in, size_t* pos) { return ScanValue(in, pos, 0); }

absl::Status ParseString(absl::string_view in, size_t* pos, std::string* out) {
  return ScanString(in, pos, out);
}

void AppendQuoted(std::string* out, absl::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t run = 0;  // start of the pending run of bytes that need no escaping
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        out->append("\\u00");
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 0xF]);
    }
  }
  out->append(s.data() + run, s.size() - run);
  out->push_back('"');
}

absl::Status ForEachMember(absl::string_view text,
                           absl::FunctionRef<absl::Status(const Member&)> fn) {
  size_t pos = 0;
  SkipSpace(text, &pos);
  if (pos >= text.size()) return Truncated();
  if (text[pos] != '{') return Syntax(text, pos, "expected a JSON object");
  ++pos;
  SkipSpace(text, &pos);
  if (pos < text.size() && text[pos] == '}') return ExpectEnd(text, pos + 1);
  std::string key;
  std::string str;
  while (true) {
    SkipSpace(text, &pos);
    key.clear();
    if (absl::Status s = ScanString(text, &pos, &key); !s.ok()) return s;
    SkipSpace(text, &pos);
    if (pos >= text.size()) return Truncated();
    if (text[pos] != ':') return Syntax(text, pos, "expected ':'");
    ++pos;
    SkipSpace(text, &pos);
    Member m;
    m.key = key;
    size_t start = pos;
    if (pos < text.size() && text[pos] == '"') {
      str.clear();
      if (absl::Status s = ScanString(text, &pos, &str); !s.ok()) return s;
      m.is_string = true;
      m.string_value = str;
    } else {
      if (absl::Status s = ScanValue(text, &pos, 1); !s.ok()) return s;
      m.is_null = text.compare(start, pos - start, "null") == 0;
    }
    m.raw = text.substr(start, pos - start);
    if (absl::Status s = fn(m); !s.ok()) return s;
    SkipSpace(text, &pos);
    if (pos >= text.size()) return Truncated();
    if (text[pos] == '}') return ExpectEnd(text, pos + 1);
    if (text[pos] != ',') return Syntax(text, pos, "expected ',' or '}'");
    ++pos;
  }
}

absl::Status ForEachElement(absl::string_view text,
                            absl::FunctionRef<absl::Status(absl::string_view)> fn) {
  size_t pos = 0;
  SkipSpace(text, &pos);
  if (pos >= text.size()) return Truncated();
  if (text[pos] != '[') return Syntax(text, pos, "expected a JSON array");
  ++pos;
  SkipSpace(text, &pos);
  if (pos < text.size() && text[pos] == ']') return ExpectEnd(text, pos + 1);
  while (true) {
    SkipSpace(text, &pos);
    size_t start = pos;
    if (absl::Status s = ScanValue(text, &pos, 1); !s.ok()) return s;
    if (absl::Status s = fn(text.substr(start, pos - start)); !s.ok()) return s;
    SkipSpace(text, &pos);
    if (pos >= text.size()) return Truncated();
    if (text[pos] == ']') return ExpectEnd(text, pos + 1);
    if (text[pos] != ',') return Syntax(text, pos, "expected ',' or ']'");
    ++pos;
  }
}

}  // namespace berth::json
