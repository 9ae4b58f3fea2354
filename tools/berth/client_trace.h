// ClientTrace: `berth --trace FILE`, berth's own side of the requests it sends,
// in the Chrome trace-event format of berthd's and berth-worker's traces
// (handlers/observe/trace_recorder.h; docs/observability.md, "Traces").
//
// One `job` span per job request that ended, from the moment berth sent it to
// its END: `args.trace_id`, `args.status`, and `args.where`, `berthd ENDPOINT`
// (through the server at -H) or `worker NAME at ENDPOINT` (straight to the
// worker, `--direct`). Track: the connection it went through (`connection N`,
// numbered as berth opened them, remote::CallReport::connection); a
// connection runs one job at a time, so a track's spans never overlap. The
// process and otherData.producer are `berth`; otherData.origin_unix_us is when
// berth started, so the three files line up on one time axis.
//
// The file is written once, when berth is done (Finish), whatever the command.
#ifndef BERTH_TOOLS_BERTH_CLIENT_TRACE_H_
#define BERTH_TOOLS_BERTH_CLIENT_TRACE_H_

#include <string>

#include "absl/status/status.h"
#include "engine/remote/client.h"
#include "handlers/observe/trace_recorder.h"

namespace berth {

class ClientTrace {
 public:
  // Time zero of the file: make it as berth starts.
  ClientTrace() = default;

  // Records into `path` from now on ("" : records nothing).
  absl::Status Start(const std::string& path);
  // Makes `options` report each job that ends to this trace (when recording).
  // The trace must outlive every Client made with them.
  void Attach(remote::ClientOptions& options);
  // Writes the file when recording, and returns the status berth exits with:
  // `status`, or 1 if the file could not be written and `status` was 0. A file
  // that cannot be written is said on stderr: `berth: --trace FILE: <reason>`.
  int Finish(int status);

 private:
  void Ended(const remote::CallReport& report, const std::string& endpoint);

  TraceRecorder recorder_{"berth"};
  std::string path_;
};

}  // namespace berth

#endif  // BERTH_TOOLS_BERTH_CLIENT_TRACE_H_
