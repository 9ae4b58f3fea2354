// Applying a layer diff — a tar stream — onto a directory: regular files,
// directories, symlinks, hard links, device nodes and fifos with their
// modes, owners, times and extended attributes, plus the AUFS-style
// whiteouts that layer diffs use to delete things from lower layers:
//   ".wh.<name>"      <name> is deleted
//   ".wh..wh..opq"    the directory holding it is opaque: nothing of the
//                     lower layers shows through it
// With WhiteoutFormat::kRemove (vfs, a plain directory) whiteouts delete for
// real; with WhiteoutFormat::kOverlay (the upper directory of an overlay
// layer) they become overlayfs whiteouts (a 0/0 character device) and the
// "trusted.overlay.opaque=y" attribute.
//
// Safety: entry names and hard link targets are cleaned lexically; a name
// that climbs above the layer root with ".." is refused, a leading '/' is
// taken relative to the layer root. Every path is opened with
// openat2(RESOLVE_BENEATH), so an entry that would be written through a
// symlink leading outside the layer (or an absolute symlink) is refused
// instead of followed. Archive "trusted.overlay.*" attributes are dropped so
// a diff cannot forge overlay metadata. Sizes and counts are bounded.
//
// A failure stops the application; what was applied so far stays (callers
// apply into a fresh layer and remove it on error, see Graph::Register).
#ifndef BERTH_STORAGE_LAYER_APPLY_H_
#define BERTH_STORAGE_LAYER_APPLY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "storage/byte_source.h"
#include "storage/id_shift.h"
#include "storage/tar_reader.h"

namespace berth::storage {

enum class WhiteoutFormat { kRemove, kOverlay };

struct ApplyOptions {
  WhiteoutFormat whiteouts = WhiteoutFormat::kRemove;
  TarLimits tar;
  int64_t max_total_bytes = int64_t{1} << 40;  // sum of file data
  int64_t max_entries = 10'000'000;
  // Decode and validate everything, write nothing (the target may be "").
  bool dry_run = false;
  // Overlay: the lower layers' directories, nearest first. A directory that
  // the diff needs but does not list takes its mode and owner from them.
  std::vector<std::string> lower_dirs;
  // Owners are written shifted (id_shift.h); directories the diff needs but
  // does not list (and no lower layer gives) belong to the remapped root.
  IdShift ids;
};

// Applies the tar stream from `source` onto `target_dir`; returns the layer
// size: the sum of the sizes of the regular files in the archive.
absl::StatusOr<int64_t> ApplyLayer(const std::string& target_dir,
                                   ByteSource source,
                                   const ApplyOptions& options = {});

// The cleaned, root-relative form of an archive path ("" is the root);
// InvalidArgument when it climbs above the root. Exposed for tests.
absl::StatusOr<std::string> CleanArchivePath(absl::string_view name);

}  // namespace berth::storage

#endif  // BERTH_STORAGE_LAYER_APPLY_H_
