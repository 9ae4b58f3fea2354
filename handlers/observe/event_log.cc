#include "handlers/observe/event_log.h"

#include "absl/time/clock.h"
#include "nlohmann/json.hpp"

namespace berth {

std::string Event::ToJsonLine() const {
  nlohmann::ordered_json j;
  j["type"] = type;
  j["status"] = status;
  j["id"] = id;
  if (!from.empty()) j["from"] = from;
  j["time"] = absl::ToUnixSeconds(time);
  j["timeNano"] = absl::ToUnixNanos(time);
  if (!attributes.empty()) j["attributes"] = attributes;
  std::string line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  line.push_back('\n');
  return line;
}

EventLog& EventLog::Process() {
  static EventLog* log = new EventLog();  // process-wide, never destroyed
  return *log;
}

void EventLog::Publish(Event e) {
  e.time = absl::Now();
  absl::MutexLock lock(&mu_);
  // Publication order is time order: a later publisher may have read the clock first.
  if (!ring_.empty() && e.time < ring_.back().time) e.time = ring_.back().time;
  e.seq = next_seq_++;
  for (auto it = followers_.begin(); it != followers_.end();) {
    if (std::shared_ptr<Follower> f = it->lock()) {
      f->Push(e);
      ++it;
    } else {
      it = followers_.erase(it);
    }
  }
  ring_.push_back(std::move(e));
  if (ring_.size() > capacity_) ring_.pop_front();
}

void EventLog::Publish(std::string type, std::string status, std::string id, std::string from,
                       std::map<std::string, std::string> attributes) {
  Publish(Event{std::move(type), std::move(status), std::move(id), std::move(from), absl::Time(),
                std::move(attributes), 0});
}

std::vector<Event> EventLog::Between(absl::Time since, absl::Time until) const {
  std::vector<Event> out;
  absl::MutexLock lock(&mu_);
  for (const Event& e : ring_) {
    if (e.time >= since && e.time <= until) out.push_back(e);
  }
  return out;
}

std::shared_ptr<EventLog::Follower> EventLog::Follow() {
  std::shared_ptr<Follower> f = Follower::Make(capacity_);
  absl::MutexLock lock(&mu_);
  if (closed_) {
    f->End();
  } else {
    followers_.push_back(f);
  }
  return f;
}

void EventLog::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  for (const std::weak_ptr<Follower>& w : followers_) {
    if (std::shared_ptr<Follower> f = w.lock()) f->End();
  }
  followers_.clear();
}

void EventLog::Follower::Push(const Event& e) {
  absl::MutexLock lock(&mu_);
  if (closed_ || behind_) return;
  if (queue_.size() >= capacity_) {
    behind_ = true;
    queue_.clear();
    return;
  }
  queue_.push_back(e);
}

void EventLog::Follower::End() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
}

EventLog::Follower::Result EventLog::Follower::Next(absl::Duration timeout, Event* out) {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !queue_.empty() || closed_ || behind_; };
  mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
  if (behind_) return Result::kFellBehind;
  if (!queue_.empty()) {
    *out = std::move(queue_.front());
    queue_.pop_front();
    return Result::kEvent;
  }
  return closed_ ? Result::kClosed : Result::kTimeout;
}

}  // namespace berth
