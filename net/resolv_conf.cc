// resolv.conf parsing.

#include "net/resolv_conf.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace berth::net {

std::vector<std::string> ParseNameservers(absl::string_view content) {
  std::vector<std::string> out;
  for (absl::string_view line : absl::StrSplit(content, '\n')) {
    if (size_t c = line.find_first_of("#;"); c != absl::string_view::npos) {
      line = line.substr(0, c);
    }
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (fields.size() >= 2 && fields[0] == "nameserver") {
      out.emplace_back(fields[1]);
    }
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> ReadNameservers(
    const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    int err = errno;
    std::string msg = absl::StrCat("cannot read ", path, ": ", strerror(err));
    if (err == ENOENT) return absl::NotFoundError(msg);
    return absl::UnavailableError(msg);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseNameservers(ss.str());
}

bool OnlyLocalNameservers(const std::vector<std::string>& nameservers) {
  for (const std::string& ns : nameservers) {
    if (ns == "::1") continue;
    absl::StatusOr<Ipv4Address> ip = Ipv4Address::Parse(ns);
    if (ip.ok() && ip->IsLoopback()) continue;
    return false;
  }
  return true;
}

std::vector<Ipv4Network> NameserverNetworks(
    const std::vector<std::string>& nameservers) {
  std::vector<Ipv4Network> out;
  for (const std::string& ns : nameservers) {
    absl::StatusOr<Ipv4Address> ip = Ipv4Address::Parse(ns);
    if (ip.ok()) out.push_back(Ipv4Network::Host(*ip));
  }
  return out;
}

}  // namespace berth::net
