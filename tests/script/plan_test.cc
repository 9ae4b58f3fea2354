// The static check (undefined references, found before anything runs) and the
// dry-run plan.
#include "engine/script/plan.h"

#include <doctest/doctest.h>

#include <map>
#include <string>

#include "engine/script/parser.h"
#include "engine/script/resolve.h"

namespace berth {
namespace {

ScriptGetenv FakeEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

Script MustParse(absl::string_view text) {
  absl::StatusOr<Script> s = ParseScript(text, "t.berth");
  INFO(text);
  REQUIRE_MESSAGE(s.ok(), s.status().ToString());
  return *std::move(s);
}

std::string Plan(absl::string_view text, std::map<std::string, std::string> vars = {}) {
  absl::StatusOr<std::string> plan = PlanScript(MustParse(text), FakeEnv(std::move(vars)));
  if (!plan.ok()) return std::string(plan.status().message());
  return *plan;
}

TEST_CASE("every undefined reference is reported, in script order") {
  Script s = MustParse(
      "echo ${web.IP}\n"
      "let web = env IP=10.0.0.2\n"
      "echo ${web.IP} ${HOME} \"${NOPE}\" K=${nic.Mac}\n"
      "let self = echo ${self.X}\n"
      "echo ${NOPE}");
  absl::StatusOr<ScriptVars> vars = CheckScript(s, FakeEnv({{"HOME", "/root"}}));
  REQUIRE_FALSE(vars.ok());
  CHECK(vars.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(vars.status().message() ==
        "t.berth:1:6: undefined reference '${web.IP}': no 'let web = ...' before it\n"
        "t.berth:3:25: undefined variable '${NOPE}': not set in the environment\n"
        "t.berth:3:36: undefined reference '${nic.Mac}': no 'let nic = ...' before it\n"
        "t.berth:4:17: undefined reference '${self.X}': no 'let self = ...' before it\n"
        "t.berth:5:6: undefined variable '${NOPE}': not set in the environment");
}

TEST_CASE("the check returns the variables' values; set-but-empty is defined") {
  absl::StatusOr<ScriptVars> vars =
      CheckScript(MustParse("echo ${A} ${EMPTY} ${A}"), FakeEnv({{"A", "1"}, {"EMPTY", ""}, {"UNUSED", "x"}}));
  REQUIRE(vars.ok());
  CHECK(*vars == ScriptVars{{"A", "1"}, {"EMPTY", ""}});
}

TEST_CASE("the check resolves jobs that need no let, and reports what would fail") {
  Script s = MustParse("${NAME} x\necho ${K}=v\nlet n = env\necho ${n.K}=v");
  absl::StatusOr<ScriptVars> vars = CheckScript(s, FakeEnv({{"NAME", ""}, {"K", "a=b"}}));
  CHECK(vars.status().message() ==
        "t.berth:1:1: empty job name after substitution in '${NAME}'\n"
        "t.berth:2:6: invalid env key 'a=b': keys must not contain '=' in '${K}=v'");
}

TEST_CASE("the process environment is the default") {
  setenv("BERTH_SCRIPT_PLAN_TEST", "from the process", 1);
  unsetenv("BERTH_SCRIPT_PLAN_TEST_UNSET");
  absl::StatusOr<std::string> plan = PlanScript(MustParse("echo ${BERTH_SCRIPT_PLAN_TEST}"));
  CHECK(*plan == "echo 'from the process'\n");
  CHECK(PlanScript(MustParse("echo ${BERTH_SCRIPT_PLAN_TEST_UNSET}")).status().message() ==
        "t.berth:1:6: undefined variable '${BERTH_SCRIPT_PLAN_TEST_UNSET}': not set in the environment");
}

TEST_CASE("dry run: one statement a line, variables substituted, words quoted, lets left to run") {
  const char* script = R"(# network for one container
set -o pipefail
let nic = allocate_interface ${ID} RequestedIP=${IP}
allocate_port ${ID} HostIP=0.0.0.0 HostPort=8080 ContainerPort=80 Proto=tcp
link -A ParentIP=${nic.IP} ChildIP="${nic.IP}" Ports='["80/tcp"]' IgnoreErrors=true
echo "hello ${WHO}" 'it'\''s' '' "a|b" && fail 2 || echo ok | cat
'let' x '=' 'y' "${nic.Gateway}/16"; env K="${EMPTY}" ; set +o pipefail
)";
  CHECK(Plan(script, {{"ID", "c0ffee"}, {"IP", "172.17.0.5"}, {"WHO", "big world"}, {"EMPTY", ""}}) ==
        "set -o pipefail\n"
        "let nic = allocate_interface c0ffee RequestedIP=172.17.0.5\n"
        "allocate_port c0ffee HostIP=0.0.0.0 HostPort=8080 ContainerPort=80 Proto=tcp\n"
        "link -A ParentIP=${nic.IP} ChildIP=${nic.IP} Ports='[\"80/tcp\"]' IgnoreErrors=true\n"
        "echo 'hello big world' 'it'\\''s' '' 'a|b' && fail 2 || echo ok | cat\n"
        "'let' x '=' y ${nic.Gateway}/16\n"
        "env K=\n"
        "set +o pipefail\n");
}

TEST_CASE("dry run refuses undefined references like a run does") {
  CHECK(Plan("echo ${web.IP}") == "t.berth:1:6: undefined reference '${web.IP}': no 'let web = ...' before it");
}

TEST_CASE("a plan is a script whose plan is itself") {
  for (const char* text : {
           "echo a | cat && fail 3 || echo 'x y' K='v w'",
           "let a = env X=${V}${V}\necho pre${a.k}post \"${a.k}\"'${lit}' '=' '#' \\;",
           "'set' -o pipefail\n\"let\" a '=' b\nset -o pipefail",
           "${V} arg ${V}x=${V}",
       }) {
    INFO(text);
    absl::StatusOr<Script> first = ParseScript(text, "t.berth");
    REQUIRE_MESSAGE(first.ok(), first.status().ToString());
    absl::StatusOr<std::string> plan = PlanScript(*first, FakeEnv({{"V", "v a|u;e#"}}));
    REQUIRE_MESSAGE(plan.ok(), plan.status().ToString());
    absl::StatusOr<Script> again = ParseScript(*plan, "plan");
    REQUIRE_MESSAGE(again.ok(), again.status().ToString());
    absl::StatusOr<std::string> plan2 = PlanScript(*again, FakeEnv({}));
    REQUIRE_MESSAGE(plan2.ok(), plan2.status().ToString());
    CHECK(*plan2 == *plan);
  }
}

}  // namespace
}  // namespace berth
