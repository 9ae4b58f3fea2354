// Container records; see record.h.
#include "handlers/containers/record.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

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

// Reads optional members of the expected JSON types; the first mismatch is
// kept and names the file and the key.
class Reader {
 public:
  explicit Reader(const char* file) : file_(file) {}
  template <typename T>
  void Get(const json& obj, const char* key, T* out) {
    if (!status_.ok() || !obj.is_object()) return;
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return;
    try {
      *out = it->get<T>();
    } catch (const json::exception&) {
      status_ = absl::InvalidArgumentError(absl::StrCat(file_, ": ", key, " has the wrong type"));
    }
  }
  void Ports(const json& obj, const char* key, PortMap* out) {
    if (!status_.ok() || !obj.is_object()) return;
    auto ports = obj.find(key);
    if (ports == obj.end() || !ports->is_object()) return;
    for (auto& [port, bindings] : ports->items()) {
      std::vector<PortBinding>& list = (*out)[port];
      if (!bindings.is_array()) continue;
      for (const json& b : bindings) {
        PortBinding pb;
        Get(b, "HostIp", &pb.host_ip);
        Get(b, "HostPort", &pb.host_port);
        list.push_back(pb);
      }
    }
  }
  const absl::Status& status() const { return status_; }

 private:
  const char* file_;
  absl::Status status_;
};

json PortsJson(const PortMap& ports) {
  json out = json::object();
  for (const auto& [port, bindings] : ports) {
    json list = json::array();
    for (const PortBinding& b : bindings) list.push_back({{"HostIp", b.host_ip}, {"HostPort", b.host_port}});
    out[port] = list;
  }
  return out;
}

json ExposedJson(const std::vector<std::string>& ports) {
  json out = json::object();
  for (const std::string& p : ports) out[p] = json::object();
  return out;
}

void ReadConfig(Reader& r, const json& j, ContainerConfig* c) {
  r.Get(j, "Hostname", &c->hostname);
  r.Get(j, "User", &c->user);
  r.Get(j, "Memory", &c->memory);
  r.Get(j, "CpuShares", &c->cpu_shares);
  r.Get(j, "PidsLimit", &c->pids_limit);
  r.Get(j, "OpenStdin", &c->open_stdin);
  r.Get(j, "Env", &c->env);
  r.Get(j, "Cmd", &c->cmd);
  r.Get(j, "Image", &c->image);
  r.Get(j, "WorkingDir", &c->working_dir);
  r.Get(j, "NetworkDisabled", &c->network_disabled);
  if (auto e = j.find("ExposedPorts"); e != j.end() && e->is_object()) {
    for (auto& [port, ignored] : e->items()) c->exposed_ports.push_back(port);
  }
}

absl::Status WriteOne(const std::string& dir, const char* name, const std::string& text, bool sync) {
  std::string path = absl::StrCat(dir, "/", name);
  std::string tmp = absl::StrCat(dir, "/.", name, ".tmp");
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
  return absl::OkStatus();
}

absl::StatusOr<std::string> Slurp(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path, ": ", std::strerror(errno)));
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

absl::StatusOr<ContainerRecord> DecodeContainer(absl::string_view text) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return absl::InvalidArgumentError("config.json: not a JSON object");
  ContainerRecord c;
  Reader r("config.json");
  r.Get(j, "ID", &c.id);
  r.Get(j, "Name", &c.name);
  r.Get(j, "Image", &c.image);
  r.Get(j, "Driver", &c.driver);
  r.Get(j, "Created", &c.created);
  r.Get(j, "Path", &c.path);
  r.Get(j, "Args", &c.args);
  r.Get(j, "ResolvConfPath", &c.resolv_conf_path);
  r.Get(j, "HostnamePath", &c.hostname_path);
  r.Get(j, "HostsPath", &c.hosts_path);
  r.Get(j, "LogPath", &c.log_path);
  r.Get(j, "RestartCount", &c.restart_count);
  if (auto cfg = j.find("Config"); cfg != j.end() && cfg->is_object()) ReadConfig(r, *cfg, &c.config);
  if (auto st = j.find("State"); st != j.end()) {
    r.Get(*st, "Running", &c.state.running);
    r.Get(*st, "Restarting", &c.state.restarting);
    r.Get(*st, "Pid", &c.state.pid);
    r.Get(*st, "PidStartTime", &c.state.pid_start_time);
    r.Get(*st, "ShimPid", &c.state.shim_pid);
    r.Get(*st, "ShimStartTime", &c.state.shim_start_time);
    r.Get(*st, "Lost", &c.state.lost);
    r.Get(*st, "ExitCode", &c.state.exit_code);
    r.Get(*st, "OOMKilled", &c.state.oom_killed);
    r.Get(*st, "Error", &c.state.error);
    r.Get(*st, "StartedAt", &c.state.started_at);
    r.Get(*st, "FinishedAt", &c.state.finished_at);
  }
  if (auto ns = j.find("NetworkSettings"); ns != j.end()) {
    r.Get(*ns, "IPAddress", &c.network.ip_address);
    r.Get(*ns, "IPPrefixLen", &c.network.ip_prefix_len);
    r.Get(*ns, "Gateway", &c.network.gateway);
    r.Get(*ns, "Bridge", &c.network.bridge);
    r.Get(*ns, "MacAddress", &c.network.mac_address);
    r.Ports(*ns, "Ports", &c.network.ports);
  }
  if (!r.status().ok()) return r.status();
  if (!IsHex64(c.id)) return absl::InvalidArgumentError("config.json: ID must be 64 lowercase hex characters");
  return c;
}

absl::Status DecodeHostConfig(absl::string_view text, HostConfig* h) {
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return absl::InvalidArgumentError("hostconfig.json: not a JSON object");
  Reader r("hostconfig.json");
  r.Ports(j, "PortBindings", &h->port_bindings);
  r.Get(j, "Links", &h->links);
  r.Get(j, "SecurityOpt", &h->security_opt);
  r.Get(j, "Binds", &h->binds);
  if (auto p = j.find("RestartPolicy"); p != j.end()) {
    r.Get(*p, "Name", &h->restart_policy.name);
    r.Get(*p, "MaximumRetryCount", &h->restart_policy.maximum_retry_count);
  }
  return r.status();
}

std::string EncodeContainer(const ContainerRecord& c) {
  const ContainerConfig& k = c.config;
  json config = {
      {"Hostname", k.hostname},   {"User", k.user},
      {"Memory", k.memory},       {"CpuShares", k.cpu_shares},
      {"PidsLimit", k.pids_limit}, {"ExposedPorts", ExposedJson(k.exposed_ports)},
      {"OpenStdin", k.open_stdin}, {"Env", k.env},
      {"Cmd", k.cmd},             {"Image", k.image},
      {"WorkingDir", k.working_dir}, {"NetworkDisabled", k.network_disabled},
  };
  json j = {
      {"ID", c.id},
      {"Name", c.name},
      {"Image", c.image},
      {"Driver", c.driver},
      {"Created", c.created},
      {"Path", c.path},
      {"Args", c.args},
      {"Config", config},
      {"State",
       {{"Running", c.state.running},
        {"Restarting", c.state.restarting},
        {"Pid", c.state.pid},
        {"PidStartTime", c.state.pid_start_time},
        {"ShimPid", c.state.shim_pid},
        {"ShimStartTime", c.state.shim_start_time},
        {"Lost", c.state.lost},
        {"ExitCode", c.state.exit_code},
        {"OOMKilled", c.state.oom_killed},
        {"Error", c.state.error},
        {"StartedAt", c.state.started_at},
        {"FinishedAt", c.state.finished_at}}},
      {"NetworkSettings",
       {{"IPAddress", c.network.ip_address},
        {"IPPrefixLen", c.network.ip_prefix_len},
        {"Gateway", c.network.gateway},
        {"Bridge", c.network.bridge},
        {"MacAddress", c.network.mac_address},
        {"Ports", PortsJson(c.network.ports)}}},
      {"ResolvConfPath", c.resolv_conf_path},
      {"HostnamePath", c.hostname_path},
      {"HostsPath", c.hosts_path},
      {"LogPath", c.log_path},
      {"RestartCount", c.restart_count},
  };
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string EncodeHostConfig(const HostConfig& h) {
  json j = {
      {"PortBindings", PortsJson(h.port_bindings)},
      {"Links", h.links},
      {"SecurityOpt", h.security_opt},
      {"RestartPolicy", {{"Name", h.restart_policy.name}, {"MaximumRetryCount", h.restart_policy.maximum_retry_count}}},
  };
  if (!h.binds.empty()) j["Binds"] = h.binds;
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

absl::Status WriteContainer(const std::string& containers_dir, const ContainerRecord& c, bool sync) {
  if (!IsHex64(c.id)) return absl::InvalidArgumentError(absl::StrCat("invalid container id '", c.id, "'"));
  std::string dir = absl::StrCat(containers_dir, "/", c.id);
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", std::strerror(errno)));
  }
  if (absl::Status s = WriteOne(dir, "hostconfig.json", EncodeHostConfig(c.host_config), sync); !s.ok()) return s;
  if (absl::Status s = WriteOne(dir, "config.json", EncodeContainer(c), sync); !s.ok()) return s;
  if (sync) {
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  }
  return absl::OkStatus();
}

absl::Status WriteContainerConfig(const std::string& containers_dir, const ContainerRecord& c) {
  if (!IsHex64(c.id)) return absl::InvalidArgumentError(absl::StrCat("invalid container id '", c.id, "'"));
  return WriteOne(absl::StrCat(containers_dir, "/", c.id), "config.json", EncodeContainer(c), /*sync=*/false);
}

absl::StatusOr<ContainerRecord> ReadContainer(const std::string& dir) {
  absl::StatusOr<std::string> text = Slurp(dir + "/config.json");
  if (!text.ok()) return text.status();
  absl::StatusOr<ContainerRecord> c = DecodeContainer(*text);
  if (!c.ok()) return c.status();
  if (absl::StatusOr<std::string> host = Slurp(dir + "/hostconfig.json"); host.ok()) {
    if (absl::Status s = DecodeHostConfig(*host, &c->host_config); !s.ok()) return s;
  }
  return c;
}

}  // namespace berth
