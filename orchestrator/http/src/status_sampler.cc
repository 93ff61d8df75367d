#include "cutover/http/status_sampler.h"

#include <algorithm>
#include <set>
#include <utility>
#include <vector>

#include "cutover/common/proto_time.h"
#include "cutover/service/cutover_service.h"
#include "spdlog/spdlog.h"

namespace cutover::http {

namespace v1 = cutover::v1;

v1::StatusPoint PointOf(const v1::Cutover& c, absl::Time at) {
  v1::StatusPoint p;
  *p.mutable_at() = ToProtoTime(at);
  p.set_phase(c.phase());
  p.set_rows_copied(c.copy().rows_copied());
  p.set_bytes_copied(c.copy().bytes_copied());
  p.set_copy_bytes_per_second(c.copy().bytes_per_second());
  p.set_backlog(c.replay().backlog());
  p.set_replay_events_per_second(c.replay().events_per_second());
  p.set_applied(c.replay().applied());
  p.set_dead_letters(c.replay().dead_letters());
  p.set_oldest_event_age_seconds(absl::ToDoubleSeconds(FromProto(c.replay().oldest_event_age())));
  p.set_rollback_backlog(c.rollback_replay().backlog());
  return p;
}

StatusSampler::StatusSampler(engine::CutoverApi* api, Clock* clock, SamplerOptions options)
    : api_(api), clock_(clock), options_(options) {}

StatusSampler::~StatusSampler() { Stop(); }

void StatusSampler::Start() {
  absl::MutexLock l(&thread_mu_);
  if (thread_.joinable() || stop_.HasBeenNotified()) return;
  thread_ = std::thread([this] { Loop(); });
}

void StatusSampler::Stop() {
  absl::MutexLock l(&thread_mu_);
  if (!stop_.HasBeenNotified()) stop_.Notify();
  if (thread_.joinable()) thread_.join();
}

void StatusSampler::Loop() {
  // The wait is in real time (it only paces the loop); the points carry the
  // injected clock's time.
  do {
    if (absl::Status st = SampleOnce(); !st.ok()) spdlog::debug("status sampler: {}", st.ToString());
  } while (!stop_.WaitForNotificationWithTimeout(options_.interval));
}

absl::Status StatusSampler::SampleOnce() {
  absl::StatusOr<std::vector<v1::Cutover>> all = api_->List({});
  if (!all.ok()) return all.status();
  const absl::Time now = clock_->Now();
  std::vector<const v1::Cutover*> kept;
  for (const v1::Cutover& c : *all) {
    const bool terminal = service::IsTerminalPhase(c.phase());
    if (terminal && now - FromProtoTime(c.updated_at()) > options_.terminal_retention) continue;
    kept.push_back(&c);
  }
  // Non-terminal first, then the most recently updated; the rest get none.
  std::stable_sort(kept.begin(), kept.end(), [](const v1::Cutover* a, const v1::Cutover* b) {
    const bool ta = service::IsTerminalPhase(a->phase()), tb = service::IsTerminalPhase(b->phase());
    if (ta != tb) return !ta;
    return FromProtoTime(a->updated_at()) > FromProtoTime(b->updated_at());
  });
  if (kept.size() > options_.max_cutovers) kept.resize(options_.max_cutovers);
  absl::MutexLock l(&mu_);
  std::set<std::string> seen;
  for (const v1::Cutover* cp : kept) {
    const v1::Cutover& c = *cp;
    const bool terminal = service::IsTerminalPhase(c.phase());
    seen.insert(c.id());
    std::deque<v1::StatusPoint>& points = series_[c.id()];
    // A terminal cutover gets one last point, then its series stays as is.
    if (terminal && !points.empty() && service::IsTerminalPhase(points.back().phase())) continue;
    points.push_back(PointOf(c, now));
    while (points.size() > options_.capacity) points.pop_front();
  }
  for (auto it = series_.begin(); it != series_.end();) {
    it = seen.contains(it->first) ? std::next(it) : series_.erase(it);
  }
  return absl::OkStatus();
}

v1::StatusSeries StatusSampler::Series(absl::string_view id) const {
  v1::StatusSeries s;
  s.set_cutover_id(std::string(id));
  absl::MutexLock l(&mu_);
  auto it = series_.find(std::string(id));
  if (it == series_.end()) return s;
  for (const v1::StatusPoint& p : it->second) *s.add_points() = p;
  return s;
}

}  // namespace cutover::http
