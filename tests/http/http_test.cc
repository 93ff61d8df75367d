// cutoverd's HTTP module over a fake CutoverApi: the metrics collector
// (names, labels, values, phase state set, durations from the timeline with
// an injected clock, the 24 h / 50 cutover bounds, collect errors, no
// secrets), the status sampler's ring buffer (SimulatedClock, no sleeping),
// and every route on a real civetweb server bound to port 0, spoken to over a
// raw socket.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "cutover/common/clock.h"
#include "cutover/common/proto_time.h"
#include "cutover/http/assets.h"
#include "cutover/http/http_api.h"
#include "cutover/http/http_server.h"
#include "cutover/http/metrics_collector.h"
#include "cutover/http/status_sampler.h"
#include "http_client.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cutover::http {
namespace {

namespace v1 = cutover::v1;
using ::testing::HasSubstr;
using ::testing::Not;
using ::cutover::testing::Fetch;
using ::cutover::testing::Reply;

const absl::Time kT0 = absl::FromUnixSeconds(1'700'000'000);

// Cutovers and timelines as the test sets them; List can be made to fail.
class StaticApi final : public engine::CutoverApi {
 public:
  void Put(const v1::Cutover& c, std::vector<v1::Transition> timeline = {}) {
    absl::MutexLock l(&mu_);
    cutovers_[c.id()] = c;
    timelines_[c.id()] = std::move(timeline);
  }
  void Remove(const std::string& id) {
    absl::MutexLock l(&mu_);
    cutovers_.erase(id);
  }
  void FailListForTest(bool fail) {
    absl::MutexLock l(&mu_);
    fail_list_ = fail;
  }

  absl::StatusOr<std::vector<v1::Cutover>> List(const std::vector<v1::Phase>&) override {
    absl::MutexLock l(&mu_);
    if (fail_list_) return absl::UnavailableError("control store unreachable");
    std::vector<v1::Cutover> out;
    for (const auto& [id, c] : cutovers_) out.push_back(c);
    return out;
  }
  absl::StatusOr<engine::CutoverView> Get(absl::string_view id) override {
    absl::MutexLock l(&mu_);
    auto it = cutovers_.find(std::string(id));
    if (it == cutovers_.end()) return absl::NotFoundError(absl::StrCat("cutover '", id, "' does not exist"));
    return engine::CutoverView{it->second, 1};
  }
  absl::StatusOr<std::vector<v1::Transition>> ListTransitions(absl::string_view id, int64_t after_seq) override {
    absl::MutexLock l(&mu_);
    auto it = timelines_.find(std::string(id));
    if (it == timelines_.end()) return absl::NotFoundError(absl::StrCat("cutover '", id, "' does not exist"));
    std::vector<v1::Transition> out;
    for (const auto& t : it->second) {
      if (t.seq() > after_seq) out.push_back(t);
    }
    return out;
  }
  // Not used by the HTTP module: it only reads.
  absl::StatusOr<v1::ValidationResult> ValidatePlan(const v1::Plan&) override { return Unused(); }
  absl::StatusOr<v1::Cutover> CreatePlan(const v1::Plan&, const engine::Caller&) override { return Unused(); }
  absl::StatusOr<v1::Cutover> Start(absl::string_view, const engine::Caller&) override { return Unused(); }
  absl::StatusOr<v1::Cutover> Pause(absl::string_view, absl::string_view, const engine::Caller&) override {
    return Unused();
  }
  absl::StatusOr<v1::Cutover> Resume(absl::string_view, absl::string_view, const engine::Caller&) override {
    return Unused();
  }
  absl::StatusOr<v1::Cutover> Approve(absl::string_view, absl::string_view, const engine::Caller&) override {
    return Unused();
  }
  absl::StatusOr<v1::Cutover> Abort(absl::string_view, absl::string_view, const engine::Caller&) override {
    return Unused();
  }
  absl::StatusOr<v1::Cutover> Rollback(absl::string_view, absl::string_view, const engine::Caller&) override {
    return Unused();
  }
  absl::StatusOr<v1::Report> GetReport(absl::string_view) override { return Unused(); }
  absl::StatusOr<int64_t> WaitForChange(absl::string_view, int64_t, absl::Time) override { return Unused(); }

 private:
  static absl::Status Unused() { return absl::UnimplementedError("not used by the HTTP module"); }
  absl::Mutex mu_;
  std::map<std::string, v1::Cutover> cutovers_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::vector<v1::Transition>> timelines_ ABSL_GUARDED_BY(mu_);
  bool fail_list_ ABSL_GUARDED_BY(mu_) = false;
};

v1::Transition Row(int64_t seq, absl::Time at, v1::Phase from, v1::Phase to, const std::string& action = "phase") {
  v1::Transition t;
  t.set_seq(seq);
  *t.mutable_at() = ToProtoTime(at);
  t.set_from(from);
  t.set_to(to);
  t.set_action(action);
  return t;
}

// A cutover in COPYING with two tables, streams, a failed flip attempt, a
// lease and secrets in its plan.
v1::Cutover Copying(const std::string& id) {
  v1::Cutover c;
  c.set_id(id);
  c.set_phase(v1::PHASE_COPYING);
  c.mutable_plan()->set_name("hydra-upgrade");
  c.mutable_plan()->mutable_blue()->set_dsn("host=blue user=hydra password=blue-s3cret dbname=hydra");
  c.mutable_plan()->mutable_green()->set_dsn("postgresql://hydra:green-s3cret@green/hydra");
  *c.mutable_updated_at() = ToProtoTime(kT0);
  *c.mutable_phase_entered_at() = ToProtoTime(kT0 - absl::Seconds(30));
  auto* t1 = c.mutable_copy()->add_tables();
  t1->set_table("public.hydra_oauth2_access");
  t1->set_state(v1::TABLE_STATE_COPYING);
  t1->set_rows_copied(1200);
  t1->set_bytes_copied(64000);
  t1->set_rows_estimated(5000);
  t1->set_bytes_estimated(256000);
  auto* t2 = c.mutable_copy()->add_tables();
  t2->set_table("public.hydra_client");
  t2->set_state(v1::TABLE_STATE_DONE);
  t2->set_rows_copied(10);
  c.mutable_copy()->set_rows_copied(1210);
  c.mutable_copy()->set_bytes_copied(64000);
  c.mutable_copy()->set_bytes_per_second(2048.5);
  c.mutable_copy()->set_rows_per_second(40);
  v1::ReplayStats* r = c.mutable_replay();
  r->set_backlog(17);
  *r->mutable_oldest_event_age() = ToProto(absl::Milliseconds(2500));
  r->set_relay_backlog(5);
  *r->mutable_relay_lag() = ToProto(absl::Milliseconds(1500));
  r->set_captured(100);
  r->set_applied(80);
  r->set_noops(2);
  r->set_duplicates(1);
  r->set_events_per_second(12.5);
  r->set_dead_letters(3);
  c.mutable_flip()->set_attempts(1);
  c.add_flip_blockers("backlog 17 > 10");
  c.add_flip_blockers("dead letters");
  c.set_lease_holder("cutoverd@a:1");
  *c.mutable_lease_expires_at() = ToProtoTime(kT0 + absl::Seconds(10));
  return c;
}

v1::Cutover Terminal(const std::string& id, v1::Phase phase, absl::Time updated) {
  v1::Cutover c;
  c.set_id(id);
  c.set_phase(phase);
  *c.mutable_updated_at() = ToProtoTime(updated);
  return c;
}

// One sample: the value of `name` whose labels include all of `labels`;
// how many such samples exist in `count`.
struct Found {
  int count = 0;
  double value = 0;
};
Found Sample(const std::vector<prometheus::MetricFamily>& families, const std::string& name,
             const std::map<std::string, std::string>& labels = {}) {
  Found f;
  for (const auto& fam : families) {
    if (fam.name != name) continue;
    for (const auto& m : fam.metric) {
      bool match = true;
      for (const auto& [k, v] : labels) {
        bool has = false;
        for (const auto& l : m.label) has |= (l.name == k && l.value == v);
        match &= has;
      }
      if (!match) continue;
      ++f.count;
      f.value = fam.type == prometheus::MetricType::Counter ? m.counter.value : m.gauge.value;
    }
  }
  return f;
}
double Value(const std::vector<prometheus::MetricFamily>& families, const std::string& name,
             const std::map<std::string, std::string>& labels = {}) {
  Found f = Sample(families, name, labels);
  EXPECT_EQ(f.count, 1) << name;
  return f.value;
}
const prometheus::MetricFamily* Family(const std::vector<prometheus::MetricFamily>& families,
                                       const std::string& name) {
  for (const auto& f : families) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

TEST(PhaseDurations, SumsStretchesAndTheCurrentPhaseCountsUp) {
  const std::vector<v1::Transition> tl = {
      Row(1, kT0, v1::PHASE_UNSPECIFIED, v1::PHASE_PLANNED, "create"),
      Row(2, kT0 + absl::Seconds(10), v1::PHASE_PLANNED, v1::PHASE_CAPTURING),
      Row(3, kT0 + absl::Seconds(13), v1::PHASE_CAPTURING, v1::PHASE_COPYING),
      // An operator request inside COPYING does not split the stretch.
      Row(4, kT0 + absl::Seconds(20), v1::PHASE_COPYING, v1::PHASE_COPYING, "request:pause"),
      Row(5, kT0 + absl::Seconds(21), v1::PHASE_COPYING, v1::PHASE_PAUSED),
      Row(6, kT0 + absl::Seconds(31), v1::PHASE_PAUSED, v1::PHASE_COPYING),
  };
  std::map<v1::Phase, double> d = PhaseDurations(tl, v1::PHASE_COPYING, kT0 + absl::Seconds(40));
  EXPECT_DOUBLE_EQ(d[v1::PHASE_PLANNED], 10);
  EXPECT_DOUBLE_EQ(d[v1::PHASE_CAPTURING], 3);
  EXPECT_DOUBLE_EQ(d[v1::PHASE_COPYING], 8 + 9);
  EXPECT_DOUBLE_EQ(d[v1::PHASE_PAUSED], 10);
  EXPECT_FALSE(d.contains(v1::PHASE_READY));

  // A terminal phase has no duration; the one before it is closed.
  std::vector<v1::Transition> done = tl;
  done.push_back(Row(7, kT0 + absl::Seconds(50), v1::PHASE_COPYING, v1::PHASE_ABORTED));
  d = PhaseDurations(done, v1::PHASE_ABORTED, kT0 + absl::Hours(5));
  EXPECT_DOUBLE_EQ(d[v1::PHASE_COPYING], 8 + 19);
  EXPECT_DOUBLE_EQ(d[v1::PHASE_ABORTED], 0);
}

class CollectorTest : public ::testing::Test {
 protected:
  StaticApi api_;
  SimulatedClock clock_{kT0};
  std::vector<std::string> driving_;
  static CollectorOptions Options() {
    CollectorOptions o;
    o.identity = "cutoverd@test:1";
    return o;
  }
  MetricsCollector collector_{&api_, [this] { return driving_; }, &clock_, Options()};
};

TEST_F(CollectorTest, ExportsTheContractFamiliesOfACutover) {
  api_.Put(Copying("c-1"), {Row(1, kT0 - absl::Seconds(100), v1::PHASE_UNSPECIFIED, v1::PHASE_PLANNED),
                            Row(2, kT0 - absl::Seconds(40), v1::PHASE_PLANNED, v1::PHASE_CAPTURING),
                            Row(3, kT0 - absl::Seconds(30), v1::PHASE_CAPTURING, v1::PHASE_COPYING)});
  driving_ = {"c-1"};
  clock_.Advance(absl::Seconds(5));
  const std::vector<prometheus::MetricFamily> f = collector_.Collect();

  // State set: all 16 phases, exactly one at 1.
  EXPECT_EQ(Sample(f, "cutover_phase", {{"cutover", "c-1"}}).count, 16);
  EXPECT_EQ(Value(f, "cutover_phase", {{"cutover", "c-1"}, {"phase", "COPYING"}}), 1);
  EXPECT_EQ(Value(f, "cutover_phase", {{"cutover", "c-1"}, {"phase", "PLANNED"}}), 0);
  EXPECT_EQ(Value(f, "cutover_phase", {{"cutover", "c-1"}, {"phase", "ROLLED_BACK"}}), 0);
  EXPECT_EQ(Sample(f, "cutover_phase", {{"phase", "UNSPECIFIED"}}).count, 0);
  EXPECT_EQ(Value(f, "cutover_phase_entered_timestamp_seconds", {{"cutover", "c-1"}}), 1'700'000'000 - 30);
  // Durations from the timeline; the current phase counts up with the clock.
  EXPECT_EQ(Value(f, "cutover_phase_duration_seconds", {{"cutover", "c-1"}, {"phase", "PLANNED"}}), 60);
  EXPECT_EQ(Value(f, "cutover_phase_duration_seconds", {{"cutover", "c-1"}, {"phase", "CAPTURING"}}), 10);
  EXPECT_EQ(Value(f, "cutover_phase_duration_seconds", {{"cutover", "c-1"}, {"phase", "COPYING"}}), 35);

  const std::map<std::string, std::string> access = {{"cutover", "c-1"}, {"table", "public.hydra_oauth2_access"}};
  EXPECT_EQ(Value(f, "cutover_copy_rows_total", access), 1200);
  EXPECT_EQ(Value(f, "cutover_copy_bytes_total", access), 64000);
  EXPECT_EQ(Value(f, "cutover_copy_rows_estimated", access), 5000);
  EXPECT_EQ(Value(f, "cutover_copy_bytes_estimated", access), 256000);
  EXPECT_EQ(Value(f, "cutover_copy_rows_total", {{"table", "public.hydra_client"}}), 10);
  EXPECT_EQ(Value(f, "cutover_copy_bytes_per_second", {{"cutover", "c-1"}}), 2048.5);
  EXPECT_EQ(Value(f, "cutover_copy_rows_per_second", {{"cutover", "c-1"}}), 40);
  EXPECT_EQ(Sample(f, "cutover_copy_tables", {{"cutover", "c-1"}}).count, 6);
  EXPECT_EQ(Value(f, "cutover_copy_tables", {{"state", "COPYING"}}), 1);
  EXPECT_EQ(Value(f, "cutover_copy_tables", {{"state", "DONE"}}), 1);
  EXPECT_EQ(Value(f, "cutover_copy_tables", {{"state", "PENDING"}}), 0);

  const std::map<std::string, std::string> fwd = {{"cutover", "c-1"}, {"direction", "forward"}};
  EXPECT_EQ(Value(f, "cutover_replay_backlog_events", fwd), 17);
  EXPECT_EQ(Value(f, "cutover_replay_oldest_event_age_seconds", fwd), 2.5);
  EXPECT_EQ(Value(f, "cutover_relay_backlog_events", fwd), 5);
  EXPECT_EQ(Value(f, "cutover_relay_lag_seconds", fwd), 1.5);
  EXPECT_EQ(Value(f, "cutover_captured_events_total", fwd), 100);
  EXPECT_EQ(Value(f, "cutover_replay_events_total", {{"direction", "forward"}, {"result", "applied"}}), 80);
  EXPECT_EQ(Value(f, "cutover_replay_events_total", {{"direction", "forward"}, {"result", "noop"}}), 2);
  EXPECT_EQ(Value(f, "cutover_replay_events_total", {{"direction", "forward"}, {"result", "duplicate"}}), 1);
  EXPECT_EQ(Value(f, "cutover_replay_events_per_second", fwd), 12.5);
  EXPECT_EQ(Value(f, "cutover_replay_dead_letters", fwd), 3);
  // No rollback leg yet, and no write gap before a flip paused the router.
  EXPECT_EQ(Sample(f, "cutover_replay_backlog_events", {{"direction", "rollback"}}).count, 0);
  EXPECT_EQ(Family(f, "cutover_flip_write_gap_seconds"), nullptr);
  EXPECT_EQ(Value(f, "cutover_flip_attempts_total", fwd), 1);
  // Failures are counted on the timeline: none of its rows leaves FLIPPING.
  EXPECT_EQ(Value(f, "cutover_flip_failures_total", fwd), 0);
  EXPECT_EQ(Value(f, "cutover_flip_succeeded", fwd), 0);
  EXPECT_EQ(Value(f, "cutover_approved", {{"cutover", "c-1"}}), 0);
  EXPECT_EQ(Value(f, "cutover_flip_blockers", {{"cutover", "c-1"}}), 2);
  EXPECT_EQ(Value(f, "cutover_lease_expires_timestamp_seconds", {{"cutover", "c-1"}}), 1'700'000'010);
  EXPECT_EQ(Value(f, "cutover_lease_held", {{"cutover", "c-1"}}), 1);
  EXPECT_EQ(Value(f, "cutover_lease_holder_info", {{"cutover", "c-1"}, {"holder", "cutoverd@a:1"}}), 1);

  EXPECT_EQ(Value(f, "cutover_daemon_info", {{"identity", "cutoverd@test:1"}, {"version", DaemonVersion()}}), 1);
  EXPECT_EQ(Value(f, "cutover_daemon_workers"), 1);
  EXPECT_EQ(Value(f, "cutover_metrics_collect_errors_total"), 0);

  // Types follow the names: _total are counters, the rest gauges.
  for (const auto& fam : f) {
    EXPECT_EQ(fam.type == prometheus::MetricType::Counter, absl::EndsWith(fam.name, "_total")) << fam.name;
    EXPECT_FALSE(fam.help.empty()) << fam.name;
  }
}

TEST_F(CollectorTest, FlipRollbackAndAcceptedLosses) {
  v1::Cutover c = Copying("c-2");
  c.set_phase(v1::PHASE_ROLLING_BACK);
  c.set_approved(true);
  c.mutable_flip()->set_succeeded(true);
  c.mutable_flip()->set_attempts(2);
  *c.mutable_flip()->mutable_write_gap() = ToProto(absl::Milliseconds(120));
  *c.mutable_flip()->mutable_pause_duration() = ToProto(absl::Milliseconds(90));
  c.mutable_rollback()->set_attempts(1);
  c.mutable_rollback_replay()->set_backlog(4);
  auto* loss = c.add_accepted_losses();
  loss->set_table("public.hydra_oauth2_access");
  loss->set_inserts(7);
  loss->set_updates(1);
  // The first flip attempt was undone (FLIPPING -> READY), the second went
  // through; the rollback's attempt is under way.
  api_.Put(c, {Row(1, kT0, v1::PHASE_UNSPECIFIED, v1::PHASE_PLANNED), Row(2, kT0, v1::PHASE_READY, v1::PHASE_FLIPPING),
               Row(3, kT0, v1::PHASE_FLIPPING, v1::PHASE_READY), Row(4, kT0, v1::PHASE_READY, v1::PHASE_FLIPPING),
               Row(5, kT0, v1::PHASE_FLIPPING, v1::PHASE_DRAINING),
               Row(6, kT0, v1::PHASE_DRAINING, v1::PHASE_ROLLING_BACK)});
  const std::vector<prometheus::MetricFamily> f = collector_.Collect();

  const std::map<std::string, std::string> fwd = {{"cutover", "c-2"}, {"direction", "forward"}};
  const std::map<std::string, std::string> back = {{"cutover", "c-2"}, {"direction", "rollback"}};
  EXPECT_EQ(Value(f, "cutover_flip_write_gap_seconds", fwd), 0.12);
  EXPECT_EQ(Value(f, "cutover_flip_pause_seconds", fwd), 0.09);
  EXPECT_EQ(Value(f, "cutover_flip_attempts_total", fwd), 2);
  EXPECT_EQ(Value(f, "cutover_flip_failures_total", fwd), 1);
  EXPECT_EQ(Value(f, "cutover_flip_succeeded", fwd), 1);
  EXPECT_EQ(Value(f, "cutover_flip_attempts_total", back), 1);
  EXPECT_EQ(Value(f, "cutover_flip_failures_total", back), 0) << "the rollback attempt under way has not failed";
  EXPECT_EQ(Value(f, "cutover_replay_backlog_events", back), 4);
  EXPECT_EQ(Value(f, "cutover_approved", {{"cutover", "c-2"}}), 1);
  EXPECT_EQ(Value(f, "cutover_lease_held", {{"cutover", "c-2"}}), 0) << "this daemon does not drive c-2";
  EXPECT_EQ(Value(f, "cutover_daemon_workers"), 0);
  EXPECT_EQ(Value(f, "cutover_accepted_loss_rows", {{"table", "public.hydra_oauth2_access"}, {"kind", "insert"}}), 7);
  EXPECT_EQ(Value(f, "cutover_accepted_loss_rows", {{"kind", "update"}}), 1);
  EXPECT_EQ(Value(f, "cutover_accepted_loss_rows", {{"kind", "delete"}}), 0);
  EXPECT_EQ(Value(f, "cutover_phase", {{"cutover", "c-2"}, {"phase", "ROLLING_BACK"}}), 1);
}

// cutover_flip_failures_total never goes down: the attempt under way counts
// only once it is settled (back in READY = failed, succeeded = not a failure).
TEST_F(CollectorTest, FlipFailuresCounterIsMonotonic) {
  v1::Cutover c = Copying("c-3");
  c.clear_flip();
  const std::map<std::string, std::string> fwd = {{"cutover", "c-3"}, {"direction", "forward"}};
  std::vector<v1::Transition> timeline;
  std::vector<double> seen;
  // Each step is a transition to `phase` (as the engine writes it).
  auto step = [&](v1::Phase phase, int attempts, bool succeeded) {
    v1::Transition t;
    t.set_seq(static_cast<int64_t>(timeline.size()) + 1);
    t.set_from(c.phase());
    t.set_to(phase);
    *t.mutable_at() = ToProtoTime(kT0);
    timeline.push_back(t);
    c.set_phase(phase);
    c.mutable_flip()->set_attempts(attempts);
    c.mutable_flip()->set_succeeded(succeeded);
    api_.Put(c, timeline);
    seen.push_back(Value(collector_.Collect(), "cutover_flip_failures_total", fwd));
  };
  step(v1::PHASE_READY, 0, false);
  step(v1::PHASE_FLIPPING, 1, false);
  step(v1::PHASE_READY, 1, false);  // undone
  step(v1::PHASE_FLIPPING, 2, false);
  step(v1::PHASE_FAILED, 2, false);     // the undo failed too
  step(v1::PHASE_FLIPPING, 2, false);   // resume: the same attempt, no new one
  step(v1::PHASE_DRAINING, 2, true);    // ... finished forward
  step(v1::PHASE_COMPLETED, 2, true);
  EXPECT_EQ(seen, (std::vector<double>{0, 0, 1, 1, 2, 2, 2, 2}));
}

TEST_F(CollectorTest, TerminalCutoversOlderThanADayAreDroppedAndAtMost50Exported) {
  api_.Put(Terminal("old", v1::PHASE_COMPLETED, kT0 - absl::Hours(25)));
  api_.Put(Terminal("recent", v1::PHASE_ABORTED, kT0 - absl::Hours(23)));
  api_.Put(Terminal("failed-long-ago", v1::PHASE_FAILED, kT0 - absl::Hours(100)));  // FAILED is not terminal
  std::vector<prometheus::MetricFamily> f = collector_.Collect();
  EXPECT_EQ(Sample(f, "cutover_phase", {{"cutover", "old"}}).count, 0);
  EXPECT_EQ(Sample(f, "cutover_phase", {{"cutover", "recent"}}).count, 16);
  EXPECT_EQ(Sample(f, "cutover_phase", {{"cutover", "failed-long-ago"}}).count, 16);

  for (int i = 0; i < 60; ++i) {
    api_.Put(Terminal(absl::StrCat("done-", i), v1::PHASE_COMPLETED, kT0 - absl::Minutes(60 - i)));
  }
  f = collector_.Collect();
  std::set<std::string> ids;
  for (const auto& m : Family(f, "cutover_approved")->metric) ids.insert(m.label.at(0).value);
  EXPECT_EQ(ids.size(), 50u);
  EXPECT_TRUE(ids.contains("failed-long-ago")) << "non-terminal cutovers come first";
  EXPECT_TRUE(ids.contains("done-59")) << "then the most recently updated";
  EXPECT_FALSE(ids.contains("done-0"));
  EXPECT_FALSE(ids.contains("recent")) << "updated 23 h ago: older than the 50 kept";
}

TEST_F(CollectorTest, StoreErrorsAreCountedAndTheScrapeGoesOn) {
  api_.Put(Copying("c-1"));
  api_.FailListForTest(true);
  std::vector<prometheus::MetricFamily> f = collector_.Collect();
  EXPECT_EQ(Value(f, "cutover_metrics_collect_errors_total"), 1);
  EXPECT_EQ(Family(f, "cutover_phase"), nullptr);
  EXPECT_EQ(Sample(f, "cutover_daemon_info").count, 1);
  f = collector_.Collect();
  EXPECT_EQ(Value(f, "cutover_metrics_collect_errors_total"), 2);
  api_.FailListForTest(false);
  f = collector_.Collect();
  EXPECT_EQ(Value(f, "cutover_metrics_collect_errors_total"), 2);
  EXPECT_EQ(Sample(f, "cutover_phase", {{"cutover", "c-1"}}).count, 16);
}

TEST(StatusSampler, RingBufferKeepsTheLastPointsAndOneTerminalPoint) {
  StaticApi api;
  SimulatedClock clock(kT0);
  SamplerOptions o;
  o.capacity = 3;
  StatusSampler sampler(&api, &clock, o);
  v1::Cutover c = Copying("c-1");
  for (int i = 1; i <= 5; ++i) {
    c.mutable_copy()->set_rows_copied(i * 100);
    api.Put(c);
    ASSERT_TRUE(sampler.SampleOnce().ok());
    clock.Advance(absl::Seconds(1));
  }
  v1::StatusSeries s = sampler.Series("c-1");
  EXPECT_EQ(s.cutover_id(), "c-1");
  ASSERT_EQ(s.points_size(), 3);
  EXPECT_EQ(s.points(0).rows_copied(), 300);
  EXPECT_EQ(s.points(2).rows_copied(), 500);
  EXPECT_EQ(FromProtoTime(s.points(0).at()), kT0 + absl::Seconds(2));
  EXPECT_EQ(FromProtoTime(s.points(2).at()), kT0 + absl::Seconds(4));
  EXPECT_EQ(s.points(2).phase(), v1::PHASE_COPYING);
  EXPECT_EQ(s.points(2).bytes_copied(), 64000);
  EXPECT_EQ(s.points(2).copy_bytes_per_second(), 2048.5);
  EXPECT_EQ(s.points(2).backlog(), 17);
  EXPECT_EQ(s.points(2).applied(), 80);
  EXPECT_EQ(s.points(2).dead_letters(), 3);
  EXPECT_EQ(s.points(2).replay_events_per_second(), 12.5);
  EXPECT_EQ(s.points(2).oldest_event_age_seconds(), 2.5);

  // Terminal: one last point, then nothing more.
  c.set_phase(v1::PHASE_COMPLETED);
  *c.mutable_updated_at() = ToProtoTime(clock.Now());
  api.Put(c);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(sampler.SampleOnce().ok());
    clock.Advance(absl::Seconds(1));
  }
  s = sampler.Series("c-1");
  ASSERT_EQ(s.points_size(), 3);
  EXPECT_EQ(s.points(2).phase(), v1::PHASE_COMPLETED);
  EXPECT_EQ(s.points(1).phase(), v1::PHASE_COPYING);

  // A store error changes nothing; a cutover gone from the store is forgotten.
  api.FailListForTest(true);
  EXPECT_FALSE(sampler.SampleOnce().ok());
  EXPECT_EQ(sampler.Series("c-1").points_size(), 3);
  api.FailListForTest(false);
  api.Remove("c-1");
  ASSERT_TRUE(sampler.SampleOnce().ok());
  EXPECT_EQ(sampler.Series("c-1").points_size(), 0);
}

TEST(StatusSampler, KeepsSeriesForAtMostMaxCutoversNonTerminalFirst) {
  StaticApi api;
  SimulatedClock clock(kT0);
  SamplerOptions o;
  o.max_cutovers = 2;
  StatusSampler sampler(&api, &clock, o);
  v1::Cutover done = Copying("done");
  done.set_phase(v1::PHASE_COMPLETED);
  *done.mutable_updated_at() = ToProtoTime(kT0);
  api.Put(done);
  v1::Cutover old_run = Copying("old-run");
  *old_run.mutable_updated_at() = ToProtoTime(kT0 - absl::Hours(2));
  api.Put(old_run);
  v1::Cutover new_run = Copying("new-run");
  *new_run.mutable_updated_at() = ToProtoTime(kT0 - absl::Hours(1));
  api.Put(new_run);
  ASSERT_TRUE(sampler.SampleOnce().ok());
  // Both running cutovers win over the more recent terminal one.
  EXPECT_EQ(sampler.Series("old-run").points_size(), 1);
  EXPECT_EQ(sampler.Series("new-run").points_size(), 1);
  EXPECT_EQ(sampler.Series("done").points_size(), 0);
  // One finishes long ago: the terminal cutover updated more recently takes its place.
  old_run.set_phase(v1::PHASE_ABORTED);
  api.Put(old_run);
  ASSERT_TRUE(sampler.SampleOnce().ok());
  EXPECT_EQ(sampler.Series("new-run").points_size(), 2);
  EXPECT_EQ(sampler.Series("done").points_size(), 1);
  EXPECT_EQ(sampler.Series("old-run").points_size(), 0);
}

TEST(StatusSampler, ThreadSamplesUntilStopped) {
  StaticApi api;
  api.Put(Copying("c-1"));
  SimulatedClock clock(kT0);
  SamplerOptions o;
  o.interval = absl::Milliseconds(10);
  StatusSampler sampler(&api, &clock, o);
  sampler.Start();
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (sampler.Series("c-1").points_size() < 3 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  sampler.Stop();
  const int n = sampler.Series("c-1").points_size();
  EXPECT_GE(n, 3);
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(sampler.Series("c-1").points_size(), n) << "no sampling after Stop()";
}

TEST(ParseListenAddress, AcceptsIpv4AndBracketedIpv6WithAnyPort) {
  std::string host;
  int port = -1;
  ASSERT_TRUE(ParseListenAddress("127.0.0.1:7401", &host, &port).ok());
  EXPECT_EQ(host, "127.0.0.1");
  EXPECT_EQ(port, 7401);
  ASSERT_TRUE(ParseListenAddress("[::1]:0", &host, &port).ok());
  EXPECT_EQ(host, "[::1]");
  EXPECT_EQ(port, 0);
  for (const char* bad : {"", "7401", "localhost:7401", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1",
                          "::1:7401", "[::1]:x", "0.0.0.0:80:1"}) {
    absl::Status st = ParseListenAddress(bad, &host, &port);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(st.message(), HasSubstr("expected ADDR:PORT")) << bad;
  }
}

// ---- The routes on a real server ----

template <typename M>
M ParseJson(const std::string& json) {
  M m;
  google::protobuf::util::JsonParseOptions o;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &m, o).ok()) << json;
  return m;
}

std::string ErrorOf(const std::string& json) {
  auto s = ParseJson<google::protobuf::Struct>(json);
  return s.fields().contains("error") ? s.fields().at("error").string_value() : "";
}

HttpServerOptions Listen(const std::string& listen) {
  HttpServerOptions o;
  o.listen = listen;
  return o;
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    api_.Put(Copying("c-1"), {Row(1, kT0 - absl::Seconds(100), v1::PHASE_UNSPECIFIED, v1::PHASE_PLANNED),
                              Row(2, kT0 - absl::Seconds(40), v1::PHASE_PLANNED, v1::PHASE_CAPTURING),
                              Row(3, kT0 - absl::Seconds(30), v1::PHASE_CAPTURING, v1::PHASE_COPYING)});
    registry_ = std::make_shared<prometheus::Registry>();
    collector_ = std::make_shared<MetricsCollector>(
        &api_, [] { return std::vector<std::string>{"c-1"}; }, &clock_, CollectorOptions{});
    http_ = std::make_unique<HttpApi>(&api_, &sampler_, registry_,
                                      std::vector<std::shared_ptr<prometheus::Collectable>>{collector_});
    absl::StatusOr<std::unique_ptr<HttpServer>> s = StartHttpServer(Listen("127.0.0.1:0"), http_.get());
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
    ASSERT_GT(server_->port(), 0);
  }
  int port() const { return server_->port(); }

  StaticApi api_;
  SimulatedClock clock_{kT0};
  StatusSampler sampler_{&api_, &clock_};
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<MetricsCollector> collector_;
  std::unique_ptr<HttpApi> http_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(ServerTest, MetricsAreValidExpositionFormat) {
  Fetch(port(), "/healthz");
  const Reply r = Fetch(port(), "/metrics");
  ASSERT_EQ(r.code, 200);
  EXPECT_EQ(r.headers.at("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  const std::regex help(R"(^# HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*$)");
  const std::regex type(R"(^# TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram|summary|untyped)$)");
  const std::regex sample(
      R"re(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? ([-+]?[0-9.]+([eE][-+]?[0-9]+)?|NaN|[-+]Inf)( -?[0-9]+)?$)re");
  int samples = 0;
  for (absl::string_view line : absl::StrSplit(r.body, '\n', absl::SkipEmpty())) {
    const std::string l(line);
    if (absl::StartsWith(l, "# HELP")) {
      EXPECT_TRUE(std::regex_match(l, help)) << l;
    } else if (absl::StartsWith(l, "# TYPE")) {
      EXPECT_TRUE(std::regex_match(l, type)) << l;
    } else {
      EXPECT_TRUE(std::regex_match(l, sample)) << l;
      ++samples;
    }
  }
  EXPECT_GT(samples, 50);
  EXPECT_THAT(r.body, HasSubstr("cutover_phase{cutover=\"c-1\",phase=\"COPYING\"} 1\n"));
  EXPECT_THAT(r.body, HasSubstr("cutover_lease_held{cutover=\"c-1\"} 1\n"));
  EXPECT_THAT(r.body, HasSubstr("cutover_http_requests_total{code=\"200\",handler=\"healthz\"} 1\n"));
  EXPECT_THAT(r.body, HasSubstr("# TYPE cutover_copy_rows_total counter"));
  EXPECT_THAT(r.body, Not(HasSubstr("s3cret")));
}

TEST_F(ServerTest, HealthAndThePageAndItsAssets) {
  Reply r = Fetch(port(), "/healthz");
  EXPECT_EQ(r.code, 200);
  EXPECT_EQ(r.body, "ok\n");
  r = Fetch(port(), "/");
  ASSERT_EQ(r.code, 200);
  EXPECT_EQ(r.headers.at("content-type"), "text/html; charset=utf-8");
  EXPECT_EQ(r.body, FindAsset("index.html")->bytes());
  for (const std::string& name : AssetNames()) {
    r = Fetch(port(), "/static/" + name);
    ASSERT_EQ(r.code, 200) << name;
    EXPECT_EQ(r.body, FindAsset(name)->bytes()) << name;
    EXPECT_EQ(r.headers.at("content-type"), FindAsset(name)->content_type) << name;
    EXPECT_EQ(r.headers.at("content-length"), absl::StrCat(FindAsset(name)->size)) << name;
  }
  r = Fetch(port(), "/static/no-such.js");
  EXPECT_EQ(r.code, 404);
  EXPECT_THAT(ErrorOf(r.body), HasSubstr("no-such.js"));
  r = Fetch(port(), "/static/../CMakeLists.txt");
  EXPECT_EQ(r.code, 404);
  r = Fetch(port(), "/nope");
  EXPECT_EQ(r.code, 404);
  EXPECT_EQ(r.headers.at("content-type"), "application/json; charset=utf-8");
  EXPECT_EQ(ErrorOf(r.body), "no such path: /nope");
  r = Fetch(port(), "/api/v1/cutovers", "POST");
  EXPECT_EQ(r.code, 405);
  EXPECT_THAT(ErrorOf(r.body), HasSubstr("read-only"));
  r = Fetch(port(), "/healthz", "HEAD");
  EXPECT_EQ(r.code, 200);
  EXPECT_EQ(r.body, "");
}

TEST_F(ServerTest, JsonApiParsesBackAndHidesSecrets) {
  Reply r = Fetch(port(), "/api/v1/cutovers");
  ASSERT_EQ(r.code, 200);
  EXPECT_EQ(r.headers.at("content-type"), "application/json; charset=utf-8");
  EXPECT_THAT(r.body, HasSubstr("\"phase\":\"PHASE_COPYING\""));
  EXPECT_THAT(r.body, HasSubstr("\"rows_copied\":\"1210\"")) << "snake_case, int64 as strings";
  EXPECT_THAT(r.body, Not(HasSubstr("s3cret")));
  auto list = ParseJson<v1::ListResponse>(r.body);
  ASSERT_EQ(list.cutovers_size(), 1);
  EXPECT_EQ(list.cutovers(0).id(), "c-1");
  EXPECT_EQ(list.cutovers(0).copy().tables_size(), 2);
  EXPECT_THAT(list.cutovers(0).plan().blue().dsn(), HasSubstr("***"));

  r = Fetch(port(), "/api/v1/cutovers/c-1");
  ASSERT_EQ(r.code, 200);
  EXPECT_THAT(r.body, Not(HasSubstr("s3cret")));
  auto one = ParseJson<v1::Cutover>(r.body);
  EXPECT_EQ(one.phase(), v1::PHASE_COPYING);
  EXPECT_EQ(one.replay().relay_backlog(), 5);
  EXPECT_THAT(one.plan().green().dsn(), HasSubstr("***"));

  r = Fetch(port(), "/api/v1/cutovers/nope");
  EXPECT_EQ(r.code, 404);
  EXPECT_EQ(ErrorOf(r.body), "cutover 'nope' does not exist");

  r = Fetch(port(), "/api/v1/cutovers/c-1/timeline");
  ASSERT_EQ(r.code, 200);
  EXPECT_EQ(ParseJson<v1::ListTransitionsResponse>(r.body).transitions_size(), 3);
  r = Fetch(port(), "/api/v1/cutovers/c-1/timeline?after_seq=2");
  ASSERT_EQ(r.code, 200);
  auto tl = ParseJson<v1::ListTransitionsResponse>(r.body);
  ASSERT_EQ(tl.transitions_size(), 1);
  EXPECT_EQ(tl.transitions(0).to(), v1::PHASE_COPYING);
  r = Fetch(port(), "/api/v1/cutovers/c-1/timeline?after_seq=x");
  EXPECT_EQ(r.code, 400);
  EXPECT_EQ(ErrorOf(r.body), "after_seq: expected a non-negative integer, got 'x'");
  r = Fetch(port(), "/api/v1/cutovers/nope/timeline");
  EXPECT_EQ(r.code, 404);

  r = Fetch(port(), "/api/v1/cutovers/c-1/series");
  ASSERT_EQ(r.code, 200);
  EXPECT_EQ(ParseJson<v1::StatusSeries>(r.body).points_size(), 0);
  ASSERT_TRUE(sampler_.SampleOnce().ok());
  clock_.Advance(absl::Seconds(1));
  ASSERT_TRUE(sampler_.SampleOnce().ok());
  r = Fetch(port(), "/api/v1/cutovers/c-1/series");
  ASSERT_EQ(r.code, 200);
  auto series = ParseJson<v1::StatusSeries>(r.body);
  EXPECT_EQ(series.cutover_id(), "c-1");
  ASSERT_EQ(series.points_size(), 2);
  EXPECT_EQ(series.points(1).rows_copied(), 1210);
  r = Fetch(port(), "/api/v1/cutovers/nope/series");
  EXPECT_EQ(r.code, 404);
  r = Fetch(port(), "/api/v1/cutovers/c-1/other");
  EXPECT_EQ(r.code, 404);

  // The store down: a 503 with the reason, and /metrics still answers.
  api_.FailListForTest(true);
  r = Fetch(port(), "/api/v1/cutovers");
  EXPECT_EQ(r.code, 503);
  EXPECT_EQ(ErrorOf(r.body), "control store unreachable");
  r = Fetch(port(), "/metrics");
  EXPECT_EQ(r.code, 200);
  EXPECT_THAT(r.body, HasSubstr("cutover_metrics_collect_errors_total 1\n"));
  EXPECT_THAT(r.body, HasSubstr("cutover_http_requests_total{code=\"503\",handler=\"cutovers\"} 1\n"));
  EXPECT_THAT(r.body, HasSubstr("cutover_http_requests_total{code=\"404\",handler=\"cutover\"} 1\n"));
  EXPECT_THAT(r.body, HasSubstr("cutover_http_requests_total{code=\"400\",handler=\"timeline\"} 1\n"));
}

TEST_F(ServerTest, SecondServerOnTheSamePortFailsAndShutdownIsClean) {
  absl::StatusOr<std::unique_ptr<HttpServer>> again =
      StartHttpServer(Listen(absl::StrCat("127.0.0.1:", port())), http_.get());
  EXPECT_EQ(again.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(StartHttpServer(Listen("localhost:1"), http_.get()).status().code(),
            absl::StatusCode::kInvalidArgument);
  const int p = port();
  server_->Shutdown();
  server_->Shutdown();
  EXPECT_EQ(Fetch(p, "/healthz").code, 0) << "nothing listens after Shutdown";
}

// Every file of orchestrator/http/assets is embedded, byte for byte.
TEST(Assets, EveryFileOfTheAssetDirectoryIsEmbedded) {
  const char* src = std::getenv("CUTOVER_SOURCE_DIR");
  if (src == nullptr) GTEST_SKIP() << "run through ctest (CUTOVER_SOURCE_DIR)";
  const std::filesystem::path dir = std::filesystem::path(src) / "orchestrator/http/assets";
  int files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    const std::string name = std::filesystem::relative(e.path(), dir).string();
    if (absl::StartsWith(name, ".") || absl::EndsWith(name, "~")) continue;
    ++files;
    std::ifstream in(e.path(), std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    const Asset* a = FindAsset(name);
    ASSERT_NE(a, nullptr) << name << " is not embedded (re-run cmake?)";
    EXPECT_EQ(a->bytes(), ss.str()) << name;
  }
  EXPECT_GE(files, 1);
  EXPECT_EQ(static_cast<int>(AssetNames().size()), files);
  ASSERT_NE(FindAsset("index.html"), nullptr);
  EXPECT_STREQ(FindAsset("index.html")->content_type, "text/html; charset=utf-8");
}

}  // namespace
}  // namespace cutover::http
