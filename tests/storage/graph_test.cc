// Graph (the image store) and volumes: Register/Get/Delete on vfs and
// overlay, the on-disk format, atomicity (a failed or killed Register
// leaves nothing), leftover clean-up at Open, and the cost of Open.
#include "storage/graph.h"

#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "absl/strings/match.h"
#include "nlohmann/json.hpp"
#include "storage/driver_registry.h"
#include "storage/graphdb.h"
#include "storage/overlay_driver.h"
#include "storage/tag_store.h"
#include "storage/vfs_driver.h"
#include "storage/volumes.h"
#include "tests/storage/test_util.h"

namespace berth::storage {
namespace {

using testing::PathExists;
using testing::ReadFile;
using testing::TarBuilder;
using testing::TempDir;

struct Fixture {
  TempDir dir;
  std::unique_ptr<VfsDriver> vfs = *VfsDriver::New(dir.Sub("vfs"));
  std::unique_ptr<Graph> graph = OpenGraph();

  std::unique_ptr<Graph> OpenGraph(GraphOptions options = {}) {
    absl::StatusOr<std::unique_ptr<Graph>> g =
        Graph::Open(dir.Sub("graph"), vfs.get(), std::move(options));
    REQUIRE_MESSAGE(g.ok(), g.status().ToString());
    return *std::move(g);
  }
};

int CountEntries(const std::string& path) {
  DIR* d = opendir(path.c_str());
  if (d == nullptr) return -1;
  int n = 0;
  while (struct dirent* ent = readdir(d)) {
    if (std::string(ent->d_name) != "." && std::string(ent->d_name) != "..") ++n;
  }
  closedir(d);
  return n;
}

TEST_CASE("Register stores the layer and the metadata in the documented format") {
  Fixture f;
  CHECK((testing::Lstat(f.dir.Sub("graph")).st_mode & 07777) == 0700);
  Image image;
  image.comment = "imported from a tarball";
  image.author = "berth tests";
  image.architecture = "amd64";
  image.os = "linux";
  image.berth_version = "0.1.0";
  image.config = nlohmann::json{{"Cmd", {"/bin/sh"}}};
  absl::StatusOr<Image> stored = f.graph->Register(
      image, StringSource(TarBuilder().File("bin/sh", "#!", 0755).File("etc/os", "berth").Finish()));
  REQUIRE_MESSAGE(stored.ok(), stored.status().ToString());
  const std::string id = stored->id;
  CHECK(IsHexId(id));
  CHECK(stored->size == 7);
  CHECK(absl::Now() - stored->created < absl::Minutes(1));

  std::string image_dir = f.dir.Sub("graph/" + id);
  nlohmann::json j = nlohmann::json::parse(ReadFile(image_dir + "/json"));
  CHECK(j["id"] == id);
  CHECK(!j.contains("parent"));
  CHECK(j["comment"] == "imported from a tarball");
  CHECK(j["author"] == "berth tests");
  CHECK(j["architecture"] == "amd64");
  CHECK(j["os"] == "linux");
  CHECK(j["berth_version"] == "0.1.0");
  CHECK(j["Size"] == 7);
  CHECK(j["config"]["Cmd"][0] == "/bin/sh");
  std::string created = j["created"];
  CHECK(created.size() >= 20);
  CHECK(created.back() == 'Z');
  CHECK(created[10] == 'T');
  CHECK(ReadFile(image_dir + "/layersize") == "7");
  CHECK(ReadFile(f.vfs->LayerDir(id) + "/etc/os") == "berth");
  CHECK(CountEntries(f.dir.Sub("graph/_tmp")) == 0);

  absl::StatusOr<Image> got = f.graph->Get(id.substr(0, 6));
  REQUIRE(got.ok());
  CHECK(got->id == id);
  CHECK(got->comment == image.comment);
  CHECK(got->config == image.config);
  CHECK(got->created == stored->created);  // nanoseconds survive
  CHECK(got->size == 7);
  CHECK(f.graph->Exists(id));
}

TEST_CASE("parents, children, heads, and Delete refusing a parent") {
  Fixture f;
  Image base;
  base.id = std::string(64, 'a');
  REQUIRE(f.graph->Register(base, StringSource(TarBuilder().File("a", "1").File("b", "2").Finish())).ok());
  Image child;
  child.id = std::string(64, 'b');
  child.parent = base.id;
  REQUIRE(f.graph->Register(child, StringSource(TarBuilder().File(".wh.a", "").File("c", "3").Finish())).ok());
  std::string layer = f.vfs->LayerDir(child.id);
  CHECK(!PathExists(layer + "/a"));
  CHECK(ReadFile(layer + "/b") == "2");
  CHECK(ReadFile(layer + "/c") == "3");

  CHECK(*f.graph->Children(base.id) == std::vector<std::string>{child.id});
  absl::StatusOr<std::map<std::string, Image>> heads = f.graph->Heads();
  REQUIRE(heads.ok());
  CHECK(heads->size() == 1);
  CHECK(heads->count(child.id) == 1);
  CHECK(f.graph->Map()->size() == 2);
  CHECK(f.graph->Ids() == std::vector<std::string>{base.id, child.id});

  absl::Status refused = f.graph->Delete(base.id);
  CHECK(refused.message() == "graph: image aaaaaaaaaaaa has child images (bbbbbbbbbbbb); delete them first");
  CHECK(absl::IsFailedPrecondition(refused));
  REQUIRE(f.graph->Delete("bbb").ok());
  CHECK(!f.vfs->Exists(child.id));
  CHECK(!PathExists(f.dir.Sub("graph/" + child.id)));
  CHECK(f.graph->Get(child.id).status().message() ==
        "could not find image: no such id: " + child.id);
  REQUIRE(f.graph->Delete(base.id).ok());
  CHECK(f.graph->Map()->empty());
  CHECK(CountEntries(f.dir.Sub("graph/_tmp")) == 0);
  CHECK(f.graph->Delete(base.id).message() == "could not find image: no such id: " + base.id);
}

TEST_CASE("Register errors") {
  Fixture f;
  Image bad;
  bad.id = "xyz";
  CHECK(f.graph->Register(bad, nullptr).status().message() ==
        "graph: invalid image id \"xyz\": expected 64 hex characters");
  Image orphan;
  orphan.parent = std::string(64, 'c');
  CHECK(f.graph->Register(orphan, nullptr).status().message() ==
        "graph: parent image " + orphan.parent + " does not exist");
  Image once;
  once.id = std::string(64, 'd');
  REQUIRE(f.graph->Register(once, nullptr).ok());
  CHECK(f.graph->Register(once, nullptr).status().message() ==
        "graph: image " + once.id + " already exists");
  Image self;
  self.id = std::string(64, 'e');
  self.parent = self.id;
  CHECK(absl::IsInvalidArgument(f.graph->Register(self, nullptr).status()));
  CHECK(absl::IsInvalidArgument(f.graph->Get("").status()));
}

TEST_CASE("a failed Register leaves no image, no temp dir and no layer") {
  Fixture f;
  const std::string good = TarBuilder().File("one", "1").File("two", std::string(3000, '2')).Finish();
  for (const std::string& broken :
       {good.substr(0, 1024 + 512 + 100),                          // truncated
        TarBuilder().File("ok", "1").File("../../escape", "x").Finish(),  // traversal
        std::string("definitely not a tar archive") + std::string(500, ' ')}) {
    Image image;
    image.id = GenerateImageId();
    absl::StatusOr<Image> r = f.graph->Register(image, StringSource(broken));
    CHECK(!r.ok());
    CHECK(absl::StartsWith(r.status().message(), "graph: apply the layer of image " + image.id));
    CHECK(!f.graph->Exists(image.id));
    CHECK(!f.vfs->Exists(image.id));
    CHECK(!PathExists(f.dir.Sub("graph/" + image.id)));
    CHECK(CountEntries(f.dir.Sub("graph/_tmp")) == 0);
  }
  CHECK(!PathExists(f.dir.path() + "/escape"));
  CHECK(CountEntries(f.dir.Sub("vfs/dir")) == 0);
}

TEST_CASE("SIGKILL just before the commit: reopening removes every trace") {
  Fixture f;
  Image base;
  base.id = std::string(64, 'a');
  REQUIRE(f.graph->Register(base, StringSource(TarBuilder().File("keep", "k").Finish())).ok());
  const std::string doomed(64, 'f');
  int ready[2];
  REQUIRE(pipe(ready) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(ready[0]);
    GraphOptions options;
    options.before_commit = [fd = ready[1]](absl::string_view) {
      char c = 'x';
      if (write(fd, &c, 1) != 1) _exit(3);
      while (true) pause();
    };
    absl::StatusOr<std::unique_ptr<Graph>> g =
        Graph::Open(f.dir.Sub("graph"), f.vfs.get(), options);
    if (!g.ok()) _exit(1);
    Image image;
    image.id = doomed;
    image.parent = std::string(64, 'a');
    (*g)->Register(image, StringSource(TarBuilder().File("half", "h").Finish())).IgnoreError();
    _exit(2);
  }
  close(ready[1]);
  char c;
  ssize_t n = read(ready[0], &c, 1);
  close(ready[0]);
  REQUIRE_MESSAGE(n == 1, "the child never reached the commit");
  REQUIRE(kill(pid, SIGKILL) == 0);
  int status;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK(WIFSIGNALED(status));
  // The killed registration left its temp dir and its layer.
  CHECK(PathExists(f.dir.Sub("graph/_tmp/" + doomed + "/json")));
  CHECK(f.vfs->Exists(doomed));
  CHECK(!PathExists(f.dir.Sub("graph/" + doomed)));
  // A restart removes both; the image never existed.
  std::unique_ptr<Graph> reopened = f.OpenGraph();
  CHECK(CountEntries(f.dir.Sub("graph/_tmp")) == 0);
  CHECK(!f.vfs->Exists(doomed));
  CHECK(!reopened->Exists(doomed));
  CHECK(reopened->Ids() == std::vector<std::string>{base.id});
  CHECK(ReadFile(f.vfs->LayerDir(base.id) + "/keep") == "k");
  // And the id can be registered properly now.
  Image again;
  again.id = doomed;
  CHECK(reopened->Register(again, nullptr).ok());
}

TEST_CASE("Open skips stray names and indexes ids; a leftover delete is finished") {
  Fixture f;
  Image image;
  image.id = std::string(64, '1');
  image.id[0] = 'a';
  REQUIRE(f.graph->Register(image, nullptr).ok());
  REQUIRE(mkdir(f.dir.Sub("graph/not-an-id").c_str(), 0700) == 0);
  // An interrupted Delete: image dir moved to _tmp, layer still there.
  Image gone;
  gone.id = std::string(64, 'c');
  REQUIRE(f.graph->Register(gone, nullptr).ok());
  REQUIRE(rename(f.dir.Sub("graph/" + gone.id).c_str(),
                 f.dir.Sub("graph/_tmp/" + gone.id + "-deleted").c_str()) == 0);
  std::unique_ptr<Graph> g = f.OpenGraph();
  CHECK(g->Ids() == std::vector<std::string>{image.id});
  CHECK(*g->index().Get("a") == image.id);
  CHECK(!f.vfs->Exists(gone.id));
  CHECK(CountEntries(f.dir.Sub("graph/_tmp")) == 0);
}

TEST_CASE("Open with 1,000 images only lists ids") {
  Fixture f;
  for (int i = 0; i < 1000; ++i) {
    std::string id = GenerateImageId();
    std::string d = f.dir.Sub("graph/" + id);
    REQUIRE(mkdir(d.c_str(), 0700) == 0);
    Image image;
    image.id = id;
    testing::WriteFile(d + "/json", EncodeImage(image));
    testing::WriteFile(d + "/layersize", "0");
  }
  auto start = std::chrono::steady_clock::now();
  std::unique_ptr<Graph> g = f.OpenGraph();
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                std::chrono::steady_clock::now() - start)
                .count();
  MESSAGE("Graph::Open with 1000 images: " << us << " us");
  CHECK(g->Ids().size() == 1000);
  CHECK(g->Map()->size() == 1000);
}

TEST_CASE("concurrent registrations of distinct images") {
  Fixture f;
  Image base;
  base.id = std::string(64, 'a');
  REQUIRE(f.graph->Register(base, nullptr).ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        Image image;
        image.parent = base.id;
        absl::StatusOr<Image> r = f.graph->Register(
            image, StringSource(TarBuilder().File("t" + std::to_string(t), "x").Finish()));
        CHECK(r.ok());
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(f.graph->Children(base.id)->size() == 20);
}

TEST_CASE("an overlay-backed graph: layers stack, whiteouts hide") {
  if (!testing::RequireRoot("overlay mounts")) return;
  TempDir dir;
  absl::StatusOr<std::unique_ptr<OverlayDriver>> ov = OverlayDriver::New(dir.Sub("overlay"));
  REQUIRE_MESSAGE(ov.ok(), ov.status().ToString());
  auto graph = *Graph::Open(dir.Sub("graph"), ov->get());
  Image base;
  base = *graph->Register(base, StringSource(TarBuilder().File("etc/passwd", "root").File("etc/group", "g").Finish()));
  Image child;
  child.parent = base.id;
  child = *graph->Register(child, StringSource(TarBuilder().File("etc/.wh.passwd", "").Finish()));
  CHECK(child.size == 0);
  absl::StatusOr<std::string> root = (*ov)->Get(child.id);
  REQUIRE(root.ok());
  CHECK(!PathExists(*root + "/etc/passwd"));
  CHECK(ReadFile(*root + "/etc/group") == "g");
  REQUIRE((*ov)->Put(child.id).ok());
  REQUIRE(graph->Delete(child.id).ok());
  REQUIRE(graph->Delete(base.id).ok());
  CHECK(CountEntries(dir.Sub("overlay")) == 0);
  REQUIRE((*ov)->Cleanup().ok());
}

TEST_CASE("volumes: create, find, list, remove") {
  TempDir dir;
  auto vfs = *VfsDriver::New(dir.Sub("vfs"));
  absl::StatusOr<std::unique_ptr<VolumeStore>> store =
      VolumeStore::Open(dir.Sub("volumes"), vfs.get());
  REQUIRE(store.ok());
  absl::StatusOr<Volume> v = (*store)->Create();
  REQUIRE(v.ok());
  CHECK(v->path == dir.Sub("vfs/dir/" + v->id));
  CHECK((testing::Lstat(v->path).st_mode & 07777) == 0755);
  testing::WriteFile(v->path + "/data", "kept");
  CHECK(PathExists(dir.Sub("volumes/" + v->id + "/json")));
  nlohmann::json j = nlohmann::json::parse(ReadFile(dir.Sub("volumes/" + v->id + "/json")));
  CHECK(j["comment"] == "volume");
  absl::StatusOr<Volume> w = (*store)->Create();
  REQUIRE(w.ok());
  CHECK((*store)->List()->size() == 2);
  // Reopening finds them again.
  auto reopened = *VolumeStore::Open(dir.Sub("volumes"), vfs.get());
  absl::StatusOr<Volume> found = reopened->Get(v->id.substr(0, 12));
  REQUIRE(found.ok());
  CHECK(found->path == v->path);
  CHECK(found->created == v->created);
  CHECK(ReadFile(found->path + "/data") == "kept");
  REQUIRE(reopened->Remove(v->id).ok());
  CHECK(!PathExists(v->path));
  CHECK(reopened->Get(v->id).status().message() ==
        "could not find image: no such id: " + v->id);
  CHECK(reopened->List()->size() == 1);
}

TEST_CASE("start-up on an empty root: driver, graph, volumes, tags, graphdb") {
  TempDir dir;
  auto cpu_us = [] {
    rusage ru;
    getrusage(RUSAGE_THREAD, &ru);
    return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000L + ru.ru_utime.tv_usec +
           ru.ru_stime.tv_usec;
  };
  long cpu_start = cpu_us();
  auto start = std::chrono::steady_clock::now();
  auto last = start;
  std::string report;
  auto lap = [&](const char* what) {
    auto now = std::chrono::steady_clock::now();
    absl::StrAppend(&report, " ", what, "=",
                    std::chrono::duration_cast<std::chrono::microseconds>(now - last).count(),
                    "us");
    last = now;
  };
  DriverSelection sel;
  sel.root = dir.path();
  absl::StatusOr<SelectedDriver> driver = SelectDriver(sel);
  REQUIRE(driver.ok());
  lap("driver");
  auto graph = Graph::Open(dir.Sub("graph"), driver->driver.get());
  REQUIRE(graph.ok());
  lap("graph");
  auto vfs = VfsDriver::New(dir.Sub("vfs"));
  REQUIRE(vfs.ok());
  auto volumes = VolumeStore::Open(dir.Sub("volumes"), vfs->get());
  REQUIRE(volumes.ok());
  lap("volumes");
  auto tags = TagStore::Open(
      dir.Sub("repositories-" + std::string(driver->driver->Name())));
  REQUIRE(tags.ok());
  lap("tags");
  auto db = GraphDb::Open(dir.Sub("linkgraph.db"));
  REQUIRE(db.ok());
  lap("graphdb");
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(last - start).count();
  MESSAGE("empty-root storage start-up with " << driver->driver->Name() << ": " << us
          << " us wall, " << cpu_us() - cpu_start << " us CPU:" << report);
  CHECK((*db)->Exists("/"));
  REQUIRE(driver->driver->Cleanup().ok());
}

}  // namespace
}  // namespace berth::storage
