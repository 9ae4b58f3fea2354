#include "engine/streams.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/str_cat.h"
#include "engine/object_stream.h"

namespace berth {
namespace {

constexpr size_t kChunkSize = 64 << 10;
constexpr size_t kMaxTrackedLine = 4096;

absl::Status ErrnoError(absl::string_view what, int err) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(err)));
}

class BufferSink : public Sink {
 public:
  explicit BufferSink(std::shared_ptr<std::string> dst) : dst_(std::move(dst)) {}
  absl::Status Write(absl::string_view data) override {
    absl::StrAppend(dst_.get(), data);
    return absl::OkStatus();
  }

 private:
  std::shared_ptr<std::string> dst_;
};

class FdSink : public Sink {
 public:
  explicit FdSink(int fd) : fd_(fd) {}
  absl::Status Write(absl::string_view data) override {
    while (!data.empty()) {
      ssize_t n = ::write(fd_, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) {
          pollfd p{fd_, POLLOUT, 0};
          ::poll(&p, 1, -1);
          continue;
        }
        return ErrnoError(absl::StrCat("write to fd ", fd_), errno);
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return absl::OkStatus();
  }

 private:
  int fd_;
};

class PipeSink : public Sink {
 public:
  explicit PipeSink(std::shared_ptr<Pipe> pipe) : pipe_(std::move(pipe)) {}
  absl::Status Write(absl::string_view data) override { return pipe_->Write(data); }
  absl::Status WriteOwned(std::string&& chunk) override { return pipe_->WriteOwned(std::move(chunk)); }
  absl::Status Close() override {
    pipe_->CloseWrite();
    return absl::OkStatus();
  }

 private:
  std::shared_ptr<Pipe> pipe_;
};

class EnvSink : public Sink {
 public:
  explicit EnvSink(std::shared_ptr<Env> dst) : dst_(std::move(dst)) {}
  absl::Status Write(absl::string_view data) override {
    return stream_.Feed(data, [&](absl::string_view object) {
      absl::StatusOr<Env> env = Env::FromJson(object);
      if (!env.ok()) return env.status();
      *dst_ = *std::move(env);
      return absl::OkStatus();
    });
  }
  bool TakesEnv() const override { return true; }
  absl::Status WriteEnv(const Env& env) override {
    if (stream_.pending()) return Sink::WriteEnv(env);  // keep stream order
    *dst_ = env;
    return absl::OkStatus();
  }
  absl::Status WriteEnv(Env&& env) override {
    if (stream_.pending()) return Sink::WriteEnv(env);
    *dst_ = std::move(env);
    return absl::OkStatus();
  }
  absl::Status Close() override { return stream_.Finish(); }

 private:
  std::shared_ptr<Env> dst_;
  ObjectStream stream_;
};

class TableSink : public Sink {
 public:
  explicit TableSink(std::shared_ptr<Table> dst) : dst_(std::move(dst)) {}
  absl::Status Write(absl::string_view data) override {
    return stream_.Feed(data, [&](absl::string_view object) {
      absl::StatusOr<Env> env = Env::FromJson(object);
      if (!env.ok()) return env.status();
      dst_->Add(*std::move(env));
      return absl::OkStatus();
    });
  }
  bool TakesEnv() const override { return true; }
  absl::Status WriteEnv(const Env& env) override {
    if (stream_.pending()) return Sink::WriteEnv(env);
    dst_->Add(env);
    return absl::OkStatus();
  }
  absl::Status Close() override { return stream_.Finish(); }

 private:
  std::shared_ptr<Table> dst_;
  ObjectStream stream_;
};

class ListTableSink : public Sink {
 public:
  explicit ListTableSink(std::shared_ptr<Table> dst) : dst_(std::move(dst)) {}
  absl::Status Write(absl::string_view data) override {
    if (buf_.size() + data.size() > ObjectStream::kMaxObjectBytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat("table stream exceeds ", ObjectStream::kMaxObjectBytes, " bytes"));
    }
    absl::StrAppend(&buf_, data);
    return absl::OkStatus();
  }
  absl::Status Close() override {
    if (buf_.find_first_not_of(" \t\r\n") == std::string::npos) return absl::OkStatus();
    return dst_->ReadListFrom(buf_);
  }

 private:
  std::shared_ptr<Table> dst_;
  std::string buf_;
};

class StringSource : public Source {
 public:
  explicit StringSource(std::string data) : data_(std::move(data)) {}
  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    size_t take = std::min(n, data_.size() - pos_);
    std::memcpy(buf, data_.data() + pos_, take);
    pos_ += take;
    return take;
  }
  absl::StatusOr<bool> ReadChunk(std::string* chunk) override {
    if (pos_ >= data_.size()) return false;
    if (pos_ == 0) {
      *chunk = std::move(data_);
      data_.clear();
      return true;
    }
    chunk->assign(data_, pos_);
    pos_ = data_.size();
    return true;
  }

 private:
  std::string data_;
  size_t pos_ = 0;
};

class FdSource : public Source {
 public:
  explicit FdSource(int fd) : fd_(fd), wake_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}
  ~FdSource() override {
    if (wake_ >= 0) ::close(wake_);
  }
  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    while (true) {
      // Wait for data or for Close, so that a reader blocked on an idle fd (a
      // terminal, a quiet pipe) can be released.
      pollfd p[2] = {{fd_, POLLIN, 0}, {wake_, POLLIN, 0}};
      int rc = ::poll(p, wake_ >= 0 ? 2 : 1, -1);
      if (rc < 0) {
        if (errno == EINTR) continue;
        return ErrnoError(absl::StrCat("poll fd ", fd_), errno);
      }
      if (wake_ >= 0 && (p[1].revents & POLLIN)) return 0;
      ssize_t got = ::read(fd_, buf, n);
      if (got >= 0) return static_cast<size_t>(got);
      if (errno == EINTR || errno == EAGAIN) continue;
      return ErrnoError(absl::StrCat("read from fd ", fd_), errno);
    }
  }
  void Close() override {
    if (wake_ < 0) return;
    uint64_t one = 1;
    ssize_t r = ::write(wake_, &one, sizeof one);
    (void)r;
  }

 private:
  int fd_;
  int wake_;
};

class PipeSource : public Source {
 public:
  explicit PipeSource(std::shared_ptr<Pipe> pipe) : pipe_(std::move(pipe)) {}
  absl::StatusOr<size_t> Read(char* buf, size_t n) override { return pipe_->Read(buf, n); }
  absl::StatusOr<bool> ReadChunk(std::string* chunk) override { return pipe_->ReadChunk(chunk); }
  void Close() override { pipe_->CloseRead(); }

 private:
  std::shared_ptr<Pipe> pipe_;
};

}  // namespace

absl::Status Sink::WriteEnv(const Env& env) {
  std::string line;
  env.EncodeTo(&line);
  line.push_back('\n');
  return WriteOwned(std::move(line));
}

absl::StatusOr<bool> Source::ReadChunk(std::string* chunk) {
  chunk->resize(kChunkSize);
  absl::StatusOr<size_t> n = Read(chunk->data(), chunk->size());
  if (!n.ok()) return n.status();
  chunk->resize(*n);
  return *n > 0;
}

// ---- Output ----

Output::~Output() { (void)Close(); }

void Output::Add(std::unique_ptr<Sink> sink) {
  absl::MutexLock lock(&mu_);
  sinks_.push_back(std::move(sink));
}

std::shared_ptr<std::string> Output::AddBuffer() {
  auto buf = std::make_shared<std::string>();
  Add(std::make_unique<BufferSink>(buf));
  return buf;
}

void Output::AddFd(int fd) { Add(std::make_unique<FdSink>(fd)); }

void Output::AddPipe(std::shared_ptr<Pipe> pipe) { Add(std::make_unique<PipeSink>(std::move(pipe))); }

std::shared_ptr<Env> Output::AddEnv() {
  auto env = std::make_shared<Env>();
  Add(std::make_unique<EnvSink>(env));
  return env;
}

std::shared_ptr<Table> Output::AddTable() {
  auto table = std::make_shared<Table>();
  Add(std::make_unique<TableSink>(table));
  return table;
}

std::shared_ptr<Table> Output::AddListTable() {
  auto table = std::make_shared<Table>();
  Add(std::make_unique<ListTableSink>(table));
  return table;
}

absl::Status Output::Keep(absl::Status s) {
  if (!s.ok() && first_error_.ok()) first_error_ = s;
  return s;
}

void Output::TrackLocked(absl::string_view data) {
  // The error text of a failed job is the last non-empty line of its stderr.
  while (!data.empty()) {
    size_t nl = data.find('\n');
    absl::string_view part = data.substr(0, nl);
    if (current_line_.size() < kMaxTrackedLine) {
      absl::StrAppend(&current_line_, part.substr(0, kMaxTrackedLine - current_line_.size()));
    }
    if (nl == absl::string_view::npos) break;
    if (!current_line_.empty()) {
      last_line_.swap(current_line_);
      current_line_.clear();
    }
    data.remove_prefix(nl + 1);
  }
}

absl::Status Output::WriteLocked(absl::string_view data, std::string* owned) {
  if (closed_) return Keep(absl::FailedPreconditionError("write to a closed output"));
  if (data.empty()) return absl::OkStatus();
  used_ = true;
  if (track_last_line_) TrackLocked(data);
  absl::Status result;
  for (size_t i = 0; i < sinks_.size(); ++i) {
    absl::Status s;
    // The last sink may take ownership of a chunk the caller gave away.
    if (owned != nullptr && i + 1 == sinks_.size()) {
      s = sinks_[i]->WriteOwned(std::move(*owned));
    } else {
      s = sinks_[i]->Write(data);
    }
    if (!s.ok() && result.ok()) result = s;
  }
  return Keep(result);
}

absl::Status Output::Write(absl::string_view data) {
  absl::MutexLock lock(&mu_);
  return WriteLocked(data, nullptr);
}

absl::Status Output::Write(std::string&& chunk) {
  absl::MutexLock lock(&mu_);
  return WriteLocked(chunk, &chunk);
}

absl::Status Output::WriteEnv(const Env& env) {
  absl::MutexLock lock(&mu_);
  if (closed_) return Keep(absl::FailedPreconditionError("write to a closed output"));
  used_ = true;
  std::string encoded;  // serialized once, only if a byte sink needs it
  absl::Status result;
  for (auto& sink : sinks_) {
    absl::Status s;
    if (sink->TakesEnv()) {
      s = sink->WriteEnv(env);
    } else {
      if (encoded.empty()) {
        env.EncodeTo(&encoded);
        encoded.push_back('\n');
      }
      s = sink->Write(encoded);
    }
    if (!s.ok() && result.ok()) result = s;
  }
  if (track_last_line_) {
    if (encoded.empty()) {
      env.EncodeTo(&encoded);
      encoded.push_back('\n');
    }
    TrackLocked(encoded);
  }
  return Keep(result);
}

absl::Status Output::WriteEnv(Env&& env) {
  {
    absl::MutexLock lock(&mu_);
    if (sinks_.size() == 1 && sinks_[0]->TakesEnv() && !closed_ && !track_last_line_) {
      used_ = true;
      return Keep(sinks_[0]->WriteEnv(std::move(env)));
    }
  }
  return WriteEnv(static_cast<const Env&>(env));
}

absl::Status Output::Close() {
  absl::MutexLock lock(&mu_);
  if (closed_) return first_error_;
  closed_ = true;
  for (auto& sink : sinks_) (void)Keep(sink->Close());
  return first_error_;
}

bool Output::used() const {
  absl::MutexLock lock(&mu_);
  return used_;
}

std::string Output::LastLine() const {
  absl::MutexLock lock(&mu_);
  return current_line_.empty() ? last_line_ : current_line_;
}

// ---- Input ----

Input::~Input() { Close(); }

absl::Status Input::Add(std::unique_ptr<Source> source) {
  absl::MutexLock lock(&mu_);
  if (source_ != nullptr) return absl::FailedPreconditionError("Maximum number of sources reached: 1");
  source_ = std::move(source);
  if (closed_) source_->Close();
  return absl::OkStatus();
}

absl::Status Input::AddString(std::string data) { return Add(std::make_unique<StringSource>(std::move(data))); }

absl::Status Input::AddFd(int fd) { return Add(MakeFdSource(fd)); }

std::unique_ptr<Source> MakeFdSource(int fd) { return std::make_unique<FdSource>(fd); }

absl::Status Input::AddPipe(std::shared_ptr<Pipe> pipe) {
  return Add(std::make_unique<PipeSource>(std::move(pipe)));
}

bool Input::has_source() const {
  absl::MutexLock lock(&mu_);
  return source_ != nullptr;
}

Source* Input::source() const {
  absl::MutexLock lock(&mu_);
  return closed_ ? nullptr : source_.get();
}

absl::StatusOr<size_t> Input::Read(char* buf, size_t n) {
  Source* src = source();
  if (src == nullptr) return 0;
  return src->Read(buf, n);
}

absl::StatusOr<bool> Input::ReadChunk(std::string* chunk) {
  Source* src = source();
  if (src == nullptr) {
    chunk->clear();
    return false;
  }
  return src->ReadChunk(chunk);
}

absl::StatusOr<std::string> Input::ReadAll(size_t limit) {
  std::string all;
  std::string chunk;
  while (true) {
    absl::StatusOr<bool> more = ReadChunk(&chunk);
    if (!more.ok()) return more.status();
    if (!*more) return all;
    if (all.size() + chunk.size() > limit) {
      return absl::ResourceExhaustedError(absl::StrCat("input exceeds ", limit, " bytes"));
    }
    if (all.empty()) {
      all = std::move(chunk);
    } else {
      all.append(chunk);
    }
  }
}

void Input::Close() {
  absl::MutexLock lock(&mu_);
  if (closed_) return;
  closed_ = true;
  if (source_ != nullptr) source_->Close();
}

absl::Status Connect(Output& from, Input& to, size_t capacity) {
  auto pipe = std::make_shared<Pipe>(capacity);
  if (absl::Status s = to.AddPipe(pipe); !s.ok()) return s;
  from.AddPipe(std::move(pipe));
  return absl::OkStatus();
}

}  // namespace berth
