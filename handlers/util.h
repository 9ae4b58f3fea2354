// The `util` group: the small jobs every engine has, used by scripts, tests and
// benchmarks.
//   echo ARG…                 args joined by one space, then a newline
//   cat                       stdin to stdout
//   env                       the job's own env as one JSON object
//   sleep DURATION            e.g. 1.5s, 200ms; status 130 if cancelled first
//   fail [STATUS] [MESSAGE…]  MESSAGE to stderr, returns STATUS (default 1)
#ifndef BERTH_HANDLERS_UTIL_H_
#define BERTH_HANDLERS_UTIL_H_

#include "handlers/group.h"

namespace berth {

HandlerGroup UtilGroup();

}  // namespace berth

#endif  // BERTH_HANDLERS_UTIL_H_
