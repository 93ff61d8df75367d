// The relay: moves captured events from the outbox on the capturing side
// (cutover_capture.outbox) to the queue, in outbox order, in batches.
//
// Each batch: BEGIN; SELECT ... FOR UPDATE SKIP LOCKED ORDER BY id LIMIT n;
// Append to the queue and wait for its acknowledgement; DELETE those rows;
// COMMIT. Rows are deleted only after the queue acknowledged them, so a crash
// at any point re-sends (never loses): duplicates are expected and removed at
// replay by event_id. An outbox row that cannot be turned into an event is
// still forwarded (as an invalid message) so the replayer dead-letters it and
// the flip is blocked: nothing is dropped silently.
//
// Thread-safety: one thread drives Step / Drain / Run; Stop() and stats()
// from any thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cutover/common/clock.h"
#include "cutover/common/pg.h"
#include "cutover/replay/queue.h"

namespace cutover::replay {

struct RelayOptions {
  std::string cutover_id;
  std::string source_dsn;  // blue (green during a rollback)
  std::string source_what = "blue";
  int batch_size = 1000;
  absl::Duration idle_poll = absl::Milliseconds(20);
};

struct RelayCounters {
  int64_t relayed = 0;
  int64_t batches = 0;
  int64_t invalid_rows = 0;
  absl::Time last_batch_at = absl::InfinitePast();
};

class Relay {
 public:
  static absl::StatusOr<std::unique_ptr<Relay>> Create(const RelayOptions& options, RevocationQueue* queue,
                                                       Clock* clock = Clock::Real());

  // Moves one batch; returns how many rows it moved (0: outbox empty).
  absl::StatusOr<int> Step();
  // Moves batches until the outbox is empty (after the fence: the seal).
  // Transient errors are retried until `deadline`.
  absl::StatusOr<int64_t> Drain(absl::Time deadline);
  // Steps until Stop(); idles when the outbox is empty; retries transient
  // errors with backoff.
  void Run();
  void Stop() { stop_ = true; }

  RelayCounters stats() const;
  // Rows waiting in the outbox and the age of the oldest one.
  absl::StatusOr<std::pair<int64_t, absl::Duration>> Backlog();

  // Test hook: the next Step appends to the queue, then fails as if the
  // process died before deleting the rows (they stay; the queue has them).
  void CrashAfterAppendForTest() { crash_after_append_ = true; }

 private:
  Relay(RelayOptions o, RevocationQueue* q, Clock* c) : options_(std::move(o)), queue_(q), clock_(c) {}
  absl::Status Connect();

  const RelayOptions options_;
  RevocationQueue* const queue_;
  Clock* const clock_;
  std::unique_ptr<pg::Session> session_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> crash_after_append_{false};
  mutable absl::Mutex mu_;
  RelayCounters counters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cutover::replay
