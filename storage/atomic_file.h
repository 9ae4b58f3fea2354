// Crash-safe replacement of a small file: write a temp file beside it, fsync,
// rename over the target, fsync the directory. A crash at any point leaves
// either the old or the new content, never a torn file.
#ifndef BERTH_STORAGE_ATOMIC_FILE_H_
#define BERTH_STORAGE_ATOMIC_FILE_H_

#include <sys/types.h>

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace berth::storage {

struct AtomicWriteOptions {
  mode_t mode = 0600;
  // Called after the temp file is written and synced, just before the
  // rename; tests use it to stop a writer at the worst moment.
  std::function<void()> before_rename;
};

// Atomically replaces `path` with `data`. The temp file is named
// "<path>.tmp-XXXXXX" in the same directory.
absl::Status WriteFileAtomic(const std::string& path, absl::string_view data,
                             const AtomicWriteOptions& options = {});

// Removes "<path>.tmp-*" files that a crashed writer left behind.
absl::Status RemoveStaleTempFiles(const std::string& path);

}  // namespace berth::storage

#endif  // BERTH_STORAGE_ATOMIC_FILE_H_
