// Parsers for interface names, ports, protocols and host addresses.

#include "net/validate.h"

#include <netinet/in.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace berth::net {
namespace {

// Quoting for error messages: control bytes are escaped so a hostile value
// cannot forge log lines.
std::string Quote(absl::string_view text) {
  return absl::StrCat("'", absl::CHexEscape(text), "'");
}

// Decimal digits only, at most 5 of them (so no overflow); -1 otherwise.
int64_t ParseSmallDecimal(absl::string_view text) {
  if (text.empty() || text.size() > 5) return -1;
  int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

// For the documented texts, which show the value as given: only control bytes are
// escaped, quotes and spaces stay visible as they are.
std::string EscapeControl(absl::string_view text) {
  std::string out;
  for (unsigned char c : text) {
    if (c < 0x20 || c == 0x7f) {
      absl::StrAppend(&out, absl::CHexEscape(std::string(1, static_cast<char>(c))));
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

}  // namespace

absl::string_view ProtoName(Proto proto) {
  return proto == Proto::kTcp ? "tcp" : "udp";
}

int ProtoNumber(Proto proto) {
  return proto == Proto::kTcp ? IPPROTO_TCP : IPPROTO_UDP;
}

absl::StatusOr<Proto> ParseProto(absl::string_view text) {
  if (text == "tcp") return Proto::kTcp;
  if (text == "udp") return Proto::kUdp;
  return absl::InvalidArgumentError(
      absl::StrCat("unsupported address type ", EscapeControl(text)));
}

absl::Status ValidateInterfaceName(absl::string_view name) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid interface name ", Quote(name), ": ", why));
  };
  if (name.empty()) return bad("must not be empty");
  if (name.size() > 15) {
    return bad(absl::StrCat("is ", name.size(),
                            " characters long, the limit is 15"));
  }
  if (name == "." || name == "..") return bad("is reserved");
  for (unsigned char c : name) {
    if (c == '/' || c == ':' || c == '"' || c == '\'' || c == '`' ||
        c == '\\' || c <= ' ' || c == 0x7f) {
      return bad(
          "must not contain '/', ':', quotes, backslashes, white space or "
          "control characters");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<uint16_t> CheckPort(int64_t value) {
  if (value < 1 || value > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid port ", value, ": must be between 1 and 65535"));
  }
  return static_cast<uint16_t>(value);
}

absl::StatusOr<uint16_t> ParsePort(absl::string_view text) {
  int64_t v = ParseSmallDecimal(text);
  if (v < 1 || v > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "invalid port ", Quote(text), ": must be a number between 1 and 65535"));
  }
  return static_cast<uint16_t>(v);
}

absl::StatusOr<uint16_t> ParseHostPort(absl::string_view text) {
  int64_t v = ParseSmallDecimal(text);
  if (v < 0 || v > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid host port ", Quote(text),
                     ": must be a number between 0 (dynamic) and 65535"));
  }
  return static_cast<uint16_t>(v);
}

absl::StatusOr<Ipv4Address> ParseHostIp(absl::string_view text,
                                        Ipv4Address default_ip) {
  if (text.empty()) return default_ip;
  absl::StatusOr<Ipv4Address> ip = Ipv4Address::Parse(text);
  if (!ip.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("Bad parameter: invalid host ip ", EscapeControl(text)));
  }
  return *ip;
}

absl::StatusOr<PortProto> ParsePortProto(absl::string_view text) {
  absl::string_view port_text = text;
  absl::string_view proto_text = "tcp";
  if (size_t slash = text.find('/'); slash != absl::string_view::npos) {
    port_text = text.substr(0, slash);
    proto_text = text.substr(slash + 1);
  }
  absl::StatusOr<uint16_t> port = ParsePort(port_text);
  if (!port.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid port spec ", Quote(text), ": ",
                     port.status().message()));
  }
  absl::StatusOr<Proto> proto = ParseProto(proto_text);
  if (!proto.ok()) return proto.status();
  return PortProto{*port, *proto};
}

std::string PortProtoString(const PortProto& p) {
  return absl::StrCat(p.port, "/", ProtoName(p.proto));
}

}  // namespace berth::net
