// ThreadPool: a fixed set of threads running queued tasks, so that the number of
// jobs a process runs at once is bounded.
#ifndef BERTH_ENGINE_REMOTE_THREAD_POOL_H_
#define BERTH_ENGINE_REMOTE_THREAD_POOL_H_

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace berth::remote {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  // Runs the queued tasks to completion, then joins the threads.
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  void Submit(std::function<void()> task);
  // Tasks queued or running.
  size_t pending() const;
  size_t running() const;
  size_t queued() const;
  int size() const { return static_cast<int>(threads_.size()); }

 private:
  void Loop();

  mutable absl::Mutex mu_;
  absl::CondVar cv_;
  std::deque<std::function<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  size_t running_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace berth::remote

#endif  // BERTH_ENGINE_REMOTE_THREAD_POOL_H_
