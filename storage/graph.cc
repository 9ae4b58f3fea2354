// The image store; see graph.h.
#include "storage/graph.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "storage/atomic_file.h"
#include "storage/fs_util.h"

namespace berth::storage {
namespace {

constexpr absl::string_view kTmp = "_tmp";

absl::StatusOr<std::vector<std::string>> ListDir(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return std::vector<std::string>{};
    return ErrnoStatus(errno, absl::StrCat("opendir ", dir));
  }
  std::vector<std::string> names;
  while (struct dirent* ent = readdir(d)) {
    absl::string_view n = ent->d_name;
    if (n != "." && n != "..") names.emplace_back(n);
  }
  closedir(d);
  return names;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Graph>> Graph::Open(std::string root,
                                                   GraphDriver* driver,
                                                   GraphOptions options) {
  if (driver == nullptr) {
    return absl::InvalidArgumentError("graph: no graph driver given");
  }
  absl::Status s = MkdirAll(root, 0700);
  if (!s.ok()) return s;
  std::unique_ptr<Graph> graph(
      new Graph(std::move(root), driver, std::move(options)));
  s = graph->CleanLeftovers();
  if (!s.ok()) return s;
  absl::StatusOr<std::vector<std::string>> names = ListDir(graph->root_);
  if (!names.ok()) return names.status();
  for (const std::string& name : *names) {
    if (!IsHexId(name)) continue;
    s = graph->index_.Add(name);
    if (!s.ok()) return s;
  }
  return graph;
}

std::string Graph::ImageDir(absl::string_view id) const {
  return JoinPath(root_, id);
}

std::string Graph::TmpDir() const { return JoinPath(root_, kTmp); }

absl::Status Graph::CleanLeftovers() {
  absl::StatusOr<std::vector<std::string>> names = ListDir(TmpDir());
  if (!names.ok()) return names.status();
  for (const std::string& name : *names) {
    // "<id>" (an interrupted Register) or "<id>-deleted" (Delete).
    std::string id = name.substr(0, 64);
    struct stat st;
    if (IsHexId(id) && stat(ImageDir(id).c_str(), &st) != 0 &&
        driver_->Exists(id)) {
      absl::Status s = driver_->Remove(id);
      if (!s.ok()) {
        return absl::Status(s.code(), absl::StrCat(
            "graph: remove the layer of interrupted image ", id, ": ",
            s.message()));
      }
    }
    absl::Status s = RemoveTree(JoinPath(TmpDir(), name));
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<Image> Graph::Register(Image image, ByteSource layer) {
  if (image.id.empty()) image.id = GenerateImageId();
  if (!IsHexId(image.id)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "graph: invalid image id \"", image.id, "\": expected 64 hex characters"));
  }
  if (!image.parent.empty() && !IsHexId(image.parent)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "graph: invalid parent id \"", image.parent,
        "\": expected 64 hex characters"));
  }
  if (image.parent == image.id) {
    return absl::InvalidArgumentError(
        absl::StrCat("graph: image ", image.id, " cannot be its own parent"));
  }
  if (image.created == absl::UnixEpoch()) image.created = absl::Now();
  const std::string id = image.id;
  {
    absl::MutexLock lock(&mu_);
    if (index_.Contains(id) || registering_.contains(id)) {
      return absl::AlreadyExistsError(
          absl::StrCat("graph: image ", id, " already exists"));
    }
    if (!image.parent.empty() && !index_.Contains(image.parent)) {
      return absl::NotFoundError(absl::StrCat("graph: parent image ",
                                              image.parent, " does not exist"));
    }
    registering_.insert(id);
    if (!image.parent.empty()) ++parents_in_use_[image.parent];
  }
  auto release = [&]() {
    absl::MutexLock lock(&mu_);
    registering_.erase(id);
    if (!image.parent.empty() && --parents_in_use_[image.parent] == 0) {
      parents_in_use_.erase(image.parent);
    }
  };

  std::string tmp = JoinPath(TmpDir(), id);
  auto fail = [&](absl::Status err) {
    if (driver_->Exists(id)) driver_->Remove(id).IgnoreError();
    RemoveTree(tmp).IgnoreError();
    release();
    return err;
  };
  absl::Status s = RemoveTree(tmp);
  if (s.ok()) s = MkdirAll(tmp, 0700);
  if (!s.ok()) return fail(s);
  // A layer without an image is a leftover of an interrupted run.
  if (driver_->Exists(id)) {
    s = driver_->Remove(id);
    if (!s.ok()) return fail(s);
  }
  s = driver_->Create(id, image.parent);
  if (!s.ok()) return fail(s);
  int64_t size = 0;
  if (layer) {
    absl::StatusOr<int64_t> applied =
        driver_->ApplyDiff(id, image.parent, std::move(layer));
    if (!applied.ok()) {
      return fail(absl::Status(
          applied.status().code(),
          absl::StrCat("graph: apply the layer of image ", id, ": ",
                       applied.status().message())));
    }
    size = *applied;
  }
  image.size = size;
  AtomicWriteOptions w;
  w.mode = 0600;
  s = WriteFileAtomic(JoinPath(tmp, "json"), EncodeImage(image), w);
  if (s.ok()) {
    s = WriteFileAtomic(JoinPath(tmp, "layersize"), absl::StrCat(size), w);
  }
  if (!s.ok()) return fail(s);
  if (options_.before_commit) options_.before_commit(id);
  if (rename(tmp.c_str(), ImageDir(id).c_str()) != 0) {
    return fail(ErrnoStatus(
        errno, absl::StrCat("graph: commit image ", id, " (rename ", tmp, ")")));
  }
  s = SyncDir(root_);
  if (!s.ok()) {
    // Not durable: take the image back out so that the failure is whole.
    rename(ImageDir(id).c_str(), tmp.c_str());
    return fail(s);
  }
  {
    absl::MutexLock lock(&mu_);
    index_.Add(id).IgnoreError();
  }
  release();
  return image;
}

absl::StatusOr<std::string> Graph::Resolve(absl::string_view id_or_prefix) const {
  absl::StatusOr<std::string> id = index_.Get(id_or_prefix);
  if (!id.ok()) {
    return absl::Status(id.status().code(), absl::StrCat("could not find image: ",
                                                         id.status().message()));
  }
  return id;
}

absl::StatusOr<Image> Graph::Load(const std::string& id) const {
  std::string dir = ImageDir(id);
  absl::StatusOr<std::string> json = ReadFileToString(JoinPath(dir, "json"));
  if (!json.ok()) return json.status();
  absl::StatusOr<Image> image = DecodeImage(*json);
  if (!image.ok()) {
    return absl::Status(image.status().code(),
                        absl::StrCat(dir, "/", image.status().message()));
  }
  if (image->id != id) {
    return absl::DataLossError(absl::StrCat(dir, "/json names image ",
                                            image->id, ", not ", id));
  }
  // layersize is authoritative for the size, as in the reference.
  absl::StatusOr<std::string> size = ReadFileToString(JoinPath(dir, "layersize"));
  int64_t n;
  if (size.ok() && absl::SimpleAtoi(*size, &n)) image->size = n;
  return image;
}

absl::StatusOr<Image> Graph::Get(absl::string_view id_or_prefix) const {
  absl::StatusOr<std::string> id = Resolve(id_or_prefix);
  if (!id.ok()) return id.status();
  return Load(*id);
}

bool Graph::Exists(absl::string_view id_or_prefix) const {
  return Resolve(id_or_prefix).ok();
}

absl::StatusOr<std::map<std::string, Image>> Graph::Map() const {
  std::map<std::string, Image> images;
  for (const std::string& id : index_.Ids()) {
    absl::StatusOr<Image> image = Load(id);
    if (!image.ok()) {
      // Deleted since the ids were listed.
      if (absl::IsNotFound(image.status()) && !index_.Contains(id)) continue;
      return image.status();
    }
    images.emplace(id, *std::move(image));
  }
  return images;
}

absl::StatusOr<std::map<std::string, Image>> Graph::Heads() const {
  absl::StatusOr<std::map<std::string, Image>> all = Map();
  if (!all.ok()) return all.status();
  absl::flat_hash_set<std::string> parents;
  for (const auto& [id, image] : *all) {
    if (!image.parent.empty()) parents.insert(image.parent);
  }
  std::map<std::string, Image> heads;
  for (auto& [id, image] : *all) {
    if (!parents.contains(id)) heads.emplace(id, std::move(image));
  }
  return heads;
}

absl::StatusOr<std::vector<std::string>> Graph::Children(
    absl::string_view id) const {
  absl::StatusOr<std::map<std::string, Image>> all = Map();
  if (!all.ok()) return all.status();
  std::vector<std::string> children;
  for (const auto& [child, image] : *all) {
    if (image.parent == id) children.push_back(child);
  }
  return children;
}

absl::Status Graph::Delete(absl::string_view id_or_prefix) {
  absl::StatusOr<std::string> resolved = Resolve(id_or_prefix);
  if (!resolved.ok()) return resolved.status();
  const std::string id = *resolved;
  absl::MutexLock lock(&mu_);
  if (!index_.Contains(id)) {
    return absl::NotFoundError(absl::StrCat("could not find image: no such id: ",
                                            id_or_prefix));
  }
  if (parents_in_use_.contains(id)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "graph: image ", id, " is the parent of an image being registered"));
  }
  absl::StatusOr<std::vector<std::string>> children = Children(id);
  if (!children.ok()) return children.status();
  if (!children->empty()) {
    std::vector<std::string> shorts;
    for (const std::string& c : *children) shorts.push_back(c.substr(0, 12));
    return absl::FailedPreconditionError(absl::StrCat(
        "graph: image ", id.substr(0, 12), " has child images (",
        absl::StrJoin(shorts, ", "), "); delete them first"));
  }
  absl::Status s = MkdirAll(TmpDir(), 0700);
  if (!s.ok()) return s;
  std::string doomed = JoinPath(TmpDir(), absl::StrCat(id, "-deleted"));
  s = RemoveTree(doomed);
  if (!s.ok()) return s;
  if (rename(ImageDir(id).c_str(), doomed.c_str()) != 0) {
    return ErrnoStatus(errno, absl::StrCat("graph: delete image ", id));
  }
  index_.Delete(id).IgnoreError();
  s = SyncDir(root_);
  if (!s.ok()) return s;
  if (driver_->Exists(id)) {
    s = driver_->Remove(id);
    if (!s.ok()) return s;
  }
  return RemoveTree(doomed);
}

}  // namespace berth::storage
