#include "engine/job_counts.h"

#include <algorithm>

namespace berth {

const std::vector<double>& JobCounts::BucketBoundsSeconds() {
  static const std::vector<double> kBounds = [] {
    std::vector<double> out;
    for (int64_t ns : kBoundsNs) out.push_back(static_cast<double>(ns) / 1e9);
    return out;
  }();
  return kBounds;
}

uint64_t JobCounts::Totals::Count() const {
  uint64_t n = 0;
  for (uint64_t b : buckets) n += b;
  return n;
}

JobCounts::Cells& JobCounts::MakeCells(size_t slot) {
  absl::MutexLock lock(&mu_);
  if (Cells* c = cells_[slot].load(std::memory_order_acquire)) return *c;  // the shared slot's, made meanwhile
  owned_.push_back(std::make_unique<Cells>());
  cells_[slot].store(owned_.back().get(), std::memory_order_release);
  return *owned_.back();
}

void JobCounts::Count(Cells& c, size_t slot, int status, size_t bucket, uint64_t ns) {
  AddToSlot(c.ended[StatusSlot(status)], 1, slot);
  AddToSlot(c.buckets[bucket], 1, slot);
  AddToSlot(c.sum_ns, ns, slot);
}

void JobCounts::Started() {
  const size_t slot = MyThreadSlot();
  AddToSlot(CellsOf(slot).started, 1, slot);
}

void JobCounts::Ended(int status, absl::Duration took) {
  const size_t slot = MyThreadSlot();
  const int64_t ns = std::max<int64_t>(absl::ToInt64Nanoseconds(took), 0);
  Count(CellsOf(slot), slot, status, BucketOf(ns), static_cast<uint64_t>(ns));
}

JobCounts::Totals JobCounts::Sum() const {
  Totals t;
  auto add = [](uint64_t& to, const std::atomic<uint64_t>& from) { to += from.load(std::memory_order_relaxed); };
  for (const std::atomic<Cells*>& slot : cells_) {
    const Cells* c = slot.load(std::memory_order_acquire);
    if (c == nullptr) continue;
    add(t.started, c->started);
    for (size_t i = 0; i < kStatusSlots; ++i) add(t.ended[i], c->ended[i]);
    for (size_t i = 0; i <= kBuckets; ++i) add(t.buckets[i], c->buckets[i]);
    add(t.sum_ns, c->sum_ns);
  }
  return t;
}

}  // namespace berth
