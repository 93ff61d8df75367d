#include "cutover/copy/control.h"

namespace cutover::copy {

void CopyControl::Pause() {
  absl::MutexLock l(&mu_);
  paused_ = true;
}

void CopyControl::Resume() {
  absl::MutexLock l(&mu_);
  paused_ = false;
}

void CopyControl::Cancel(absl::Status reason) {
  absl::MutexLock l(&mu_);
  if (reason.ok()) reason = absl::CancelledError("copy cancelled");
  if (cancelled_.ok()) cancelled_ = std::move(reason);
}

bool CopyControl::paused() const {
  absl::MutexLock l(&mu_);
  return paused_;
}

absl::Status CopyControl::cancelled() const {
  absl::MutexLock l(&mu_);
  return cancelled_;
}

void CopyControl::SetMaxBytesPerSecond(int64_t limit) {
  absl::MutexLock l(&mu_);
  max_bps_ = limit < 0 ? 0 : limit;
  bucket_start_ = absl::InfinitePast();
  bucket_bytes_ = 0;
}

absl::Status CopyControl::Checkpoint() {
  absl::MutexLock l(&mu_);
  auto released = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !paused_ || !cancelled_.ok(); };
  mu_.Await(absl::Condition(&released));
  return cancelled_;
}

absl::Status CopyControl::Account(int64_t bytes) {
  RETURN_IF_ERROR(Checkpoint());
  absl::Duration wait = absl::ZeroDuration();
  {
    absl::MutexLock l(&mu_);
    if (max_bps_ == 0) return absl::OkStatus();
    const absl::Time now = clock_->Now();
    if (bucket_start_ == absl::InfinitePast() || now - bucket_start_ > absl::Seconds(5)) {
      bucket_start_ = now;
      bucket_bytes_ = 0;
    }
    bucket_bytes_ += bytes;
    const absl::Time allowed_at =
        bucket_start_ + absl::Seconds(static_cast<double>(bucket_bytes_) / static_cast<double>(max_bps_));
    if (allowed_at > now) wait = allowed_at - now;
  }
  if (wait > absl::ZeroDuration()) clock_->SleepFor(wait);
  return cancelled();
}

}  // namespace cutover::copy
