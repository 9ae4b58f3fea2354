// See usage_exit.h.
#include "tools/usage_exit.h"

#include <cstdio>

namespace berth {

int UsageExit(CLI::App& app, const CLI::ParseError& e, const char* program) {
  if (e.get_exit_code() == 0) return app.exit(e);
  std::fprintf(stderr, "%s: %s (see %s --help)\n", program, e.what(), program);
  return 2;
}

}  // namespace berth
