// docs/engine.md, "Streams": Output sinks, Input sources, pipes and tables.
#include "engine/streams.h"

#include <fcntl.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <thread>

#include "engine/pipe.h"
#include "engine/table.h"

namespace berth {
namespace {

class FailingSink : public Sink {
 public:
  explicit FailingSink(std::string why) : why_(std::move(why)) {}
  absl::Status Write(absl::string_view) override { return absl::InternalError(why_); }

 private:
  std::string why_;
};

TEST_CASE("a write goes to every sink; the first error is kept") {
  Output out;
  auto a = out.AddBuffer();
  out.Add(std::make_unique<FailingSink>("first"));
  auto b = out.AddBuffer();
  out.Add(std::make_unique<FailingSink>("second"));
  absl::Status s = out.Write("hello");
  CHECK(s.message() == "first");
  CHECK(*a == "hello");
  CHECK(*b == "hello");
  CHECK(out.Write(std::string("!")).message() == "first");
  CHECK(*a == "hello!");
  CHECK(*b == "hello!");
  CHECK(out.Close().message() == "first");
  CHECK(out.Write("late").message() == "write to a closed output");
}

TEST_CASE("with no sink, writes are discarded") {
  Output out;
  CHECK_FALSE(out.used());
  CHECK(out.Write("ignored").ok());
  CHECK(out.used());
  CHECK(out.Close().ok());
}

TEST_CASE("fd sink writes every byte") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  Output out;
  out.AddFd(fds[1]);
  REQUIRE(out.Write("via fd\n").ok());
  REQUIRE(out.Close().ok());
  ::close(fds[1]);
  char buf[64] = {};
  ssize_t n = ::read(fds[0], buf, sizeof buf);
  ::close(fds[0]);
  CHECK(std::string(buf, static_cast<size_t>(n)) == "via fd\n");
}

TEST_CASE("env decoder keeps the last object of the stream") {
  Output out;
  auto env = out.AddEnv();
  // Split across writes, mid-string and mid-escape.
  REQUIRE(out.Write("{\"A\":\"1\"}\n{\"A\":\"2\",\"B\":\"x\\").ok());
  REQUIRE(out.Write("\"y\"}").ok());
  REQUIRE(out.Write("\n").ok());
  REQUIRE(out.Close().ok());
  CHECK(env->Get("A") == "2");
  CHECK(env->Get("B") == "x\"y");
}

TEST_CASE("env decoder reports garbage and truncation") {
  {
    Output out;
    auto env = out.AddEnv();
    CHECK(out.Write("not json").message() == "expected a JSON object at offset 0 of the stream");
  }
  {
    Output out;
    auto env = out.AddEnv();
    CHECK(out.Write("{\"A\":").ok());
    CHECK(out.Close().message() == "stream ended inside a JSON object");
  }
}

TEST_CASE("WriteEnv hands the env to an env decoder and serializes for byte sinks") {
  Env e;
  REQUIRE(e.Set("HostIP", "0.0.0.0").ok());
  REQUIRE(e.Set("HostPort", "8080").ok());
  {
    Output out;
    auto dst = out.AddEnv();
    REQUIRE(out.WriteEnv(e).ok());
    REQUIRE(out.Close().ok());
    CHECK(*dst == e);
  }
  {
    Output out;
    auto dst = out.AddEnv();
    auto buf = out.AddBuffer();
    REQUIRE(out.WriteEnv(e).ok());
    REQUIRE(out.Close().ok());
    CHECK(*dst == e);
    CHECK(*buf == "{\"HostIP\":\"0.0.0.0\",\"HostPort\":\"8080\"}\n");
  }
}

TEST_CASE("table decoders") {
  Output out;
  auto rows = out.AddTable();
  REQUIRE(out.Write("{\"Id\":\"a\"}\n{\"Id\":\"b\"}\n").ok());
  Env c;
  REQUIRE(c.Set("Id", "c").ok());
  REQUIRE(out.WriteEnv(c).ok());
  REQUIRE(out.Close().ok());
  REQUIRE(rows->Len() == 3);
  CHECK(rows->data()[2].Get("Id") == "c");

  Output list_out;
  auto list = list_out.AddListTable();
  REQUIRE(list_out.Write("[{\"Id\":\"x\"},").ok());
  REQUIRE(list_out.Write("{\"Id\":\"y\"}]").ok());
  REQUIRE(list_out.Close().ok());
  REQUIRE(list->Len() == 2);
  CHECK(list->data()[1].Get("Id") == "y");
}

TEST_CASE("Table sorts numerically when both values are integers, else as strings") {
  Table t;
  t.SetKey("k");
  for (const char* v : {"10", "9", "b", "a", "100"}) {
    Env e;
    REQUIRE(e.Set("k", v).ok());
    t.Add(e);
  }
  t.Sort();
  std::vector<std::string> got;
  for (const Env& e : t.data()) got.push_back(e.Get("k"));
  // 9 < 10 < 100 numerically; "100" < "a" < "b" as strings.
  CHECK(got == std::vector<std::string>{"9", "10", "100", "a", "b"});
  t.ReverseSort();
  got.clear();
  for (const Env& e : t.data()) got.push_back(e.Get("k"));
  CHECK(got == std::vector<std::string>{"b", "a", "100", "10", "9"});

  std::string json = t.ListJson();
  CHECK(json == R"([{"k":"b"},{"k":"a"},{"k":"100"},{"k":"10"},{"k":"9"}])");
  Table back;
  REQUIRE(back.ReadListFrom(json).ok());
  CHECK(back.data() == t.data());
  Table stream;
  REQUIRE(stream.ReadFrom(t.StreamJson()).ok());
  CHECK(stream.data() == t.data());
  CHECK(back.ReadListFrom("[1]").message() == "invalid table: invalid JSON at offset 0: expected a JSON object, found '1'");
}

TEST_CASE("Input takes one source") {
  Input in;
  REQUIRE(in.AddString("abc").ok());
  absl::Status s = in.AddString("def");
  CHECK(s.message() == "Maximum number of sources reached: 1");
  auto all = in.ReadAll();
  REQUIRE(all.ok());
  CHECK(*all == "abc");
  Input empty;
  char c;
  CHECK(*empty.Read(&c, 1) == 0);
}

TEST_CASE("Input reads a file descriptor") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  REQUIRE(::write(fds[1], "from fd", 7) == 7);
  ::close(fds[1]);
  Input in;
  REQUIRE(in.AddFd(fds[0]).ok());
  CHECK(*in.ReadAll() == "from fd");
  ::close(fds[0]);
}

TEST_CASE("ReadAll enforces its limit") {
  Input in;
  REQUIRE(in.AddString(std::string(100, 'x')).ok());
  CHECK(in.ReadAll(10).status().message() == "input exceeds 10 bytes");
}

TEST_CASE("a pipe applies back-pressure: buffered bytes never exceed capacity plus one chunk") {
  auto pipe = std::make_shared<Pipe>(4096);
  const size_t total = 1000 * 1000;
  size_t max_buffered = 0;
  std::thread writer([&] {
    std::string chunk(1000, 'z');
    for (size_t sent = 0; sent < total; sent += chunk.size()) {
      REQUIRE(pipe->Write(chunk).ok());
    }
    pipe->CloseWrite();
  });
  size_t got = 0;
  char buf[777];
  while (true) {
    max_buffered = std::max(max_buffered, pipe->buffered());
    auto n = pipe->Read(buf, sizeof buf);
    REQUIRE(n.ok());
    if (*n == 0) break;
    got += *n;
  }
  writer.join();
  CHECK(got == total);
  CHECK(max_buffered <= 4096);
}

TEST_CASE("closing the read side fails the writer instead of blocking it") {
  auto pipe = std::make_shared<Pipe>(16);
  std::thread reader([&] {
    char buf[4];
    REQUIRE(*pipe->Read(buf, 4) == 4);
    pipe->CloseRead();
  });
  absl::Status s;
  for (int i = 0; i < 1000 && s.ok(); ++i) s = pipe->Write("0123456789");
  reader.join();
  CHECK(s.message() == "broken pipe: the reading job has finished");
}

TEST_CASE("Abort wakes a blocked reader with the reason") {
  auto pipe = std::make_shared<Pipe>(16);
  std::thread aborter([&] { pipe->Abort(absl::CancelledError("pipeline stopped")); });
  char buf[4];
  auto n = pipe->Read(buf, 4);
  aborter.join();
  REQUIRE_FALSE(n.ok());
  CHECK(n.status().message() == "pipeline stopped");
}

TEST_CASE("owned chunks move through a pipe without a copy") {
  Output out;
  Input in;
  REQUIRE(Connect(out, in).ok());
  std::string chunk(100000, 'q');
  const char* data = chunk.data();
  REQUIRE(out.Write(std::move(chunk)).ok());
  REQUIRE(out.Close().ok());
  std::string got;
  REQUIRE(*in.ReadChunk(&got));
  CHECK(got.size() == 100000);
  CHECK(got.data() == data);
  CHECK_FALSE(*in.ReadChunk(&got));
}

}  // namespace
}  // namespace berth
