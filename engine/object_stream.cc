#include "engine/object_stream.h"

#include "absl/strings/str_cat.h"
#include "engine/json.h"

namespace berth {

absl::Status ObjectStream::Feed(absl::string_view data,
                                absl::FunctionRef<absl::Status(absl::string_view)> on_object) {
  size_t start = 0;  // start of the current object's bytes within data
  for (size_t i = 0; i < data.size(); ++i) {
    char c = data[i];
    if (depth_ == 0) {
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') continue;
      if (c != '{') {
        return absl::InvalidArgumentError(absl::StrCat(
            "expected a JSON object at offset ", offset_ + i, " of the stream"));
      }
      depth_ = 1;
      start = i;
      continue;
    }
    if (in_string_) {
      if (escape_) {
        escape_ = false;
      } else if (c == '\\') {
        escape_ = true;
      } else if (c == '"') {
        in_string_ = false;
      }
      continue;
    }
    if (c == '"') {
      in_string_ = true;
    } else if (c == '{' || c == '[') {
      if (++depth_ > json::kMaxDepth) {
        return absl::InvalidArgumentError("JSON object in the stream is nested too deeply");
      }
    } else if (c == '}' || c == ']') {
      if (--depth_ == 0) {
        absl::Status s;
        if (buf_.empty()) {
          s = on_object(data.substr(start, i + 1 - start));
        } else {
          buf_.append(data.data() + start, i + 1 - start);
          s = on_object(buf_);
          buf_.clear();
        }
        if (!s.ok()) return s;
      }
    }
  }
  if (depth_ > 0) {
    buf_.append(data.data() + start, data.size() - start);
    if (buf_.size() > kMaxObjectBytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat("JSON object in the stream exceeds ", kMaxObjectBytes, " bytes"));
    }
  }
  offset_ += data.size();
  return absl::OkStatus();
}

absl::Status ObjectStream::Finish() const {
  if (depth_ > 0) return absl::InvalidArgumentError("stream ended inside a JSON object");
  return absl::OkStatus();
}

}  // namespace berth
