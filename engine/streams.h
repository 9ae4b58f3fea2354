// Output and Input: a job's byte streams.
//
// An Output fans every write out to its sinks (a buffer, a file descriptor, a pipe
// into another job's stdin, an env decoder, a table decoder, or any Sink); with no
// sink, writes are discarded. An Input reads from at most one Source.
//
// Envs travel whole where they can: Output::WriteEnv hands the env object itself to
// sinks that take envs (the env and table decoders) and serializes it, once, only
// for sinks that need bytes.
#ifndef BERTH_ENGINE_STREAMS_H_
#define BERTH_ENGINE_STREAMS_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "absl/strings/string_view.h"
#include "absl/base/thread_annotations.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "engine/env.h"
#include "engine/pipe.h"
#include "engine/table.h"

namespace berth {

// Where an Output's data goes. Implementations need not be thread-safe: an Output
// calls its sinks under its own lock.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual absl::Status Write(absl::string_view data) = 0;
  // Takes a chunk the caller no longer needs; queueing sinks keep it without a copy.
  virtual absl::Status WriteOwned(std::string&& chunk) { return Write(chunk); }
  // Sinks that return true receive whole envs through WriteEnv instead of bytes.
  virtual bool TakesEnv() const { return false; }
  virtual absl::Status WriteEnv(const Env& env);
  virtual absl::Status WriteEnv(Env&& env) { return WriteEnv(static_cast<const Env&>(env)); }
  // End of the stream. Called once.
  virtual absl::Status Close() { return absl::OkStatus(); }
};

// Where an Input's data comes from.
class Source {
 public:
  virtual ~Source() = default;
  // Reads up to n bytes; 0 at end of stream.
  virtual absl::StatusOr<size_t> Read(char* buf, size_t n) = 0;
  // Replaces *chunk with the next chunk of data; false at end of stream.
  virtual absl::StatusOr<bool> ReadChunk(std::string* chunk);
  // The reader is done; a writer on the other side of a pipe is released.
  virtual void Close() {}
};

class Output {
 public:
  Output() = default;
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;
  ~Output();

  void Add(std::unique_ptr<Sink> sink);
  // Collects everything written; read it after the job has run.
  std::shared_ptr<std::string> AddBuffer();
  // Writes to `fd` (not closed by the Output).
  void AddFd(int fd);
  // Feeds another job's stdin (see Connect).
  void AddPipe(std::shared_ptr<Pipe> pipe);
  // Decodes the stream as JSON objects; after the job has run the env holds the
  // last one.
  std::shared_ptr<Env> AddEnv();
  // Decodes the stream as JSON objects, one table row each.
  std::shared_ptr<Table> AddTable();
  // Decodes the whole stream as one JSON array of objects.
  std::shared_ptr<Table> AddListTable();

  absl::Status Write(absl::string_view data);
  absl::Status Write(std::string&& chunk);
  absl::Status Write(const char* data) { return Write(absl::string_view(data)); }
  absl::Status WriteEnv(const Env& env);
  absl::Status WriteEnv(Env&& env);
  // Closes every sink; later writes fail. Returns the first error of any write or
  // close. Idempotent.
  absl::Status Close();

  // Whether anything has been written.
  bool used() const;
  // Keep the last non-empty line written (stderr's error text).
  void TrackLastLine() { track_last_line_ = true; }
  std::string LastLine() const;

 private:
  absl::Status WriteLocked(absl::string_view data, std::string* owned)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void TrackLocked(absl::string_view data) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Keep(absl::Status s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  absl::InlinedVector<std::unique_ptr<Sink>, 2> sinks_ ABSL_GUARDED_BY(mu_);
  absl::Status first_error_ ABSL_GUARDED_BY(mu_);
  bool used_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool track_last_line_ = false;
  std::string current_line_ ABSL_GUARDED_BY(mu_);
  std::string last_line_ ABSL_GUARDED_BY(mu_);
};

class Input {
 public:
  Input() = default;
  Input(const Input&) = delete;
  Input& operator=(const Input&) = delete;
  ~Input();

  // At most one source: a second gives `Maximum number of sources reached: 1`.
  absl::Status Add(std::unique_ptr<Source> source);
  absl::Status AddString(std::string data);
  // Reads from `fd` (not closed by the Input).
  absl::Status AddFd(int fd);
  absl::Status AddPipe(std::shared_ptr<Pipe> pipe);
  bool has_source() const;

  // Reads up to n bytes; 0 at end of stream (also when there is no source).
  absl::StatusOr<size_t> Read(char* buf, size_t n);
  absl::StatusOr<bool> ReadChunk(std::string* chunk);
  // Everything up to end of stream; fails if more than `limit` bytes arrive.
  absl::StatusOr<std::string> ReadAll(size_t limit = SIZE_MAX);
  // Stops reading: later reads see end of stream. Thread-safe; idempotent.
  void Close();

 private:
  Source* source() const;

  mutable absl::Mutex mu_;
  std::unique_ptr<Source> source_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

// A source reading `fd` (not closed by it); its Close releases a blocked read.
std::unique_ptr<Source> MakeFdSource(int fd);

// Pipes `from` into `to` through a bounded Pipe, for pipelines.
absl::Status Connect(Output& from, Input& to, size_t capacity = kDefaultPipeCapacity);

}  // namespace berth

#endif  // BERTH_ENGINE_STREAMS_H_
