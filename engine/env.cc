#include "engine/env.h"

#include <algorithm>
#include <charconv>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "engine/json.h"
#include "nlohmann/json.hpp"

namespace berth {
namespace {

absl::string_view TrimBlanks(absl::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool ParseInt64(absl::string_view s, int64_t* out) {
  s = TrimBlanks(s);
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out, 10);
  return ec == std::errc() && ptr == s.data() + s.size();
}

}  // namespace

absl::Status Env::ValidateKey(absl::string_view key) {
  if (key.empty()) return absl::InvalidArgumentError("invalid env key '': keys must not be empty");
  if (key.find('=') != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid env key '", key, "': keys must not contain '='"));
  }
  return absl::OkStatus();
}

absl::Status Env::Set(absl::string_view key, absl::string_view value) {
  if (absl::Status s = ValidateKey(key); !s.ok()) return s;
  entries_.push_back(Entry{std::string(key), std::string(value), false});
  return absl::OkStatus();
}

absl::Status Env::SetRawJson(absl::string_view key, std::string value) {
  if (absl::Status s = ValidateKey(key); !s.ok()) return s;
  entries_.push_back(Entry{std::string(key), std::move(value), true});
  return absl::OkStatus();
}

const Env::Entry* Env::Last(absl::string_view key) const {
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
    if (it->key == key) return &*it;
  }
  return nullptr;
}

std::string Env::Get(absl::string_view key) const { return std::string(GetView(key)); }

absl::string_view Env::GetView(absl::string_view key) const {
  const Entry* e = Last(key);
  return e == nullptr ? absl::string_view() : absl::string_view(e->value);
}

bool Env::Exists(absl::string_view key) const { return Last(key) != nullptr; }

size_t Env::Len() const {
  absl::flat_hash_set<absl::string_view> keys;
  for (const Entry& e : entries_) keys.insert(e.key);
  return keys.size();
}

std::map<std::string, std::string> Env::Map() const {
  std::map<std::string, std::string> m;
  for (const Entry& e : entries_) m[e.key] = e.value;
  return m;
}

bool Env::GetBool(absl::string_view key) const {
  std::string v = absl::AsciiStrToLower(TrimBlanks(GetView(key)));
  return !(v.empty() || v == "0" || v == "no" || v == "false" || v == "none");
}

absl::Status Env::SetBool(absl::string_view key, bool value) { return Set(key, value ? "1" : "0"); }

int Env::GetInt(absl::string_view key) const { return static_cast<int>(GetInt64(key)); }

int64_t Env::GetInt64(absl::string_view key) const {
  int64_t v = 0;
  return ParseInt64(GetView(key), &v) ? v : 0;
}

absl::Status Env::SetInt(absl::string_view key, int64_t value) { return Set(key, absl::StrCat(value)); }

absl::StatusOr<int64_t> Env::GetInt64Checked(absl::string_view key) const {
  const Entry* e = Last(key);
  if (e == nullptr) return absl::InvalidArgumentError(absl::StrCat("missing integer value for ", key));
  int64_t v = 0;
  if (!ParseInt64(e->value, &v)) {
    return absl::InvalidArgumentError(absl::StrCat("invalid integer for ", key, ": '", e->value, "'"));
  }
  return v;
}

absl::StatusOr<int64_t> Env::GetInt64Checked(absl::string_view key, int64_t if_absent) const {
  const Entry* e = Last(key);
  if (e == nullptr || TrimBlanks(e->value).empty()) return if_absent;
  return GetInt64Checked(key);
}

std::vector<std::string> Env::GetList(absl::string_view key) const {
  absl::string_view raw = GetView(key);
  if (raw.empty()) return {};
  std::vector<std::string> out;
  absl::Status s = json::ForEachElement(raw, [&](absl::string_view elem) {
    if (elem.empty() || elem.front() != '"') return absl::InvalidArgumentError("not a string");
    size_t pos = 0;
    std::string v;
    if (absl::Status ps = json::ParseString(elem, &pos, &v); !ps.ok()) return ps;
    out.push_back(std::move(v));
    return absl::OkStatus();
  });
  if (!s.ok()) return {std::string(raw)};
  return out;
}

absl::Status Env::SetList(absl::string_view key, const std::vector<std::string>& value) {
  std::string text = "[";
  for (size_t i = 0; i < value.size(); ++i) {
    if (i > 0) text.push_back(',');
    json::AppendQuoted(&text, value[i]);
  }
  text.push_back(']');
  return SetRawJson(key, std::move(text));
}

absl::StatusOr<nlohmann::json> Env::GetJson(absl::string_view key) const {
  absl::string_view raw = GetView(key);
  if (raw.empty()) return nlohmann::json();
  nlohmann::json j = nlohmann::json::parse(raw, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return absl::InvalidArgumentError(absl::StrCat("invalid JSON for ", key, ": '", raw, "'"));
  }
  return j;
}

absl::Status Env::SetJsonText(absl::string_view key, absl::string_view json_text) {
  size_t pos = 0;
  absl::Status s = json::SkipValue(json_text, &pos);
  if (s.ok()) {
    json::SkipSpace(json_text, &pos);
    if (pos != json_text.size()) s = absl::InvalidArgumentError("trailing characters after the JSON value");
  }
  if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat("invalid JSON for ", key, ": ", s.message()));
  return SetRawJson(key, std::string(json_text));
}

absl::Status Env::SetJson(absl::string_view key, const nlohmann::json& value) {
  std::string text;
  try {
    text = value.dump();
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("cannot encode ", key, " as JSON: ", e.what()));
  }
  return SetRawJson(key, std::move(text));
}

absl::StatusOr<Env> Env::GetSubEnv(absl::string_view key) const {
  absl::string_view raw = GetView(key);
  Env sub;
  if (raw.empty()) return sub;
  if (absl::Status s = sub.Decode(raw); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("invalid sub-env ", key, ": ", s.message()));
  }
  return sub;
}

absl::Status Env::SetSubEnv(absl::string_view key, const Env& sub) { return SetRawJson(key, sub.Encode()); }

std::string Env::Encode() const {
  std::string out;
  EncodeTo(&out);
  return out;
}

void Env::EncodeTo(std::string* out) const {
  out->push_back('{');
  bool first = true;
  auto emit = [&](const Entry& e) {
    if (!first) out->push_back(',');
    first = false;
    json::AppendQuoted(out, e.key);
    out->push_back(':');
    if (e.json) {
      out->append(e.value);
    } else {
      json::AppendQuoted(out, e.value);
    }
  };
  // Small envs (the common case) avoid a hash set: a key is emitted at its first
  // appearance with its last value.
  if (entries_.size() <= 16) {
    for (size_t i = 0; i < entries_.size(); ++i) {
      bool seen = false;
      for (size_t j = 0; j < i && !seen; ++j) seen = entries_[j].key == entries_[i].key;
      if (!seen) emit(*Last(entries_[i].key));
    }
  } else {
    absl::flat_hash_set<absl::string_view> seen;
    for (const Entry& e : entries_) {
      if (seen.insert(e.key).second) emit(*Last(e.key));
    }
  }
  out->push_back('}');
}

absl::Status Env::Decode(absl::string_view json_object) {
  std::vector<Entry> decoded;
  absl::Status s = json::ForEachMember(json_object, [&](const json::Member& m) {
    if (absl::Status ks = ValidateKey(m.key); !ks.ok()) return ks;
    if (m.is_null) return absl::OkStatus();
    if (m.is_string) {
      decoded.push_back(Entry{std::string(m.key), std::string(m.string_value), false});
    } else {
      decoded.push_back(Entry{std::string(m.key), std::string(m.raw), true});
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  entries_.insert(entries_.end(), std::make_move_iterator(decoded.begin()),
                  std::make_move_iterator(decoded.end()));
  return absl::OkStatus();
}

absl::StatusOr<Env> Env::FromJson(absl::string_view json_object) {
  Env env;
  if (absl::Status s = env.Decode(json_object); !s.ok()) return s;
  return env;
}

}  // namespace berth
