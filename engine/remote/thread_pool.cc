#include "engine/remote/thread_pool.h"

#include <algorithm>

namespace berth::remote {

ThreadPool::ThreadPool(int threads) {
  threads = std::max(threads, 1);
  threads_.reserve(static_cast<size_t>(threads));
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

ThreadPool::~ThreadPool() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    cv_.SignalAll();
  }
  for (auto& t : threads_) t.join();
}

void ThreadPool::Submit(std::function<void()> task) {
  absl::MutexLock lock(&mu_);
  tasks_.push_back(std::move(task));
  cv_.Signal();
}

size_t ThreadPool::pending() const {
  absl::MutexLock lock(&mu_);
  return tasks_.size() + running_;
}

size_t ThreadPool::running() const {
  absl::MutexLock lock(&mu_);
  return running_;
}

size_t ThreadPool::queued() const {
  absl::MutexLock lock(&mu_);
  return tasks_.size();
}

void ThreadPool::Loop() {
  while (true) {
    std::function<void()> task;
    {
      absl::MutexLock lock(&mu_);
      while (tasks_.empty() && !stopping_) cv_.Wait(&mu_);
      if (tasks_.empty()) return;
      task = std::move(tasks_.front());
      tasks_.pop_front();
      ++running_;
    }
    task();
    absl::MutexLock lock(&mu_);
    --running_;
  }
}

}  // namespace berth::remote
