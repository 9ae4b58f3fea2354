// Container records: berthd's memory of each container across restarts, in
// Docker 1.x's layout (docs/containers.md shows both files):
//   <root>/containers/<id>/config.json      what the container is and its State
//   <root>/containers/<id>/hostconfig.json  how it is wired to the host
//                                           (port bindings, links, restart policy)
// config.json's presence makes a directory a container: Write writes
// hostconfig.json first, then config.json, each atomically (temp file, rename),
// so a crash leaves the old or the new version of each, never a torn file.
#ifndef BERTH_HANDLERS_CONTAINERS_RECORD_H_
#define BERTH_HANDLERS_CONTAINERS_RECORD_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace berth {

struct PortBinding {
  std::string host_ip;
  std::string host_port;
  bool operator==(const PortBinding&) const = default;
};

// "80/tcp" → the host bindings for it.
using PortMap = std::map<std::string, std::vector<PortBinding>>;

struct RestartPolicy {
  std::string name;  // "", "no", "always", "on-failure"
  int maximum_retry_count = 0;
  bool operator==(const RestartPolicy&) const = default;
};

// What `create` was asked for (Docker's Config).
struct ContainerConfig {
  std::string hostname;
  std::string user;
  int64_t memory = 0;
  int64_t cpu_shares = 0;
  int64_t pids_limit = 0;
  std::vector<std::string> exposed_ports;  // "80/tcp", sorted
  bool open_stdin = false;
  std::vector<std::string> env;
  std::vector<std::string> cmd;
  std::string image;  // the name as the user gave it
  std::string working_dir;
  bool network_disabled = false;
  bool operator==(const ContainerConfig&) const = default;
};

struct HostConfig {
  PortMap port_bindings;
  std::vector<std::string> links;  // "/web:db"
  RestartPolicy restart_policy;
  // Docker's security options; berth knows "seccomp=unconfined" (also
  // written "seccomp:unconfined"), which runs the container without the
  // default seccomp filter.
  std::vector<std::string> security_opt;
  // Docker 1.x's bind mounts, "/host/path:/container/path[:ro|rw]"
  // (execdriver/binds.h); in hostconfig.json only when there are some.
  std::vector<std::string> binds;
  bool operator==(const HostConfig&) const = default;
};

struct ContainerRecord {
  std::string id;       // 64 hex
  std::string name;     // "/web"
  std::string image;    // the image's 64-hex id
  std::string driver;
  std::string created;  // RFC 3339
  std::string path;
  std::vector<std::string> args;
  ContainerConfig config;
  HostConfig host_config;
  struct State {
    bool running = false;
    // Between an exit and the restart its policy asked for: still running
    // for stop, start and wait (Docker's Restarting state).
    bool restarting = false;
    int pid = 0;
    // While running: what a restarted berthd checks before it adopts the
    // container again (execdriver::ContainerHandle). Absent in records of
    // releases without the shim: such a container is never adopted.
    int64_t pid_start_time = 0;
    int shim_pid = 0;
    int64_t shim_start_time = 0;
    // The container's shim died (was killed) while the container ran: the
    // container was killed with it and its exit code (-1) is unknown.
    bool lost = false;
    int exit_code = 0;
    bool oom_killed = false;
    std::string error;  // why the last start failed
    std::string started_at;
    std::string finished_at;
    bool operator==(const State&) const = default;
  } state;
  struct Network {
    std::string ip_address;
    int ip_prefix_len = 0;
    std::string gateway;
    std::string bridge;
    std::string mac_address;
    PortMap ports;  // the bindings in effect while running
    bool operator==(const Network&) const = default;
  } network;
  std::string resolv_conf_path;
  std::string hostname_path;
  std::string hosts_path;
  std::string log_path;
  int restart_count = 0;
  bool operator==(const ContainerRecord&) const = default;
};

// Errors name the file and field: `config.json: ID must be 64 lowercase hex
// characters`, `hostconfig.json: Links has the wrong type`.
absl::StatusOr<ContainerRecord> DecodeContainer(absl::string_view config_json);
absl::Status DecodeHostConfig(absl::string_view hostconfig_json, HostConfig* out);
std::string EncodeContainer(const ContainerRecord& c);
std::string EncodeHostConfig(const HostConfig& h);

// Writes <containers_dir>/<id>/hostconfig.json and then config.json, each
// atomically; creates the directory (0700). With `sync`, fsyncs the files and
// the directory too (create and delete use it; state changes do not).
absl::Status WriteContainer(const std::string& containers_dir, const ContainerRecord& c, bool sync);

// Writes only config.json (atomically, not synced): for state changes, which
// leave hostconfig.json as it is.
absl::Status WriteContainerConfig(const std::string& containers_dir, const ContainerRecord& c);

// Reads <dir>/config.json and, if present, <dir>/hostconfig.json.
absl::StatusOr<ContainerRecord> ReadContainer(const std::string& dir);

}  // namespace berth

#endif  // BERTH_HANDLERS_CONTAINERS_RECORD_H_
