// The vfs graph driver: each layer is a plain directory <home>/dir/<id>
// holding the layer's full content; a child starts as a complete copy of
// its parent (CopyTree). Slow and space-hungry but works on any file
// system, which is why berth also uses it for volumes.
#ifndef BERTH_STORAGE_VFS_DRIVER_H_
#define BERTH_STORAGE_VFS_DRIVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "storage/graph_driver.h"

namespace berth::storage {

class VfsDriver : public GraphDriver {
 public:
  // `home` is <root>/vfs; created 0700. vfs takes no options.
  static absl::StatusOr<std::unique_ptr<VfsDriver>> New(
      std::string home, const std::vector<std::string>& options = {});

  absl::string_view Name() const override { return "vfs"; }
  const std::string& Home() const override { return home_; }
  absl::Status Create(absl::string_view id, absl::string_view parent) override;
  absl::Status Remove(absl::string_view id) override;
  absl::StatusOr<std::string> Get(absl::string_view id) override;
  absl::Status Put(absl::string_view id) override;
  bool Exists(absl::string_view id) override;
  DriverStatus Status() override;
  absl::Status Cleanup() override;
  absl::StatusOr<int64_t> ApplyDiff(absl::string_view id,
                                    absl::string_view parent,
                                    ByteSource diff) override;

  // <home>/dir/<id>, whether or not it exists.
  std::string LayerDir(absl::string_view id) const;

 private:
  explicit VfsDriver(std::string home) : home_(std::move(home)) {}
  const std::string home_;
};

}  // namespace berth::storage

#endif  // BERTH_STORAGE_VFS_DRIVER_H_
