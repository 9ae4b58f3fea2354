// IdShift: how file ownership is stored under a remapped root (berthd
// --userns-remap). A container whose root is host uid B sees a file owned by
// host uid B+n as owned by n, so every layer under that root is stored
// shifted: container id n (from a tar header, or the root of a new layer)
// is written as host id base+n, for n below the range's size.
//
// This is Docker 1.10's choice: one graph per remapped root, its layers
// chowned as they are applied. It costs a separate copy of every image per
// remapping (images are imported again under the new root); nothing is
// copied or chowned when a container starts. See docs/containers.md.
#ifndef BERTH_STORAGE_ID_SHIFT_H_
#define BERTH_STORAGE_ID_SHIFT_H_

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace berth::storage {

struct IdShift {
  uint32_t uid_base = 0;
  uint32_t gid_base = 0;
  uint32_t uid_size = 0;  // 0: no shift, ids are stored as they come
  uint32_t gid_size = 0;
  bool active() const { return uid_size != 0; }
};

// The host uid for container uid `id`; OutOfRange when the shift is active
// and `id` is past its size: `uid 70000 is outside the remapped range 0-65535`.
// Inactive: `id` itself.
absl::StatusOr<uid_t> ShiftUid(const IdShift& shift, uint64_t id);
absl::StatusOr<gid_t> ShiftGid(const IdShift& shift, uint64_t id);

// Gives a new layer's root directory to the remapped root (host uid_base,
// gid_base). Nothing when the shift is inactive. Errors name the path.
absl::Status ChownLayerRoot(const IdShift& shift, const std::string& dir);

}  // namespace berth::storage

#endif  // BERTH_STORAGE_ID_SHIFT_H_
