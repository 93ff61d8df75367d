// Measuring pieces of cutover-loadgen, apart from the database work so they
// are unit-tested with a simulated clock: a latency histogram, the tracker
// of the longest interval without a commit (the "write gap" clients see
// during a flip), and the pacer that spreads transactions at a total rate.
//
// Thread-safety: LatencyHistogram is not synchronized (one owner, or under
// the owner's lock); WriteGapTracker and Pacer are safe for concurrent use.
#pragma once

#include <cstdint>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cutover/common/clock.h"

namespace cutover::loadgen {

// Log-linear histogram of durations in microseconds (like HdrHistogram with
// two significant digits): exact below 128 us, then 64 buckets per power of
// two, so a reported percentile is within 1.6% of a recorded value. The
// maximum and the mean are exact.
class LatencyHistogram {
 public:
  void Record(absl::Duration d);
  void Merge(const LatencyHistogram& other);
  int64_t count() const { return count_; }
  // The smallest bucket bound with at least q of the samples at or below it
  // (q in [0, 1]), capped at the maximum; zero when empty.
  absl::Duration Percentile(double q) const;
  absl::Duration Max() const { return absl::Microseconds(max_us_); }
  absl::Duration Mean() const;

 private:
  static size_t Bucket(uint64_t us);
  static uint64_t BucketUpper(size_t bucket);
  std::vector<int64_t> buckets_;
  int64_t count_ = 0;
  uint64_t max_us_ = 0;
  double sum_us_ = 0;
};

// The longest interval between consecutive commits seen by any client,
// leaving out the periods in which the workload itself held its clients
// back (Suspend .. Resume): those say nothing about the database or router.
class WriteGapTracker {
 public:
  struct Gap {
    absl::Duration length = absl::ZeroDuration();
    absl::Time start = absl::InfinitePast();
    absl::Time end = absl::InfinitePast();
  };
  // Starts measuring at `t` (every client connected): the first gap runs
  // from here to the first commit.
  void Start(absl::Time t);
  // A commit acknowledged at `t`. Reports from several threads may arrive
  // slightly out of order; an earlier `t` than the latest one is no gap.
  void OnCommit(absl::Time t);
  // From `t` until Resume, no interval counts: the interval open at `t`
  // ends there, and the next one starts at Resume. Not nested.
  void Suspend(absl::Time t);
  void Resume(absl::Time t);
  // The longest gap so far, counting the one still open at `now`.
  Gap Longest(absl::Time now) const;
  // Total time between Suspend and Resume calls.
  absl::Duration Suspended() const;

 private:
  void Consider(absl::Time end) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  mutable absl::Mutex mu_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool suspended_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time last_ ABSL_GUARDED_BY(mu_);
  absl::Time suspended_at_ ABSL_GUARDED_BY(mu_);
  absl::Duration suspended_total_ ABSL_GUARDED_BY(mu_);
  Gap longest_ ABSL_GUARDED_BY(mu_);
};

// Spreads Acquire() calls from any number of threads at `rate` per second
// in total (a token bucket with a burst of one: a slot missed because the
// callers were busy is not made up later). rate <= 0: no pacing.
class Pacer {
 public:
  Pacer(Clock* clock, double rate);
  // Waits for the next slot. Returns false without waiting further once
  // Cancel() was called (a waiting thread notices within 50 ms).
  bool Acquire();
  void Cancel();

 private:
  Clock* const clock_;
  const absl::Duration interval_;
  absl::Mutex mu_;
  absl::Time next_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace cutover::loadgen
