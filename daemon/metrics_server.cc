#include "daemon/metrics_server.h"

#include <httplib.h>

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "handlers/observe/prom_writer.h"

namespace berth {
namespace {

bool IsLoopback(const std::string& host) {
  return host == "localhost" || host == "::1" || absl::StartsWith(host, "127.");
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(const std::string& addr,
                                                                    std::function<std::string()> page) {
  const size_t colon = addr.rfind(':');
  int port = -1;
  if (colon == std::string::npos || colon == 0 || !absl::SimpleAtoi(addr.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("--metrics-addr ", addr, ": want HOST:PORT (e.g. 127.0.0.1:9323)"));
  }
  std::string host = addr.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (!IsLoopback(host)) {
    return absl::InvalidArgumentError(absl::StrCat("--metrics-addr ", addr, ": ", host,
                                                   " is not a loopback address; /metrics has no authentication, so "
                                                   "berthd serves it on loopback only"));
  }
  std::unique_ptr<MetricsServer> m(new MetricsServer());
  m->http_ = std::make_unique<httplib::Server>();
  m->http_->new_task_queue = [] { return new httplib::ThreadPool(2); };
  m->http_->set_read_timeout(5, 0);
  m->http_->set_write_timeout(5, 0);
  m->http_->Get("/metrics", [page = std::move(page)](const httplib::Request&, httplib::Response& res) {
    res.set_content(page(), kPromContentType);
  });
  if (port == 0) {
    port = m->http_->bind_to_any_port(host);
    if (port < 0) port = -1;
  } else if (!m->http_->bind_to_port(host, port)) {
    port = -1;
  }
  if (port < 0) {
    return absl::UnavailableError(absl::StrCat("--metrics-addr ", addr, ": cannot listen: ", std::strerror(errno)));
  }
  m->url_ = absl::StrCat("http://", host.find(':') != std::string::npos ? absl::StrCat("[", host, "]") : host, ":",
                         port, "/metrics");
  httplib::Server* http = m->http_.get();
  m->thread_ = std::thread([http] { http->listen_after_bind(); });
  return m;
}

MetricsServer::~MetricsServer() { Stop(); }

void MetricsServer::Stop() {
  if (http_ != nullptr) http_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace berth
