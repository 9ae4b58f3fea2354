// A 100 MB stream through a 3-job pipe with bounded memory.
#include <doctest/doctest.h>

#include <fstream>
#include <thread>

#include "engine/engine.h"
#include "handlers/util.h"

namespace berth {
namespace {

// Resident set size now, from /proc/self/statm.
size_t RssBytes() {
  std::ifstream statm("/proc/self/statm");
  size_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}

// Produces `total` bytes of a deterministic pattern, 64 KiB at a time, without
// holding them all.
class PatternSource : public Source {
 public:
  explicit PatternSource(size_t total) : left_(total) {}
  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    n = std::min(n, left_);
    for (size_t i = 0; i < n; ++i) buf[i] = static_cast<char>((offset_ + i) * 31 % 251);
    offset_ += n;
    left_ -= n;
    return n;
  }

 private:
  size_t left_;
  size_t offset_ = 0;
};

// Checks the pattern as it arrives and samples the pipes' fill and the process's
// memory once per MiB.
class CheckingSink : public Sink {
 public:
  std::vector<std::shared_ptr<Pipe>> pipes;
  size_t max_buffered = 0;
  absl::Status Write(absl::string_view data) override {
    for (size_t i = 0; i < data.size(); ++i) {
      if (data[i] != static_cast<char>((offset_ + i) * 31 % 251)) ++mismatches;
    }
    offset_ += data.size();
    if (offset_ / (1 << 20) != last_mb_) {
      last_mb_ = offset_ / (1 << 20);
      max_rss = std::max(max_rss, RssBytes());
      size_t buffered = 0;
      for (const auto& p : pipes) buffered += p->buffered();
      max_buffered = std::max(max_buffered, buffered);
    }
    return absl::OkStatus();
  }
  size_t offset_ = 0;
  size_t last_mb_ = 0;
  size_t mismatches = 0;
  size_t max_rss = 0;
};

TEST_CASE("100 MB through cat | cat | cat arrives intact with bounded memory") {
  Engine eng;
  REQUIRE(UtilGroup().install(eng).ok());
  constexpr size_t kTotal = 100 << 20;
  auto a = eng.NewJob("cat");
  auto b = eng.NewJob("cat");
  auto c = eng.NewJob("cat");
  REQUIRE(a->Stdin().Add(std::make_unique<PatternSource>(kTotal)).ok());
  auto sink = std::make_unique<CheckingSink>();
  CheckingSink* check = sink.get();
  for (auto [from, to] : {std::pair{a.get(), b.get()}, std::pair{b.get(), c.get()}}) {
    auto pipe = std::make_shared<Pipe>();
    REQUIRE(to->Stdin().AddPipe(pipe).ok());
    from->Stdout().AddPipe(pipe);
    check->pipes.push_back(pipe);
  }
  c->Stdout().Add(std::move(sink));

  const size_t baseline = RssBytes();
  std::thread ta([&] { CHECK(a->Run().ok()); });
  std::thread tb([&] { CHECK(b->Run().ok()); });
  REQUIRE(c->Run().ok());
  ta.join();
  tb.join();
  CHECK(check->offset_ == kTotal);
  CHECK(check->mismatches == 0);
  // Each pipe holds at most its capacity plus one 64 KiB chunk.
  CHECK(check->max_buffered <= 2 * (kDefaultPipeCapacity + (64 << 10)));
  const size_t growth = check->max_rss > baseline ? check->max_rss - baseline : 0;
  MESSAGE("peak RSS growth while streaming: " << growth / 1024 << " KiB; peak buffered in pipes: "
          << check->max_buffered / 1024 << " KiB");
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer keeps freed chunks in quarantine, so RSS says nothing here.
#else
  CHECK(growth < 32u << 20);
#endif
}

TEST_CASE("a failing stage stops the pipeline: the writer upstream is released") {
  Engine eng;
  REQUIRE(UtilGroup().install(eng).ok());
  REQUIRE(eng.Register("head1", [](Job& job) {
    char c;
    (void)job.Stdin().Read(&c, 1);
    return job.Errorf("head1: stopping after one byte");
  }).ok());
  auto a = eng.NewJob("cat");
  auto b = eng.NewJob("head1");
  REQUIRE(a->Stdin().Add(std::make_unique<PatternSource>(size_t{1} << 30)).ok());
  REQUIRE(Connect(a->Stdout(), b->Stdin()).ok());
  absl::Status sa;
  std::thread ta([&] { sa = a->Run(); });
  CHECK(b->Run().message() == "head1: stopping after one byte");
  ta.join();  // would hang if closing b's stdin did not release a's writes
  CHECK(sa.message() == "cat: broken pipe: the reading job has finished");
}

}  // namespace
}  // namespace berth
