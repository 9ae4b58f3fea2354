// Parsing the `create` job's env; see create_request.h.
#include "handlers/containers/create_request.h"

#include <signal.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "execdriver/binds.h"
#include "nlohmann/json.hpp"

namespace berth {
namespace {

using nlohmann::json;

absl::Status Bad(absl::string_view key, absl::string_view what, absl::string_view value) {
  return absl::InvalidArgumentError(absl::StrCat(key, ": ", what, " '", value, "'"));
}

// "80/tcp" with a port 1-65535 and tcp or udp.
absl::Status CheckPort(absl::string_view key, const std::string& port) {
  std::pair<std::string, std::string> p = absl::StrSplit(port, absl::MaxSplits('/', 1));
  int n = 0;
  if (!absl::SimpleAtoi(p.first, &n) || n < 1 || n > 65535 || (p.second != "tcp" && p.second != "udp")) {
    return Bad(key, "invalid port (want PORT/tcp or PORT/udp)", port);
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> ParseSize(absl::string_view key, std::string text) {
  if (text.empty()) return 0;
  int64_t unit = 1;
  char last = absl::ascii_tolower(text.back());
  if (last == 'b' || last == 'k' || last == 'm' || last == 'g') {
    unit = last == 'k' ? 1024 : last == 'm' ? 1 << 20 : last == 'g' ? 1 << 30 : 1;
    text.pop_back();
  }
  int64_t n = 0;
  if (!absl::SimpleAtoi(text, &n) || n < 0 || n > (INT64_MAX / unit)) return Bad(key, "invalid size", text);
  return n * unit;
}

absl::StatusOr<int64_t> NonNegative(const Env& env, absl::string_view key) {
  absl::StatusOr<int64_t> v = env.GetInt64Checked(key, 0);
  if (!v.ok()) return v.status();
  if (*v < 0) return Bad(key, "must not be negative", env.Get(key));
  return *v;
}

absl::StatusOr<json> JsonOf(const Env& env, absl::string_view key) {
  std::string text = env.Get(key);
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Bad(key, "not valid JSON", text);
  return j;
}

// A JSON array of strings; a plain word is a one-element list (Env::GetList),
// but text that starts like an array must be one.
absl::StatusOr<std::vector<std::string>> StringList(const Env& env, absl::string_view key) {
  std::string text = env.Get(key);
  size_t first = text.find_first_not_of(" \t\n");
  if (first != std::string::npos && text[first] == '[') {
    json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
    bool strings = j.is_array() && std::all_of(j.begin(), j.end(), [](const json& e) { return e.is_string(); });
    if (!strings) return Bad(key, "want a JSON array of strings, got", text);
  }
  return env.GetList(key);
}

absl::Status ParsePortBindings(const Env& env, PortMap* out) {
  if (env.Get("PortBindings").empty()) return absl::OkStatus();
  absl::StatusOr<json> j = JsonOf(env, "PortBindings");
  if (!j.ok()) return j.status();
  if (!j->is_object()) return Bad("PortBindings", "want a JSON object", env.Get("PortBindings"));
  for (auto& [port, list] : j->items()) {
    if (absl::Status s = CheckPort("PortBindings", port); !s.ok()) return s;
    std::vector<PortBinding>& bindings = (*out)[port];
    if (list.is_null()) continue;
    if (!list.is_array()) return Bad("PortBindings", "want a list of bindings for", port);
    for (const json& b : list) {
      PortBinding pb;
      if (!b.is_object()) return Bad("PortBindings", "want {\"HostIp\",\"HostPort\"} in", port);
      if (auto ip = b.find("HostIp"); ip != b.end() && ip->is_string()) pb.host_ip = ip->get<std::string>();
      if (auto hp = b.find("HostPort"); hp != b.end()) {
        pb.host_port = hp->is_string() ? hp->get<std::string>() : hp->dump();
      }
      int n = 0;
      if (!pb.host_port.empty() && (!absl::SimpleAtoi(pb.host_port, &n) || n < 0 || n > 65535)) {
        return Bad("PortBindings", "invalid HostPort", pb.host_port);
      }
      bindings.push_back(pb);
    }
  }
  return absl::OkStatus();
}

absl::Status ParseExposedPorts(const Env& env, std::vector<std::string>* out) {
  std::string text = env.Get("ExposedPorts");
  if (text.empty()) return absl::OkStatus();
  absl::StatusOr<json> j = JsonOf(env, "ExposedPorts");
  if (!j.ok()) return j.status();
  if (j->is_object()) {
    for (auto& [port, ignored] : j->items()) out->push_back(port);
  } else if (j->is_array()) {
    for (const json& p : *j) {
      if (!p.is_string()) return Bad("ExposedPorts", "want port strings in", text);
      out->push_back(p.get<std::string>());
    }
  } else {
    return Bad("ExposedPorts", "want a JSON object or array", text);
  }
  for (const std::string& p : *out) {
    if (absl::Status s = CheckPort("ExposedPorts", p); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status ParseRestartPolicy(const Env& env, RestartPolicy* out) {
  std::string text = env.Get("RestartPolicy");
  if (text.empty()) return absl::OkStatus();
  if (text[0] == '{') {
    absl::StatusOr<json> j = JsonOf(env, "RestartPolicy");
    if (!j.ok()) return j.status();
    out->name = j->value("Name", "");
    out->maximum_retry_count = j->value("MaximumRetryCount", 0);
  } else {
    std::pair<std::string, std::string> p = absl::StrSplit(text, absl::MaxSplits(':', 1));
    out->name = p.first;
    if (!p.second.empty() && !absl::SimpleAtoi(p.second, &out->maximum_retry_count)) {
      return Bad("RestartPolicy", "invalid maximum retry count", p.second);
    }
  }
  if (out->name != "" && out->name != "no" && out->name != "always" && out->name != "on-failure") {
    return Bad("RestartPolicy", "unknown policy (want no, always or on-failure[:max])", out->name);
  }
  if (out->maximum_retry_count < 0) return Bad("RestartPolicy", "negative retry count", text);
  return absl::OkStatus();
}

// Docker's spellings of the options berth implements: without the seccomp
// filter, and no_new_privs (which berth always sets).
absl::Status ParseSecurityOpt(const Env& env, std::vector<std::string>* out) {
  absl::StatusOr<std::vector<std::string>> opts = StringList(env, "SecurityOpt");
  if (!opts.ok()) return opts.status();
  for (const std::string& o : *opts) {
    if (o != "seccomp=unconfined" && o != "seccomp:unconfined" && o != "no-new-privileges" &&
        o != "no-new-privileges=true" && o != "no-new-privileges:true") {
      return Bad("SecurityOpt", "unsupported option (berth knows seccomp=unconfined and no-new-privileges)", o);
    }
  }
  *out = *std::move(opts);
  return absl::OkStatus();
}

// Checked against the host now, and again at each start (a host path may go).
absl::Status ParseBinds(const Env& env, std::vector<std::string>* out) {
  absl::StatusOr<std::vector<std::string>> binds = StringList(env, "Binds");
  if (!binds.ok()) return binds.status();
  for (const std::string& b : *binds) {
    if (absl::StatusOr<execdriver::BindMount> m = execdriver::ParseBind(b); !m.ok()) return m.status();
  }
  *out = *std::move(binds);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CreateRequest> ParseCreateRequest(const Env& env) {
  CreateRequest r;
  ContainerConfig& c = r.config;
  c.image = env.Get("Image");
  if (c.image.empty()) return absl::InvalidArgumentError("Image: required (an image name or id)");
  absl::StatusOr<std::vector<std::string>> cmd = StringList(env, "Cmd");
  if (!cmd.ok()) return cmd.status();
  c.cmd = *cmd;
  absl::StatusOr<std::vector<std::string>> vars = StringList(env, "Env");
  if (!vars.ok()) return vars.status();
  c.env = *vars;
  for (const std::string& kv : c.env) {
    if (kv.find('=') == std::string::npos || kv[0] == '=') return Bad("Env", "want KEY=VALUE, got", kv);
  }
  r.name = env.Get("Name");
  c.hostname = env.Get("Hostname");
  if (c.hostname.size() > 63) return Bad("Hostname", "longer than 63 characters", c.hostname);
  c.working_dir = env.Get("WorkingDir");
  if (!c.working_dir.empty() && c.working_dir[0] != '/') return Bad("WorkingDir", "must be absolute", c.working_dir);
  c.user = env.Get("User");
  absl::StatusOr<int64_t> memory = ParseSize("Memory", env.Get("Memory"));
  if (!memory.ok()) return memory.status();
  if (*memory != 0 && *memory < (4 << 20)) {
    return Bad("Memory", "below the minimum of 4m", env.Get("Memory"));
  }
  c.memory = *memory;
  absl::StatusOr<int64_t> shares = NonNegative(env, "CpuShares");
  if (!shares.ok()) return shares.status();
  c.cpu_shares = *shares;
  absl::StatusOr<int64_t> pids = NonNegative(env, "PidsLimit");
  if (!pids.ok()) return pids.status();
  c.pids_limit = *pids;
  c.open_stdin = env.GetBool("OpenStdin");
  c.network_disabled = env.GetBool("NetworkDisabled");
  if (absl::Status s = ParseExposedPorts(env, &c.exposed_ports); !s.ok()) return s;
  if (absl::Status s = ParsePortBindings(env, &r.host_config.port_bindings); !s.ok()) return s;
  for (const auto& [port, bindings] : r.host_config.port_bindings) {
    if (std::find(c.exposed_ports.begin(), c.exposed_ports.end(), port) == c.exposed_ports.end()) {
      c.exposed_ports.push_back(port);
    }
  }
  std::sort(c.exposed_ports.begin(), c.exposed_ports.end());
  absl::StatusOr<std::vector<std::string>> links = StringList(env, "Links");
  if (!links.ok()) return links.status();
  r.host_config.links = *links;
  if (absl::Status s = ParseRestartPolicy(env, &r.host_config.restart_policy); !s.ok()) return s;
  if (absl::Status s = ParseSecurityOpt(env, &r.host_config.security_opt); !s.ok()) return s;
  if (absl::Status s = ParseBinds(env, &r.host_config.binds); !s.ok()) return s;
  return r;
}

absl::StatusOr<int> ParseSignal(absl::string_view text) {
  if (text.empty()) return SIGKILL;
  int n = 0;
  if (absl::SimpleAtoi(text, &n)) {
    if (n < 1 || n > 64) return Bad("signal", "invalid signal", text);
    return n;
  }
  std::string name = absl::AsciiStrToUpper(text);
  if (absl::StartsWith(name, "SIG")) name = name.substr(3);
  for (int s = 1; s < 32; ++s) {
    const char* abbrev = sigabbrev_np(s);
    if (abbrev != nullptr && name == abbrev) return s;
  }
  return Bad("signal", "invalid signal", text);
}

}  // namespace berth
