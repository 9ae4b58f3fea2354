// What the server and its dispatcher tell the engine's observers
// (engine/observer.h) about frames: bytes in and out, and frames refused.
// Each costs one atomic load when nobody observes.
#ifndef BERTH_ENGINE_REMOTE_REPORTS_H_
#define BERTH_ENGINE_REMOTE_REPORTS_H_

#include <cstddef>

#include "engine/engine.h"
#include "engine/remote/wire.h"

namespace berth::remote {

// One frame of `bytes` received (`in`) or sent.
void ReportFrameBytes(const Engine& engine, bool in, size_t bytes);
// A frame refused with an ERROR of `code`.
void ReportRefused(const Engine& engine, ErrorCode code);

}  // namespace berth::remote

#endif  // BERTH_ENGINE_REMOTE_REPORTS_H_
