// Volumes on the vfs driver; see volumes.h.
#include "storage/volumes.h"

#include <utility>

namespace berth::storage {

absl::StatusOr<std::unique_ptr<VolumeStore>> VolumeStore::Open(
    std::string root, VfsDriver* driver) {
  absl::StatusOr<std::unique_ptr<Graph>> graph =
      Graph::Open(std::move(root), driver);
  if (!graph.ok()) return graph.status();
  return std::unique_ptr<VolumeStore>(
      new VolumeStore(*std::move(graph), driver));
}

Volume VolumeStore::FromImage(const Image& image) const {
  return Volume{image.id, driver_->LayerDir(image.id), image.created};
}

absl::StatusOr<Volume> VolumeStore::Create() {
  Image image;
  image.comment = "volume";
  absl::StatusOr<Image> stored = graph_->Register(std::move(image), nullptr);
  if (!stored.ok()) return stored.status();
  return FromImage(*stored);
}

absl::StatusOr<Volume> VolumeStore::Get(absl::string_view id_or_prefix) const {
  absl::StatusOr<Image> image = graph_->Get(id_or_prefix);
  if (!image.ok()) return image.status();
  return FromImage(*image);
}

absl::Status VolumeStore::Remove(absl::string_view id_or_prefix) {
  return graph_->Delete(id_or_prefix);
}

absl::StatusOr<std::vector<Volume>> VolumeStore::List() const {
  absl::StatusOr<std::map<std::string, Image>> all = graph_->Map();
  if (!all.ok()) return all.status();
  std::vector<Volume> out;
  for (const auto& [id, image] : *all) out.push_back(FromImage(image));
  return out;
}

}  // namespace berth::storage
