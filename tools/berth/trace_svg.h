// TraceSvg: the start-up and shutdown timeline of a berthd trace file (the
// Chrome trace-event JSON that `berthd --trace FILE` writes) as an SVG
// picture, for `berth trace-svg FILE > startup.svg`.
//
// Two panels, each with a time axis of its own in milliseconds: start-up,
// one row per NewDaemon step, and shutdown, one row per hook, in time order:
// a bar (<rect class="step"> / <rect class="hook">) from its start to its end,
// with its name and duration beside it. The
// jobs that ran inside a step or hook (a job span within its time) are drawn
// nested as thin bars (<rect class="job">) in that row. Jobs outside every
// step and hook are left out: the picture is start-up and shutdown.
// Errors: `trace-svg: <file>: not a trace file (want {"traceEvents":[...]})`,
// `trace-svg: <file>: no NewDaemon steps or shutdown hooks in it`.
#ifndef BERTH_TOOLS_BERTH_TRACE_SVG_H_
#define BERTH_TOOLS_BERTH_TRACE_SVG_H_

#include <string>

#include "absl/status/statusor.h"

namespace berth {

absl::StatusOr<std::string> TraceToSvg(const std::string& json_text, const std::string& name_for_errors);

}  // namespace berth

#endif  // BERTH_TOOLS_BERTH_TRACE_SVG_H_
