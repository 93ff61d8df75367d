#include "cutover/replay/memory_queue.h"

#include <algorithm>
#include <functional>

#include "absl/time/clock.h"

namespace cutover::replay {

class MemoryQueueReader : public QueueReader {
 public:
  MemoryQueueReader(MemoryQueue* q, const Positions& start) : q_(q) {
    for (int32_t p = 0; p < q->partitions(); ++p) next_.push_back(NextOffset(start, p));
  }
  absl::StatusOr<std::vector<QueuedMessage>> Poll(int max, absl::Duration timeout) override {
    absl::MutexLock l(&q_->mu_);
    auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(q_->mu_) {
      for (int32_t p = 0; p < q_->partitions_; ++p) {
        if (next_[p] < static_cast<int64_t>(q_->logs_[p].size())) return true;
      }
      return false;
    };
    q_->mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
    std::vector<QueuedMessage> out;
    for (int32_t p = 0; p < q_->partitions_ && static_cast<int>(out.size()) < max; ++p) {
      auto& log = q_->logs_[p];
      while (next_[p] < static_cast<int64_t>(log.size()) && static_cast<int>(out.size()) < max) {
        out.push_back(log[next_[p]++]);
        if (q_->duplicate_) out.push_back(out.back());
      }
    }
    if (q_->reverse_) std::reverse(out.begin(), out.end());
    return out;
  }

 private:
  MemoryQueue* q_;
  std::vector<int64_t> next_;
};

absl::StatusOr<std::vector<cutover::v1::QueuePosition>> MemoryQueue::Append(
    const std::vector<QueueMessage>& messages) {
  absl::MutexLock l(&mu_);
  const bool fail = fail_appends_ > 0;
  if (fail) --fail_appends_;
  if (fail && !fail_after_store_) return fail_status_;
  std::vector<cutover::v1::QueuePosition> out;
  for (const auto& m : messages) {
    const int32_t p = static_cast<int32_t>(std::hash<std::string>{}(m.key) % partitions_);
    QueuedMessage qm;
    qm.position.set_partition(p);
    qm.position.set_offset(static_cast<int64_t>(logs_[p].size()));
    qm.key = m.key;
    qm.payload = m.payload;
    out.push_back(qm.position);
    logs_[p].push_back(std::move(qm));
  }
  if (fail) return fail_status_;
  return out;
}

absl::StatusOr<Positions> MemoryQueue::EndPositions() {
  absl::MutexLock l(&mu_);
  Positions out;
  for (int32_t p = 0; p < partitions_; ++p) SetNextOffset(&out, p, static_cast<int64_t>(logs_[p].size()));
  return out;
}

absl::StatusOr<std::unique_ptr<QueueReader>> MemoryQueue::OpenReader(const Positions& start) {
  return std::unique_ptr<QueueReader>(new MemoryQueueReader(this, start));
}

void MemoryQueue::FailAppends(int n, absl::Status status, bool after_store) {
  absl::MutexLock l(&mu_);
  fail_appends_ = n;
  fail_status_ = std::move(status);
  fail_after_store_ = after_store;
}

void MemoryQueue::SetDuplicateDelivery(bool on) {
  absl::MutexLock l(&mu_);
  duplicate_ = on;
}

void MemoryQueue::SetReverseBatches(bool on) {
  absl::MutexLock l(&mu_);
  reverse_ = on;
}

void MemoryQueue::AppendRaw(int32_t p, const std::string& key, const std::string& payload) {
  absl::MutexLock l(&mu_);
  QueuedMessage qm;
  qm.position.set_partition(p);
  qm.position.set_offset(static_cast<int64_t>(logs_[p].size()));
  qm.key = key;
  qm.payload = payload;
  logs_[p].push_back(std::move(qm));
}

int64_t MemoryQueue::size() const {
  absl::MutexLock l(&mu_);
  int64_t n = 0;
  for (const auto& log : logs_) n += static_cast<int64_t>(log.size());
  return n;
}

}  // namespace cutover::replay
