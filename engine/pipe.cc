#include "engine/pipe.h"

#include <algorithm>
#include <cstring>

namespace berth {

Pipe::Pipe(size_t capacity) : capacity_(std::max<size_t>(capacity, 1)) {}

absl::Status Pipe::WaitForRoom() {
  while (aborted_.ok() && !read_closed_ && bytes_ >= capacity_) can_write_.Wait(&mu_);
  if (!aborted_.ok()) return aborted_;
  if (read_closed_) return absl::FailedPreconditionError("broken pipe: the reading job has finished");
  if (write_closed_) return absl::FailedPreconditionError("write to a closed pipe");
  return absl::OkStatus();
}

absl::Status Pipe::WaitForData() {
  while (aborted_.ok() && !read_closed_ && bytes_ == 0 && !write_closed_) can_read_.Wait(&mu_);
  if (!aborted_.ok()) return aborted_;
  return absl::OkStatus();
}

absl::Status Pipe::Write(absl::string_view data) {
  // Large writes are split so that back-pressure applies within them too.
  while (!data.empty()) {
    absl::MutexLock lock(&mu_);
    if (absl::Status s = WaitForRoom(); !s.ok()) return s;
    size_t n = std::min(data.size(), capacity_ - bytes_);
    chunks_.emplace_back(data.substr(0, n));
    bytes_ += n;
    data.remove_prefix(n);
    can_read_.Signal();
  }
  return absl::OkStatus();
}

absl::Status Pipe::WriteOwned(std::string&& chunk) {
  if (chunk.empty()) return absl::OkStatus();
  if (chunk.size() > capacity_) return Write(chunk);
  absl::MutexLock lock(&mu_);
  if (absl::Status s = WaitForRoom(); !s.ok()) return s;
  bytes_ += chunk.size();
  chunks_.push_back(std::move(chunk));
  can_read_.Signal();
  return absl::OkStatus();
}

void Pipe::CloseWrite() {
  absl::MutexLock lock(&mu_);
  write_closed_ = true;
  can_read_.SignalAll();
  can_write_.SignalAll();
}

absl::StatusOr<size_t> Pipe::Read(char* buf, size_t n) {
  if (n == 0) return 0;
  absl::MutexLock lock(&mu_);
  if (absl::Status s = WaitForData(); !s.ok()) return s;
  size_t copied = 0;
  while (copied < n && !chunks_.empty()) {
    std::string& front = chunks_.front();
    size_t take = std::min(n - copied, front.size() - front_offset_);
    std::memcpy(buf + copied, front.data() + front_offset_, take);
    copied += take;
    front_offset_ += take;
    if (front_offset_ == front.size()) {
      chunks_.pop_front();
      front_offset_ = 0;
    }
  }
  bytes_ -= copied;
  if (copied > 0) can_write_.Signal();
  return copied;
}

absl::StatusOr<bool> Pipe::ReadChunk(std::string* chunk) {
  absl::MutexLock lock(&mu_);
  if (absl::Status s = WaitForData(); !s.ok()) return s;
  if (chunks_.empty()) {
    chunk->clear();
    return false;
  }
  std::string& front = chunks_.front();
  if (front_offset_ == 0) {
    *chunk = std::move(front);
  } else {
    chunk->assign(front, front_offset_);
  }
  chunks_.pop_front();
  front_offset_ = 0;
  bytes_ -= chunk->size();
  can_write_.Signal();
  return true;
}

void Pipe::CloseRead() {
  absl::MutexLock lock(&mu_);
  read_closed_ = true;
  chunks_.clear();
  bytes_ = 0;
  front_offset_ = 0;
  can_write_.SignalAll();
  can_read_.SignalAll();
}

void Pipe::Abort(absl::Status why) {
  absl::MutexLock lock(&mu_);
  if (aborted_.ok()) aborted_ = why.ok() ? absl::AbortedError("pipe aborted") : std::move(why);
  chunks_.clear();
  bytes_ = 0;
  front_offset_ = 0;
  can_write_.SignalAll();
  can_read_.SignalAll();
}

size_t Pipe::buffered() const {
  absl::MutexLock lock(&mu_);
  return bytes_;
}

}  // namespace berth
