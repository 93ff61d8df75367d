// Prometheus metrics of cutoverd's cutovers (docs/metrics.md). On every
// scrape, Collect() reads the cutovers through engine::CutoverApi (List +
// ListTransitions) and builds the cutover_* families; nothing is cached, so a
// scrape always shows the stored state. Cardinality is bounded: the cutovers
// exported are the non-terminal ones plus terminal ones updated in the last
// 24 h, at most 50. A store read failure counts in
// cutover_metrics_collect_errors_total and drops only the per-cutover
// families: the scrape itself never fails.
// Thread-safe: Collect() may run on several HTTP threads at once.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "cutover/common/clock.h"
#include "cutover/engine/api.h"
#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace cutover::http {

struct CollectorOptions {
  // cutover_daemon_info{identity,version}.
  std::string identity = "cutoverd";
  std::string version;  // empty = the build's version (DaemonVersion())
  // Terminal cutovers stay exported this long after their last update.
  absl::Duration terminal_retention = absl::Hours(24);
  int max_cutovers = 50;
};

// The project version compiled in ("0.1.0").
const char* DaemonVersion();

// "COPYING" from PHASE_COPYING (the label value of every phase label).
std::string PhaseLabel(cutover::v1::Phase phase);

class MetricsCollector final : public prometheus::Collectable {
 public:
  // `driving` returns the ids of the cutovers this daemon drives (holds the
  // lease for): engine::Orchestrator::Driving. `api` and `clock` must outlive
  // the collector; `driving` is called from scrape threads.
  MetricsCollector(engine::CutoverApi* api, std::function<std::vector<std::string>()> driving, Clock* clock,
                   CollectorOptions options = {});

  std::vector<prometheus::MetricFamily> Collect() const override;

  // The cutovers a scrape exports, in export order (tests and the sampler).
  static std::vector<cutover::v1::Cutover> Select(std::vector<cutover::v1::Cutover> all, absl::Time now,
                                                  const CollectorOptions& options);

 private:
  engine::CutoverApi* const api_;
  const std::function<std::vector<std::string>()> driving_;
  Clock* const clock_;
  const CollectorOptions options_;
  mutable std::atomic<int64_t> collect_errors_{0};
};

// Seconds spent in each phase from a timeline (rows in seq order): every row
// starts a stretch of its `to` phase at its `at`; the stretch of the current
// phase runs until `now`, except terminal phases, which have no duration.
// Keys are phases; phases never entered are absent.
std::map<cutover::v1::Phase, double> PhaseDurations(const std::vector<cutover::v1::Transition>& timeline,
                                                    cutover::v1::Phase current, absl::Time now);

}  // namespace cutover::http
