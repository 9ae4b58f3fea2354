#include "tools/berth/trace_svg.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "nlohmann/json.hpp"

namespace berth {
namespace {

struct Bar {
  std::string name;
  std::string cat;
  double start_ms = 0;
  double dur_ms = 0;
  std::vector<Bar> jobs;
};

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

absl::StatusOr<std::vector<Bar>> ReadRows(const std::string& text, const std::string& file) {
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("traceEvents") || !doc["traceEvents"].is_array()) {
    return absl::InvalidArgumentError(
        absl::StrCat("trace-svg: ", file, ": not a trace file (want {\"traceEvents\":[...]})"));
  }
  std::vector<Bar> rows;
  std::vector<Bar> jobs;
  for (const nlohmann::json& e : doc["traceEvents"]) {
    if (!e.is_object() || e.value("ph", "") != "X" || !e["ts"].is_number() || !e["dur"].is_number()) continue;
    Bar b{e.value("name", ""), e.value("cat", ""), e["ts"].get<double>() / 1000.0, e["dur"].get<double>() / 1000.0, {}};
    if (b.cat == "step" || b.cat == "hook") {
      rows.push_back(std::move(b));
    } else if (b.cat == "job") {
      jobs.push_back(std::move(b));
    }
  }
  if (rows.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("trace-svg: ", file, ": no NewDaemon steps or shutdown hooks in it"));
  }
  std::stable_sort(rows.begin(), rows.end(), [](const Bar& a, const Bar& b) { return a.start_ms < b.start_ms; });
  for (Bar& j : jobs) {
    for (Bar& r : rows) {
      if (j.start_ms >= r.start_ms && j.start_ms + j.dur_ms <= r.start_ms + r.dur_ms + 0.001) {
        r.jobs.push_back(std::move(j));
        break;
      }
    }
  }
  return rows;
}

// A tick step giving about 4-10 ticks over `span` ms.
double TickStep(double span) {
  double step = std::pow(10.0, std::floor(std::log10(std::max(span, 1e-3))));
  if (span / step < 2) {
    step /= 5;
  } else if (span / step < 5) {
    step /= 2;
  }
  return step;
}

constexpr int kLabel = 230, kPlot = 640, kRow = 22;

// One panel: a title, a time axis from the first bar's start, a row per bar
// with its nested jobs. Returns the height used.
int DrawPanel(std::string& svg, int top, const char* title, const std::vector<Bar>& rows) {
  const double t0 = rows.front().start_ms;
  double t1 = t0;
  for (const Bar& r : rows) t1 = std::max(t1, r.start_ms + r.dur_ms);
  const double span = std::max(t1 - t0, 0.001);
  auto x = [&](double ms) { return kLabel + (ms - t0) / span * kPlot; };
  absl::StrAppendFormat(&svg, "<text x=\"8\" y=\"%d\" font-size=\"14\" font-weight=\"bold\">%s (%.1f ms)</text>\n",
                        top + 16, title, span);
  const int rows_top = top + 30;
  const int axis_bottom = rows_top + static_cast<int>(rows.size()) * kRow;
  const double step = TickStep(span);
  for (double t = 0; t <= span + 1e-9; t += step) {
    absl::StrAppendFormat(&svg,
                          "<line class=\"axis\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>"
                          "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" fill=\"#555\">%g ms</text>\n",
                          x(t0 + t), rows_top - 4, x(t0 + t), axis_bottom, x(t0 + t), axis_bottom + 14, t);
  }
  int y = rows_top;
  for (const Bar& r : rows) {
    const double w = std::max(1.0, r.dur_ms / span * kPlot);
    absl::StrAppendFormat(&svg,
                          "<text x=\"8\" y=\"%d\">%s</text>\n"
                          "<rect class=\"%s\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\">"
                          "<title>%s: %.3f ms</title></rect>\n"
                          "<text x=\"%.1f\" y=\"%d\" fill=\"#333\">%.2f ms</text>\n",
                          y + 14, Escape(r.name), r.cat, x(r.start_ms), y + 2, w, kRow - 6, Escape(r.name), r.dur_ms,
                          std::min(x(r.start_ms) + w + 4, static_cast<double>(kLabel + kPlot + 4)), y + 14, r.dur_ms);
    for (const Bar& j : r.jobs) {
      absl::StrAppendFormat(&svg,
                            "<rect class=\"job\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"5\">"
                            "<title>job %s: %.3f ms</title></rect>\n",
                            x(j.start_ms), y + kRow - 9, std::max(1.0, j.dur_ms / span * kPlot), Escape(j.name),
                            j.dur_ms);
    }
    y += kRow;
  }
  return axis_bottom + 24 - top;
}

}  // namespace

absl::StatusOr<std::string> TraceToSvg(const std::string& json_text, const std::string& file) {
  absl::StatusOr<std::vector<Bar>> rows = ReadRows(json_text, file);
  if (!rows.ok()) return rows.status();
  // Start-up and shutdown on axes of their own: between them berthd ran for
  // as long as it ran, which would squeeze both into slivers.
  std::vector<Bar> steps, hooks;
  for (Bar& r : *rows) (r.cat == "step" ? steps : hooks).push_back(std::move(r));
  std::string body;
  int height = 8;
  if (!steps.empty()) height += DrawPanel(body, height, "start-up: NewDaemon steps", steps);
  if (!hooks.empty()) height += DrawPanel(body, height, "shutdown: hooks, last registered first", hooks);
  const int width = kLabel + kPlot + 90;
  std::string svg = absl::StrFormat(
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" font-family=\"sans-serif\" "
      "font-size=\"12\">\n"
      "<style>.step{fill:#4c78a8}.hook{fill:#e45756}.job{fill:#f2cf5b}.axis{stroke:#ccc}</style>\n"
      "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
      width, height);
  svg += body;
  svg += "</svg>\n";
  return svg;
}

}  // namespace berth
