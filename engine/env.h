// Env: the string→string environment a job carries in and writes out.
//
// An ordered list of KEY=VALUE entries, as the reference engine keeps it: Set
// appends, Get returns the last value for a key. Typed accessors interpret values;
// the *Checked accessors return a clear error naming the key and the bad value
// where the reference silently returned 0.
//
// JSON form: one object. Values set from JSON (SetJson, SetList, SetSubEnv, or a
// decoded non-string value) remember that they are JSON and are encoded back as
// the same JSON text; every other value is encoded as a JSON string. So encoding
// never changes a type ("true" stays a string) and never rounds a number.
#ifndef BERTH_ENGINE_ENV_H_
#define BERTH_ENGINE_ENV_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json_fwd.hpp"

namespace berth {

class Env {
 public:
  struct Entry {
    std::string key;
    std::string value;
    bool json = false;  // value is JSON text, encoded verbatim

    bool operator==(const Entry&) const = default;
  };

  Env() = default;

  // Checks that `key` may be used: non-empty and without '='.
  static absl::Status ValidateKey(absl::string_view key);

  // Appends KEY=VALUE. Fails (and changes nothing) when the key is invalid.
  absl::Status Set(absl::string_view key, absl::string_view value);
  // The value of the last entry for `key`, "" when absent.
  std::string Get(absl::string_view key) const;
  // Like Get, without a copy; valid until the env is next modified.
  absl::string_view GetView(absl::string_view key) const;
  bool Exists(absl::string_view key) const;
  // Number of distinct keys.
  size_t Len() const;
  // Every key with its last value.
  std::map<std::string, std::string> Map() const;
  const std::vector<Entry>& entries() const { return entries_; }
  bool empty() const { return entries_.empty(); }
  void Clear() { entries_.clear(); }
  void Reserve(size_t n) { entries_.reserve(n); }

  // False only for "", "0", "no", "false", "none" (after trimming spaces and tabs,
  // case-insensitive); everything else is true.
  bool GetBool(absl::string_view key) const;
  absl::Status SetBool(absl::string_view key, bool value);  // writes "1" / "0"

  // Base-10 after trimming; 0 when absent or unparsable (the reference behaviour).
  int GetInt(absl::string_view key) const;
  int64_t GetInt64(absl::string_view key) const;
  absl::Status SetInt(absl::string_view key, int64_t value);
  // Checked: an absent, empty or unparsable value is an error naming the key and
  // the value, e.g. `invalid integer for HostPort: 'abc'`.
  absl::StatusOr<int64_t> GetInt64Checked(absl::string_view key) const;
  // Checked, with a default used when the key is absent or its value is empty.
  absl::StatusOr<int64_t> GetInt64Checked(absl::string_view key, int64_t if_absent) const;

  // "" → empty; a JSON array of strings → its elements; anything else → a
  // one-element list holding the raw value.
  std::vector<std::string> GetList(absl::string_view key) const;
  absl::Status SetList(absl::string_view key, const std::vector<std::string>& value);

  // The value parsed as JSON; absent or "" gives JSON null.
  absl::StatusOr<nlohmann::json> GetJson(absl::string_view key) const;
  // Stores `json_text` (one valid JSON value) as a JSON value, verbatim.
  absl::Status SetJsonText(absl::string_view key, absl::string_view json_text);
  absl::Status SetJson(absl::string_view key, const nlohmann::json& value);

  // A nested env, stored as a JSON object.
  absl::StatusOr<Env> GetSubEnv(absl::string_view key) const;
  absl::Status SetSubEnv(absl::string_view key, const Env& sub);

  // One JSON object holding each key once, with its last value, keys in order of
  // first appearance.
  std::string Encode() const;
  void EncodeTo(std::string* out) const;
  // Decodes one JSON object and appends its members: strings raw, null skipped,
  // other values as their exact JSON text. On error nothing is appended.
  absl::Status Decode(absl::string_view json_object);
  // Parses `json_object` into a fresh env.
  static absl::StatusOr<Env> FromJson(absl::string_view json_object);

  bool operator==(const Env&) const = default;

 private:
  absl::Status SetRawJson(absl::string_view key, std::string value);
  const Entry* Last(absl::string_view key) const;

  std::vector<Entry> entries_;
};

}  // namespace berth

#endif  // BERTH_ENGINE_ENV_H_
