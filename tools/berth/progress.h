// ProgressSource: a Source that reports on stderr how much of it has been
// read — bytes, rate and elapsed time, one line redrawn in place at most five
// times a second and finished with a newline at the end of the stream:
//   sent 48.2 MiB at 95.1 MiB/s, 0.5 s
// The berth CLI wraps a job's stdin in it when stderr is a terminal (and
// only then: nothing is written to a pipe or a file).
#ifndef BERTH_TOOLS_BERTH_PROGRESS_H_
#define BERTH_TOOLS_BERTH_PROGRESS_H_

#include <cstdio>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "engine/streams.h"

namespace berth {

class ProgressSource : public Source {
 public:
  ProgressSource(std::unique_ptr<Source> inner, FILE* out) : inner_(std::move(inner)), out_(out) {}
  ~ProgressSource() override;
  absl::StatusOr<size_t> Read(char* buf, size_t n) override;
  void Close() override { inner_->Close(); }

  // The line for `bytes` after `elapsed` (without \r or \n), for tests.
  static std::string Line(uint64_t bytes, absl::Duration elapsed);

 private:
  void Draw(bool last);
  std::unique_ptr<Source> inner_;
  FILE* out_;
  uint64_t bytes_ = 0;
  absl::Time start_ = absl::Now();
  absl::Time drawn_ = absl::InfinitePast();
  bool done_ = false;
};

// `in` wrapped in a ProgressSource when stderr is a terminal, else `in`.
std::unique_ptr<Source> WithProgress(std::unique_ptr<Source> in);

}  // namespace berth

#endif  // BERTH_TOOLS_BERTH_PROGRESS_H_
