// engine_tour: a narrated walk through the in-process engine, run by scripts/demo.
// It shows env going into a job and coming back out, jobs piped together, and a
// failing job's status and error text.
#include <cstdio>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "engine/engine.h"
#include "engine/runtime.h"
#include "handlers/util.h"

namespace berth {
namespace {

void Say(const std::string& s) { std::printf("%s\n", s.c_str()); }

int Tour() {
  Engine eng;
  if (absl::Status s = UtilGroup().install(eng); !s.ok()) {
    Say(absl::StrCat("could not install the util jobs: ", s.message()));
    return 1;
  }
  Say("An engine routes named jobs to handlers. This one serves:");
  auto commands = eng.NewJob("commands");
  auto listing = commands->Stdout().AddBuffer();
  (void)commands->Run();
  std::string names = *listing;
  if (!names.empty() && names.back() == '\n') names.pop_back();
  Say(absl::StrCat("  ", absl::StrReplaceAll(names, {{"\n", "\n  "}}), "\n"));

  Say("1. Env in, env out. The job line `env Greeting='hello world' Count=3` gives the");
  Say("   `env` job two variables; it writes its env back as JSON, and the caller decodes");
  Say("   that stream into an env again:");
  auto env_job = *eng.ParseJob("env Greeting='hello world' Count=3");
  auto env_out = env_job->Stdout().AddEnv();
  (void)env_job->Run();
  Say(absl::StrCat("   Greeting = \"", env_out->Get("Greeting"), "\", Count = ", env_out->GetInt("Count"),
                   " (status ", env_job->status(), ")"));
  Say("");

  Say("2. Piped streams. `echo` feeds `cat`, which feeds another `cat`; the jobs run at");
  Say("   the same time, each stdout streaming into the next stdin:");
  auto echo = eng.NewJob("echo", {"bytes", "flow", "from", "job", "to", "job"});
  auto cat1 = eng.NewJob("cat");
  auto cat2 = eng.NewJob("cat");
  (void)Connect(echo->Stdout(), cat1->Stdin());
  (void)Connect(cat1->Stdout(), cat2->Stdin());
  auto piped = cat2->Stdout().AddBuffer();
  std::thread t1([&] { (void)echo->Run(); });
  std::thread t2([&] { (void)cat1->Run(); });
  (void)cat2->Run();
  t1.join();
  t2.join();
  std::printf("   echo | cat | cat printed: %s", piped->c_str());

  constexpr size_t kBytes = 256 << 20;
  auto a = eng.NewJob("cat");
  auto b = eng.NewJob("cat");
  auto c = eng.NewJob("cat");
  (void)a->Stdin().AddString(std::string(kBytes, 'x'));
  (void)Connect(a->Stdout(), b->Stdin());
  (void)Connect(b->Stdout(), c->Stdin());
  size_t received = 0;
  class Counter : public Sink {
   public:
    explicit Counter(size_t* n) : n_(n) {}
    absl::Status Write(absl::string_view d) override {
      *n_ += d.size();
      return absl::OkStatus();
    }
    size_t* n_;
  };
  c->Stdout().Add(std::make_unique<Counter>(&received));
  absl::Time start = absl::Now();
  std::thread ta([&] { (void)a->Run(); });
  std::thread tb([&] { (void)b->Run(); });
  (void)c->Run();
  ta.join();
  tb.join();
  double secs = absl::ToDoubleSeconds(absl::Now() - start);
  std::printf("   256 MiB through cat | cat | cat: %zu bytes arrived in %.3f s (%.0f MiB/s);\n", received, secs,
              kBytes / secs / (1 << 20));
  Say("   each pipe holds at most 1 MiB, so a fast writer waits for a slow reader.");
  Say("");

  Say("3. Failure. `fail 3 disk is full` returns status 3; its error is the last line it");
  Say("   wrote to stderr. A name nobody serves gives 127:");
  auto fail = *eng.ParseJob("fail 3 disk is full");
  absl::Status fs = fail->Run();
  Say(absl::StrCat("   status ", fail->status(), ", error \"", fs.message(), "\""));
  auto missing = eng.NewJob("no_such_job");
  absl::Status ms = missing->Run();
  Say(absl::StrCat("   status ", missing->status(), ", error \"", ms.message(), "\""));
  Say("");

  Say("4. Shutdown refuses new jobs, waits for running ones, then runs the shutdown hooks.");
  eng.OnShutdown([] { Say("   shutdown hook: registered first, runs last"); }, "first");
  eng.OnShutdown([] { Say("   shutdown hook: registered last, runs first"); }, "last");
  eng.Shutdown();
  absl::Status late = eng.NewJob("echo", {"too late"})->Run();
  Say(absl::StrCat("   a job after shutdown: \"", late.message(), "\""));
  return 0;
}

}  // namespace
}  // namespace berth

int main() {
  berth::ConfigureProductionRuntime();
  return berth::Tour();
}
