// `berth run` against berthd and in-process: the same scripts, the same bytes.
#include <doctest/doctest.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <random>

#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace berth {
namespace {

using testing::Process;
using testing::ProcessOptions;
using testing::RunCommand;
using testing::RunResult;
using testing::TempDir;
using testing::ToolPath;
using testing::WaitFor;

struct Berthd {
  TempDir& dir;
  std::unique_ptr<Process> proc;
  std::string ipc;
  explicit Berthd(TempDir& d) : dir(d), ipc("ipc://" + d.path() + "/run/berth.sock") {
    proc = std::make_unique<Process>(ProcessOptions{
        {ToolPath("BERTHD"), "-H", ipc, "-p", d / "pid", "-g", d / "root", "-b", "none"}, {}, "", d.path()});
    REQUIRE_MESSAGE(WaitFor([&] { return proc->Stderr().find("berthd ready") != std::string::npos || !proc->running(); },
                            absl::Seconds(10)),
                    proc->Stderr());
    REQUIRE(proc->running());
  }
};

RunResult BerthRun(const std::string& ipc, std::vector<std::string> args, std::string stdin_file = "") {
  std::vector<std::string> argv = {ToolPath("BERTH"), "-H", ipc, "run"};
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv, {"BERTH_TEST_VAR=from the environment"}, std::move(stdin_file), absl::Seconds(60));
}

TEST_CASE("the same scripts give byte-identical output locally and remotely") {
  TempDir dir;
  Berthd d(dir);
  const std::vector<std::string> scripts = {
      "echo hello; echo 'two  spaces' \"and quotes\"",
      "echo a b c | cat | cat",
      "let e = env Name=web Port=80\necho ${e.Name} on ${e.Port}",
      "echo ${BERTH_TEST_VAR}",
      "fail 3 first problem || echo handled\necho after",
      "echo before\nfail 4 'disk is full'\necho never",
      "set -o pipefail\nfail 5 early | cat\necho never",
      "fail 6 ignored | echo last wins",
      "echo x && fail 7 then || echo rescued",
      "no_such_job arg",
      "# only a comment\n\n  ; ;",
  };
  for (const std::string& s : scripts) {
    CAPTURE(s);
    RunResult local = BerthRun(d.ipc, {"--local", "-e", s});
    RunResult remote = BerthRun(d.ipc, {"-e", s});
    CHECK(local.status == remote.status);
    CHECK(local.out == remote.out);
    CHECK(local.err == remote.err);
  }
  RunResult failed = BerthRun(d.ipc, {"-e", "echo before\nfail 4 'disk is full'\necho never"});
  CHECK(failed.status == 4);
  CHECK(failed.out == "before\n");
  CHECK(failed.err == "disk is full\n-e:2: fail 4 'disk is full': disk is full\n");
}

TEST_CASE("50 MB through cat | cat | cat intact, locally and remotely") {
  TempDir dir;
  Berthd d(dir);
  std::string input = dir / "in";
  testing::WriteRandomFile(input, 50, 11);
  for (bool local : {true, false}) {
    CAPTURE(local);
    std::string output = dir / (local ? "out-local" : "out-remote");
    std::string cmd = ToolPath("BERTH") + " -H " + d.ipc + " run " + (local ? "--local " : "") +
                      "-e 'cat | cat | cat' > " + output;
    RunResult r = RunCommand({"/bin/sh", "-c", cmd}, {}, input, absl::Seconds(120));
    CHECK(r.status == 0);
    CHECK(RunCommand({"/usr/bin/cmp", input, output}).status == 0);
  }
}

TEST_CASE("berth run -n prints the plan and runs nothing; errors name FILE:LINE:COL") {
  TempDir dir;
  Berthd d(dir);
  std::string file = dir / "plan.berth";
  testing::WriteFileOrDie(file, "let e = env A=1\necho ${e.A} ${BERTH_TEST_VAR}\n");
  RunResult plan = BerthRun(d.ipc, {"-n", file});
  CHECK(plan.status == 0);
  CHECK(plan.out == "let e = env A=1\necho ${e.A} 'from the environment'\n");
  testing::WriteFileOrDie(file, "echo ok\necho 'unterminated\n");
  RunResult bad = BerthRun(d.ipc, {file});
  CHECK(bad.status == 2);
  CHECK(bad.err.find(file + ":2:6: ") != std::string::npos);
  CHECK(bad.out.empty());
}

}  // namespace
}  // namespace berth
