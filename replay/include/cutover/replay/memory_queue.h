// In-memory RevocationQueue for tests, with fault injection: failed appends
// (before or after the messages were stored, the latter being the "acked but
// the caller never heard" case), duplicated and reordered delivery. Follows
// the RevocationQueue contract otherwise. Thread-safe.
#pragma once

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "cutover/replay/queue.h"

namespace cutover::replay {

class MemoryQueue : public RevocationQueue {
 public:
  explicit MemoryQueue(int32_t partitions = 1) : partitions_(partitions), logs_(partitions) {}

  std::string backend() const override { return "memory"; }
  int32_t partitions() const override { return partitions_; }
  absl::StatusOr<std::vector<cutover::v1::QueuePosition>> Append(const std::vector<QueueMessage>& messages) override;
  absl::StatusOr<Positions> EndPositions() override;
  absl::StatusOr<std::unique_ptr<QueueReader>> OpenReader(const Positions& start) override;

  // The next `n` Append calls fail with `status`; when `after_store`, the
  // messages are stored first (the queue has them, the caller sees an error).
  void FailAppends(int n, absl::Status status, bool after_store = false);
  // Readers deliver every message twice (each copy at its own position).
  void SetDuplicateDelivery(bool on);
  // Readers deliver each polled batch in reverse order (across partitions
  // and within: tests that apply order does not matter for revocations).
  void SetReverseBatches(bool on);
  // Appends raw bytes (garbage) to partition `p`.
  void AppendRaw(int32_t p, const std::string& key, const std::string& payload);
  int64_t size() const;

 private:
  friend class MemoryQueueReader;
  const int32_t partitions_;
  mutable absl::Mutex mu_;
  std::vector<std::vector<QueuedMessage>> logs_ ABSL_GUARDED_BY(mu_);
  int fail_appends_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status fail_status_ ABSL_GUARDED_BY(mu_);
  bool fail_after_store_ ABSL_GUARDED_BY(mu_) = false;
  bool duplicate_ ABSL_GUARDED_BY(mu_) = false;
  bool reverse_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace cutover::replay
