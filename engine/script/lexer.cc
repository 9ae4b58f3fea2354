#include "engine/script/lexer.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace berth {
namespace {

bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

// Characters a KEY in ${NAME.KEY} may not hold: they would end or confuse the
// substitution, or could never be an env key.
bool IsKeyChar(char c) {
  switch (c) {
    case '{': case '}': case '$': case '=': case '\'': case '"': case '\\': case '`':
    case ' ': case '\t': case '\r': case '\n':
      return false;
    default:
      return true;
  }
}

// Appends to a word's pieces, merging adjacent literal text.
class PieceBuilder {
 public:
  explicit PieceBuilder(std::vector<ScriptPiece>* target) : target_(target) {}
  void Append(char c) { literal_.push_back(c); }
  void Append(absl::string_view s) { absl::StrAppend(&literal_, s); }
  void AddRef(ScriptRef ref) {
    Flush();
    ScriptPiece piece;
    piece.is_ref = true;
    piece.ref = std::move(ref);
    target_->push_back(std::move(piece));
  }
  void Flush() {
    if (literal_.empty()) return;
    ScriptPiece piece;
    piece.literal = std::move(literal_);
    literal_.clear();
    target_->push_back(std::move(piece));
  }
  // From now on pieces go to `target` (the value of an env word).
  void Retarget(std::vector<ScriptPiece>* target) {
    Flush();
    target_ = target;
  }

 private:
  std::vector<ScriptPiece>* target_;
  std::string literal_;
};

}  // namespace

bool IsScriptName(absl::string_view s) {
  if (s.empty() || !IsNameStart(s[0])) return false;
  for (char c : s) {
    if (!IsNameChar(c)) return false;
  }
  return true;
}

std::string ScriptRef::Text() const {
  if (kind == Kind::kLet) return absl::StrCat("${", name, ".", key, "}");
  return absl::StrCat("${", name, "}");
}

absl::string_view ScriptTokenName(ScriptTokenKind kind) {
  switch (kind) {
    case ScriptTokenKind::kWord:
      return "word";
    case ScriptTokenKind::kPipe:
      return "|";
    case ScriptTokenKind::kAnd:
      return "&&";
    case ScriptTokenKind::kOr:
      return "||";
    case ScriptTokenKind::kSemicolon:
      return ";";
    case ScriptTokenKind::kNewline:
      return "newline";
    case ScriptTokenKind::kEnd:
      return "end of script";
  }
  return "?";
}

absl::Status ScriptLexer::ErrorAt(ScriptPos pos, absl::string_view what) const {
  return absl::InvalidArgumentError(absl::StrCat(file_, ":", pos.line, ":", pos.col, ": ", what));
}

void ScriptLexer::Advance() {
  if (text_[i_] == '\n') {
    ++line_;
    line_start_ = i_ + 1;
  }
  ++i_;
}

bool ScriptLexer::AtBlank() const {
  char c = text_[i_];
  return c == ' ' || c == '\t' || c == '\r';
}

void ScriptLexer::SkipBlanksAndComments() {
  while (i_ < text_.size()) {
    if (AtBlank()) {
      Advance();
    } else if (text_[i_] == '\\' && i_ + 1 < text_.size() && text_[i_ + 1] == '\n') {
      Advance();  // a line continuation between words
      Advance();
    } else if (text_[i_] == '#') {
      while (i_ < text_.size() && text_[i_] != '\n') Advance();
    } else {
      return;
    }
  }
}

absl::Status ScriptLexer::Unsupported(char c) const {
  switch (c) {
    case '<':
    case '>':
      return ErrorAt(Here(), absl::StrCat("unexpected '", std::string(1, c),
                                          "': redirections are not supported; quote or escape it to pass it literally"));
    case '(':
    case ')':
      return ErrorAt(Here(), absl::StrCat("unexpected '", std::string(1, c),
                                          "': subshells are not supported; quote or escape it to pass it literally"));
    case '`':
      return ErrorAt(Here(),
                     "unexpected '`': command substitution is not supported; quote or escape it to pass it literally");
    default:
      return ErrorAt(Here(), absl::StrCat("unexpected '", std::string(1, c), "'"));
  }
}

absl::Status ScriptLexer::LexRef(ScriptRef* ref) {
  const ScriptPos at = Here();
  const size_t dollar = i_;
  if (i_ + 1 >= text_.size() || text_[i_ + 1] != '{') {
    return ErrorAt(at, "unexpected '$': write ${VAR} or ${NAME.KEY} to substitute, or \\$ for a literal '$'");
  }
  size_t close = dollar + 2;
  while (close < text_.size() && text_[close] != '}' && text_[close] != '\n') ++close;
  if (close >= text_.size() || text_[close] != '}') return ErrorAt(at, "unterminated '${': missing '}'");
  absl::string_view inner = text_.substr(dollar + 2, close - dollar - 2);
  if (inner.empty()) return ErrorAt(at, "empty substitution '${}'");
  size_t dot = inner.find('.');
  bool good;
  if (dot == absl::string_view::npos) {
    ref->kind = ScriptRef::Kind::kVar;
    ref->name = std::string(inner);
    good = IsScriptName(inner);
  } else {
    ref->kind = ScriptRef::Kind::kLet;
    ref->name = std::string(inner.substr(0, dot));
    ref->key = std::string(inner.substr(dot + 1));
    good = IsScriptName(ref->name) && !ref->key.empty();
    for (char c : ref->key) good = good && IsKeyChar(c);
  }
  if (!good) {
    return ErrorAt(at, absl::StrCat("bad substitution '${", inner,
                                    "}': write ${VAR} or ${NAME.KEY} (names are letters, digits and '_')"));
  }
  ref->pos = at;
  while (i_ <= close) Advance();
  return absl::OkStatus();
}

absl::Status ScriptLexer::LexWord(ScriptToken* token) {
  ScriptWord& word = token->word;
  word.pos = Here();
  word.plain = true;
  PieceBuilder out(&word.pieces);
  const size_t n = text_.size();
  while (i_ < n) {
    const char c = text_[i_];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '|' || c == '&' || c == ';') break;
    if (c == '\'') {
      word.plain = false;
      const ScriptPos open = Here();
      size_t close = text_.find('\'', i_ + 1);
      if (close == absl::string_view::npos) return ErrorAt(open, "unterminated single quote");
      out.Append(text_.substr(i_ + 1, close - i_ - 1));
      while (i_ <= close) Advance();
    } else if (c == '"') {
      word.plain = false;
      const ScriptPos open = Here();
      Advance();
      bool closed = false;
      while (i_ < n) {
        const char d = text_[i_];
        if (d == '"') {
          closed = true;
          Advance();
          break;
        }
        if (d == '\\' && i_ + 1 < n) {
          const char e = text_[i_ + 1];
          if (e == '"' || e == '\\' || e == '$' || e == '`') {
            out.Append(e);
            Advance();
            Advance();
            continue;
          }
          if (e == '\n') {
            Advance();
            Advance();
            continue;
          }
        }
        if (d == '$') {
          ScriptRef ref;
          if (absl::Status s = LexRef(&ref); !s.ok()) return s;
          out.AddRef(std::move(ref));
          continue;
        }
        if (d == '`') return Unsupported(d);
        out.Append(d);
        Advance();
      }
      if (!closed) return ErrorAt(open, "unterminated double quote");
    } else if (c == '\\') {
      word.plain = false;
      if (i_ + 1 >= n) return ErrorAt(Here(), "trailing backslash");
      if (text_[i_ + 1] != '\n') out.Append(text_[i_ + 1]);
      Advance();
      Advance();
    } else if (c == '$') {
      word.plain = false;
      ScriptRef ref;
      if (absl::Status s = LexRef(&ref); !s.ok()) return s;
      out.AddRef(std::move(ref));
    } else if (c == '<' || c == '>' || c == '(' || c == ')' || c == '`') {
      return Unsupported(c);
    } else if (c == '=' && !word.is_env) {
      word.is_env = true;
      out.Flush();
      word.key = std::move(word.pieces);
      word.pieces.clear();
      out.Retarget(&word.pieces);
      Advance();
    } else {
      out.Append(c);
      Advance();
    }
  }
  out.Flush();
  token->end = i_;
  word.source = std::string(text_.substr(token->begin, token->end - token->begin));
  return absl::OkStatus();
}

absl::StatusOr<ScriptToken> ScriptLexer::Next() {
  SkipBlanksAndComments();
  ScriptToken token;
  token.pos = Here();
  token.begin = i_;
  if (i_ >= text_.size()) {
    token.kind = ScriptTokenKind::kEnd;
    token.end = i_;
    return token;
  }
  const char c = text_[i_];
  const char next = i_ + 1 < text_.size() ? text_[i_ + 1] : '\0';
  auto op = [&](ScriptTokenKind kind, int len) {
    token.kind = kind;
    for (int k = 0; k < len; ++k) Advance();
    token.end = i_;
    return token;
  };
  switch (c) {
    case '\n':
      return op(ScriptTokenKind::kNewline, 1);
    case ';':
      return op(ScriptTokenKind::kSemicolon, 1);
    case '|':
      return next == '|' ? op(ScriptTokenKind::kOr, 2) : op(ScriptTokenKind::kPipe, 1);
    case '&':
      if (next == '&') return op(ScriptTokenKind::kAnd, 2);
      return ErrorAt(Here(), "unexpected '&': background jobs are not supported (did you mean '&&'?)");
    default:
      break;
  }
  token.kind = ScriptTokenKind::kWord;
  if (absl::Status s = LexWord(&token); !s.ok()) return s;
  return token;
}

}  // namespace berth
