// Friendly verbs: docker-style subcommands of berth, each a thin mapping onto
// the job that does the work (so `berth job NAME` stays the general form):
//
//   version            client version, then the `version` job's
//   info               the `info` job, one `Key: Value` per line
//   images [-q]        the `images` job as a table (REPOSITORY TAG IMAGE ID CREATED SIZE)
//   ps [-a] [-q]       the `containers` job (all=true with -a) as a table
//   inspect ID…        `container_inspect`, else `image_inspect`, as JSON
//   logs [-f] [-t] [--tail N] ID   the `logs` job (follow, timestamps, tail)
//   start ID…, stop [-t N] ID…, rm [-f] ID…, rmi ID…   the lifecycle jobs
//   events [--since T] [--until T] [--filter K=V]…   the `events` job, followed
//                      until interrupted (or until T); one JSON object a line
//   trace-svg FILE     a berthd trace file's start-up/shutdown timeline as SVG
//                      (tools/berth/trace_svg.h), on stdout; needs no server
//
// Tables are the default; `--format json` prints the job's own JSON, and -q only
// ids. Errors and exit statuses are the job's.
#ifndef BERTH_TOOLS_BERTH_VERBS_H_
#define BERTH_TOOLS_BERTH_VERBS_H_

#include <functional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "engine/remote/client.h"

namespace berth {

// Runs `request` to its end: its stdout into *out, its stderr into *err (or to
// ours when err is null); returns the job's status (126: server unreachable).
using CaptureFn = std::function<int(remote::JobRequest request, std::string* out, std::string* err)>;
// Runs `request` streaming stdout and stderr; returns the job's status.
using StreamFn = std::function<int(remote::JobRequest request)>;

class Verbs {
 public:
  // Adds the verbs as subcommands of `app`.
  explicit Verbs(CLI::App& app);
  // If one of the verbs was given, runs it and returns true with its status.
  bool Run(const CaptureFn& capture, const StreamFn& stream, int* status);

 private:
  CLI::App* version_;
  CLI::App* info_;
  CLI::App* images_;
  CLI::App* ps_;
  CLI::App* inspect_;
  CLI::App* logs_;
  CLI::App* start_;
  CLI::App* stop_;
  CLI::App* rm_;
  CLI::App* rmi_;
  CLI::App* events_;
  CLI::App* trace_svg_;
  std::string since_;
  std::string until_;
  std::vector<std::string> filters_;
  std::string trace_file_;
  std::string format_ = "table";
  bool quiet_ = false;
  bool all_ = false;
  bool follow_ = false;
  bool timestamps_ = false;
  bool force_ = false;
  std::string tail_;
  int stop_seconds_ = 10;
  std::vector<std::string> ids_;
};

}  // namespace berth

#endif  // BERTH_TOOLS_BERTH_VERBS_H_
