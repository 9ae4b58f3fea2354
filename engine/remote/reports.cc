#include "engine/remote/reports.h"

namespace berth::remote {

void ReportFrameBytes(const Engine& engine, bool in, size_t bytes) {
  if (const ObserverList* observers = engine.observers()) {
    for (EngineObserver* o : *observers) o->FrameBytes(in, bytes);
  }
}

void ReportRefused(const Engine& engine, ErrorCode code) {
  const ObserverList* observers = engine.observers();
  if (observers == nullptr) return;
  const char* kind = code == ErrorCode::kBadFrame       ? "bad_frame"
                     : code == ErrorCode::kIdInUse      ? "id_in_use"
                     : code == ErrorCode::kNotAllowed   ? "not_allowed"
                     : code == ErrorCode::kNamesRefused ? "names_refused"
                                                        : "other";
  for (EngineObserver* o : *observers) o->FrameRefused(kind);
}

}  // namespace berth::remote
