// Output subscribers of a container; see subscribers.h.
#include "execdriver/subscribers.h"

#include <vector>

namespace berth::execdriver {

int Subscribers::Add(Container::OutputFn fn) {
  int token;
  {
    absl::MutexLock lock(&mu_);
    token = next_token_++;
    if (!eof_) {
      subscribers_.emplace(token, std::make_shared<Container::OutputFn>(std::move(fn)));
      return token;
    }
  }
  fn(Stream::kStdout, "", true);
  return token;
}

void Subscribers::Remove(int token) {
  absl::MutexLock lock(&mu_);
  subscribers_.erase(token);
  if (dispatcher_ == std::this_thread::get_id()) return;  // from inside a callback
  auto not_calling = [this, token]() ABSL_SHARED_LOCKS_REQUIRED(mu_) { return calling_ != token; };
  mu_.Await(absl::Condition(&not_calling));
}

void Subscribers::Publish(Stream stream, absl::string_view data) { Dispatch(stream, data, false); }

void Subscribers::PublishEof() { Dispatch(Stream::kStdout, "", true); }

// Calls each subscriber still present when its turn comes; `calling_` lets
// Remove wait for a call in progress.
void Subscribers::Dispatch(Stream stream, absl::string_view data, bool eof) {
  std::vector<int> tokens;
  {
    absl::MutexLock lock(&mu_);
    if (eof_) return;
    eof_ = eof;
    dispatcher_ = std::this_thread::get_id();
    for (const auto& [token, fn] : subscribers_) tokens.push_back(token);
  }
  for (int token : tokens) {
    std::shared_ptr<Container::OutputFn> fn;
    {
      absl::MutexLock lock(&mu_);
      auto it = subscribers_.find(token);
      if (it == subscribers_.end()) continue;
      fn = it->second;
      calling_ = token;
    }
    (*fn)(stream, data, eof);
    absl::MutexLock lock(&mu_);
    calling_ = 0;
  }
  absl::MutexLock lock(&mu_);
  dispatcher_ = std::thread::id();
  if (eof) subscribers_.clear();
}

}  // namespace berth::execdriver
