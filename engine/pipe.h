// Pipe: a bounded, thread-safe byte channel between one job's stdout and the next
// job's stdin.
//
// Data moves as chunks: a writer that hands over a std::string it owns gives it to
// the reader without a copy, so `cat | cat | cat` moves buffers rather than bytes.
// Back-pressure: a writer blocks while `capacity` bytes are unread, so a fast
// producer never buffers without bound (at most capacity + one chunk).
#ifndef BERTH_ENGINE_PIPE_H_
#define BERTH_ENGINE_PIPE_H_

#include <cstddef>
#include <deque>
#include <string>
#include <string_view>

#include "absl/strings/string_view.h"
#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace berth {

inline constexpr size_t kDefaultPipeCapacity = 1 << 20;

class Pipe {
 public:
  explicit Pipe(size_t capacity = kDefaultPipeCapacity);
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;

  // Copies `data` in, blocking while the pipe is full. Fails once the read side is
  // closed (the reader finished or the pipeline was aborted).
  absl::Status Write(absl::string_view data);
  // Hands `chunk` over without copying it.
  absl::Status WriteOwned(std::string&& chunk);
  // No more writes: the reader sees end of stream after the buffered data.
  void CloseWrite();

  // Reads up to n bytes, blocking until some are available; 0 at end of stream.
  absl::StatusOr<size_t> Read(char* buf, size_t n);
  // Replaces *chunk with the next buffered chunk; false at end of stream.
  absl::StatusOr<bool> ReadChunk(std::string* chunk);
  // The reader is gone: buffered data is dropped and writers fail from now on.
  void CloseRead();

  // Fails both sides with `why` (used to stop a pipeline promptly).
  void Abort(absl::Status why);

  size_t capacity() const { return capacity_; }
  size_t buffered() const;

 private:
  absl::Status WaitForRoom() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status WaitForData() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t capacity_;
  mutable absl::Mutex mu_;
  absl::CondVar can_write_;
  absl::CondVar can_read_;
  std::deque<std::string> chunks_ ABSL_GUARDED_BY(mu_);
  size_t front_offset_ ABSL_GUARDED_BY(mu_) = 0;  // bytes of chunks_.front() already read
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;         // unread bytes
  bool write_closed_ ABSL_GUARDED_BY(mu_) = false;
  bool read_closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status aborted_ ABSL_GUARDED_BY(mu_);
};

}  // namespace berth

#endif  // BERTH_ENGINE_PIPE_H_
