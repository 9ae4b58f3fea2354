// DidYouMean: the nearest of a list of known words to a mistyped one, for the
// CLI's "unknown command 'jbo' (did you mean 'job'?)" and "no such job 'ehco'".
#ifndef BERTH_TOOLS_BERTH_DID_YOU_MEAN_H_
#define BERTH_TOOLS_BERTH_DID_YOU_MEAN_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace berth {

// The candidate with the smallest edit distance (insertions, deletions,
// substitutions and swaps of neighbours each count 1) to `word`, if that distance
// is at most 2 and less than the word's length; otherwise "". Ties go to the
// earlier candidate.
std::string DidYouMean(absl::string_view word, const std::vector<std::string>& candidates);

// " (did you mean 'X'?)" for DidYouMean's answer, or "" when there is none.
std::string DidYouMeanSuffix(absl::string_view word, const std::vector<std::string>& candidates);

}  // namespace berth

#endif  // BERTH_TOOLS_BERTH_DID_YOU_MEAN_H_
