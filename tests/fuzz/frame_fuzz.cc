// Fuzz target: the wire frame decoder, the encode/decode round trip of
// whatever it accepts, and the stream bytes PeekStreamChunk sees in it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "engine/remote/wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<berth::remote::Frame> f = berth::remote::DecodeFrame(data, size);
  (void)berth::remote::PeekFrameId(data, size);
  const berth::remote::StreamChunk chunk = berth::remote::PeekStreamChunk(data, size);
  if (chunk.bytes > 0 && f.ok() && (chunk.bytes != f->data.size() ||
                                    chunk.stream != (f->type == berth::remote::FrameType::kEnd ? f->tail_stream : f->type))) {
    std::abort();
  }
  if (f.ok()) {
    std::string again = berth::remote::EncodeFrame(*f);
    absl::StatusOr<berth::remote::Frame> g = berth::remote::DecodeFrame(again.data(), again.size());
    if (!g.ok() || g->type != f->type || g->id != f->id || g->job.name != f->job.name ||
        g->job.args != f->job.args || !(g->job.env == f->job.env) || g->job.timeout != f->job.timeout ||
        g->job.trace_id != f->job.trace_id || g->data != f->data || g->message != f->message || g->jobs != f->jobs) {
      std::abort();
    }
  }
  return 0;
}
