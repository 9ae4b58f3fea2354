// LogContext: what a log record written on this thread is about — the job
// running here (name, trace id) and the container it acts on — for log sinks
// that record fields (berthd's journal and JSON logs, daemon/log_setup.h).
//
// Per thread, a stack of frames: one per job running on the thread (jobs run
// jobs). The observer that berthd adds when its logs take fields pushes a
// frame when a job starts and pops it when it ends; container handlers name
// their container in the top frame. With no frame (nobody listening), the
// setters do nothing. Only for the thread's own use.
#ifndef BERTH_HANDLERS_OBSERVE_LOG_CONTEXT_H_
#define BERTH_HANDLERS_OBSERVE_LOG_CONTEXT_H_

#include "absl/strings/string_view.h"

namespace berth {

struct LogFrame {
  absl::string_view job;  // the Job's own name: alive while it runs
  char trace_id[48] = {};
  char container_id[65] = {};
};

// `job` must stay alive until the matching pop.
void PushLogFrame(absl::string_view job, absl::string_view trace_id);
void PopLogFrame();
// Names the container of the job on top (a no-op with no frame).
void SetLogContainer(absl::string_view id);
// The innermost frame, or null.
const LogFrame* CurrentLogFrame();

}  // namespace berth

#endif  // BERTH_HANDLERS_OBSERVE_LOG_CONTEXT_H_
