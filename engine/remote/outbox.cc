#include "engine/remote/outbox.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>

namespace berth::remote {

Outbox::Outbox() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (fd_ < 0) std::abort();  // only fails when the process is out of descriptors at start-up
}

Outbox::~Outbox() { ::close(fd_); }

void Outbox::Push(Outgoing item) {
  bool wake = false;
  {
    absl::MutexLock lock(&mu_);
    queue_.push_back(std::move(item));
    if (!signalled_) {
      signalled_ = true;
      wake = true;
    }
  }
  if (wake) {
    uint64_t one = 1;
    ssize_t n = ::write(fd_, &one, sizeof one);
    (void)n;  // a full counter still wakes the reader
  }
}

void Outbox::Send(Peer peer, std::string payload, std::shared_ptr<const std::atomic<bool>> ended) {
  Push(Outgoing{std::move(peer), std::move(payload), nullptr, std::move(ended)});
}

void Outbox::Post(std::function<void()> task) { Push(Outgoing{Peer{}, std::string(), std::move(task), nullptr}); }

void Outbox::Drain(std::deque<Outgoing>* out) {
  uint64_t count;
  ssize_t n = ::read(fd_, &count, sizeof count);
  (void)n;
  absl::MutexLock lock(&mu_);
  signalled_ = false;
  if (out->empty()) {
    out->swap(queue_);
  } else {
    for (auto& item : queue_) out->push_back(std::move(item));
    queue_.clear();
  }
}

}  // namespace berth::remote
