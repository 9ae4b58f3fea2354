#include "handlers/version.h"

#include <sys/utsname.h>

namespace berth {
namespace {

int Version(Job& job) {
  if (!job.args().empty()) return job.Errorf("version: takes no arguments, got '%s'", job.args()[0]);
  Env v;
  (void)v.Set("Version", BERTH_VERSION);
  (void)v.Set("ApiVersion", "1");
#if defined(__clang__)
  (void)v.Set("Compiler", "clang " __clang_version__);
#else
  (void)v.Set("Compiler", "gcc " __VERSION__);
#endif
  struct utsname u;
  if (::uname(&u) == 0) {
    (void)v.Set("Os", u.sysname);
    (void)v.Set("Arch", u.machine);
    (void)v.Set("KernelVersion", u.release);
  }
  return job.Error(job.Stdout().WriteEnv(std::move(v)));
}

}  // namespace

HandlerGroup VersionGroup() {
  HandlerGroup g;
  g.name = "version";
  g.help = {JobHelp("version", "",
                    "berthd's version as JSON: Version, ApiVersion, Compiler, Os, Arch, KernelVersion")};
  g.jobs = JobNames(g.help);
  g.install = [](Engine& eng) { return eng.Register("version", Version, HandlerOptions{.nonblocking = true}); };
  return g;
}

}  // namespace berth
