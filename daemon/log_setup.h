// Where berthd's logs go (docs/observability.md, "Logs"):
//   text  (default) under systemd — stderr is the journal's stream
//         (JOURNAL_STREAM names it) — each record goes to the journal through
//         libsystemd's sd_journal_sendv with its PRIORITY and, when logged
//         while a job runs on that thread, BERTH_JOB and BERTH_TRACE_ID, and
//         CONTAINER_ID when the job acts on a container (Job::Current and
//         Job::log_subject, engine/job.h); elsewhere lines on stderr, as
//         spdlog writes them.
//   json  one JSON object a line on stderr: time (RFC 3339, UTC, ns), level,
//         msg, and job / trace_id / container_id as above.
// The job context costs a job nothing: the engine keeps the job running on
// each thread (Job::Current), which the sinks read when they write a record.
#ifndef BERTH_DAEMON_LOG_SETUP_H_
#define BERTH_DAEMON_LOG_SETUP_H_

#include <string>

#include "absl/status/status.h"

namespace berth {

// `format`: "text" or "json"; errors name the value:
//   `--log-format yaml: want text or json`
absl::Status ConfigureLogging(const std::string& format);

// Whether stderr is the journal's stream (JOURNAL_STREAM matches its device
// and inode) and libsystemd can be loaded.
bool StderrIsJournal();

}  // namespace berth

#endif  // BERTH_DAEMON_LOG_SETUP_H_
