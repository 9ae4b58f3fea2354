// ScriptLexer: splits job-script text into words and operators.
//
// Words follow the job-line rules of engine/job_line.h ('…' literal, "…" with
// \" \\ \$ \` and backslash-newline, an unquoted backslash escapes the next
// character, the first unquoted '=' makes an env word), plus substitutions
// ${VAR} and ${NAME.KEY}, which are recognised unquoted and inside "…" but not
// inside '…'. Operators end a word wherever they appear: '|', '||', '&&', ';'
// and newline. '#' at the start of a word comments out the rest of the line.
// Characters a shell would give a meaning berth does not support (a lone '&',
// '<', '>', '(', ')', '`', a '$' not starting '${') are refused with an error
// rather than passed on silently.
#ifndef BERTH_ENGINE_SCRIPT_LEXER_H_
#define BERTH_ENGINE_SCRIPT_LEXER_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "engine/script/script.h"

namespace berth {

enum class ScriptTokenKind { kWord, kPipe, kAnd, kOr, kSemicolon, kNewline, kEnd };

struct ScriptToken {
  ScriptTokenKind kind = ScriptTokenKind::kEnd;
  ScriptPos pos;
  size_t begin = 0;  // byte range in the text
  size_t end = 0;
  ScriptWord word;   // kWord
};

// A let NAME or a VAR: [A-Za-z_][A-Za-z0-9_]*.
bool IsScriptName(absl::string_view s);

// The operator as written: "|", "&&", "||", ";", "newline", "end of script".
absl::string_view ScriptTokenName(ScriptTokenKind kind);

class ScriptLexer {
 public:
  // `file` prefixes error messages: FILE:LINE:COL: what is wrong.
  ScriptLexer(absl::string_view text, absl::string_view file) : text_(text), file_(file) {}

  absl::StatusOr<ScriptToken> Next();

 private:
  absl::Status ErrorAt(ScriptPos pos, absl::string_view what) const;
  ScriptPos Here() const { return ScriptPos{line_, static_cast<int>(i_ - line_start_) + 1}; }
  // Moves past one character, counting lines.
  void Advance();
  bool AtBlank() const;
  void SkipBlanksAndComments();
  absl::Status LexWord(ScriptToken* token);
  // At '$': reads ${…} into `ref`.
  absl::Status LexRef(ScriptRef* ref);
  // At a character the shell would interpret and berth refuses.
  absl::Status Unsupported(char c) const;

  absl::string_view text_;
  absl::string_view file_;
  size_t i_ = 0;
  int line_ = 1;
  size_t line_start_ = 0;
};

}  // namespace berth

#endif  // BERTH_ENGINE_SCRIPT_LEXER_H_
