// pipe_bench: 1 GiB through the job script `cat | cat | cat` in-process, beside
// the shell's `head -c 1G /dev/zero | cat | cat | cat > /dev/null` in the same
// run. Both move the same number of zero bytes through three copying stages:
// berth's through bounded engine Pipes between threads, the shell's through
// kernel pipes between processes.
//
// Usage: pipe_bench [BYTES] [ROUNDS]   (defaults: 1073741824, 3; best round kept)
// The last line is `pipe_bench ratio=<berth/shell>` (throughput; > 1 is faster).
#include <sys/wait.h>

#include <algorithm>

#include "CLI/CLI.hpp"
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "engine/engine.h"
#include "engine/runtime.h"
#include "engine/script/parser.h"
#include "engine/script/run.h"
#include "handlers/util.h"

namespace berth {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kChunk = 64 << 10;

// `total` zero bytes in 64 KiB chunks handed over whole, as `head -c` reads
// /dev/zero: each chunk is a fresh buffer the pipeline takes ownership of.
class ZeroSource : public Source {
 public:
  explicit ZeroSource(size_t total) : left_(total) {}
  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    n = std::min(n, left_);
    std::memset(buf, 0, n);
    left_ -= n;
    return n;
  }
  absl::StatusOr<bool> ReadChunk(std::string* chunk) override {
    if (left_ == 0) return false;
    chunk->assign(std::min(kChunk, left_), '\0');
    left_ -= chunk->size();
    return true;
  }

 private:
  size_t left_;
};

// Counts what arrives and checks it is all zeros, as `> /dev/null` would not.
class CountSink : public Sink {
 public:
  absl::Status Write(absl::string_view data) override {
    bytes += data.size();
    if (!data.empty() && (data.front() != 0 || data.back() != 0)) nonzero = true;
    return absl::OkStatus();
  }
  size_t bytes = 0;
  bool nonzero = false;
};

double BerthSeconds(Engine& eng, const Script& script, size_t total) {
  Input in;
  if (!in.Add(std::make_unique<ZeroSource>(total)).ok()) std::abort();
  Output out;
  auto sink = std::make_unique<CountSink>();
  CountSink* count = sink.get();
  out.Add(std::move(sink));
  ScriptOptions options;
  options.stdin_source = &in;
  options.stdout_sink = &out;
  auto start = Clock::now();
  absl::StatusOr<ScriptResult> r = RunScript(eng, script, options);
  double s = std::chrono::duration<double>(Clock::now() - start).count();
  if (!r.ok() || r->status != 0 || count->bytes != total || count->nonzero) {
    std::fprintf(stderr, "pipe_bench: berth run failed (%s), %zu of %zu bytes\n",
                 r.ok() ? r->error.c_str() : r.status().ToString().c_str(), count->bytes, total);
    std::exit(1);
  }
  return s;
}

double ShellSeconds(size_t total) {
  std::string cmd = absl::StrCat("head -c ", total, " /dev/zero | cat | cat | cat > /dev/null");
  auto start = Clock::now();
  int rc = std::system(cmd.c_str());
  double s = std::chrono::duration<double>(Clock::now() - start).count();
  if (rc != 0) {
    std::fprintf(stderr, "pipe_bench: '%s' failed (%d)\n", cmd.c_str(), rc);
    std::exit(1);
  }
  return s;
}

}  // namespace
}  // namespace berth

int main(int argc, char** argv) {
  using namespace berth;
  size_t total = size_t{1} << 30;
  int rounds = 3;
  CLI::App app{"pipe_bench: BYTES through the job script `cat | cat | cat` beside the shell's pipeline;\n"
               "the last line is `pipe_bench ratio=<berth/shell>` (throughput; > 1 is faster)."};
  app.add_option("bytes", total, "bytes through each pipeline")->capture_default_str()->check(CLI::PositiveNumber);
  app.add_option("rounds", rounds, "rounds (the best is kept)")->capture_default_str()->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);
  ConfigureProductionRuntime();
  Engine eng;
  if (!UtilGroup().install(eng).ok()) return 1;
  absl::StatusOr<Script> script = ParseScript("cat | cat | cat", "pipe_bench");
  if (!script.ok()) return 1;

  double best_berth = 1e300, best_shell = 1e300;
  for (int r = 0; r < rounds; ++r) {
    // Alternated, so that a noisy neighbour hurts both sides alike.
    double b = BerthSeconds(eng, *script, total);
    double s = ShellSeconds(total);
    std::printf("round %d: berth %.3f s, shell %.3f s\n", r + 1, b, s);
    best_berth = std::min(best_berth, b);
    best_shell = std::min(best_shell, s);
  }
  const double mib = static_cast<double>(total) / (1 << 20);
  const double berth_rate = mib / best_berth;
  const double shell_rate = mib / best_shell;
  std::printf("berth run 'cat | cat | cat':  %.0f MiB in %.3f s = %.0f MiB/s\n", mib, best_berth, berth_rate);
  std::printf("sh 'head | cat | cat | cat':  %.0f MiB in %.3f s = %.0f MiB/s\n", mib, best_shell, shell_rate);
  std::printf("pipe_bench ratio=%.2f\n", berth_rate / shell_rate);
  return 0;
}
