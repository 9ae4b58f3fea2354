#include "daemon/container.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace berth {
namespace {

using nlohmann::json;

bool IsHex64(absl::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Reads an optional member of the expected JSON type.
template <typename T>
absl::Status Field(const json& obj, const char* key, T* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return absl::OkStatus();
  try {
    *out = it->get<T>();
  } catch (const json::exception&) {
    return absl::InvalidArgumentError(absl::StrCat("config.json: ", key, " has the wrong type"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<ContainerRecord> DecodeContainer(absl::string_view text) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return absl::InvalidArgumentError("config.json: not a JSON object");
  ContainerRecord c;
  absl::Status s;
  auto get = [&](const json& obj, const char* key, auto* out) {
    if (s.ok()) s = Field(obj, key, out);
  };
  get(j, "ID", &c.id);
  get(j, "Name", &c.name);
  get(j, "Image", &c.image);
  get(j, "Driver", &c.driver);
  get(j, "Created", &c.created);
  get(j, "Path", &c.path);
  get(j, "Args", &c.args);
  if (auto st = j.find("State"); s.ok() && st != j.end() && st->is_object()) {
    get(*st, "Running", &c.state.running);
    get(*st, "Pid", &c.state.pid);
    get(*st, "ExitCode", &c.state.exit_code);
    get(*st, "StartedAt", &c.state.started_at);
    get(*st, "FinishedAt", &c.state.finished_at);
  }
  if (auto ns = j.find("NetworkSettings"); s.ok() && ns != j.end() && ns->is_object()) {
    get(*ns, "IPAddress", &c.network.ip_address);
    get(*ns, "IPPrefixLen", &c.network.ip_prefix_len);
    get(*ns, "Gateway", &c.network.gateway);
    get(*ns, "Bridge", &c.network.bridge);
    get(*ns, "MacAddress", &c.network.mac_address);
    if (auto ports = ns->find("Ports"); s.ok() && ports != ns->end() && ports->is_object()) {
      for (auto& [port, bindings] : ports->items()) {
        std::vector<PortBinding>& out = c.network.ports[port];
        if (!bindings.is_array()) continue;
        for (const json& b : bindings) {
          PortBinding pb;
          if (b.is_object()) {
            get(b, "HostIp", &pb.host_ip);
            get(b, "HostPort", &pb.host_port);
          }
          out.push_back(pb);
        }
      }
    }
  }
  if (!s.ok()) return s;
  if (!IsHex64(c.id)) return absl::InvalidArgumentError("config.json: ID must be 64 lowercase hex characters");
  return c;
}

std::string EncodeContainer(const ContainerRecord& c) {
  json ports = json::object();
  for (const auto& [port, bindings] : c.network.ports) {
    json list = json::array();
    for (const PortBinding& b : bindings) list.push_back({{"HostIp", b.host_ip}, {"HostPort", b.host_port}});
    ports[port] = list;
  }
  json j = {
      {"ID", c.id},
      {"Name", c.name},
      {"Image", c.image},
      {"Driver", c.driver},
      {"Created", c.created},
      {"Path", c.path},
      {"Args", c.args},
      {"State",
       {{"Running", c.state.running},
        {"Pid", c.state.pid},
        {"ExitCode", c.state.exit_code},
        {"StartedAt", c.state.started_at},
        {"FinishedAt", c.state.finished_at}}},
      {"NetworkSettings",
       {{"IPAddress", c.network.ip_address},
        {"IPPrefixLen", c.network.ip_prefix_len},
        {"Gateway", c.network.gateway},
        {"Bridge", c.network.bridge},
        {"MacAddress", c.network.mac_address},
        {"Ports", ports}}},
  };
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

absl::Status WriteContainer(const std::string& containers_dir, const ContainerRecord& c, bool sync) {
  if (!IsHex64(c.id)) return absl::InvalidArgumentError(absl::StrCat("invalid container id '", c.id, "'"));
  std::string dir = absl::StrCat(containers_dir, "/", c.id);
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", std::strerror(errno)));
  }
  std::string path = dir + "/config.json";
  std::string tmp = dir + "/.config.json.tmp";
  std::string text = EncodeContainer(c);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::InternalError(absl::StrCat("cannot write ", tmp, ": ", std::strerror(errno)));
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  if (ok && sync) ok = ::fsync(fd) == 0;
  int err = errno;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    if (ok) err = errno;
    ::unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat("cannot write ", path, ": ", std::strerror(err)));
  }
  if (sync) {
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  }
  return absl::OkStatus();
}

}  // namespace berth
