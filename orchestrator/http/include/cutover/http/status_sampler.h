// The status page's history: a thread that samples every cutover once per
// interval (1 s) into a per-cutover ring buffer of StatusPoints (the last
// 3600), served as GET /api/v1/cutovers/<id>/series. A cutover is sampled
// while it is not terminal, plus one last point once it is; cutovers gone
// from the store or terminal for longer than the retention are forgotten.
// Timestamps come from the injected Clock, so tests call SampleOnce() with a
// SimulatedClock instead of running the thread.
// Thread-safe: Series() from any thread while the sampling thread runs;
// Stop() (and the destructor) block until the thread has stopped.
#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "cutover/common/clock.h"
#include "cutover/engine/api.h"
#include "cutover/v1/status.pb.h"

namespace cutover::http {

struct SamplerOptions {
  absl::Duration interval = absl::Seconds(1);
  size_t capacity = 3600;
  absl::Duration terminal_retention = absl::Hours(24);
  // At most this many cutovers keep a series (non-terminal first, then the
  // most recently updated), like the metrics: memory stays bounded (about
  // 0.5 MB per full series) however many cutovers the store holds.
  size_t max_cutovers = 50;
};

// The point of a cutover's current state, stamped `at`.
cutover::v1::StatusPoint PointOf(const cutover::v1::Cutover& c, absl::Time at);

class StatusSampler {
 public:
  // `api` and `clock` must outlive the sampler.
  StatusSampler(engine::CutoverApi* api, Clock* clock, SamplerOptions options = {});
  ~StatusSampler();
  StatusSampler(const StatusSampler&) = delete;
  StatusSampler& operator=(const StatusSampler&) = delete;

  // Starts the sampling thread (once).
  void Start();
  void Stop();
  // One sampling round; returns the store error, if any (nothing is changed then).
  absl::Status SampleOnce();
  // The points of a cutover, oldest first (empty series when none yet).
  cutover::v1::StatusSeries Series(absl::string_view id) const;

 private:
  void Loop();

  engine::CutoverApi* const api_;
  Clock* const clock_;
  const SamplerOptions options_;

  mutable absl::Mutex mu_;
  std::map<std::string, std::deque<cutover::v1::StatusPoint>> series_ ABSL_GUARDED_BY(mu_);

  absl::Mutex thread_mu_;
  std::thread thread_ ABSL_GUARDED_BY(thread_mu_);
  absl::Notification stop_;
};

}  // namespace cutover::http
