#include "handlers/storage/storage.h"

#include <sys/utsname.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "nlohmann/json.hpp"
#include "storage/byte_source.h"
#include "storage/image.h"

namespace berth {
namespace {

struct Stores {
  storage::Graph* graph;
  storage::TagStore* tags;
};

std::string MachineArch() {
  struct utsname u;
  if (::uname(&u) != 0) return "";
  std::string m = u.machine;
  if (m == "x86_64") return "amd64";
  if (m == "aarch64") return "arm64";
  return m;
}

// The repository and tag of args[at] ("repo", "repo:tag") and an optional
// args[at+1] TAG; the tag defaults to "latest". Both validated.
absl::StatusOr<std::pair<std::string, std::string>> RepoAndTag(const std::vector<std::string>& args, size_t at) {
  auto [repo, tag] = storage::ParseRepositoryTag(args[at]);
  if (at + 1 < args.size()) {
    if (!tag.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("both a tag in '", args[at], "' and a TAG argument '", args[at + 1], "': give one"));
    }
    tag = args[at + 1];
  }
  if (tag.empty()) tag = "latest";
  if (absl::Status v = storage::ValidateRepositoryName(repo); !v.ok()) return v;
  if (absl::Status v = storage::ValidateTagName(tag); !v.ok()) return v;
  return std::make_pair(repo, tag);
}

int Import(const Stores& s, Job& job) {
  const auto& a = job.args();
  if (a.size() < 2 || a.size() > 3) return job.Errorf("usage: import SRC REPO [TAG] (SRC: '-' for stdin or a tar file)");
  const std::string& src = a[0];
  absl::StatusOr<std::pair<std::string, std::string>> name = RepoAndTag(a, 1);
  if (!name.ok()) return job.Error(name.status());
  const auto& [repo, tag] = *name;
  // The name was refused above, if bad, before reading a byte of the layer.
  storage::ByteSource layer;
  if (src == "-") {
    layer = [&job](char* buf, size_t n) -> absl::StatusOr<size_t> { return job.Stdin().Read(buf, n); };
  } else {
    absl::StatusOr<storage::ByteSource> file = storage::FileSource(src);
    if (!file.ok()) return job.Error(file.status());
    layer = *std::move(file);
  }
  storage::Image image;
  image.id = storage::GenerateImageId();
  image.created = absl::Now();
  image.comment = absl::StrCat("Imported from ", src == "-" ? "stdin" : src);
  image.architecture = MachineArch();
  image.os = "linux";
  image.berth_version = BERTH_VERSION;
  absl::StatusOr<storage::Image> stored = s.graph->Register(std::move(image), std::move(layer));
  if (!stored.ok()) return job.Error(absl::StrCat("import: ", stored.status().message()));
  if (absl::Status t = s.tags->Set(repo, tag, stored->id, /*force=*/true); !t.ok()) return job.Error(t);
  return job.Error(job.Stdout().Write(stored->id + "\n"));
}

int Images(const Stores& s, Job& job) {
  if (!job.args().empty()) return job.Errorf("images: takes no arguments, got '%s'", job.args()[0]);
  absl::StatusOr<std::map<std::string, storage::Image>> all = s.graph->Map();
  if (!all.ok()) return job.Error(all.status());
  absl::StatusOr<std::map<std::string, storage::Image>> heads = s.graph->Heads();
  if (!heads.ok()) return job.Error(heads.status());
  std::map<std::string, std::vector<std::string>> by_id = s.tags->ByID();
  // Tagged images, and untagged ones that are nobody's parent (the rest are
  // intermediate layers).
  std::vector<const storage::Image*> shown;
  for (const auto& [id, img] : *all) {
    if (by_id.contains(id) || heads->contains(id)) shown.push_back(&img);
  }
  std::sort(shown.begin(), shown.end(), [](const storage::Image* a, const storage::Image* b) {
    return a->created != b->created ? a->created > b->created : a->id < b->id;
  });
  nlohmann::json out = nlohmann::json::array();
  for (const storage::Image* img : shown) {
    auto tags = by_id.find(img->id);
    nlohmann::json repo_tags = tags == by_id.end() ? nlohmann::json::array({"<none>:<none>"})
                                                   : nlohmann::json(tags->second);
    out.push_back({{"Id", img->id},
                   {"RepoTags", repo_tags},
                   {"Created", absl::ToUnixSeconds(img->created)},
                   {"Size", img->size}});
  }
  return job.Error(job.Stdout().Write(out.dump() + "\n"));
}

int Tag(const Stores& s, Job& job) {
  std::vector<std::string> a = job.args();
  // `tag -f IMAGE REPO[:TAG]`, as the Conflict error suggests, or env force=true.
  bool force = job.env().GetBool("force");
  if (!a.empty() && a[0] == "-f") {
    force = true;
    a.erase(a.begin());
  }
  if (a.size() < 2 || a.size() > 3) return job.Errorf("usage: tag [-f] IMAGE REPO[:TAG] (or IMAGE REPO TAG)");
  absl::StatusOr<std::pair<std::string, std::string>> name = RepoAndTag(a, 1);
  if (!name.ok()) return job.Error(name.status());
  absl::StatusOr<std::string> id = ResolveImage(s.graph, s.tags, a[0]);
  if (!id.ok()) return job.Error(id.status());
  return job.Error(s.tags->Set(name->first, name->second, *id, force));
}

int Inspect(const Stores& s, Job& job) {
  if (job.args().size() != 1) return job.Errorf("usage: image_inspect NAME");
  absl::StatusOr<std::string> id = ResolveImage(s.graph, s.tags, job.args()[0]);
  if (!id.ok()) return job.Error(id.status());
  absl::StatusOr<storage::Image> img = s.graph->Get(*id);
  if (!img.ok()) return job.Error(img.status());
  return job.Error(job.Stdout().Write(storage::EncodeImage(*img) + "\n"));
}

int Delete(const Stores& s, Job& job) {
  if (job.args().size() != 1) return job.Errorf("usage: image_delete NAME");
  const std::string& name = job.args()[0];
  std::string out;
  std::string id;
  if (absl::StatusOr<std::string> tagged = s.tags->Lookup(name); tagged.ok()) {
    // A tag: untag it; the image goes too once no tag names it.
    id = *tagged;
    auto [repo, tag] = storage::ParseRepositoryTag(name);
    if (tag.empty()) tag = "latest";
    if (absl::Status d = s.tags->Delete(repo, tag); !d.ok()) return job.Error(d);
    absl::StrAppend(&out, "Untagged: ", repo, ":", tag, "\n");
    if (s.tags->ByID().contains(id)) return job.Error(job.Stdout().Write(out));
  } else {
    absl::StatusOr<std::string> resolved = ResolveImage(s.graph, s.tags, name);
    if (!resolved.ok()) return job.Error(resolved.status());
    id = *resolved;
    absl::StatusOr<std::vector<std::string>> children = s.graph->Children(id);
    if (!children.ok()) return job.Error(children.status());
    if (!children->empty()) {
      return job.Errorf("Conflict, cannot delete %s because it has %d child image(s)", id.substr(0, 12),
                        static_cast<int>(children->size()));
    }
    absl::StatusOr<std::vector<std::string>> untagged = s.tags->DeleteImage(id);
    if (!untagged.ok()) return job.Error(untagged.status());
    for (const std::string& t : *untagged) absl::StrAppend(&out, "Untagged: ", t, "\n");
  }
  if (absl::Status d = s.graph->Delete(id); !d.ok()) {
    (void)job.Stdout().Write(out);
    return job.Error(d);
  }
  absl::StrAppend(&out, "Deleted: ", id, "\n");
  return job.Error(job.Stdout().Write(out));
}

}  // namespace

absl::StatusOr<std::string> ResolveImage(storage::Graph* graph, storage::TagStore* tags, const std::string& name) {
  if (absl::StatusOr<std::string> tagged = tags->Lookup(name); tagged.ok()) return tagged;
  absl::StatusOr<std::string> id = graph->Resolve(name);
  if (id.ok()) return id;
  if (id.status().code() == absl::StatusCode::kFailedPrecondition) return id.status();  // ambiguous prefix
  return absl::NotFoundError(absl::StrCat("No such image: ", name));
}

HandlerGroup StorageGroup(storage::Graph* graph, storage::TagStore* tags) {
  HandlerGroup g;
  g.name = "storage";
  g.help = {
      JobHelp("image_delete", "NAME", "removes a tag (Untagged: repo:tag), and the image once no tag names it "
                                      "(Deleted: ID)"),
      JobHelp("image_inspect", "NAME", "the image's metadata as JSON"),
      JobHelp("images", "", "JSON array of {Id, RepoTags, Created, Size}, newest first"),
      JobHelp("import", "SRC REPO[:TAG] | SRC REPO TAG",
              "makes an image from a tar stream (SRC -, stdin) or file (the client reads SRC and streams it); "
              "prints the image id",
              {}, StdinUse::kOptional),
      JobHelp("tag", "[-f] IMAGE REPO[:TAG] | [-f] IMAGE REPO TAG",
              "names an image REPO:TAG (Docker's name rules); -f replaces a tag in use",
              {{"force", "true: as -f"}}),
  };
  g.jobs = JobNames(g.help);
  Stores s{graph, tags};
  g.install = [s](Engine& eng) -> absl::Status {
    struct Entry {
      const char* name;
      int (*fn)(const Stores&, Job&);
    };
    for (const Entry& e : {Entry{"import", Import}, Entry{"images", Images}, Entry{"tag", Tag},
                           Entry{"image_inspect", Inspect}, Entry{"image_delete", Delete}}) {
      auto fn = e.fn;
      if (absl::Status st = eng.Register(e.name, [s, fn](Job& job) { return fn(s, job); }); !st.ok()) return st;
    }
    return absl::OkStatus();
  };
  return g;
}

}  // namespace berth
