// Script: the parsed form of a job script (docs/scripts.md), as ParseScript builds it and
// CheckScript, PlanScript and RunScript read it.
//
//   script     := { statement } separated by ';' or newlines; '#' starts a comment
//   statement  := list | let | set
//   list       := pipeline { ('&&' | '||') pipeline }      left-associative
//   pipeline   := job { '|' job }                           '|' binds tighter
//   let        := 'let' NAME '=' pipeline
//   set        := 'set' ('-o' | '+o') 'pipefail'
//   job        := words in ParseJob syntax (engine/job_line.h), where a word may
//                 hold ${VAR} (process environment) and ${NAME.KEY} (a let env)
//
// Positions are 1-based lines and byte columns in the script text, so every error
// can say FILE:LINE:COL.
#ifndef BERTH_ENGINE_SCRIPT_SCRIPT_H_
#define BERTH_ENGINE_SCRIPT_SCRIPT_H_

#include <string>
#include <vector>

namespace berth {

struct ScriptPos {
  int line = 1;
  int col = 1;
};

// A substitution: ${VAR} or ${NAME.KEY}.
struct ScriptRef {
  enum class Kind { kVar, kLet };
  Kind kind = Kind::kVar;
  std::string name;  // VAR, or the let NAME
  std::string key;   // kLet: KEY
  ScriptPos pos;     // of the '$'

  // The reference as written: "${VAR}" or "${NAME.KEY}".
  std::string Text() const;
};

// A run of literal text, or one substitution. A substitution's value is inserted
// as literal text: it never splits a word, never adds an operator and never turns
// a word into an env word.
struct ScriptPiece {
  bool is_ref = false;
  std::string literal;  // when !is_ref
  ScriptRef ref;        // when is_ref
};

struct ScriptWord {
  // An env word (first unquoted '=' in it) is `key`=`pieces`; any other word is
  // `pieces` alone.
  bool is_env = false;
  std::vector<ScriptPiece> key;
  std::vector<ScriptPiece> pieces;
  // Written without quotes, escapes or substitutions (so it may be a keyword).
  bool plain = false;
  std::string source;  // the word as written
  ScriptPos pos;
};

// One job: `name arg… KEY=VALUE…`; env words may appear anywhere on the line.
struct ScriptJob {
  std::vector<ScriptWord> words;  // the name, then the args
  std::vector<ScriptWord> env;    // env words, in order (a later KEY wins)
  std::string text;               // the job as written, for messages
  ScriptPos pos;
};

struct ScriptPipeline {
  std::vector<ScriptJob> jobs;  // at least one
};

enum class ScriptOp { kAnd, kOr };

struct ScriptStatement {
  enum class Kind { kList, kLet, kSet };
  Kind kind = Kind::kList;
  ScriptPos pos;
  // kList: one or more pipelines joined by ops (ops.size() == pipelines.size()-1).
  // kLet: exactly one pipeline, whose last job's stdout is decoded as an env.
  std::vector<ScriptPipeline> pipelines;
  std::vector<ScriptOp> ops;
  std::string let_name;   // kLet
  bool pipefail = false;  // kSet: -o (true) or +o (false)
};

struct Script {
  std::string file;  // the name errors start with ("-e" for inline scripts)
  std::vector<ScriptStatement> statements;
};

}  // namespace berth

#endif  // BERTH_ENGINE_SCRIPT_SCRIPT_H_
