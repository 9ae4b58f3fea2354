// A small strict JSON scanner for berth's own wire and stream formats.
//
// Env values keep the exact text of non-string JSON values (no float truncation,
// no big-integer rounding), so decoding needs the raw extent of each value rather
// than a parsed tree. This scanner validates RFC 8259 syntax and reports extents;
// string contents are taken as bytes (no UTF-8 validation), matching env values,
// which are byte strings.
#ifndef BERTH_ENGINE_JSON_H_
#define BERTH_ENGINE_JSON_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/strings/string_view.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"

namespace berth::json {

// Nesting deeper than this is refused, so hostile input cannot exhaust the stack.
inline constexpr int kMaxDepth = 256;

// Advances *pos past JSON white space.
void SkipSpace(absl::string_view in, size_t* pos);

// Validates one JSON value starting at in[*pos] (leading white space skipped) and
// leaves *pos just past it. Errors: kOutOfRange when the input ends before the value
// does (a stream decoder can wait for more bytes), kInvalidArgument for bad syntax.
absl::Status SkipValue(absl::string_view in, size_t* pos);

// Decodes the JSON string starting at in[*pos] (which must be '"') into *out.
absl::Status ParseString(absl::string_view in, size_t* pos, std::string* out);

// Appends `s` to *out as a quoted JSON string.
void AppendQuoted(std::string* out, absl::string_view s);

// A member of a JSON object as ForEachMember reports it. `raw` is the exact text of
// the value; for strings, `string_value` holds the decoded string.
struct Member {
  absl::string_view key;
  absl::string_view raw;
  bool is_string = false;
  bool is_null = false;
  absl::string_view string_value;
};

// Calls fn for each member of the JSON object that is the whole of `text` (white
// space around it allowed). Stops at and returns the first error, from the syntax
// or from fn.
absl::Status ForEachMember(absl::string_view text,
                           absl::FunctionRef<absl::Status(const Member&)> fn);

// Calls fn(raw_value_text) for each element of the JSON array that is the whole of
// `text`.
absl::Status ForEachElement(absl::string_view text,
                            absl::FunctionRef<absl::Status(absl::string_view)> fn);

}  // namespace berth::json

#endif  // BERTH_ENGINE_JSON_H_
