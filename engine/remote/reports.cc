#include "engine/remote/reports.h"

namespace berth::remote {
namespace {

// The stream of a STDIN/STDOUT/STDERR frame type.
bool StreamOf(FrameType type, StreamKind* stream) {
  switch (type) {
    case FrameType::kStdin:
      *stream = StreamKind::kStdin;
      return true;
    case FrameType::kStdout:
      *stream = StreamKind::kStdout;
      return true;
    case FrameType::kStderr:
      *stream = StreamKind::kStderr;
      return true;
    default:
      return false;
  }
}

void ReportStream(const ObserverList& observers, bool in, FrameType type, size_t bytes) {
  StreamKind stream;
  if (bytes == 0 || !StreamOf(type, &stream)) return;
  for (EngineObserver* o : observers) o->StreamBytes(stream, in, bytes);
}

}  // namespace

void ReportFrameIn(const Engine& engine, size_t bytes, const Frame* frame) {
  const ObserverList* observers = engine.observers();
  if (observers == nullptr) return;
  for (EngineObserver* o : *observers) o->FrameBytes(true, bytes);
  if (frame == nullptr) return;
  const bool tail = frame->type == FrameType::kEnd && frame->has_tail;
  ReportStream(*observers, true, tail ? frame->tail_stream : frame->type, frame->data.size());
}

void ReportFrameOut(const Engine& engine, const std::string& payload) {
  const ObserverList* observers = engine.observers();
  if (observers == nullptr) return;
  for (EngineObserver* o : *observers) o->FrameBytes(false, payload.size());
  const StreamChunk chunk = PeekStreamChunk(payload.data(), payload.size());
  ReportStream(*observers, false, chunk.stream, chunk.bytes);
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

void ReportConnection(const Engine& engine, ConnectionKind kind, bool opened) {
  if (const ObserverList* observers = engine.observers()) {
    for (EngineObserver* o : *observers) o->ConnectionChanged(kind, opened);
  }
}

}  // namespace berth::remote
