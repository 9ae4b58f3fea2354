// Running job scripts: && / || / pipefail against bash as the oracle, stopping
// on failure, prompt stops of failing pipelines, let and ${…} substitution,
// references refused before anything runs, streaming 50 MB, cancellation.
#include "engine/script/run.h"

#include <doctest/doctest.h>

#include <stdio.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "engine/script/parser.h"
#include "tests/script/script_test_util.h"

namespace berth {
namespace {

struct Fixture {
  Fixture() { InstallTestJobs(eng, &jobs); }
  Engine eng;
  TestJobs jobs;
};

// ---- && / || / pipefail, with bash as the oracle ----

struct Case {
  std::string berth;
  std::string bash;
};

// Pipelines whose status and stdout do not depend on timing, in berth and bash
// (where `f N` returns N without a fork; forks are slow on some machines).
std::vector<Case> Pipelines(int label) {
  std::string p = absl::StrCat("p", label);
  return {
      {absl::StrCat("echo ", p), absl::StrCat("echo ", p)},
      {"fail 2", "f 2"},
      {absl::StrCat("fail 2 | echo ", p), absl::StrCat("f 2 | echo ", p)},
      {absl::StrCat("echo ", p, " | fail 3"), absl::StrCat("echo ", p, " | f 3")},
      {"fail 2 | fail 3", "f 2 | f 3"},
      {"fail 3 | fail 0", "f 3 | f 0"},
  };
}

// Single jobs, for long lists.
std::vector<Case> Jobs(int label) {
  return {{absl::StrCat("echo p", label), absl::StrCat("echo p", label)}, {"fail 2", "f 2"}, {"fail 3", "f 3"}};
}

// Every list of `length` items drawn from `units`, joined by && and ||.
void AddLists(const std::vector<std::vector<Case>>& units_by_position, size_t length, Case prefix,
              std::vector<Case>* out) {
  if (length == 0) {
    out->push_back(prefix);
    return;
  }
  const size_t position = units_by_position.size() - length;
  for (const Case& unit : units_by_position[position]) {
    if (prefix.berth.empty()) {
      AddLists(units_by_position, length - 1, unit, out);
      continue;
    }
    for (const char* op : {" && ", " || "}) {
      AddLists(units_by_position, length - 1, {prefix.berth + op + unit.berth, prefix.bash + op + unit.bash}, out);
    }
  }
}

std::vector<Case> Lists() {
  std::vector<Case> lists;
  // Long lists of single jobs: the && / || rules themselves.
  for (size_t n = 1; n <= 4; ++n) {
    std::vector<std::vector<Case>> units;
    for (size_t i = 0; i < n; ++i) units.push_back(Jobs(static_cast<int>(i + 1)));
    AddLists(units, n, {}, &lists);
  }
  // Pipelines of two and three jobs: the pipeline status, with and without pipefail.
  // (A job that writes is only ever last: one that writes into a job that does
  // not read may or may not see a broken pipe, in bash as in berth.)
  const std::vector<Case> stages = {{"fail 0", "f 0"}, {"fail 2", "f 2"}, {"fail 3", "f 3"}};
  std::vector<Case> last_stages = stages;
  last_stages.push_back({"echo p", "echo p"});
  for (const Case& a : stages) {
    for (const Case& b : last_stages) lists.push_back({a.berth + " | " + b.berth, a.bash + " | " + b.bash});
    for (const Case& b : stages) {
      for (const Case& c : last_stages) {
        lists.push_back({a.berth + " | " + b.berth + " | " + c.berth, a.bash + " | " + b.bash + " | " + c.bash});
      }
    }
  }
  // Pipelines inside lists.
  AddLists({Pipelines(1), Pipelines(2)}, 2, {}, &lists);
  return lists;
}

struct Outcome {
  int status;
  std::string out;
};

// Runs every list in one bash process; returns each one's status and stdout.
std::vector<Outcome> BashOutcomes(const std::vector<Case>& lists, bool pipefail) {
  std::string program = pipefail ? "set -o pipefail\n" : "";
  program.append("f() { return $1; }\n");
  for (const Case& c : lists) absl::StrAppend(&program, "echo '@@'; ", c.bash, "; echo \"@@$?\"\n");
  char path[] = "/tmp/berth-script-oracle-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, program.data(), program.size()) == static_cast<ssize_t>(program.size()));
  close(fd);
  FILE* p = popen(absl::StrCat("/usr/bin/bash ", path).c_str(), "r");
  REQUIRE(p != nullptr);
  std::string all;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) all.append(buf, n);
  REQUIRE(pclose(p) == 0);
  unlink(path);
  std::vector<Outcome> outcomes;
  // Each case prints "@@\n", its output, then "@@<status>\n".
  for (absl::string_view block : absl::StrSplit(all, "@@\n", absl::SkipEmpty())) {
    size_t mark = block.rfind("@@");
    REQUIRE(mark != absl::string_view::npos);
    Outcome o;
    o.out = std::string(block.substr(0, mark));
    o.status = std::stoi(std::string(block.substr(mark + 2)));
    outcomes.push_back(o);
  }
  REQUIRE(outcomes.size() == lists.size());
  return outcomes;
}

TEST_CASE("&&, || and pipefail give bash's status and output for every combination") {
  Fixture f;
  const std::vector<Case> lists = Lists();
  for (bool pipefail : {false, true}) {
    const std::vector<Outcome> want = BashOutcomes(lists, pipefail);
    int compared = 0;
    for (size_t i = 0; i < lists.size(); ++i) {
      const std::string script = absl::StrCat(pipefail ? "set -o pipefail\n" : "", lists[i].berth);
      INFO("script: " << script);
      Ran ran = RunText(f.eng, script);
      REQUIRE(ran.refused.ok());
      CHECK(ran.status == want[i].status);
      CHECK(ran.out == want[i].out);
      ++compared;
    }
    MESSAGE(compared << " lists compared with bash, pipefail " << std::string(pipefail ? "on" : "off"));
  }
}

// ---- a failure that is not handled stops the script ----

TEST_CASE("a statement that ends in failure stops the script with the job's status, file and line") {
  Fixture f;
  Ran ran = RunText(f.eng, "echo start\nfail 2 && echo never\necho after");
  CHECK(ran.status == 2);
  CHECK(ran.out == "start\n");
  CHECK(ran.error == "t.berth:2: fail 2: fail: failed with status 2");
  CHECK(ran.err == "t.berth:2: fail 2: fail: failed with status 2\n");

  ran = RunText(f.eng, "echo a &&\n  fail 4 'disk is full'\necho after");
  CHECK(ran.status == 4);
  CHECK(ran.error == "t.berth:2: fail 4 'disk is full': disk is full");
  CHECK(ran.err == "disk is full\nt.berth:2: fail 4 'disk is full': disk is full\n");

  ran = RunText(f.eng, "fail 2 first || fail 3 second\necho after");
  CHECK(ran.status == 3);
  CHECK(ran.error == "t.berth:1: fail 3 second: second");
  CHECK(ran.err == "first\nsecond\nt.berth:1: fail 3 second: second\n");

  ran = RunText(f.eng, "nosuchjob x\necho after");
  CHECK(ran.status == 127);
  CHECK(ran.error == "t.berth:1: nosuchjob x: nosuchjob: command not found");
}

TEST_CASE("'||' handles a failure and the script goes on") {
  Fixture f;
  Ran ran = RunText(f.eng, "fail 2 oops || echo handled\necho a || fail 9\nfail 1 && echo no || echo also\necho after");
  CHECK(ran.status == 0);
  CHECK(ran.error == "");
  CHECK(ran.out == "handled\na\nalso\nafter\n");
  CHECK(ran.err == "oops\n");
}

TEST_CASE("pipefail: off by default, switched by set -o / set +o") {
  Fixture f;
  Ran ran = RunText(f.eng, "fail 2 hidden | echo shown\necho after");
  CHECK(ran.status == 0);
  CHECK(ran.out == "shown\nafter\n");

  ran = RunText(f.eng, "set -o pipefail\nfail 2 inner | echo shown\necho after");
  CHECK(ran.status == 2);
  CHECK(ran.out == "shown\n");
  CHECK(ran.error == "t.berth:2: fail 2 inner: inner");

  ran = RunText(f.eng, "set -o pipefail\nset +o pipefail\nfail 2 | echo shown\necho after");
  CHECK(ran.status == 0);
  CHECK(ran.out == "shown\nafter\n");
}

// ---- prompt stops ----

TEST_CASE("a failing last job stops a job that would sleep for an hour") {
  Fixture f;
  Ran ran = RunText(f.eng, "sleep 1h | fail 3 boom\necho after");
  CHECK_FALSE(ran.timed_out);
  CHECK(ran.took < absl::Seconds(5));
  CHECK(ran.status == 3);
  CHECK(ran.error == "t.berth:1: fail 3 boom: boom");
  // The stopped sleep's own "cancelled" is not passed on.
  CHECK(ran.err == "boom\nt.berth:1: fail 3 boom: boom\n");
}

TEST_CASE("a failing last job stops an endless producer and the job between") {
  Fixture f;
  Ran ran = RunText(f.eng, "endless | cat | fail 3 boom");
  CHECK_FALSE(ran.timed_out);
  CHECK(ran.took < absl::Seconds(5));
  CHECK(ran.status == 3);
  CHECK(ran.error == "t.berth:1: fail 3 boom: boom");
  CHECK(f.jobs.endless_running.load() == 0);
}

TEST_CASE("with pipefail a failure in the middle stops the jobs on both sides and is the one reported") {
  Fixture f;
  Ran ran = RunText(f.eng, "set -o pipefail\nendless | fail 4 middle | sleep 1h\necho after");
  CHECK_FALSE(ran.timed_out);
  CHECK(ran.took < absl::Seconds(5));
  CHECK(ran.status == 4);
  CHECK(ran.error == "t.berth:2: fail 4 middle: middle");
  CHECK(ran.out == "");
  CHECK(f.jobs.endless_running.load() == 0);
}

TEST_CASE("without pipefail a failure in the middle ends the input of the jobs after it, as in a shell") {
  Fixture f;
  Ran ran = RunText(f.eng, "endless | fail 4 middle | cat\necho after");
  CHECK_FALSE(ran.timed_out);
  CHECK(ran.status == 0);
  CHECK(ran.out == "after\n");
  CHECK(absl::StrContains(ran.err, "middle\n"));
  CHECK(f.jobs.endless_running.load() == 0);
}

TEST_CASE("the jobs of a pipeline run at the same time") {
  Fixture f;
  Ran ran = RunText(f.eng, "barrier | barrier | barrier");
  CHECK(ran.status == 0);
  CHECK(ran.error == "");
}

TEST_CASE("cancelling a running script stops its job and ends with 130") {
  Fixture f;
  ScriptCancel cancel;
  ScriptOptions options;
  options.cancel = &cancel;
  std::thread canceller([&] {
    const absl::Time until = absl::Now() + absl::Seconds(10);
    while (!f.jobs.parked.load() && absl::Now() < until) absl::SleepFor(absl::Milliseconds(1));
    cancel.Cancel();
  });
  Ran ran = RunText(f.eng, "echo before\npark\necho after", options);
  canceller.join();
  CHECK_FALSE(ran.timed_out);
  CHECK(ran.status == 130);
  CHECK(ran.error == "t.berth:2: park: cancelled");
  CHECK(ran.out == "before\n");

  // Cancelled before it starts: nothing runs.
  Ran early = RunText(f.eng, "touch\ntouch", options);
  CHECK(early.status == 130);
  CHECK(early.error == "t.berth:1: cancelled");
  CHECK(f.jobs.touched.load() == 0);
}

// ---- let and substitution ----

TEST_CASE("let keeps a job's output env; ${NAME.KEY} substitutes its values") {
  Fixture f;
  Ran ran = RunText(f.eng,
                    "let web = env IP=172.17.0.2 Port=80 Name='two words' Eq=k=v\n"
                    "echo ${web.IP}:${web.Port} \"[${web.Name}]\" '${web.IP}' ${web.Eq}\n"
                    "env Where=${web.IP} ${web.Eq}=ignored\n");
  CHECK(ran.status == 1);  // the key from a substitution holds '=': found at run time
  CHECK(ran.out == "172.17.0.2:80 [two words] ${web.IP} k=v\n");
  CHECK(ran.error == "t.berth:3:21: invalid env key 'k=v': keys must not contain '=' in '${web.Eq}=ignored'");

  ran = RunText(f.eng, "let web = env IP=172.17.0.2\nenv Where=${web.IP} Text=\"${web.IP} x\"\n");
  CHECK(ran.status == 0);
  CHECK(ran.out == "{\"Where\":\"172.17.0.2\",\"Text\":\"172.17.0.2 x\"}\n");
}

TEST_CASE("let takes the last JSON object of a pipeline's stdout, and may be rebound") {
  Fixture f;
  Ran ran = RunText(f.eng,
                    "let a = echo '{\"X\":\"1\"} {\"X\":2,\"Y\":[\"p\"]}' | cat\n"
                    "echo ${a.X} ${a.Y}\n"
                    "let a = env X=3\n"
                    "echo ${a.X}\n");
  CHECK(ran.status == 0);
  CHECK(ran.out == "2 [\"p\"]\n3\n");
}

TEST_CASE("a key missing from a let env is a run-time error with its position") {
  Fixture f;
  Ran ran = RunText(f.eng, "let a = env A=1 B=2\ntouch\necho ${a.C}\ntouch");
  CHECK(ran.status == 1);
  CHECK(ran.error == "t.berth:3:6: ${a.C}: 'a' has no key 'C' (its keys: A, B)");
  CHECK(ran.err == "t.berth:3:6: ${a.C}: 'a' has no key 'C' (its keys: A, B)\n");
  CHECK(f.jobs.touched.load() == 1);

  ran = RunText(f.eng, "let a = echo '{}'\necho ${a.C}");
  CHECK(ran.error == "t.berth:2:6: ${a.C}: 'a' has no key 'C' (its env is empty)");
}

TEST_CASE("a failing let stops the script; so does output that is not an env") {
  Fixture f;
  Ran ran = RunText(f.eng, "let a = fail 5 'no address'\necho after");
  CHECK(ran.status == 5);
  CHECK(ran.error == "t.berth:1: fail 5 'no address': no address");
  CHECK(ran.out == "");

  ran = RunText(f.eng, "let a = echo not json\necho after");
  CHECK(ran.status == 1);
  CHECK(absl::StartsWith(ran.error, "t.berth:1: echo not json: "));
  CHECK(ran.out == "");
}

TEST_CASE("${VAR} substitutes the environment given, or the process's") {
  Fixture f;
  ScriptOptions options;
  options.getenv = FakeEnv({{"GREETING", "hello"}, {"WHO", "big world"}, {"EMPTY", ""}});
  Ran ran = RunText(f.eng, "echo ${GREETING} \"${WHO}!\" '${WHO}' x${EMPTY}y ${EMPTY}", options);
  CHECK(ran.status == 0);
  CHECK(ran.out == "hello big world! ${WHO} xy \n");

  setenv("BERTH_SCRIPT_RUN_TEST", "from the process", 1);
  ScriptOptions process;
  process.getenv = ProcessGetenv();
  ran = RunText(f.eng, "echo ${BERTH_SCRIPT_RUN_TEST}", process);
  CHECK(ran.out == "from the process\n");
}

TEST_CASE("undefined references are refused before anything runs") {
  Fixture f;
  Ran ran = RunText(f.eng,
                    "touch\n"
                    "echo ${NOT_SET}\n"
                    "touch && echo ${web.IP}\n"
                    "let web = env IP=1\n"
                    "echo ${web.IP}\n");
  CHECK(ran.status == -1);
  CHECK(ran.refused.code() == absl::StatusCode::kInvalidArgument);
  CHECK(ran.refused.message() ==
        "t.berth:2:6: undefined variable '${NOT_SET}': not set in the environment\n"
        "t.berth:3:15: undefined reference '${web.IP}': no 'let web = ...' before it");
  CHECK(f.jobs.touched.load() == 0);
  CHECK(ran.out == "");
  CHECK(ran.err == "");
}

// ---- streams ----

// A deterministic byte stream, produced 64 KiB at a time.
class PatternSource : public Source {
 public:
  explicit PatternSource(size_t total) : left_(total) {}
  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    n = std::min(n, left_);
    for (size_t i = 0; i < n; ++i) buf[i] = Byte(offset_ + i);
    offset_ += n;
    left_ -= n;
    return n;
  }
  static char Byte(size_t i) { return static_cast<char>((i * 2654435761u) >> 13); }

 private:
  size_t left_;
  size_t offset_ = 0;
};

uint64_t Fnv1a(uint64_t h, absl::string_view data) {
  for (unsigned char c : data) h = (h ^ c) * 1099511628211ull;
  return h;
}
constexpr uint64_t kFnvBasis = 14695981039346656037ull;

class HashSink : public Sink {
 public:
  absl::Status Write(absl::string_view data) override {
    hash = Fnv1a(hash, data);
    bytes += data.size();
    return absl::OkStatus();
  }
  uint64_t hash = kFnvBasis;
  size_t bytes = 0;
};

TEST_CASE("50 MB through cat | cat | cat arrive intact") {
  Fixture f;
  constexpr size_t kTotal = 50 << 20;
  uint64_t want = kFnvBasis;
  {
    std::string all(kTotal, '\0');
    for (size_t i = 0; i < kTotal; ++i) all[i] = PatternSource::Byte(i);
    want = Fnv1a(want, all);
  }
  absl::StatusOr<Script> script = ParseScript("cat | cat | cat", "t.berth");
  REQUIRE(script.ok());
  Input in;
  REQUIRE(in.Add(std::make_unique<PatternSource>(kTotal)).ok());
  Output out;
  auto sink = std::make_unique<HashSink>();
  HashSink* hash = sink.get();
  out.Add(std::move(sink));
  ScriptOptions options;
  options.stdin_source = &in;
  options.stdout_sink = &out;
  absl::StatusOr<ScriptResult> result = RunScript(f.eng, *script, options);
  REQUIRE(result.ok());
  CHECK(result->status == 0);
  CHECK(hash->bytes == kTotal);
  CHECK(hash->hash == want);
}

TEST_CASE("the script's stdin is read by the first job of each pipeline and never closed") {
  Fixture f;
  Input in;
  REQUIRE(in.AddString("abc").ok());
  ScriptOptions options;
  options.stdin_source = &in;
  Ran ran = RunText(f.eng, "echo first | cat\ncat\ncat", options);
  CHECK(ran.status == 0);
  CHECK(ran.out == "first\nabc");
}

}  // namespace
}  // namespace berth
