#include "engine/remote/job_bridge.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace berth::remote {

class JobBridge::StdinSource : public Source {
 public:
  explicit StdinSource(JobBridge* b) : b_(b) {}
  absl::StatusOr<size_t> Read(char* buf, size_t n) override {
    if (pending_.size() == offset_) {
      absl::StatusOr<bool> more = b_->PopStdin(&pending_);
      if (!more.ok()) return more.status();
      offset_ = 0;
      if (!*more) return 0;
    }
    size_t take = std::min(n, pending_.size() - offset_);
    std::memcpy(buf, pending_.data() + offset_, take);
    offset_ += take;
    return take;
  }
  absl::StatusOr<bool> ReadChunk(std::string* chunk) override {
    if (pending_.size() > offset_) {
      chunk->assign(pending_, offset_);
      pending_.clear();
      offset_ = 0;
      return true;
    }
    return b_->PopStdin(chunk);
  }
  void Close() override { b_->CloseStdin(); }

 private:
  JobBridge* b_;
  std::string pending_;
  size_t offset_ = 0;
};

class JobBridge::CreditSink : public Sink {
 public:
  CreditSink(JobBridge* b, FrameType type) : b_(b), type_(type) {}
  absl::Status Write(absl::string_view data) override {
    while (!data.empty()) {
      size_t n = b_->AcquireCredit(std::min(data.size(), kMaxChunkBytes));
      if (n == 0) return absl::CancelledError("the requester of this job is gone");
      b_->Send(EncodeData(type_, b_->id_, data.substr(0, n)));
      data.remove_prefix(n);
    }
    return absl::OkStatus();
  }

 private:
  JobBridge* b_;
  FrameType type_;
};

JobBridge::JobBridge(std::unique_ptr<Job> job, uint64_t id, bool has_stdin, Peer peer, Outbox& outbox)
    : outbox_(outbox),
      peer_(std::move(peer)),
      id_(id),
      job_(std::move(job)),
      name_(job_->name()),
      has_stdin_(has_stdin) {
  if (has_stdin_) {
    (void)job_->Stdin().Add(std::make_unique<StdinSource>(this));
  }
  job_->Stdout().Add(std::make_unique<CreditSink>(this, FrameType::kStdout));
  job_->Stderr().Add(std::make_unique<CreditSink>(this, FrameType::kStderr));
  job_->OnCancel([this] {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
    cv_.SignalAll();
  });
}

JobBridge::~JobBridge() = default;

void JobBridge::Send(std::string payload) {
  {
    absl::MutexLock lock(&mu_);
    if (detached_) return;
  }
  outbox_.Send(peer_, std::move(payload), ended_);
}

bool JobBridge::EndIfQueued() {
  {
    absl::MutexLock lock(&mu_);
    if (started_) return false;
    detached_ = true;
    cv_.SignalAll();
  }
  return EndNow();
}

void JobBridge::Run() {
  bool ended_while_queued;
  {
    absl::MutexLock lock(&mu_);
    ended_while_queued = detached_;
    started_ = true;
  }
  if (ended_while_queued) {
    // Ended (cancel, deadline, lost requester) while it waited for a thread:
    // it never runs.
    if (on_done_) on_done_();
    return;
  }
  absl::Status s = job_->Run();
  if (ClaimEnd()) {
    std::string message = s.ok() ? std::string() : std::string(s.message());
    Send(EncodeEnd(id_, job_->status(), message));
  }
  if (on_done_) on_done_();
}

size_t JobBridge::AcquireCredit(size_t want) {
  absl::MutexLock lock(&mu_);
  while (credit_ == 0 && !detached_) cv_.Wait(&mu_);
  if (detached_) return 0;
  size_t n = static_cast<size_t>(std::min<uint64_t>(want, credit_));
  credit_ -= n;
  return n;
}

absl::StatusOr<bool> JobBridge::PopStdin(std::string* chunk) {
  uint64_t grant = 0;
  {
    absl::MutexLock lock(&mu_);
    while (stdin_.empty() && !stdin_end_ && !detached_ && !cancelled_ && !stdin_closed_) cv_.Wait(&mu_);
    if (stdin_.empty()) {
      chunk->clear();
      if (cancelled_ && !stdin_end_) return absl::CancelledError("cancelled while reading stdin");
      if (detached_ && !stdin_end_) return absl::CancelledError("the requester of this job is gone");
      return false;
    }
    *chunk = std::move(stdin_.front());
    stdin_.pop_front();
    stdin_buffered_ -= chunk->size();
    stdin_consumed_ += chunk->size();
    if (stdin_consumed_ >= kCreditGrantBytes && !stdin_end_) {
      grant = stdin_consumed_;
      stdin_consumed_ = 0;
      stdin_allowed_ += grant;
    }
  }
  if (grant > 0) Send(EncodeCredit(id_, grant));
  return true;
}

void JobBridge::CloseStdin() {
  absl::MutexLock lock(&mu_);
  stdin_closed_ = true;
  stdin_.clear();
  stdin_buffered_ = 0;
  cv_.SignalAll();
}

absl::Status JobBridge::OnStdin(std::string data) {
  absl::MutexLock lock(&mu_);
  if (stdin_closed_ || stdin_end_) return absl::OkStatus();  // the job stopped reading
  if (!has_stdin_) return absl::InvalidArgumentError("STDIN frame for a job that declared no stdin");
  if (data.size() > stdin_allowed_) {
    return absl::ResourceExhaustedError(absl::StrCat("stdin exceeds the granted credit by ",
                                                     data.size() - stdin_allowed_, " bytes"));
  }
  stdin_allowed_ -= data.size();
  stdin_buffered_ += data.size();
  stdin_.push_back(std::move(data));
  cv_.SignalAll();
  return absl::OkStatus();
}

void JobBridge::OnStdinEnd() {
  absl::MutexLock lock(&mu_);
  stdin_end_ = true;
  cv_.SignalAll();
}

void JobBridge::OnCredit(uint64_t bytes) {
  absl::MutexLock lock(&mu_);
  credit_ = std::min<uint64_t>(credit_ + bytes, uint64_t{1} << 40);
  cv_.SignalAll();
}

void JobBridge::Cancel() { job_->Cancel(); }

void JobBridge::Detach() {
  {
    absl::MutexLock lock(&mu_);
    detached_ = true;
    cv_.SignalAll();
  }
  job_->Cancel();
}

class InlineJob::RecordingSink : public Sink {
 public:
  RecordingSink(std::vector<Chunk>* chunks, FrameType stream) : chunks_(chunks), stream_(stream) {}
  absl::Status Write(absl::string_view data) override {
    std::vector<Chunk>& chunks = *chunks_;
    while (!data.empty()) {
      // Consecutive writes to one stream share a chunk, up to the chunk limit.
      if (chunks.empty() || chunks.back().stream != stream_ || chunks.back().data.size() >= kMaxChunkBytes) {
        chunks.push_back(Chunk{stream_, std::string()});
      }
      std::string& into = chunks.back().data;
      size_t n = std::min(data.size(), kMaxChunkBytes - into.size());
      into.append(data.data(), n);
      data.remove_prefix(n);
    }
    return absl::OkStatus();
  }

 private:
  std::vector<Chunk>* chunks_;
  FrameType stream_;
};

InlineJob::InlineJob(std::unique_ptr<Job> job, uint64_t id, bool end_tail) {
  std::vector<Chunk> chunks;  // the job's output, in the order written
  job->Stdout().Add(std::make_unique<RecordingSink>(&chunks, FrameType::kStdout));
  job->Stderr().Add(std::make_unique<RecordingSink>(&chunks, FrameType::kStderr));
  absl::Status s = job->Run();
  const absl::string_view message = s.ok() ? absl::string_view() : s.message();
  const size_t streamed = end_tail && !chunks.empty() ? chunks.size() - 1 : chunks.size();
  for (size_t i = 0; i < streamed; ++i) {
    frames_.push_back(Pending{chunks[i].data.size(), EncodeData(chunks[i].stream, id, chunks[i].data)});
  }
  if (streamed < chunks.size()) {
    const Chunk& last = chunks.back();
    frames_.push_back(
        Pending{last.data.size(), EncodeEndWithTail(id, job->status(), message, last.stream, last.data)});
  } else {
    frames_.push_back(Pending{0, EncodeEnd(id, job->status(), message)});
  }
  job.reset();  // its sinks write into `chunks`: they go first
}

}  // namespace berth::remote
