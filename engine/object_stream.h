// ObjectStream: splits a byte stream of concatenated JSON objects (one per line,
// or any white space between them) into whole objects, incrementally, as bytes
// arrive. Used by the env and table decoders attached to job outputs.
#ifndef BERTH_ENGINE_OBJECT_STREAM_H_
#define BERTH_ENGINE_OBJECT_STREAM_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/strings/string_view.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"

namespace berth {

class ObjectStream {
 public:
  // Objects larger than this are refused rather than buffered without bound.
  static constexpr size_t kMaxObjectBytes = 64 << 20;

  // Appends `data` and calls on_object with the text of each object it completes.
  // Text outside objects must be white space.
  absl::Status Feed(absl::string_view data,
                    absl::FunctionRef<absl::Status(absl::string_view)> on_object);
  // Checks that the stream did not end inside an object.
  absl::Status Finish() const;
  // True when bytes of an unfinished object are buffered.
  bool pending() const { return depth_ > 0; }

 private:
  std::string buf_;      // bytes of the object being assembled
  int depth_ = 0;
  bool in_string_ = false;
  bool escape_ = false;
  size_t offset_ = 0;    // bytes consumed so far, for error messages
};

}  // namespace berth

#endif  // BERTH_ENGINE_OBJECT_STREAM_H_
