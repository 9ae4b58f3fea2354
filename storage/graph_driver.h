// GraphDriver: how berth stores the layers of images and containers. A
// layer has an id and an optional parent; its content is the parent's plus
// whatever was written or applied on top. Implementations: VfsDriver (plain
// directories, full copies) and OverlayDriver (overlayfs). The aufs, btrfs
// and devicemapper names exist only as probes (driver_probe.h) that tell why
// they cannot be used here.
//
// Layer ids are names inside the driver root, so they must match
// [A-Za-z0-9][A-Za-z0-9_.-]* (e.g. a 64-hex image id, or "<id>-init").
#ifndef BERTH_STORAGE_GRAPH_DRIVER_H_
#define BERTH_STORAGE_GRAPH_DRIVER_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "storage/byte_source.h"
#include "storage/id_shift.h"

namespace berth::storage {

// Key/value pairs for `info`'s DriverStatus, in display order.
using DriverStatus = std::vector<std::pair<std::string, std::string>>;

// InvalidArgument naming `id` unless it is a valid layer id.
absl::Status ValidateLayerId(absl::string_view id);

class GraphDriver {
 public:
  virtual ~GraphDriver() = default;

  // "vfs", "overlay".
  virtual absl::string_view Name() const = 0;
  // <root>/<name>.
  virtual const std::string& Home() const = 0;

  // Creates layer `id` on top of `parent` ("" for a base layer).
  // AlreadyExists if `id` exists; NotFound if `parent` does not.
  virtual absl::Status Create(absl::string_view id, absl::string_view parent) = 0;
  // Removes layer `id` (unmounting it first). NotFound if absent.
  virtual absl::Status Remove(absl::string_view id) = 0;
  // The directory holding layer `id`'s full content, mounting it if the
  // driver needs to. Every successful Get must be paired with a Put.
  virtual absl::StatusOr<std::string> Get(absl::string_view id) = 0;
  // Releases one Get; the last one unmounts.
  virtual absl::Status Put(absl::string_view id) = 0;
  virtual bool Exists(absl::string_view id) = 0;
  // What `info` shows for the driver.
  virtual DriverStatus Status() = 0;
  // Unmounts everything the driver mounted (daemon shutdown).
  virtual absl::Status Cleanup() = 0;
  // Applies the tar diff from `diff` onto layer `id` (created on `parent`)
  // with the whiteout format the driver needs; returns the layer size.
  virtual absl::StatusOr<int64_t> ApplyDiff(absl::string_view id,
                                            absl::string_view parent,
                                            ByteSource diff) = 0;

  // Under a remapped root (id_shift.h): set once, before the first layer
  // is made. Drivers give each new layer's root to the remapped root and
  // apply diffs with the shift.
  void set_id_shift(const IdShift& shift) { id_shift_ = shift; }
  const IdShift& id_shift() const { return id_shift_; }

 private:
  IdShift id_shift_;
};

}  // namespace berth::storage

#endif  // BERTH_STORAGE_GRAPH_DRIVER_H_
