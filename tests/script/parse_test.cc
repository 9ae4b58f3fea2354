// Job-script syntax: the shape ParseScript builds, and every syntax error with
// its exact FILE:LINE:COL text.
#include "engine/script/parser.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "engine/script/resolve.h"

namespace berth {
namespace {

std::string ParseError(absl::string_view text) {
  absl::StatusOr<Script> s = ParseScript(text, "t.berth");
  if (s.ok()) return "(parsed)";
  CHECK(s.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(s.status().message());
}

Script MustParse(absl::string_view text) {
  absl::StatusOr<Script> s = ParseScript(text, "t.berth");
  INFO(text);
  REQUIRE_MESSAGE(s.ok(), s.status().ToString());
  return *std::move(s);
}

// The job resolved with no variables or lets.
JobLine Resolved(const Script& s, size_t statement, size_t pipeline = 0, size_t job = 0) {
  absl::StatusOr<JobLine> line = ResolveJob(s, s.statements[statement].pipelines[pipeline].jobs[job], {}, {});
  REQUIRE_MESSAGE(line.ok(), line.status().ToString());
  return *std::move(line);
}

TEST_CASE("statements, separators and comments") {
  Script s = MustParse(
      "# a comment line\n"
      "echo one; echo two   # trailing comment\n"
      "\n"
      "  ;; echo 'three#not a comment' a#b\n");
  CHECK(s.file == "t.berth");
  REQUIRE(s.statements.size() == 3);
  CHECK(s.statements[0].pos.line == 2);
  CHECK(s.statements[0].pos.col == 1);
  CHECK(s.statements[1].pos.col == 11);
  CHECK(s.statements[2].pos.line == 4);
  JobLine third = Resolved(s, 2);
  CHECK(third.name == "echo");
  CHECK(third.args == std::vector<std::string>{"three#not a comment", "a#b"});
  CHECK(s.statements[2].pipelines[0].jobs[0].text == "echo 'three#not a comment' a#b");
  CHECK(MustParse("").statements.empty());
  CHECK(MustParse("\n\n# only comments\n;\n").statements.empty());
}

TEST_CASE("'|' binds tighter than '&&' and '||', which chain left to right") {
  Script s = MustParse("a | b && c || d|e|f && g");
  REQUIRE(s.statements.size() == 1);
  const ScriptStatement& st = s.statements[0];
  CHECK(st.kind == ScriptStatement::Kind::kList);
  REQUIRE(st.pipelines.size() == 4);
  CHECK(st.pipelines[0].jobs.size() == 2);
  CHECK(st.pipelines[1].jobs.size() == 1);
  CHECK(st.pipelines[2].jobs.size() == 3);
  CHECK(st.pipelines[3].jobs.size() == 1);
  CHECK(st.ops == std::vector<ScriptOp>{ScriptOp::kAnd, ScriptOp::kOr, ScriptOp::kAnd});
  CHECK(Resolved(s, 0, 2, 1).name == "e");
}

TEST_CASE("an operator at the end of a line continues the statement") {
  Script s = MustParse("echo a |\n\n   cat &&\n echo b ||\n# comment\n echo c\necho d \\\n  e");
  REQUIRE(s.statements.size() == 2);
  CHECK(s.statements[0].pipelines.size() == 3);
  CHECK(s.statements[0].pipelines[0].jobs[1].pos.line == 3);
  CHECK(s.statements[0].pipelines[2].jobs[0].pos.line == 6);
  CHECK(Resolved(s, 1).args == std::vector<std::string>{"d", "e"});
}

TEST_CASE("words: quoting as ParseJob, env words at the first unquoted '='") {
  Script s = MustParse(R"(job 'a b' "c \"d\" \$ \\ \x" e\ f K=v 'Q=r' x\=y "A"=B Ports='["80/tcp"]' U=a=b E=)");
  JobLine j = Resolved(s, 0);
  CHECK(j.name == "job");
  CHECK(j.args == std::vector<std::string>{"a b", "c \"d\" $ \\ \\x", "e f", "Q=r", "x=y"});
  CHECK(j.env.Get("K") == "v");
  CHECK(j.env.Get("A") == "B");
  CHECK(j.env.Get("Ports") == "[\"80/tcp\"]");
  CHECK(j.env.Get("U") == "a=b");
  CHECK(j.env.Exists("E"));
  CHECK(j.env.Get("E") == "");
  CHECK(MustParse("echo 'multi\nline' next").statements.size() == 1);
  CHECK(Resolved(MustParse("echo 'multi\nline' next"), 0).args == std::vector<std::string>{"multi\nline", "next"});
  CHECK(Resolved(MustParse("echo ''"), 0).args == std::vector<std::string>{""});
  CHECK(Resolved(MustParse("'let' x '=' y"), 0).name == "let");
  CHECK(Resolved(MustParse("A=1 set -o"), 0).name == "set");
  CHECK(Resolved(MustParse("echo let set '='"), 0).args == std::vector<std::string>{"let", "set", "="});
}

TEST_CASE("substitutions are parsed unquoted and in double quotes, not in single quotes") {
  Script s = MustParse(R"(echo ${HOME} "x${web.IP}y" '${NOT}' \${NOT} K=${A}${b.c})");
  const ScriptJob& job = s.statements[0].pipelines[0].jobs[0];
  REQUIRE(job.words.size() == 5);
  REQUIRE(job.words[1].pieces.size() == 1);
  CHECK(job.words[1].pieces[0].is_ref);
  CHECK(job.words[1].pieces[0].ref.kind == ScriptRef::Kind::kVar);
  CHECK(job.words[1].pieces[0].ref.name == "HOME");
  CHECK(job.words[1].pieces[0].ref.pos.col == 6);
  REQUIRE(job.words[2].pieces.size() == 3);
  CHECK(job.words[2].pieces[0].literal == "x");
  CHECK(job.words[2].pieces[1].ref.kind == ScriptRef::Kind::kLet);
  CHECK(job.words[2].pieces[1].ref.name == "web");
  CHECK(job.words[2].pieces[1].ref.key == "IP");
  CHECK(job.words[2].pieces[1].ref.Text() == "${web.IP}");
  CHECK(job.words[2].pieces[2].literal == "y");
  CHECK(job.words[3].pieces[0].literal == "${NOT}");
  CHECK(job.words[4].pieces[0].literal == "${NOT}");
  REQUIRE(job.env.size() == 1);
  CHECK(job.env[0].key[0].literal == "K");
  CHECK(job.env[0].pieces.size() == 2);
  // A dot ends the let name; the key is the rest.
  Script dotted_script = MustParse("echo ${n.a.b-c}");
  const ScriptRef& dotted = dotted_script.statements[0].pipelines[0].jobs[0].words[1].pieces[0].ref;
  CHECK(dotted.name == "n");
  CHECK(dotted.key == "a.b-c");
}

TEST_CASE("let and set statements") {
  Script s = MustParse("let nic = allocate_interface c0ffee RequestedIP=10.0.0.2 | cat\nset -o pipefail\nset +o pipefail");
  REQUIRE(s.statements.size() == 3);
  CHECK(s.statements[0].kind == ScriptStatement::Kind::kLet);
  CHECK(s.statements[0].let_name == "nic");
  CHECK(s.statements[0].pipelines[0].jobs.size() == 2);
  CHECK(s.statements[0].pipelines[0].jobs[0].text == "allocate_interface c0ffee RequestedIP=10.0.0.2");
  CHECK(s.statements[1].kind == ScriptStatement::Kind::kSet);
  CHECK(s.statements[1].pipefail);
  CHECK_FALSE(s.statements[2].pipefail);
}

TEST_CASE("syntax errors name the file, line, column and the problem") {
  const std::vector<std::pair<std::string, std::string>> golden = {
      {"echo 'abc", "t.berth:1:6: unterminated single quote"},
      {"echo x\n  echo \"abc", "t.berth:2:8: unterminated double quote"},
      {"echo abc\\", "t.berth:1:9: trailing backslash"},
      {"echo ${HOME", "t.berth:1:6: unterminated '${': missing '}'"},
      {"echo ${HOME\n}", "t.berth:1:6: unterminated '${': missing '}'"},
      {"echo ${}", "t.berth:1:6: empty substitution '${}'"},
      {"echo ${a b}", "t.berth:1:6: bad substitution '${a b}': write ${VAR} or ${NAME.KEY} (names are letters, digits and '_')"},
      {"echo ${1x}", "t.berth:1:6: bad substitution '${1x}': write ${VAR} or ${NAME.KEY} (names are letters, digits and '_')"},
      {"echo \"${x.}\"", "t.berth:1:7: bad substitution '${x.}': write ${VAR} or ${NAME.KEY} (names are letters, digits and '_')"},
      {"echo ${.k}", "t.berth:1:6: bad substitution '${.k}': write ${VAR} or ${NAME.KEY} (names are letters, digits and '_')"},
      {"echo $HOME", "t.berth:1:6: unexpected '$': write ${VAR} or ${NAME.KEY} to substitute, or \\$ for a literal '$'"},
      {"echo \"cost: 5$\"", "t.berth:1:14: unexpected '$': write ${VAR} or ${NAME.KEY} to substitute, or \\$ for a literal '$'"},
      {"echo hi > out", "t.berth:1:9: unexpected '>': redirections are not supported; quote or escape it to pass it literally"},
      {"cat <in", "t.berth:1:5: unexpected '<': redirections are not supported; quote or escape it to pass it literally"},
      {"echo (x)", "t.berth:1:6: unexpected '(': subshells are not supported; quote or escape it to pass it literally"},
      {"echo `date`", "t.berth:1:6: unexpected '`': command substitution is not supported; quote or escape it to pass it literally"},
      {"echo \"`date`\"", "t.berth:1:7: unexpected '`': command substitution is not supported; quote or escape it to pass it literally"},
      {"sleep 1s &", "t.berth:1:10: unexpected '&': background jobs are not supported (did you mean '&&'?)"},
      {"| cat", "t.berth:1:1: missing job before '|'"},
      {"echo |", "t.berth:1:6: missing job after '|'"},
      {"echo |\n\n", "t.berth:1:6: missing job after '|'"},
      {"echo | ; cat", "t.berth:1:6: missing job after '|'"},
      {"echo a | | cat", "t.berth:1:10: missing job before '|'"},
      {"echo && && x", "t.berth:1:9: missing job before '&&'"},
      {"echo ||", "t.berth:1:6: missing job after '||'"},
      {"echo a\n&& echo b", "t.berth:2:1: missing job before '&&'"},
      {"echo a; || echo b", "t.berth:1:9: missing job before '||'"},
      {"A=1 B=2", "t.berth:1:1: empty command: 'A=1 B=2' has no job name"},
      {"echo =x", "t.berth:1:6: env word '=x' has an empty key"},
      {"echo ''=x", "t.berth:1:6: env word '''=x' has an empty key"},
      {"'' arg", "t.berth:1:1: empty job name"},
      {"echo a | let x = b", "t.berth:1:10: 'let' must begin a statement (quote it to run a job named let)"},
      {"echo a && set -o pipefail", "t.berth:1:11: 'set' must begin a statement (quote it to run a job named set)"},
      {"let", "t.berth:1:1: let: missing name (write 'let NAME = JOB')"},
      {"let ; echo", "t.berth:1:1: let: missing name (write 'let NAME = JOB')"},
      {"let x=env", "t.berth:1:5: let: write 'let NAME = JOB' with spaces around '='"},
      {"let 9x = env", "t.berth:1:5: let: invalid name '9x' (use letters, digits and '_', not starting with a digit)"},
      {"let 'x' = env", "t.berth:1:5: let: invalid name ''x'' (use letters, digits and '_', not starting with a digit)"},
      {"let x env", "t.berth:1:7: let x: expected '=' after the name"},
      {"let x\necho", "t.berth:1:5: let x: expected '=' after the name"},
      {"let x | env", "t.berth:1:7: let x: expected '=' after the name"},
      {"let x =", "t.berth:1:7: let x: missing job after '='"},
      {"let x = \n env", "t.berth:1:7: let x: missing job after '='"},
      {"let x = env && echo", "t.berth:1:13: a let binds one pipeline; '&&' cannot follow it"},
      {"let x = env | cat || echo", "t.berth:1:19: a let binds one pipeline; '||' cannot follow it"},
      {"let x = let y = env", "t.berth:1:9: 'let' must begin a statement (quote it to run a job named let)"},
      {"set", "t.berth:1:1: set: only 'set -o pipefail' and 'set +o pipefail' are supported"},
      {"set -e", "t.berth:1:5: set: only 'set -o pipefail' and 'set +o pipefail' are supported"},
      {"set -o errexit", "t.berth:1:8: set: only 'set -o pipefail' and 'set +o pipefail' are supported"},
      {"set -o pipefail now", "t.berth:1:17: set: only 'set -o pipefail' and 'set +o pipefail' are supported"},
      {"set -o pipefail | cat", "t.berth:1:17: set: only 'set -o pipefail' and 'set +o pipefail' are supported"},
      {"set -o", "t.berth:1:1: set: only 'set -o pipefail' and 'set +o pipefail' are supported"},
  };
  for (const auto& [text, want] : golden) {
    INFO("script: " << text);
    CHECK(ParseError(text) == want);
  }
}

TEST_CASE("the file name given is the one errors start with") {
  absl::StatusOr<Script> s = ParseScript("echo 'x", "-e");
  CHECK(s.status().message() == "-e:1:6: unterminated single quote");
}

TEST_CASE("columns count bytes from the start of the line, lines count every newline") {
  CHECK(ParseError("echo 'a\nb' ok\n\techo ${") == "t.berth:3:7: unterminated '${': missing '}'");
  CHECK(ParseError("echo a \\\n  b `") == "t.berth:2:5: unexpected '`': command substitution is not supported; "
                                             "quote or escape it to pass it literally");
  CHECK(ParseError("echo \"a\\\nb\" >") == "t.berth:2:4: unexpected '>': redirections are not supported; "
                                               "quote or escape it to pass it literally");
}

}  // namespace
}  // namespace berth
