// ByteSource: the pull callback through which storage reads a byte stream
// (a tar layer) from wherever it comes: a file, stdin, or a job's stream.
// A call fills up to `n` bytes of `buf` and returns how many it wrote;
// 0 means end of stream; an error status aborts the reader.
#ifndef BERTH_STORAGE_BYTE_SOURCE_H_
#define BERTH_STORAGE_BYTE_SOURCE_H_

#include <cstddef>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace berth::storage {

using ByteSource = std::function<absl::StatusOr<size_t>(char* buf, size_t n)>;

// Reads from `fd` (not owned, not closed); retries EINTR.
ByteSource FdSource(int fd);
// Opens `path` and reads it; the descriptor lives as long as the source.
absl::StatusOr<ByteSource> FileSource(const std::string& path);
// Serves a copy of `data`.
ByteSource StringSource(std::string data);
// Serves `data`, which must outlive the source (no copy; for fuzzing).
ByteSource StringViewSource(absl::string_view data);

}  // namespace berth::storage

#endif  // BERTH_STORAGE_BYTE_SOURCE_H_
