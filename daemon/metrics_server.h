// MetricsServer: `GET /metrics` over HTTP (berthd --metrics-addr HOST:PORT),
// the Prometheus text page, served by cpp-httplib on two threads of its own.
//
// Loopback only: /metrics has no authentication or encryption of its own (the
// CURVE keys that protect berthd's tcp endpoints do not apply to HTTP), so
// HOST must be a loopback address (127.0.0.0/8, ::1 or localhost), and what
// protects the page is that only processes on this host (in berthd's network
// namespace) can connect. To publish it further, put a proxy that
// authenticates in front. Errors:
//   `--metrics-addr <a>: want HOST:PORT (e.g. 127.0.0.1:9323)`
//   `--metrics-addr <a>: <host> is not a loopback address; /metrics has no
//    authentication, so berthd serves it on loopback only`
//   `--metrics-addr <a>: cannot listen: <reason>`
// Any other path is 404; any other method 405. Port 0 picks a free port.
#ifndef BERTH_DAEMON_METRICS_SERVER_H_
#define BERTH_DAEMON_METRICS_SERVER_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

namespace httplib {
class Server;
}

namespace berth {

class MetricsServer {
 public:
  // Listens on `addr` and serves `page()` at /metrics.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(const std::string& addr,
                                                              std::function<std::string()> page);
  ~MetricsServer();  // Stop()
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  void Stop();
  // http://HOST:PORT/metrics, the port as bound.
  const std::string& url() const { return url_; }

 private:
  MetricsServer() = default;
  std::unique_ptr<httplib::Server> http_;
  std::thread thread_;
  std::string url_;
};

}  // namespace berth

#endif  // BERTH_DAEMON_METRICS_SERVER_H_
