// Fuzz target: job lines (ParseJobLine, SplitWords, QuoteWord round trip).
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "engine/job_line.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view line(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<berth::JobLine> job = berth::ParseJobLine(line);
  if (job.ok()) {
    // Every word survives quoting and re-splitting unchanged.
    for (const std::string& arg : job->args) {
      auto words = berth::SplitWords(berth::QuoteWord(arg));
      if (!words.ok() || words->size() != 1 || (*words)[0].text != arg) std::abort();
    }
  }
  return 0;
}
