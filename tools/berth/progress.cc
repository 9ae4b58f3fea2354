#include "tools/berth/progress.h"

#include <unistd.h>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace berth {
namespace {

std::string Bytes(double b) {
  if (b < 1024) return absl::StrFormat("%.0f B", b);
  if (b < 1024 * 1024) return absl::StrFormat("%.1f KiB", b / 1024);
  if (b < 1024.0 * 1024 * 1024) return absl::StrFormat("%.1f MiB", b / (1024 * 1024));
  return absl::StrFormat("%.2f GiB", b / (1024.0 * 1024 * 1024));
}

}  // namespace

std::string ProgressSource::Line(uint64_t bytes, absl::Duration elapsed) {
  const double s = absl::ToDoubleSeconds(elapsed);
  const double rate = s > 0 ? static_cast<double>(bytes) / s : 0;
  return absl::StrFormat("sent %s at %s/s, %.1f s", Bytes(static_cast<double>(bytes)), Bytes(rate), s);
}

ProgressSource::~ProgressSource() {
  if (bytes_ > 0 && !done_) Draw(true);
}

void ProgressSource::Draw(bool last) {
  const absl::Time now = absl::Now();
  if (!last && now - drawn_ < absl::Milliseconds(200)) return;
  drawn_ = now;
  // \r and "erase to end of line" redraw the line in place.
  std::fprintf(out_, "\r%s\x1b[K%s", Line(bytes_, now - start_).c_str(), last ? "\n" : "");
  std::fflush(out_);
}

absl::StatusOr<size_t> ProgressSource::Read(char* buf, size_t n) {
  absl::StatusOr<size_t> got = inner_->Read(buf, n);
  if (!got.ok()) return got;
  bytes_ += *got;
  if (*got == 0 && !done_) {
    Draw(true);
    done_ = true;
  } else if (*got > 0) {
    Draw(false);
  }
  return got;
}

std::unique_ptr<Source> WithProgress(std::unique_ptr<Source> in) {
  if (in == nullptr || !::isatty(STDERR_FILENO)) return in;
  return std::make_unique<ProgressSource>(std::move(in), stderr);
}

}  // namespace berth
