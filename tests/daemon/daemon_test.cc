// NewDaemon in-process on scratch roots: the plan, restore, start-up failures
// releasing what was taken, and the storage and info jobs.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "daemon/daemon.h"
#include "daemon/groups.h"
#include "nlohmann/json.hpp"
#include "storage/graphdb.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace berth {
namespace {

using testing::ReadFileOrEmpty;
using testing::TempDir;
using testing::WriteFileOrDie;

Config ScratchConfig(const TempDir& dir) {
  Config c;
  c.root = dir / "root";
  c.pidfile = dir / "berthd.pid";
  c.bridge_iface = "none";
  return c;
}

DaemonOptions VfsOptions(const TempDir& dir) {
  DaemonOptions o;
  o.env_driver = "vfs";
  o.tmpdir_override = dir / "tmp";
  return o;
}

std::string Id(char c) { return std::string(64, c); }

struct Ran {
  absl::Status status;
  std::string out;
  std::string err;
};

Ran RunJob(Engine& eng, const std::string& line, std::string input = "") {
  auto job = *eng.ParseJob(line);
  auto out = job->Stdout().AddBuffer();
  auto err = job->Stderr().AddBuffer();
  if (!input.empty()) REQUIRE(job->Stdin().AddString(std::move(input)).ok());
  absl::Status s = job->Run();
  return Ran{s, *out, *err};
}

TEST_CASE("the plan lists one job per step, and init_networkdriver only with networking") {
  Config c;
  DaemonOptions o;
  auto plan = Daemon::Plan(c, o);
  std::vector<std::string> jobs;
  for (const Step& s : plan) jobs.push_back(s.job);
  CHECK(jobs == std::vector<std::string>{"daemon_config", "daemon_pidfile", "daemon_system_checks", "daemon_root",
                                         "daemon_graphdriver", "daemon_containers_dir", "daemon_graph",
                                         "init_networkdriver", "daemon_graphdb", "daemon_sysinfo", "daemon_dns",
                                         "daemon_restore", "daemon_shutdown_hooks"});
  c.bridge_iface = "none";
  CHECK(Daemon::Plan(c, o).size() == jobs.size() - 1);
  std::string text = Daemon::FormatPlan(Daemon::Plan(c, o));
  CHECK(text.find("   daemon_pidfile Pidfile=/var/run/berth.pid\n") != std::string::npos);
}

TEST_CASE("NewDaemon on an empty scratch root, then a clean shutdown in the documented order") {
  TempDir dir;
  Engine eng;
  std::vector<std::string> order;
  absl::Mutex mu;
  auto d = Daemon::New(eng, ScratchConfig(dir), VfsOptions(dir));
  REQUIRE_MESSAGE(d.ok(), d.status().ToString());
  CHECK(ReadFileOrEmpty(dir / "berthd.pid") == std::to_string(::getpid()) + "\n");
  struct stat st;
  for (const char* sub : {"root", "root/containers", "root/graph", "root/vfs"}) {
    CAPTURE(sub);
    REQUIRE(::stat((dir / sub).c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0700);
  }
  CHECK(::stat((dir / "root/linkgraph.db").c_str(), &st) == 0);
  CHECK((*d)->driver()->Name() == "vfs");
  // The step jobs are gone once start-up is over.
  for (const std::string& name : eng.Commands()) CHECK(name.rfind("daemon_", 0) != 0);
  eng.Shutdown();
  CHECK(::access((dir / "berthd.pid").c_str(), F_OK) != 0);
}

TEST_CASE("a start-up failure releases what earlier steps took") {
  TempDir dir;
  Engine eng;
  Config c = ScratchConfig(dir);
  c.graph_driver = "btrfs";  // named: no fallback, and the root is not on btrfs
  DaemonOptions o = VfsOptions(dir);
  o.env_driver.clear();
  auto d = Daemon::New(eng, c, o);
  REQUIRE_FALSE(d.ok());
  CHECK(eng.IsShutdown());
  // The pid file (step 2) was removed by its hook.
  CHECK(::access((dir / "berthd.pid").c_str(), F_OK) != 0);
  // Config errors stop before anything is touched.
  Engine eng2;
  Config bad = ScratchConfig(dir);
  bad.bridge_iface = "br0";
  bad.bridge_ip = "10.0.0.1/24";
  auto d2 = Daemon::New(eng2, bad, VfsOptions(dir));
  CHECK(d2.status().message() == "You specified -b & --bip, mutually exclusive options. Please specify only one.");
  CHECK(::access((dir / "berthd.pid").c_str(), F_OK) != 0);
}

TEST_CASE("networking without network jobs is refused with a clear message") {
  TempDir dir;
  Engine eng;
  Config c = ScratchConfig(dir);
  c.bridge_iface.clear();
  auto d = Daemon::New(eng, c, VfsOptions(dir));
  REQUIRE_FALSE(d.ok());
  CHECK(d.status().message() ==
        "networking needs the network jobs (init_networkdriver, allocate_interface, ...) but none is installed: "
        "run berthd with -b none to start without networking");
}

TEST_CASE("restore: ids, names, and previously running containers marked stopped") {
  TempDir dir;
  std::string containers = dir / "root/containers";
  std::filesystem::create_directories(containers);
  ContainerRecord web;
  web.id = Id('a');
  web.name = "/web";
  web.state.running = true;
  web.state.pid = 12345;
  ContainerRecord db;
  db.id = Id('b');
  db.name = "/db";
  db.state.exit_code = 3;
  ContainerRecord nameless;
  nameless.id = Id('c');
  REQUIRE(WriteContainer(containers, web, false).ok());
  REQUIRE(WriteContainer(containers, db, false).ok());
  REQUIRE(WriteContainer(containers, nameless, false).ok());
  std::filesystem::create_directories(containers + "/" + Id('d'));
  WriteFileOrDie(containers + "/" + Id('d') + "/config.json", "{not json");
  std::filesystem::create_directories(containers + "/" + Id('e'));
  WriteFileOrDie(containers + "/" + Id('e') + "/config.json", EncodeContainer(web));  // id mismatch

  Engine eng;
  auto d = Daemon::New(eng, ScratchConfig(dir), VfsOptions(dir));
  REQUIRE_MESSAGE(d.ok(), d.status().ToString());
  CHECK((*d)->container_count() == 3);
  CHECK(*(*d)->graphdb()->Get("/web") == Id('a'));
  CHECK(*(*d)->graphdb()->Get("/db") == Id('b'));
  auto restored = DecodeContainer(ReadFileOrEmpty(containers + "/" + Id('a') + "/config.json"));
  REQUIRE(restored.ok());
  CHECK_FALSE(restored->state.running);
  CHECK(restored->state.exit_code == -127);
  CHECK(restored->state.pid == 0);
  CHECK_FALSE(restored->state.finished_at.empty());
  auto untouched = DecodeContainer(ReadFileOrEmpty(containers + "/" + Id('b') + "/config.json"));
  CHECK(untouched->state.exit_code == 3);
  auto warnings = (*d)->warnings();
  int skipped = 0;
  for (const std::string& w : warnings) skipped += w.rfind("skipping container ", 0) == 0;
  CHECK(skipped == 2);
  eng.Shutdown();

  // A second start finds the names already there (same ids): no conflict.
  Engine again;
  auto d2 = Daemon::New(again, ScratchConfig(dir), VfsOptions(dir));
  REQUIRE(d2.ok());
  for (const std::string& w : (*d2)->warnings()) CHECK(w.find("not restored") == std::string::npos);
  again.Shutdown();
}

TEST_CASE("storage and info jobs on a live daemon") {
  TempDir dir;
  Engine eng;
  auto d = Daemon::New(eng, ScratchConfig(dir), VfsOptions(dir));
  REQUIRE(d.ok());
  for (const HandlerGroup& g : DaemonGroups(**d)) REQUIRE(g.install(eng).ok());

  // A tar with one file, made by the tar program.
  std::filesystem::create_directories(dir / "layer/etc");
  WriteFileOrDie(dir / "layer/etc/motd", "welcome\n");
  REQUIRE(testing::RunCommand({"/bin/tar", "-C", dir / "layer", "-cf", dir / "layer.tar", "."}).status == 0);
  Ran imported = RunJob(eng, "import " + (dir / "layer.tar") + " demo");
  REQUIRE_MESSAGE(imported.status.ok(), imported.err);
  REQUIRE(imported.out.size() == 65);
  std::string id = imported.out.substr(0, 64);
  Ran from_stdin = RunJob(eng, "import - demo v2", ReadFileOrEmpty(dir / "layer.tar"));
  REQUIRE(from_stdin.status.ok());
  std::string id2 = from_stdin.out.substr(0, 64);

  auto images = nlohmann::json::parse(RunJob(eng, "images").out);
  REQUIRE(images.size() == 2);
  for (const auto& img : images) {
    CHECK(img.contains("Created"));
    CHECK(img["Size"].get<int64_t>() >= 8);
    if (img["Id"] == id) CHECK(img["RepoTags"] == nlohmann::json{"demo:latest"});
    if (img["Id"] == id2) CHECK(img["RepoTags"] == nlohmann::json{"demo:v2"});
  }

  CHECK(RunJob(eng, "tag demo:latest web").status.ok());
  CHECK(RunJob(eng, "tag " + id2.substr(0, 10) + " web").status.message() ==
        "Conflict: Tag latest is already set to image " + id + ", if you want to replace it, please use -f option");
  CHECK(RunJob(eng, "tag " + id2.substr(0, 10) + " web force=true").status.ok());
  CHECK(RunJob(eng, "tag nothing-here web").status.message() == "No such image: nothing-here");
  CHECK(RunJob(eng, "tag demo:latest scratch").status.message() == "'scratch' is a reserved name");

  auto inspect = nlohmann::json::parse(RunJob(eng, "image_inspect demo").out);
  CHECK(inspect["id"] == id);

  Ran untag = RunJob(eng, "image_delete web");
  CHECK(untag.out == "Untagged: web:latest\n");
  Ran del = RunJob(eng, "image_delete demo:v2");
  CHECK(del.out == "Untagged: demo:v2\nDeleted: " + id2 + "\n");
  CHECK(RunJob(eng, "image_inspect " + id2).status.message() == "No such image: " + id2);

  auto info = nlohmann::json::parse(RunJob(eng, "info").out);
  CHECK(info["Images"] == 1);
  CHECK(info["Containers"] == 0);
  CHECK(info["Driver"] == "vfs");
  CHECK(info["DriverStatus"].is_array());
  CHECK(info["ExecutionDriver"] == std::string("native-") + BERTH_VERSION);
  CHECK(info["MemoryLimit"].is_boolean());
  CHECK(info["SwapLimit"].is_boolean());
  CHECK(info["IPv4Forwarding"].is_boolean());
  CHECK(info["Root"] == std::filesystem::canonical(dir / "root").string());
  CHECK(info.contains("KernelVersion"));
  eng.Shutdown();
}

}  // namespace
}  // namespace berth
