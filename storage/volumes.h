// Volumes: directories that containers mount from the host, kept by the vfs
// driver (<root>/vfs/dir/<id>) with their metadata in a Graph at
// <root>/volumes/<id>/json — the same atomic create/remove guarantees as
// images. A volume is an image without a parent or diff whose "comment" is
// "volume".
#ifndef BERTH_STORAGE_VOLUMES_H_
#define BERTH_STORAGE_VOLUMES_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "storage/graph.h"
#include "storage/vfs_driver.h"

namespace berth::storage {

struct Volume {
  std::string id;
  std::string path;  // the directory to bind-mount
  absl::Time created;
};

class VolumeStore {
 public:
  // `root` is <root>/volumes; `driver` (not owned) is the vfs driver at
  // <root>/vfs and must outlive the store.
  static absl::StatusOr<std::unique_ptr<VolumeStore>> Open(std::string root,
                                                           VfsDriver* driver);

  // A new, empty volume directory (mode 0755, owned by root).
  absl::StatusOr<Volume> Create();
  absl::StatusOr<Volume> Get(absl::string_view id_or_prefix) const;
  absl::Status Remove(absl::string_view id_or_prefix);
  // Every volume, by id.
  absl::StatusOr<std::vector<Volume>> List() const;

 private:
  VolumeStore(std::unique_ptr<Graph> graph, VfsDriver* driver)
      : graph_(std::move(graph)), driver_(driver) {}
  Volume FromImage(const Image& image) const;

  std::unique_ptr<Graph> graph_;
  VfsDriver* driver_;
};

}  // namespace berth::storage

#endif  // BERTH_STORAGE_VOLUMES_H_
