// Injected time. Logic that waits or measures takes a Clock so tests can use
// SimulatedClock and never sleep. Both implementations are safe for
// concurrent use from any thread.
#pragma once

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace cutover {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() = 0;
  // Blocks the calling thread for `d` of this clock's time.
  virtual void SleepFor(absl::Duration d) = 0;
  // The process-wide real clock.
  static Clock* Real();
};

class RealClock final : public Clock {
 public:
  absl::Time Now() override { return absl::Now(); }
  void SleepFor(absl::Duration d) override { absl::SleepFor(d); }
};

// Time moves only when Advance() is called; SleepFor blocks until enough
// simulated time has passed (another thread advances it).
class SimulatedClock final : public Clock {
 public:
  explicit SimulatedClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000)) : now_(start) {}
  absl::Time Now() override {
    absl::MutexLock l(&mu_);
    return now_;
  }
  void SleepFor(absl::Duration d) override {
    absl::MutexLock l(&mu_);
    struct Reached {
      const absl::Time* now;
      absl::Time until;
      bool Done() const { return *now >= until; }
    } reached{&now_, now_ + d};
    ++sleepers_;
    mu_.Await(absl::Condition(&reached, &Reached::Done));
    --sleepers_;
  }
  void Advance(absl::Duration d) {
    absl::MutexLock l(&mu_);
    now_ += d;
  }
  // Number of threads currently blocked in SleepFor (for tests that step time).
  int sleepers() {
    absl::MutexLock l(&mu_);
    return sleepers_;
  }

 private:
  absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
  int sleepers_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace cutover
