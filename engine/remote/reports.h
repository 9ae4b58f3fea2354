// What the server and its dispatcher tell the engine's observers
// (engine/observer.h) about frames: bytes in and out, the job data among them
// by stream, frames refused, and connections opened and closed. Each costs
// one atomic load when nobody observes.
#ifndef BERTH_ENGINE_REMOTE_REPORTS_H_
#define BERTH_ENGINE_REMOTE_REPORTS_H_

#include <cstddef>
#include <string>

#include "engine/engine.h"
#include "engine/remote/wire.h"

namespace berth::remote {

// One frame of `bytes` received; `frame` is it decoded, or null if it did not
// decode.
void ReportFrameIn(const Engine& engine, size_t bytes, const Frame* frame);
// One encoded frame sent.
void ReportFrameOut(const Engine& engine, const std::string& payload);
// A frame refused with an ERROR of `code`.
void ReportRefused(const Engine& engine, ErrorCode code);
// A connection of `kind` opened or closed.
void ReportConnection(const Engine& engine, ConnectionKind kind, bool opened);

}  // namespace berth::remote

#endif  // BERTH_ENGINE_REMOTE_REPORTS_H_
