#include "engine/table.h"

#include <algorithm>
#include <charconv>

#include "absl/strings/str_cat.h"
#include "engine/json.h"
#include "engine/object_stream.h"

namespace berth {
namespace {

bool AsInt(absl::string_view s, int64_t* out) {
  if (s.empty()) return false;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), *out, 10);
  return ec == std::errc() && ptr == s.data() + s.size();
}

// -1, 0, 1 ordering of two values under the table's rule.
int Compare(absl::string_view a, absl::string_view b) {
  int64_t ia = 0;
  int64_t ib = 0;
  if (AsInt(a, &ia) && AsInt(b, &ib)) return ia < ib ? -1 : (ia > ib ? 1 : 0);
  int c = a.compare(b);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

}  // namespace

void Table::Sort() {
  std::stable_sort(data_.begin(), data_.end(), [&](const Env& a, const Env& b) {
    return Compare(a.GetView(key_), b.GetView(key_)) < 0;
  });
}

void Table::ReverseSort() {
  std::stable_sort(data_.begin(), data_.end(), [&](const Env& a, const Env& b) {
    return Compare(a.GetView(key_), b.GetView(key_)) > 0;
  });
}

std::string Table::ListJson() const {
  std::string out = "[";
  for (size_t i = 0; i < data_.size(); ++i) {
    if (i > 0) out.push_back(',');
    data_[i].EncodeTo(&out);
  }
  out.push_back(']');
  return out;
}

std::string Table::StreamJson() const {
  std::string out;
  for (const Env& e : data_) {
    e.EncodeTo(&out);
    out.push_back('\n');
  }
  return out;
}

absl::Status Table::ReadListFrom(absl::string_view json_array) {
  std::vector<Env> rows;
  absl::Status s = json::ForEachElement(json_array, [&](absl::string_view elem) {
    absl::StatusOr<Env> env = Env::FromJson(elem);
    if (!env.ok()) return env.status();
    rows.push_back(*std::move(env));
    return absl::OkStatus();
  });
  if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat("invalid table: ", s.message()));
  for (Env& e : rows) data_.push_back(std::move(e));
  return absl::OkStatus();
}

absl::Status Table::ReadFrom(absl::string_view json_stream) {
  ObjectStream stream;
  std::vector<Env> rows;
  absl::Status s = stream.Feed(json_stream, [&](absl::string_view object) {
    absl::StatusOr<Env> env = Env::FromJson(object);
    if (!env.ok()) return env.status();
    rows.push_back(*std::move(env));
    return absl::OkStatus();
  });
  if (s.ok()) s = stream.Finish();
  if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat("invalid table stream: ", s.message()));
  for (Env& e : rows) data_.push_back(std::move(e));
  return absl::OkStatus();
}

}  // namespace berth
