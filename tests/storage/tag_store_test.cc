// TagStore: the file format of docs/storage.md, mode, every error string, ByID, and a
// writer killed with SIGKILL mid-write leaving a valid file.
#include "storage/tag_store.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include "nlohmann/json.hpp"
#include "tests/storage/test_util.h"

namespace berth::storage {
namespace {

using testing::PathExists;
using testing::ReadFile;
using testing::TempDir;
using testing::WriteFile;

const std::string kA(64, 'a');
const std::string kB(64, 'b');

std::unique_ptr<TagStore> OpenStore(const std::string& path,
                                    TagStoreOptions options = {}) {
  absl::StatusOr<std::unique_ptr<TagStore>> store =
      TagStore::Open(path, std::move(options));
  REQUIRE_MESSAGE(store.ok(), store.status().ToString());
  return *std::move(store);
}

TEST_CASE("a new store writes nothing until the first change, then mode 0600") {
  TempDir dir;
  std::string path = dir.Sub("repositories-vfs");
  auto store = OpenStore(path);
  CHECK(!PathExists(path));
  CHECK(store->Snapshot().empty());
  REQUIRE(store->Set("a", "", kA, false).ok());
  REQUIRE(store->Delete("a", "").ok());
  CHECK(ReadFile(path) == R"({"Repositories":{}})");
  CHECK((testing::Lstat(path).st_mode & 07777) == 0600);
}

TEST_CASE("round trip through the file in the documented format") {
  TempDir dir;
  std::string path = dir.Sub("repositories-overlay");
  {
    auto store = OpenStore(path);
    REQUIRE(store->Set("busybox", "", kA, false).ok());
    REQUIRE(store->Set("busybox", "1.36", kA, false).ok());
    REQUIRE(store->Set("localhost:5000/app", "v1.0-rc_2", kB, false).ok());
  }
  nlohmann::json j = nlohmann::json::parse(ReadFile(path));
  CHECK(j == nlohmann::json::parse(
                 R"({"Repositories":{"busybox":{"1.36":")" + kA +
                 R"(","latest":")" + kA + R"("},"localhost:5000/app":{"v1.0-rc_2":")" +
                 kB + R"("}}})"));
  CHECK((testing::Lstat(path).st_mode & 07777) == 0600);
  auto reopened = OpenStore(path);
  CHECK(*reopened->Get("busybox", "latest") == kA);
  CHECK(*reopened->Get("busybox", "") == kA);
  CHECK(*reopened->Lookup("busybox") == kA);
  CHECK(*reopened->Lookup("busybox:1.36") == kA);
  CHECK(*reopened->Lookup("localhost:5000/app:v1.0-rc_2") == kB);
  CHECK(reopened->Lookup("localhost:5000/app").status().message() ==
        "No such tag: localhost:5000/app:latest");
}

TEST_CASE("every documented error string") {
  TempDir dir;
  auto store = OpenStore(dir.Sub("repositories-vfs"));
  CHECK(store->Set("", "x", kA, false).message() ==
        "Repository name can't be empty");
  CHECK(store->Set("scratch", "x", kA, false).message() ==
        "'scratch' is a reserved name");
  for (std::string bad : {"Bad Name", "UPPER", "demo@x", "demo:tag", "a//b", "/a", "a/", "localhost:5000/"}) {
    CAPTURE(bad);
    CHECK(store->Set(bad, "x", kA, false).message() ==
          "Invalid repository name (" + bad + "), only [a-z0-9-_.] are allowed");
  }
  for (std::string good : {"a", "busybox", "my-org/app_1.2", "localhost/app", "registry.example.com:5000/team/app",
                           "localhost:5000/app"}) {
    CAPTURE(good);
    CHECK(ValidateRepositoryName(good).ok());
  }
  CHECK(ValidateTagName("").message() == "Tag name can't be empty");
  for (std::string bad : {std::string("-x"), std::string(".x"),
                          std::string("a b"), std::string("a:b"),
                          std::string("a/b"), std::string(129, 'a'),
                          std::string("ta\xc3\xa9")}) {
    CHECK(store->Set("repo", bad, kA, false).message() ==
          "Illegal tag name (" + bad +
              "): only [A-Za-z0-9_.-] are allowed, minimum 1, maximum 128 in "
              "length");
  }
  for (std::string good : {std::string("a"), std::string("_x"),
                           std::string("1.0-beta_3"), std::string(128, 'z')}) {
    CHECK(store->Set("repo", good, kA, false).ok());
  }
  REQUIRE(store->Set("busybox", "latest", kA, false).ok());
  CHECK(store->Set("busybox", "latest", kB, false).message() ==
        "Conflict: Tag latest is already set to image " + kA +
            ", if you want to replace it, please use -f option");
  CHECK(store->Set("busybox", "latest", kA, false).ok());  // same image: no-op
  CHECK(store->Set("busybox", "latest", kB, true).ok());
  CHECK(*store->Get("busybox", "latest") == kB);
  CHECK(store->Get("busybox", "nope").status().message() ==
        "No such tag: busybox:nope");
  CHECK(store->Get("ghost", "latest").status().message() ==
        "No such repository: ghost");
  CHECK(store->Delete("ghost", "").message() == "No such repository: ghost");
  CHECK(store->Delete("busybox", "nope").message() == "No such tag: busybox:nope");
  CHECK(store->Set("busybox", "x", "abc", false).message() ==
        "invalid image id \"abc\": expected 64 hex characters");
}

TEST_CASE("Delete, DeleteImage and ByID") {
  TempDir dir;
  std::string path = dir.Sub("repositories-vfs");
  auto store = OpenStore(path);
  REQUIRE(store->Set("a", "1", kA, false).ok());
  REQUIRE(store->Set("a", "2", kB, false).ok());
  REQUIRE(store->Set("b", "latest", kA, false).ok());
  auto by_id = store->ByID();
  CHECK(by_id[kA] == std::vector<std::string>{"a:1", "b:latest"});
  CHECK(by_id[kB] == std::vector<std::string>{"a:2"});
  REQUIRE(store->Delete("a", "2").ok());
  CHECK(store->ByID().count(kB) == 0);
  absl::StatusOr<std::vector<std::string>> removed = store->DeleteImage(kA);
  REQUIRE(removed.ok());
  CHECK(*removed == std::vector<std::string>{"a:1", "b:latest"});
  CHECK(store->Snapshot().empty());
  CHECK(OpenStore(path)->Snapshot().empty());
  REQUIRE(store->Set("c", "x", kA, false).ok());
  REQUIRE(store->Delete("c", "").ok());
  CHECK(store->Get("c", "x").status().message() == "No such repository: c");
}

TEST_CASE("ParseRepositoryTag keeps registry ports") {
  CHECK(ParseRepositoryTag("busybox") == std::pair<std::string, std::string>{"busybox", ""});
  CHECK(ParseRepositoryTag("busybox:1") == std::pair<std::string, std::string>{"busybox", "1"});
  CHECK(ParseRepositoryTag("host:5000/app") ==
        std::pair<std::string, std::string>{"host:5000/app", ""});
  CHECK(ParseRepositoryTag("host:5000/app:v2") ==
        std::pair<std::string, std::string>{"host:5000/app", "v2"});
}

TEST_CASE("a corrupt file is reported, never overwritten") {
  TempDir dir;
  std::string path = dir.Sub("repositories-vfs");
  WriteFile(path, "{\"Repositories\": {\"a\": {\"t\": 5}}}", 0600);
  absl::StatusOr<std::unique_ptr<TagStore>> store = TagStore::Open(path);
  CHECK(absl::IsDataLoss(store.status()));
  CHECK(store.status().message().find(path) != std::string::npos);
  WriteFile(path, "{\"Repositories\": {\"a\"", 0600);
  CHECK(absl::IsDataLoss(TagStore::Open(path).status()));
  CHECK(ReadFile(path) == "{\"Repositories\": {\"a\"");
}

// Runs a child that sets a tag and is killed by SIGKILL inside the write:
// after the temp file is written and synced, before the rename.
void KillWriterMidWrite(const std::string& path) {
  int ready[2];
  REQUIRE(pipe(ready) == 0);
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(ready[0]);
    TagStoreOptions options;
    options.before_rename = [fd = ready[1]] {
      char c = 'x';
      if (write(fd, &c, 1) != 1) _exit(3);
      while (true) pause();  // the parent kills us here
    };
    absl::StatusOr<std::unique_ptr<TagStore>> store =
        TagStore::Open(path, options);
    if (!store.ok()) _exit(1);
    (*store)->Set("app", "latest", kB, true).IgnoreError();
    _exit(2);  // not reached when the hook fired
  }
  close(ready[1]);
  char c;
  ssize_t n = read(ready[0], &c, 1);
  close(ready[0]);
  REQUIRE_MESSAGE(n == 1, "the child never reached the rename");
  REQUIRE(kill(pid, SIGKILL) == 0);
  int status;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGKILL);
}

TEST_CASE("SIGKILL between write and rename leaves the old, valid file") {
  TempDir dir;
  std::string path = dir.Sub("repositories-overlay");
  {
    auto store = OpenStore(path);
    REQUIRE(store->Set("app", "latest", kA, false).ok());
  }
  std::string before = ReadFile(path);
  KillWriterMidWrite(path);
  // The old file is intact and the new content sits in a temp file.
  CHECK(ReadFile(path) == before);
  bool temp_left = false;
  DIR* d = opendir(dir.path().c_str());
  REQUIRE(d != nullptr);
  while (struct dirent* ent = readdir(d)) {
    if (std::string(ent->d_name).rfind("repositories-overlay.tmp-", 0) == 0) {
      temp_left = true;
    }
  }
  closedir(d);
  CHECK(temp_left);
  // Reopening loads the old content and sweeps the temp file away.
  auto store = OpenStore(path);
  CHECK(*store->Get("app", "latest") == kA);
  d = opendir(dir.path().c_str());
  REQUIRE(d != nullptr);
  int entries = 0;
  while (struct dirent* ent = readdir(d)) {
    if (ent->d_name[0] != '.') ++entries;
  }
  closedir(d);
  CHECK(entries == 1);
  // And the store keeps working.
  REQUIRE(store->Set("app", "latest", kB, true).ok());
  CHECK(*OpenStore(path)->Get("app", "latest") == kB);
}

TEST_CASE("a failed save leaves memory unchanged") {
  TempDir dir;
  std::string path = dir.Sub("repositories-vfs");
  auto store = OpenStore(path);
  REQUIRE(store->Set("app", "v1", kA, false).ok());
  // A directory put in the file's place makes the rename fail.
  TagStoreOptions options;
  options.before_rename = [path] {
    rename(path.c_str(), (path + ".x").c_str());
    mkdir(path.c_str(), 0700);
  };
  auto failing = OpenStore(path, options);
  CHECK(!failing->Set("app", "v2", kB, false).ok());
  CHECK(failing->Get("app", "v2").status().message() == "No such tag: app:v2");
}

}  // namespace
}  // namespace berth::storage
