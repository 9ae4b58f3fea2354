// Ownership under a remapped root; see id_shift.h.
#include "storage/id_shift.h"

#include <unistd.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "storage/fs_util.h"

namespace berth::storage {
namespace {

absl::StatusOr<uint32_t> Shift(uint32_t base, uint32_t size, uint64_t id, const char* kind) {
  if (size == 0) {
    if (id > 0xfffffffe) return absl::OutOfRangeError(absl::StrCat(kind, " ", id, " is out of range"));
    return static_cast<uint32_t>(id);
  }
  if (id >= size) {
    return absl::OutOfRangeError(absl::StrCat(kind, " ", id, " is outside the remapped range 0-", size - 1));
  }
  return static_cast<uint32_t>(base + id);
}

}  // namespace

absl::StatusOr<uid_t> ShiftUid(const IdShift& shift, uint64_t id) {
  return Shift(shift.uid_base, shift.uid_size, id, "uid");
}

absl::StatusOr<gid_t> ShiftGid(const IdShift& shift, uint64_t id) {
  return Shift(shift.gid_base, shift.gid_size, id, "gid");
}

absl::Status ChownLayerRoot(const IdShift& shift, const std::string& dir) {
  if (!shift.active()) return absl::OkStatus();
  if (::lchown(dir.c_str(), shift.uid_base, shift.gid_base) != 0) {
    return ErrnoStatus(errno, absl::StrCat("chown ", dir, " to the remapped root"));
  }
  return absl::OkStatus();
}

}  // namespace berth::storage
