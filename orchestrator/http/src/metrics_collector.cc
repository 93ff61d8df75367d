#include "cutover/http/metrics_collector.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "cutover/common/proto_time.h"
#include "cutover/service/cutover_service.h"
#include "spdlog/spdlog.h"

#ifndef CUTOVER_VERSION
#define CUTOVER_VERSION "unknown"
#endif

namespace cutover::http {

namespace v1 = cutover::v1;
using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

const char* DaemonVersion() { return CUTOVER_VERSION; }

std::string PhaseLabel(v1::Phase phase) {
  return std::string(absl::StripPrefix(v1::Phase_Name(phase), "PHASE_"));
}

std::map<v1::Phase, double> PhaseDurations(const std::vector<v1::Transition>& timeline, v1::Phase current,
                                           absl::Time now) {
  std::map<v1::Phase, double> out;
  bool open = false;
  v1::Phase phase = v1::PHASE_UNSPECIFIED;
  absl::Time since;
  for (const v1::Transition& t : timeline) {
    const absl::Time at = FromProtoTime(t.at());
    if (open) out[phase] += std::max(0.0, absl::ToDoubleSeconds(at - since));
    // Operator requests are rows with from == to: the stretch goes on.
    phase = t.to();
    since = at;
    open = true;
    out.try_emplace(phase, 0.0);
  }
  if (open && phase == current && !service::IsTerminalPhase(current)) {
    out[phase] += std::max(0.0, absl::ToDoubleSeconds(now - since));
  }
  return out;
}

namespace {

double Seconds(const google::protobuf::Duration& d) { return absl::ToDoubleSeconds(FromProto(d)); }
double Unix(const google::protobuf::Timestamp& t) { return absl::ToDoubleSeconds(FromProtoTime(t) - absl::UnixEpoch()); }

// The families of one scrape, in a fixed order (help and type declared once).
class Families {
 public:
  void Declare(const std::string& name, MetricType type, const std::string& help) {
    index_[name] = families_.size();
    MetricFamily& f = families_.emplace_back();
    f.name = name;
    f.type = type;
    f.help = help;
  }
  void Add(const std::string& name, Labels labels, double value) {
    MetricFamily& f = families_.at(index_.at(name));
    ClientMetric& m = f.metric.emplace_back();
    m.label = std::move(labels);
    if (f.type == MetricType::Counter) {
      m.counter.value = value;
    } else {
      m.gauge.value = value;
    }
  }
  // Empty families are left out (a family with no series says nothing).
  std::vector<MetricFamily> Take() {
    std::vector<MetricFamily> out;
    for (MetricFamily& f : families_) {
      if (!f.metric.empty()) out.push_back(std::move(f));
    }
    return out;
  }

 private:
  std::vector<MetricFamily> families_;
  std::map<std::string, size_t> index_;
};

void DeclareAll(Families& f) {
  using T = MetricType;
  f.Declare("cutover_daemon_info", T::Gauge, "This cutoverd: identity and version (always 1).");
  f.Declare("cutover_daemon_workers", T::Gauge, "Cutovers this daemon drives (holds the lease and runs a worker for).");
  f.Declare("cutover_metrics_collect_errors_total", T::Counter,
            "Control store reads that failed while collecting metrics (the scrape still succeeds).");
  f.Declare("cutover_phase", T::Gauge, "1 for the cutover's current phase, 0 for every other phase (state set).");
  f.Declare("cutover_phase_entered_timestamp_seconds", T::Gauge, "Unix time the current phase began.");
  f.Declare("cutover_phase_duration_seconds", T::Gauge,
            "Seconds spent in each phase so far, from the timeline (the current phase counts up).");
  f.Declare("cutover_copy_rows_total", T::Counter, "Rows copied from blue to green, per table.");
  f.Declare("cutover_copy_bytes_total", T::Counter, "Bytes of COPY stream moved from blue to green, per table.");
  f.Declare("cutover_copy_rows_estimated", T::Gauge, "Planner estimate of the table's rows on blue at the snapshot.");
  f.Declare("cutover_copy_bytes_estimated", T::Gauge, "Estimate of the table's bytes on blue at the snapshot.");
  f.Declare("cutover_copy_bytes_per_second", T::Gauge, "Current copy rate in bytes per second.");
  f.Declare("cutover_copy_rows_per_second", T::Gauge, "Current copy rate in rows per second.");
  f.Declare("cutover_copy_tables", T::Gauge, "Tables of the copy per table state.");
  f.Declare("cutover_replay_backlog_events", T::Gauge,
            "Events captured but not applied yet: capturing side's outbox plus queued events.");
  // Known limit: events already relayed to the queue are not aged (only the
  // outbox is), so a replayer stuck behind a queued backlog shows in the
  // backlog and the replay rate, not here.
  f.Declare("cutover_replay_oldest_event_age_seconds", T::Gauge,
            "Age of the oldest event still in the capturing side's outbox (queued events are not aged).");
  f.Declare("cutover_relay_backlog_events", T::Gauge, "Rows still in the capturing side's outbox (not yet relayed).");
  f.Declare("cutover_relay_lag_seconds", T::Gauge, "Age of the oldest row in the capturing side's outbox.");
  f.Declare("cutover_captured_events_total", T::Counter, "Events that reached the queue.");
  f.Declare("cutover_replay_events_total", T::Counter, "Events replayed onto the target, by result.");
  f.Declare("cutover_replay_events_per_second", T::Gauge, "Current replay rate in events per second.");
  f.Declare("cutover_replay_dead_letters", T::Gauge, "Events that could not be applied (they block the flip).");
  f.Declare("cutover_flip_write_gap_seconds", T::Gauge, "Write gap of the last flip (router paused to resumed).");
  f.Declare("cutover_flip_pause_seconds", T::Gauge, "How long the router was paused during the last flip.");
  f.Declare("cutover_flip_attempts_total", T::Counter, "Flip attempts.");
  f.Declare("cutover_flip_failures_total", T::Counter, "Flip attempts that did not succeed (undone).");
  f.Declare("cutover_flip_succeeded", T::Gauge, "1 once the flip succeeded.");
  f.Declare("cutover_accepted_loss_rows", T::Gauge,
            "Writes on blue after the snapshot that green does not have (not revocations; upper bound).");
  f.Declare("cutover_approved", T::Gauge, "1 when the flip is approved.");
  f.Declare("cutover_flip_blockers", T::Gauge, "Guardrails refusing the flip right now.");
  f.Declare("cutover_lease_expires_timestamp_seconds", T::Gauge, "Unix time the orchestration lease expires.");
  f.Declare("cutover_lease_held", T::Gauge, "1 when this daemon holds the cutover's lease and runs its worker.");
  f.Declare("cutover_lease_holder_info", T::Gauge, "The lease holder's identity (always 1).");
}

constexpr v1::TableState kTableStates[] = {v1::TABLE_STATE_PENDING, v1::TABLE_STATE_COPYING,
                                           v1::TABLE_STATE_COPIED,  v1::TABLE_STATE_INDEXING,
                                           v1::TABLE_STATE_DONE,    v1::TABLE_STATE_FAILED};

void AddReplay(Families& f, const std::string& id, const char* direction, const v1::ReplayStats& s) {
  auto l = [&](Labels extra = {}) {
    Labels out{{"cutover", id}, {"direction", direction}};
    out.insert(out.end(), extra.begin(), extra.end());
    return out;
  };
  f.Add("cutover_replay_backlog_events", l(), static_cast<double>(s.backlog()));
  f.Add("cutover_replay_oldest_event_age_seconds", l(), Seconds(s.oldest_event_age()));
  f.Add("cutover_relay_backlog_events", l(), static_cast<double>(s.relay_backlog()));
  f.Add("cutover_relay_lag_seconds", l(), Seconds(s.relay_lag()));
  f.Add("cutover_captured_events_total", l(), static_cast<double>(s.captured()));
  f.Add("cutover_replay_events_total", l({{"result", "applied"}}), static_cast<double>(s.applied()));
  f.Add("cutover_replay_events_total", l({{"result", "noop"}}), static_cast<double>(s.noops()));
  f.Add("cutover_replay_events_total", l({{"result", "duplicate"}}), static_cast<double>(s.duplicates()));
  f.Add("cutover_replay_events_per_second", l(), s.events_per_second());
  f.Add("cutover_replay_dead_letters", l(), static_cast<double>(s.dead_letters()));
}

// Failed attempts of the flip that runs in `flipping` (FLIPPING forward,
// ROLLING_BACK for the rollback): transitions out of it to anything but its
// success phase (`done`: DRAINING / ROLLED_BACK), i.e. undone (back to READY,
// or to DRAINING/COMPLETED for a rollback) or FAILED. Counted on the timeline,
// which only grows, so the counter never goes down — also when a FAILED flip
// is resumed and then finishes (deriving it from `attempts` and the phase
// stepped back then). Restarts inside the flip write no transition.
int FailedAttempts(const std::vector<v1::Transition>& timeline, v1::Phase flipping, v1::Phase done) {
  int n = 0;
  for (const v1::Transition& t : timeline) {
    if (t.from() == flipping && t.to() != flipping && t.to() != done) ++n;
  }
  return n;
}

// `timeline` may be null (not readable this scrape): the failures counter is
// then left out rather than guessed.
void AddFlip(Families& f, const std::string& id, const char* direction, const v1::FlipResult& r,
             const std::vector<v1::Transition>* timeline, v1::Phase flipping, v1::Phase done) {
  const Labels l{{"cutover", id}, {"direction", direction}};
  // The gap and pause exist once an attempt paused the router.
  if (r.has_write_gap()) f.Add("cutover_flip_write_gap_seconds", l, Seconds(r.write_gap()));
  if (r.has_pause_duration()) f.Add("cutover_flip_pause_seconds", l, Seconds(r.pause_duration()));
  f.Add("cutover_flip_attempts_total", l, r.attempts());
  if (timeline != nullptr) f.Add("cutover_flip_failures_total", l, FailedAttempts(*timeline, flipping, done));
  f.Add("cutover_flip_succeeded", l, r.succeeded() ? 1 : 0);
}

void AddCutover(Families& f, const v1::Cutover& c, const std::vector<v1::Transition>* timeline, bool held,
                absl::Time now) {
  const std::string& id = c.id();
  const Labels l{{"cutover", id}};
  auto with = [&](const char* name, const std::string& value) {
    Labels out = l;
    out.push_back({name, value});
    return out;
  };
  for (int p = v1::Phase_MIN; p <= v1::Phase_MAX; ++p) {
    if (p == v1::PHASE_UNSPECIFIED || !v1::Phase_IsValid(p)) continue;
    f.Add("cutover_phase", with("phase", PhaseLabel(static_cast<v1::Phase>(p))), c.phase() == p ? 1 : 0);
  }
  if (c.has_phase_entered_at()) f.Add("cutover_phase_entered_timestamp_seconds", l, Unix(c.phase_entered_at()));
  if (timeline != nullptr) {
    for (const auto& [phase, seconds] : PhaseDurations(*timeline, c.phase(), now)) {
      if (phase == v1::PHASE_UNSPECIFIED) continue;
      f.Add("cutover_phase_duration_seconds", with("phase", PhaseLabel(phase)), seconds);
    }
  }

  const v1::CopyProgress& cp = c.copy();
  std::map<v1::TableState, int> states;
  for (const v1::TableProgress& t : cp.tables()) {
    const Labels tl = with("table", t.table());
    f.Add("cutover_copy_rows_total", tl, static_cast<double>(t.rows_copied()));
    f.Add("cutover_copy_bytes_total", tl, static_cast<double>(t.bytes_copied()));
    f.Add("cutover_copy_rows_estimated", tl, static_cast<double>(t.rows_estimated()));
    f.Add("cutover_copy_bytes_estimated", tl, static_cast<double>(t.bytes_estimated()));
    ++states[t.state()];
  }
  f.Add("cutover_copy_bytes_per_second", l, cp.bytes_per_second());
  f.Add("cutover_copy_rows_per_second", l, cp.rows_per_second());
  for (v1::TableState s : kTableStates) {
    f.Add("cutover_copy_tables", with("state", std::string(absl::StripPrefix(v1::TableState_Name(s), "TABLE_STATE_"))),
          states[s]);
  }

  AddReplay(f, id, "forward", c.replay());
  if (c.has_rollback_replay()) AddReplay(f, id, "rollback", c.rollback_replay());
  AddFlip(f, id, "forward", c.flip(), timeline, v1::PHASE_FLIPPING, v1::PHASE_DRAINING);
  if (c.has_rollback()) {
    AddFlip(f, id, "rollback", c.rollback(), timeline, v1::PHASE_ROLLING_BACK, v1::PHASE_ROLLED_BACK);
  }

  for (const v1::AcceptedLoss& a : c.accepted_losses()) {
    const std::pair<const char*, int64_t> kinds[] = {
        {"insert", a.inserts()}, {"update", a.updates()}, {"delete", a.deletes()}};
    for (const auto& [kind, n] : kinds) {
      Labels al = with("table", a.table());
      al.push_back({"kind", kind});
      f.Add("cutover_accepted_loss_rows", al, static_cast<double>(n));
    }
  }
  f.Add("cutover_approved", l, c.approved() ? 1 : 0);
  f.Add("cutover_flip_blockers", l, c.flip_blockers_size());
  if (c.has_lease_expires_at()) f.Add("cutover_lease_expires_timestamp_seconds", l, Unix(c.lease_expires_at()));
  f.Add("cutover_lease_held", l, held ? 1 : 0);
  if (!c.lease_holder().empty()) f.Add("cutover_lease_holder_info", with("holder", c.lease_holder()), 1);
}

}  // namespace

MetricsCollector::MetricsCollector(engine::CutoverApi* api, std::function<std::vector<std::string>()> driving,
                                   Clock* clock, CollectorOptions options)
    : api_(api), driving_(std::move(driving)), clock_(clock), options_(std::move(options)) {}

std::vector<v1::Cutover> MetricsCollector::Select(std::vector<v1::Cutover> all, absl::Time now,
                                                  const CollectorOptions& options) {
  std::vector<v1::Cutover> keep;
  for (v1::Cutover& c : all) {
    if (service::IsTerminalPhase(c.phase()) && now - FromProtoTime(c.updated_at()) > options.terminal_retention) {
      continue;
    }
    keep.push_back(std::move(c));
  }
  // Over the cap: non-terminal first, then the most recently updated.
  std::stable_sort(keep.begin(), keep.end(), [](const v1::Cutover& a, const v1::Cutover& b) {
    const bool ta = service::IsTerminalPhase(a.phase()), tb = service::IsTerminalPhase(b.phase());
    if (ta != tb) return !ta;
    return FromProtoTime(a.updated_at()) > FromProtoTime(b.updated_at());
  });
  if (static_cast<int>(keep.size()) > options.max_cutovers) keep.resize(std::max(0, options.max_cutovers));
  return keep;
}

std::vector<MetricFamily> MetricsCollector::Collect() const {
  Families f;
  DeclareAll(f);
  const absl::Time now = clock_->Now();
  const std::vector<std::string> driving = driving_ ? driving_() : std::vector<std::string>{};
  const std::set<std::string> held(driving.begin(), driving.end());

  absl::StatusOr<std::vector<v1::Cutover>> all = api_->List({});
  if (!all.ok()) {
    collect_errors_.fetch_add(1);
    spdlog::warn("metrics: listing cutovers: {}", all.status().ToString());
  } else {
    for (const v1::Cutover& c : Select(*std::move(all), now, options_)) {
      absl::StatusOr<std::vector<v1::Transition>> timeline = api_->ListTransitions(c.id(), 0);
      if (!timeline.ok()) {
        collect_errors_.fetch_add(1);
        spdlog::warn("metrics: timeline of cutover {}: {}", c.id(), timeline.status().ToString());
      }
      AddCutover(f, c, timeline.ok() ? &*timeline : nullptr, held.contains(c.id()), now);
    }
  }
  f.Add("cutover_daemon_info",
        {{"identity", options_.identity}, {"version", options_.version.empty() ? DaemonVersion() : options_.version}},
        1);
  f.Add("cutover_daemon_workers", {}, static_cast<double>(driving.size()));
  f.Add("cutover_metrics_collect_errors_total", {}, static_cast<double>(collect_errors_.load()));
  return f.Take();
}

}  // namespace cutover::http
