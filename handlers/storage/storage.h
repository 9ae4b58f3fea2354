// The `storage` group: the image jobs.
//   import SRC REPO [TAG]   SRC is `-` (a tar stream on stdin) or a tar file path;
//                           prints the new image's 64-hex id
//   images                  a JSON array of {Id, RepoTags, Created, Size}
//   tag IMAGE REPO [TAG]    env force=true replaces an existing tag
//   image_inspect NAME      the image's metadata as JSON
//   image_delete NAME       untags NAME; deletes the image when no tag is left
// IMAGE and NAME are `repo[:tag]`, a full id, or a unique id prefix.
#ifndef BERTH_HANDLERS_STORAGE_STORAGE_H_
#define BERTH_HANDLERS_STORAGE_STORAGE_H_

#include "handlers/group.h"
#include "storage/graph.h"
#include "storage/tag_store.h"

namespace berth {

// `graph` and `tags` are not owned and must outlive the engine's use of them.
HandlerGroup StorageGroup(storage::Graph* graph, storage::TagStore* tags);

// The image id for `name`: `repo[:tag]`, a full id, or a unique id prefix.
// NotFound `No such image: <name>`; an ambiguous prefix says so.
absl::StatusOr<std::string> ResolveImage(storage::Graph* graph, storage::TagStore* tags, const std::string& name);

}  // namespace berth

#endif  // BERTH_HANDLERS_STORAGE_STORAGE_H_
