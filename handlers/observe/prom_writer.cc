#include "handlers/observe/prom_writer.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace berth {
namespace {

// Label values escape \, " and newlines; HELP text only \ and newlines.
void AppendEscaped(std::string* out, absl::string_view value, bool quote = true) {
  for (char c : value) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '"' && quote) {
      out->append("\\\"");
    } else if (c == '\n') {
      out->append("\\n");
    } else {
      out->push_back(c);
    }
  }
}

std::string FormatValue(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (std::isnan(v)) return "NaN";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return absl::StrCat(static_cast<int64_t>(v));
  return absl::StrFormat("%.9g", v);
}

}  // namespace

void PromWriter::Family(absl::string_view name, absl::string_view type, absl::string_view help) {
  if (!families_.insert(std::string(name)).second) return;
  absl::StrAppend(&out_, "# HELP ", name, " ");
  AppendEscaped(&out_, help, /*quote=*/false);
  absl::StrAppend(&out_, "\n# TYPE ", name, " ", type, "\n");
}

void PromWriter::Sample(absl::string_view name, const PromLabels& labels, double value) {
  out_.append(name.data(), name.size());
  if (!labels.empty()) {
    out_.push_back('{');
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) out_.push_back(',');
      absl::StrAppend(&out_, labels[i].first, "=\"");
      AppendEscaped(&out_, labels[i].second);
      out_.push_back('"');
    }
    out_.push_back('}');
  }
  absl::StrAppend(&out_, " ", FormatValue(value), "\n");
}

void PromWriter::Histogram(absl::string_view name, const PromLabels& labels, const std::vector<double>& bounds,
                           const std::vector<uint64_t>& cumulative, uint64_t count, double sum) {
  const std::string bucket = absl::StrCat(name, "_bucket");
  for (size_t i = 0; i < bounds.size() && i < cumulative.size(); ++i) {
    PromLabels with = labels;
    with.emplace_back("le", FormatValue(bounds[i]));
    Sample(bucket, with, static_cast<double>(cumulative[i]));
  }
  PromLabels inf = labels;
  inf.emplace_back("le", "+Inf");
  Sample(bucket, inf, static_cast<double>(count));
  Sample(absl::StrCat(name, "_sum"), labels, sum);
  Sample(absl::StrCat(name, "_count"), labels, static_cast<double>(count));
}

}  // namespace berth
