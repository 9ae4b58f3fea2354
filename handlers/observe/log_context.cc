#include "handlers/observe/log_context.h"

#include <algorithm>
#include <cstring>

namespace berth {
namespace {

constexpr int kMaxDepth = 8;  // deeper jobs share the eighth frame's fields
thread_local LogFrame frames[kMaxDepth];
thread_local int depth = 0;

void CopyTo(char* dst, size_t size, absl::string_view src) {
  const size_t n = std::min(size - 1, src.size());
  if (n > 0) std::memcpy(dst, src.data(), n);  // an empty view's data() may be null
  dst[n] = '\0';
}

}  // namespace

void PushLogFrame(absl::string_view job, absl::string_view trace_id) {
  if (depth < kMaxDepth) {
    LogFrame& f = frames[depth];
    f.job = job;
    CopyTo(f.trace_id, sizeof f.trace_id, trace_id);
    f.container_id[0] = '\0';
  }
  ++depth;
}

void PopLogFrame() {
  if (depth > 0) --depth;
}

void SetLogContainer(absl::string_view id) {
  if (depth == 0) return;
  LogFrame& f = frames[std::min(depth, kMaxDepth) - 1];
  CopyTo(f.container_id, sizeof f.container_id, id);
}

const LogFrame* CurrentLogFrame() { return depth > 0 ? &frames[std::min(depth, kMaxDepth) - 1] : nullptr; }

}  // namespace berth
