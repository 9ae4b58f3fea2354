// CopyTree: a faithful copy of a directory tree, as the vfs driver needs
// when a layer starts as a copy of its parent: regular files (reflinked
// when the file system can, else copied in the kernel), directories,
// symlinks, hard links (kept as links), device nodes, fifos and sockets,
// with modes (incl. setuid/setgid/sticky), owners, extended attributes and
// nanosecond timestamps.
#ifndef BERTH_STORAGE_TREE_COPY_H_
#define BERTH_STORAGE_TREE_COPY_H_

#include <string>

#include "absl/status/status.h"

namespace berth::storage {

// Copies the directory `src` to `dst`, which must not exist yet. Refuses to
// descend into a mount point below `src`. On error `dst` is left partial;
// the caller removes it.
absl::Status CopyTree(const std::string& src, const std::string& dst);

}  // namespace berth::storage

#endif  // BERTH_STORAGE_TREE_COPY_H_
