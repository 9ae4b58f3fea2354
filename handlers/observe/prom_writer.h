// PromWriter: builds a page in the Prometheus text exposition format (0.0.4),
// the format `GET /metrics` serves and `promtool check metrics` reads.
//
// A family is announced once (HELP and TYPE) and then gets its samples; label
// values are escaped (\\, \", \n), HELP text too (\\, \n). Not thread-safe: one writer per scrape.
#ifndef BERTH_HANDLERS_OBSERVE_PROM_WRITER_H_
#define BERTH_HANDLERS_OBSERVE_PROM_WRITER_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/string_view.h"

namespace berth {

using PromLabels = std::vector<std::pair<std::string, std::string>>;

class PromWriter {
 public:
  // Writes `# HELP` and `# TYPE` (counter, gauge, histogram) the first time a
  // family is named; later calls for the same family write nothing.
  void Family(absl::string_view name, absl::string_view type, absl::string_view help);
  // One sample line: `name{k="v",...} value`.
  void Sample(absl::string_view name, const PromLabels& labels, double value);
  // A histogram's samples from cumulative bucket counts: `bounds[i]` is the
  // upper bound of `cumulative[i]`; `+Inf` is `count`.
  void Histogram(absl::string_view name, const PromLabels& labels, const std::vector<double>& bounds,
                 const std::vector<uint64_t>& cumulative, uint64_t count, double sum);

  const std::string& text() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
  absl::flat_hash_set<std::string> families_;
};

// The content type of the page.
inline constexpr char kPromContentType[] = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace berth

#endif  // BERTH_HANDLERS_OBSERVE_PROM_WRITER_H_
