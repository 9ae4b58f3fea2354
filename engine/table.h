// Table: a list of envs with a sort key, the shape of list-returning jobs
// (`images`, `workers`, ...).
#ifndef BERTH_ENGINE_TABLE_H_
#define BERTH_ENGINE_TABLE_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/status/status.h"
#include "engine/env.h"

namespace berth {

class Table {
 public:
  Table() = default;

  void SetKey(std::string key) { key_ = std::move(key); }
  const std::string& key() const { return key_; }
  void Add(Env env) { data_.push_back(std::move(env)); }
  size_t Len() const { return data_.size(); }
  const std::vector<Env>& data() const { return data_; }
  std::vector<Env>& data() { return data_; }

  // Orders rows by the sort key: numerically when both values parse as integers,
  // as strings otherwise. Stable.
  void Sort();
  void ReverseSort();

  // A JSON array of the rows' objects.
  std::string ListJson() const;
  // One JSON object per line.
  std::string StreamJson() const;
  // Appends the rows of a JSON array of objects.
  absl::Status ReadListFrom(absl::string_view json_array);
  // Appends one row per JSON object in a stream of objects.
  absl::Status ReadFrom(absl::string_view json_stream);

 private:
  std::string key_;
  std::vector<Env> data_;
};

}  // namespace berth

#endif  // BERTH_ENGINE_TABLE_H_
