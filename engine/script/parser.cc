#include "engine/script/parser.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "engine/script/lexer.h"

namespace berth {
namespace {

bool IsKeyword(const ScriptToken& t, absl::string_view keyword) {
  return t.kind == ScriptTokenKind::kWord && t.word.plain && !t.word.is_env && t.word.source == keyword;
}

bool EndsStatement(ScriptTokenKind k) {
  return k == ScriptTokenKind::kSemicolon || k == ScriptTokenKind::kNewline || k == ScriptTokenKind::kEnd;
}

bool IsEmptyLiteral(const std::vector<ScriptPiece>& pieces) {
  for (const ScriptPiece& p : pieces) {
    if (p.is_ref || !p.literal.empty()) return false;
  }
  return true;
}

class Parser {
 public:
  Parser(absl::string_view text, std::string file) : text_(text), file_(std::move(file)), lexer_(text, file_) {}

  absl::StatusOr<Script> Parse() {
    Script script;
    script.file = file_;
    if (absl::Status s = Fill(); !s.ok()) return s;
    while (true) {
      if (tok_.kind == ScriptTokenKind::kEnd) break;
      if (tok_.kind == ScriptTokenKind::kNewline || tok_.kind == ScriptTokenKind::kSemicolon) {
        if (absl::Status s = Consume(); !s.ok()) return s;
        continue;
      }
      absl::StatusOr<ScriptStatement> st = ParseStatement();
      if (!st.ok()) return st.status();
      script.statements.push_back(*std::move(st));
      // A statement ends at a separator or the end: anything else was reported
      // by the statement's own rules.
      if (!EndsStatement(tok_.kind)) return Unexpected();
    }
    return script;
  }

 private:
  absl::Status ErrorAt(ScriptPos pos, absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(file_, ":", pos.line, ":", pos.col, ": ", what));
  }

  absl::Status Fill() {
    absl::StatusOr<ScriptToken> t = lexer_.Next();
    if (!t.ok()) return t.status();
    tok_ = *std::move(t);
    return absl::OkStatus();
  }
  // Moves to the next token; the current one is returned in *taken if given.
  absl::Status Consume(ScriptToken* taken = nullptr) {
    if (taken != nullptr) *taken = std::move(tok_);
    return Fill();
  }
  absl::Status SkipNewlines() {
    while (tok_.kind == ScriptTokenKind::kNewline) {
      if (absl::Status s = Fill(); !s.ok()) return s;
    }
    return absl::OkStatus();
  }

  absl::Status Unexpected() const {
    return ErrorAt(tok_.pos, absl::StrCat("unexpected '", ScriptTokenName(tok_.kind), "'"));
  }

  absl::StatusOr<ScriptStatement> ParseStatement() {
    if (IsKeyword(tok_, "let")) return ParseLet();
    if (IsKeyword(tok_, "set")) return ParseSet();
    ScriptStatement st;
    st.kind = ScriptStatement::Kind::kList;
    st.pos = tok_.pos;
    at_statement_start_ = true;
    absl::StatusOr<ScriptPipeline> first = ParsePipeline();
    if (!first.ok()) return first.status();
    st.pipelines.push_back(*std::move(first));
    while (tok_.kind == ScriptTokenKind::kAnd || tok_.kind == ScriptTokenKind::kOr) {
      ScriptToken op;
      if (absl::Status s = Consume(&op); !s.ok()) return s;
      if (absl::Status s = AfterOperator(op); !s.ok()) return s;
      st.ops.push_back(op.kind == ScriptTokenKind::kAnd ? ScriptOp::kAnd : ScriptOp::kOr);
      absl::StatusOr<ScriptPipeline> next = ParsePipeline();
      if (!next.ok()) return next.status();
      st.pipelines.push_back(*std::move(next));
    }
    return st;
  }

  // After '|', '&&' or '||' a job must follow, possibly on a later line.
  absl::Status AfterOperator(const ScriptToken& op) {
    if (absl::Status s = SkipNewlines(); !s.ok()) return s;
    if (tok_.kind == ScriptTokenKind::kEnd || tok_.kind == ScriptTokenKind::kSemicolon) {
      return ErrorAt(op.pos, absl::StrCat("missing job after '", ScriptTokenName(op.kind), "'"));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<ScriptPipeline> ParsePipeline() {
    ScriptPipeline p;
    while (true) {
      absl::StatusOr<ScriptJob> job = ParseJob();
      if (!job.ok()) return job.status();
      p.jobs.push_back(*std::move(job));
      if (tok_.kind != ScriptTokenKind::kPipe) return p;
      ScriptToken op;
      if (absl::Status s = Consume(&op); !s.ok()) return s;
      if (absl::Status s = AfterOperator(op); !s.ok()) return s;
    }
  }

  absl::StatusOr<ScriptJob> ParseJob() {
    if (tok_.kind != ScriptTokenKind::kWord) {
      return ErrorAt(tok_.pos, absl::StrCat("missing job before '", ScriptTokenName(tok_.kind), "'"));
    }
    if (!at_statement_start_ && (IsKeyword(tok_, "let") || IsKeyword(tok_, "set"))) {
      return ErrorAt(tok_.pos, absl::StrCat("'", tok_.word.source, "' must begin a statement (quote it to run a job named ",
                                            tok_.word.source, ")"));
    }
    at_statement_start_ = false;
    ScriptJob job;
    job.pos = tok_.pos;
    const size_t begin = tok_.begin;
    size_t end = tok_.end;
    while (tok_.kind == ScriptTokenKind::kWord) {
      ScriptToken t;
      if (absl::Status s = Consume(&t); !s.ok()) return s;
      end = t.end;
      if (t.word.is_env) {
        if (IsEmptyLiteral(t.word.key)) {
          return ErrorAt(t.word.pos, absl::StrCat("env word '", t.word.source, "' has an empty key"));
        }
        job.env.push_back(std::move(t.word));
      } else {
        job.words.push_back(std::move(t.word));
      }
    }
    job.text = std::string(text_.substr(begin, end - begin));
    if (job.words.empty()) {
      return ErrorAt(job.pos, absl::StrCat("empty command: '", job.text, "' has no job name"));
    }
    if (IsEmptyLiteral(job.words[0].pieces)) return ErrorAt(job.words[0].pos, "empty job name");
    return job;
  }

  absl::StatusOr<ScriptStatement> ParseLet() {
    ScriptStatement st;
    st.kind = ScriptStatement::Kind::kLet;
    st.pos = tok_.pos;
    ScriptToken let;
    if (absl::Status s = Consume(&let); !s.ok()) return s;
    if (tok_.kind != ScriptTokenKind::kWord) return ErrorAt(let.pos, "let: missing name (write 'let NAME = JOB')");
    if (tok_.word.is_env) return ErrorAt(tok_.pos, "let: write 'let NAME = JOB' with spaces around '='");
    if (!tok_.word.plain || !IsScriptName(tok_.word.source)) {
      return ErrorAt(tok_.pos, absl::StrCat("let: invalid name '", tok_.word.source,
                                            "' (use letters, digits and '_', not starting with a digit)"));
    }
    ScriptToken name;
    if (absl::Status s = Consume(&name); !s.ok()) return s;
    st.let_name = name.word.source;
    const bool is_equals = tok_.kind == ScriptTokenKind::kWord && tok_.word.plain && tok_.word.source == "=";
    if (!is_equals) {
      return ErrorAt(EndsStatement(tok_.kind) ? name.pos : tok_.pos,
                     absl::StrCat("let ", st.let_name, ": expected '=' after the name"));
    }
    ScriptToken equals;
    if (absl::Status s = Consume(&equals); !s.ok()) return s;
    if (EndsStatement(tok_.kind)) {
      return ErrorAt(equals.pos, absl::StrCat("let ", st.let_name, ": missing job after '='"));
    }
    at_statement_start_ = false;
    absl::StatusOr<ScriptPipeline> p = ParsePipeline();
    if (!p.ok()) return p.status();
    st.pipelines.push_back(*std::move(p));
    if (tok_.kind == ScriptTokenKind::kAnd || tok_.kind == ScriptTokenKind::kOr) {
      return ErrorAt(tok_.pos, absl::StrCat("a let binds one pipeline; '", ScriptTokenName(tok_.kind),
                                            "' cannot follow it"));
    }
    return st;
  }

  absl::StatusOr<ScriptStatement> ParseSet() {
    ScriptStatement st;
    st.kind = ScriptStatement::Kind::kSet;
    st.pos = tok_.pos;
    constexpr absl::string_view kUsage = "set: only 'set -o pipefail' and 'set +o pipefail' are supported";
    ScriptToken set;
    if (absl::Status s = Consume(&set); !s.ok()) return s;
    auto bad_here = [&] { return ErrorAt(tok_.kind == ScriptTokenKind::kEnd ? set.pos : tok_.pos, kUsage); };
    if (tok_.kind != ScriptTokenKind::kWord || !tok_.word.plain ||
        (tok_.word.source != "-o" && tok_.word.source != "+o")) {
      return bad_here();
    }
    st.pipefail = tok_.word.source == "-o";
    if (absl::Status s = Consume(); !s.ok()) return s;
    if (tok_.kind != ScriptTokenKind::kWord || !tok_.word.plain || tok_.word.source != "pipefail") return bad_here();
    if (absl::Status s = Consume(); !s.ok()) return s;
    if (!EndsStatement(tok_.kind)) return bad_here();
    return st;
  }

  absl::string_view text_;
  std::string file_;
  ScriptLexer lexer_;
  ScriptToken tok_;
  // The next job starts a statement (where 'let' and 'set' are keywords).
  bool at_statement_start_ = true;
};

}  // namespace

absl::StatusOr<Script> ParseScript(absl::string_view text, std::string file_name) {
  return Parser(text, std::move(file_name)).Parse();
}

}  // namespace berth
