#include "cutover/loadgen/stats.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace cutover::loadgen {
namespace {

// 2^kSubBits values are exact; above, each power of two has 2^(kSubBits-1)
// buckets.
constexpr int kSubBits = 7;
constexpr uint64_t kExact = uint64_t{1} << kSubBits;  // 128
constexpr uint64_t kHalf = kExact / 2;                // 64

}  // namespace

size_t LatencyHistogram::Bucket(uint64_t us) {
  if (us < kExact) {
    return static_cast<size_t>(us);
  }
  const int msb = 63 - std::countl_zero(us);
  const int shift = msb - (kSubBits - 1);
  return static_cast<size_t>(shift) * kHalf + static_cast<size_t>(us >> shift);
}

uint64_t LatencyHistogram::BucketUpper(size_t bucket) {
  if (bucket < kExact) {
    return bucket;
  }
  const uint64_t shift = bucket / kHalf - 1;
  const uint64_t mantissa = bucket - shift * kHalf;  // in [64, 128)
  return ((mantissa + 1) << shift) - 1;
}

void LatencyHistogram::Record(absl::Duration d) {
  const uint64_t us = static_cast<uint64_t>(std::max<int64_t>(0, absl::ToInt64Microseconds(d)));
  const size_t b = Bucket(us);
  if (buckets_.size() <= b) {
    buckets_.resize(b + 1, 0);
  }
  ++buckets_[b];
  ++count_;
  max_us_ = std::max(max_us_, us);
  sum_us_ += static_cast<double>(us);
}

void LatencyHistogram::Merge(const LatencyHistogram& other) {
  if (buckets_.size() < other.buckets_.size()) {
    buckets_.resize(other.buckets_.size(), 0);
  }
  for (size_t i = 0; i < other.buckets_.size(); ++i) {
    buckets_[i] += other.buckets_[i];
  }
  count_ += other.count_;
  max_us_ = std::max(max_us_, other.max_us_);
  sum_us_ += other.sum_us_;
}

absl::Duration LatencyHistogram::Percentile(double q) const {
  if (count_ == 0) {
    return absl::ZeroDuration();
  }
  q = std::clamp(q, 0.0, 1.0);
  const int64_t rank = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(q * static_cast<double>(count_))));
  int64_t seen = 0;
  for (size_t b = 0; b < buckets_.size(); ++b) {
    seen += buckets_[b];
    if (seen >= rank) {
      return absl::Microseconds(static_cast<int64_t>(std::min(BucketUpper(b), max_us_)));
    }
  }
  return Max();
}

absl::Duration LatencyHistogram::Mean() const {
  return count_ == 0 ? absl::ZeroDuration() : absl::Microseconds(sum_us_ / static_cast<double>(count_));
}

void WriteGapTracker::Start(absl::Time t) {
  absl::MutexLock l(&mu_);
  started_ = true;
  last_ = t;
  longest_ = Gap{absl::ZeroDuration(), t, t};
}

void WriteGapTracker::Consider(absl::Time end) {
  if (end > last_ && end - last_ > longest_.length) {
    longest_ = Gap{end - last_, last_, end};
  }
}

void WriteGapTracker::OnCommit(absl::Time t) {
  absl::MutexLock l(&mu_);
  if (!started_ || t <= last_) {
    return;
  }
  if (!suspended_) {
    Consider(t);
  }
  last_ = t;
}

void WriteGapTracker::Suspend(absl::Time t) {
  absl::MutexLock l(&mu_);
  if (!started_ || suspended_) {
    return;
  }
  Consider(t);
  suspended_ = true;
  suspended_at_ = t;
}

void WriteGapTracker::Resume(absl::Time t) {
  absl::MutexLock l(&mu_);
  if (!suspended_) {
    return;
  }
  suspended_ = false;
  if (t > suspended_at_) {
    suspended_total_ += t - suspended_at_;
  }
  last_ = std::max(last_, t);
}

WriteGapTracker::Gap WriteGapTracker::Longest(absl::Time now) const {
  absl::MutexLock l(&mu_);
  const absl::Time end = suspended_ ? suspended_at_ : now;
  if (started_ && end > last_ && end - last_ > longest_.length) {
    return Gap{end - last_, last_, end};
  }
  return longest_;
}

absl::Duration WriteGapTracker::Suspended() const {
  absl::MutexLock l(&mu_);
  return suspended_total_;
}

Pacer::Pacer(Clock* clock, double rate)
    : clock_(clock), interval_(rate > 0 ? absl::Seconds(1.0 / rate) : absl::ZeroDuration()) {}

bool Pacer::Acquire() {
  absl::Time slot;
  {
    absl::MutexLock l(&mu_);
    if (cancelled_) {
      return false;
    }
    if (interval_ == absl::ZeroDuration()) {
      return true;
    }
    slot = std::max(next_, clock_->Now());
    next_ = slot + interval_;
  }
  // Sleep in short steps so Cancel() is noticed quickly even at low rates.
  while (true) {
    const absl::Duration left = slot - clock_->Now();
    if (left <= absl::ZeroDuration()) {
      return true;
    }
    {
      absl::MutexLock l(&mu_);
      if (cancelled_) {
        return false;
      }
    }
    clock_->SleepFor(std::min(left, absl::Milliseconds(50)));
  }
}

void Pacer::Cancel() {
  absl::MutexLock l(&mu_);
  cancelled_ = true;
}

}  // namespace cutover::loadgen
