// berth --trace; see client_trace.h.
#include "tools/berth/client_trace.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace berth {

absl::Status ClientTrace::Start(const std::string& path) {
  if (path.empty()) return absl::OkStatus();
  path_ = path;
  return recorder_.Start(path);
}

void ClientTrace::Attach(remote::ClientOptions& options) {
  if (path_.empty()) return;
  options.on_end = [this, endpoint = options.endpoint](const remote::CallReport& r) { Ended(r, endpoint); };
}

void ClientTrace::Ended(const remote::CallReport& r, const std::string& endpoint) {
  std::string where = r.worker.empty() ? absl::StrCat("berthd ", endpoint)
                                       : absl::StrCat("worker ", r.worker, " at ", r.worker_endpoint);
  recorder_.AddJob(TraceRecorder::JobSpan{std::string(r.name), absl::StrCat("connection ", r.connection), r.start,
                                          r.duration, std::string(r.trace_id), r.status, std::move(where)});
}

int ClientTrace::Finish(int status) {
  if (path_.empty()) return status;
  absl::StatusOr<std::string> written = recorder_.Stop();
  if (written.ok()) return status;
  std::fprintf(stderr, "berth: --trace %s: %s\n", path_.c_str(),
               std::string(absl::StripPrefix(written.status().message(), "trace: ")).c_str());
  return status == 0 ? 1 : status;
}

}  // namespace berth
