// Container records: <root>/containers/<id>/config.json, the daemon's memory of
// each container across restarts (format: docs/containers.md).
#ifndef BERTH_DAEMON_CONTAINER_H_
#define BERTH_DAEMON_CONTAINER_H_

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

struct ContainerRecord {
  std::string id;  // 64 hex
  std::string name;  // "/web"
  std::string image;
  std::string driver;
  std::string created;  // RFC 3339
  std::string path;
  std::vector<std::string> args;
  struct State {
    bool running = false;
    int pid = 0;
    int exit_code = 0;
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
    // "80/tcp" → host bindings
    std::map<std::string, std::vector<PortBinding>> ports;
    bool operator==(const Network&) const = default;
  } network;
  bool operator==(const ContainerRecord&) const = default;
};

// Errors name the field: `config.json: ID must be 64 hex characters`.
absl::StatusOr<ContainerRecord> DecodeContainer(absl::string_view json);
std::string EncodeContainer(const ContainerRecord& c);

// Writes <containers_dir>/<id>/config.json atomically (temp file, rename); with
// `sync`, fsyncs the file and the directory too.
absl::Status WriteContainer(const std::string& containers_dir, const ContainerRecord& c, bool sync);

}  // namespace berth

#endif  // BERTH_DAEMON_CONTAINER_H_
