// CopyControl lets the orchestrator pause, throttle and cancel a running copy
// from another thread. Workers call Checkpoint() between units of work and
// Account() as bytes flow. All methods are thread-safe; none blocks except
// Checkpoint() and Account(), which block the calling worker only.
#pragma once

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cutover/common/clock.h"
#include "cutover/common/status.h"

namespace cutover::copy {

class CopyControl {
 public:
  explicit CopyControl(Clock* clock = Clock::Real()) : clock_(clock) {}

  void Pause();
  void Resume();
  // Makes every Checkpoint() return `reason` (which must not be OK).
  void Cancel(absl::Status reason);
  bool paused() const;
  absl::Status cancelled() const;
  // 0 = unlimited.
  void SetMaxBytesPerSecond(int64_t limit);

  // Blocks while paused; returns the cancel reason once cancelled, else OK.
  absl::Status Checkpoint();
  // Records `bytes` moved and blocks as long as needed to keep the average
  // rate under the limit; returns the cancel reason once cancelled.
  absl::Status Account(int64_t bytes);

 private:
  Clock* const clock_;
  mutable absl::Mutex mu_;
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status cancelled_ ABSL_GUARDED_BY(mu_);
  int64_t max_bps_ ABSL_GUARDED_BY(mu_) = 0;
  // Token bucket: bytes allowed from `bucket_start_` on.
  absl::Time bucket_start_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int64_t bucket_bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace cutover::copy
