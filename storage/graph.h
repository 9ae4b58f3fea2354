// Graph: berth's image store at <root>/graph. Each image is a directory
//   <root>/graph/<64-hex id>/json        metadata (image.h documents it)
//   <root>/graph/<64-hex id>/layersize   the layer size in bytes, decimal
// whose filesystem layer lives in the graph driver under the same id.
//
// Atomicity: Register builds the image in <root>/graph/_tmp/<id>/ (driver
// layer created, diff applied, metadata written and fsynced) and then
// renames it into place; Delete renames the image into _tmp before removing
// the layer. A crash therefore leaves either a whole image or only
// leftovers in _tmp, which Open removes together with their driver layers.
//
// Open only lists the directory (no metadata is parsed) and loads every id
// into a TruncIndex, so start-up stays cheap with many images.
// Thread-safe.
#ifndef BERTH_STORAGE_GRAPH_H_
#define BERTH_STORAGE_GRAPH_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "storage/byte_source.h"
#include "storage/graph_driver.h"
#include "storage/image.h"
#include "storage/truncindex.h"

namespace berth::storage {

struct GraphOptions {
  // Called with the image id after the new image is complete in _tmp, just
  // before it is renamed into place; crash tests stop the process here.
  std::function<void(absl::string_view id)> before_commit;
};

class Graph {
 public:
  // Opens (creating, 0700) the graph directory `root`, with layers kept by
  // `driver` (not owned; must outlive the graph). Removes what an
  // interrupted Register or Delete left behind.
  static absl::StatusOr<std::unique_ptr<Graph>> Open(
      std::string root, GraphDriver* driver, GraphOptions options = {});

  const std::string& root() const { return root_; }
  GraphDriver* driver() const { return driver_; }

  // Stores a new image whose layer is `parent`'s plus the tar diff read from
  // `layer` (an empty ByteSource means an empty diff). An empty `image.id`
  // gets a fresh one; an unset `created` (the Unix epoch) becomes now;
  // `size` is computed. Returns the image as stored.
  // Errors: InvalidArgument (bad id), AlreadyExists, NotFound (parent), and
  // whatever applying the diff reports — in every case nothing is left.
  absl::StatusOr<Image> Register(Image image, ByteSource layer);

  // The full id for an id or unique prefix ("could not find image: ..."
  // wrapping the TruncIndex error).
  absl::StatusOr<std::string> Resolve(absl::string_view id_or_prefix) const;
  absl::StatusOr<Image> Get(absl::string_view id_or_prefix) const;
  bool Exists(absl::string_view id_or_prefix) const;
  // Removes an image and its layer. Refused (FailedPrecondition) while other
  // images name it as their parent: delete the children first.
  absl::Status Delete(absl::string_view id_or_prefix);

  // Every image by id.
  absl::StatusOr<std::map<std::string, Image>> Map() const;
  // The images that are nobody's parent.
  absl::StatusOr<std::map<std::string, Image>> Heads() const;
  // Ids of the images whose parent is `id`, sorted.
  absl::StatusOr<std::vector<std::string>> Children(absl::string_view id) const;
  // Every image id, sorted.
  std::vector<std::string> Ids() const { return index_.Ids(); }
  const TruncIndex& index() const { return index_; }

 private:
  Graph(std::string root, GraphDriver* driver, GraphOptions options)
      : root_(std::move(root)), driver_(driver), options_(std::move(options)) {}
  std::string ImageDir(absl::string_view id) const;
  std::string TmpDir() const;
  absl::Status CleanLeftovers();
  absl::StatusOr<Image> Load(const std::string& id) const;

  const std::string root_;
  GraphDriver* const driver_;
  const GraphOptions options_;
  TruncIndex index_;
  mutable absl::Mutex mu_;
  // Registrations in flight: their ids, and how often each parent is used.
  absl::flat_hash_set<std::string> registering_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, int> parents_in_use_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth::storage

#endif  // BERTH_STORAGE_GRAPH_H_
