// The orchestrator's phase-change hook (engine::PhaseObserver) over the
// fakes of tests/engine: each phase change is handed over once and in order
// by the lease holder, the creation and the abort of a PLANNED cutover by
// the daemon serving the call, the cursor (Cutover.notified_seq) follows
// what the observer settled, and a daemon taking over re-hands exactly what
// was not settled. Last, the real WebhookNotifier on a local receiver.
#include <algorithm>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "cutover/engine/observer.h"
#include "cutover/engine/orchestrator.h"
#include "cutover/notify/webhook_notifier.h"
#include "cutover/store/control_store.h"
#include "fake_backend.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "webhook_receiver.h"

namespace cutover::engine {
namespace {

namespace v1 = cutover::v1;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

const Caller kOps{"token:ops", Role::kApprover};

v1::Plan TestPlan() {
  v1::Plan p;
  p.set_name("test");
  p.mutable_blue()->set_dsn("host=blue password=pw");
  p.mutable_green()->set_dsn("host=green");
  p.mutable_queue()->mutable_postgres()->set_dsn("host=control");
  p.mutable_router()->mutable_command()->set_pause("true");
  p.mutable_capture()->set_profile("hydra");
  p.mutable_flip()->set_auto_flip(true);
  p.mutable_flip()->mutable_flip_timeout()->set_seconds(5);
  p.mutable_flip()->set_max_backlog(10);
  return p;
}

// Records what it is handed; settles at once unless told to hold.
class RecordingObserver final : public PhaseObserver {
 public:
  void OnPhaseChange(const v1::Cutover& c, const v1::Transition& t) override {
    absl::MutexLock l(&mu_);
    seen_.push_back(t);
  }
  int64_t SettledThrough(absl::string_view, int64_t handed_through) override {
    absl::MutexLock l(&mu_);
    return hold_ ? 0 : handed_through;
  }
  void Hold(bool h) {
    absl::MutexLock l(&mu_);
    hold_ = h;
  }
  std::vector<v1::Transition> seen() {
    absl::MutexLock l(&mu_);
    return seen_;
  }
  std::vector<std::string> phases() {
    std::vector<std::string> out;
    for (const auto& t : seen()) out.push_back(PhaseName(t.to()));
    return out;
  }

 private:
  absl::Mutex mu_;
  std::vector<v1::Transition> seen_ ABSL_GUARDED_BY(mu_);
  bool hold_ ABSL_GUARDED_BY(mu_) = false;
};

class PhaseObserverTest : public ::testing::Test {
 protected:
  PhaseObserverTest() : store_(store::NewMemoryControlStore(Clock::Real())), factory_(&fake_) {}
  ~PhaseObserverTest() override {
    for (auto& o : orchs_) o->Stop();
  }
  Orchestrator* NewOrchestrator(const std::string& identity, PhaseObserver* observer) {
    OrchestratorOptions o;
    o.identity = identity;
    o.lease_ttl = absl::Milliseconds(300);
    o.tick = absl::Milliseconds(5);
    o.scan_interval = absl::Milliseconds(20);
    o.undo_timeout = absl::Seconds(2);
    o.observer = observer;
    o.observer_flush_timeout = absl::Seconds(2);
    orchs_.push_back(std::make_unique<Orchestrator>(store_.get(), &factory_, Clock::Real(), o));
    return orchs_.back().get();
  }
  std::string StartCutover(Orchestrator* o) {
    absl::StatusOr<v1::Cutover> c = o->CreatePlan(TestPlan(), kOps);
    EXPECT_TRUE(c.ok()) << c.status();
    EXPECT_TRUE(o->Start(c->id(), kOps).ok());
    return c->id();
  }
  v1::Cutover Get(const std::string& id) { return store_->Get(id)->cutover; }
  bool WaitFor(const std::function<bool()>& pred, absl::Duration timeout = absl::Seconds(10)) {
    const absl::Time end = absl::Now() + timeout;
    while (absl::Now() < end) {
      if (pred()) return true;
      absl::SleepFor(absl::Milliseconds(2));
    }
    return pred();
  }
  bool WaitPhase(const std::string& id, v1::Phase p) {
    if (WaitFor([&] { return Get(id).phase() == p; })) return true;
    ADD_FAILURE() << "stuck in " << PhaseName(Get(id).phase()) << " waiting for " << PhaseName(p);
    return false;
  }
  // The timeline's phase changes, as seqs.
  std::vector<int64_t> PhaseChangeSeqs(const std::string& id) {
    std::vector<int64_t> out;
    absl::StatusOr<std::vector<v1::Transition>> rows = store_->Transitions(id, 0);
    EXPECT_TRUE(rows.ok()) << rows.status();
    if (!rows.ok()) return out;
    for (const auto& t : *rows) {
      if (t.from() != t.to()) out.push_back(t.seq());
    }
    return out;
  }
  static std::vector<int64_t> Seqs(const std::vector<v1::Transition>& ts) {
    std::vector<int64_t> out;
    for (const auto& t : ts) out.push_back(t.seq());
    return out;
  }

  FakeBackend fake_;
  std::unique_ptr<store::ControlStore> store_;
  FakeFactory factory_;
  std::vector<std::unique_ptr<Orchestrator>> orchs_;
  // Outlives the orchestrators (stopped in the destructor's body).
  std::unique_ptr<notify::WebhookNotifier> notifier_;
};

TEST_F(PhaseObserverTest, EveryPhaseChangeIsHandedOverOnceInOrder) {
  RecordingObserver obs;
  Orchestrator* o = NewOrchestrator("d1", &obs);
  o->Start();
  const std::string id = StartCutover(o);
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_COMPLETED));
  ASSERT_TRUE(WaitFor([&] { return store_->GetLease(id)->holder.empty(); }));
  EXPECT_THAT(obs.phases(),
              ElementsAre("PLANNED", "CAPTURING", "COPYING", "INDEXING", "VERIFYING_COPY", "MIGRATING",
                          "CATCHING_UP", "READY", "FLIPPING", "DRAINING", "COMPLETED"));
  EXPECT_EQ(Seqs(obs.seen()), PhaseChangeSeqs(id)) << "every row once, in timeline order";
  EXPECT_GE(Get(id).notified_seq(), PhaseChangeSeqs(id).back())
      << "the cursor passed COMPLETED before the lease went";
}

TEST_F(PhaseObserverTest, APlannedCutoverIsAnnouncedByTheDaemonServingTheCall) {
  RecordingObserver a_obs, b_obs;
  Orchestrator* a = NewOrchestrator("a", &a_obs);
  Orchestrator* b = NewOrchestrator("b", &b_obs);
  a->Start();
  b->Start();
  absl::StatusOr<v1::Cutover> c = b->CreatePlan(TestPlan(), kOps);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_TRUE(a->Abort(c->id(), "not today", kOps).ok());
  absl::SleepFor(absl::Milliseconds(100));  // scans run: nobody adopts it
  EXPECT_THAT(b_obs.phases(), ElementsAre("PLANNED"));
  EXPECT_THAT(a_obs.phases(), ElementsAre("ABORTED"));
  EXPECT_EQ(a_obs.seen()[0].reason(), "not today");
}

TEST_F(PhaseObserverTest, AStandbyHandsOverNothingAndATakeoverResendsOnlyWhatWasNotSettled) {
  RecordingObserver a_obs, b_obs;
  Orchestrator* a = NewOrchestrator("a", &a_obs);
  Orchestrator* b = NewOrchestrator("b", &b_obs);
  fake_.hold_copy = true;
  a->Start();
  const std::string id = StartCutover(a);
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_COPYING));
  b->Start();
  ASSERT_TRUE(WaitFor([&] { return a_obs.seen().size() == 3; }));  // PLANNED, CAPTURING, COPYING
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_THAT(b_obs.seen(), IsEmpty()) << "a standby hands over nothing";
  // a settled everything so far (delivered); then it stops and b takes over.
  a->Stop();
  fake_.hold_copy = false;
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_COMPLETED));
  ASSERT_TRUE(WaitFor([&] { return store_->GetLease(id)->holder.empty(); }));
  EXPECT_THAT(a_obs.phases(), ElementsAre("PLANNED", "CAPTURING", "COPYING"));
  EXPECT_THAT(b_obs.phases(), ElementsAre("INDEXING", "VERIFYING_COPY", "MIGRATING", "CATCHING_UP", "READY",
                                          "FLIPPING", "DRAINING", "COMPLETED"))
      << "no duplicates when the last holder had settled what it handed over";
}

TEST_F(PhaseObserverTest, ATakeoverResendsWhatTheLastHolderDidNotSettle) {
  RecordingObserver a_obs, b_obs;
  a_obs.Hold(true);  // a's receivers are down: nothing settles
  Orchestrator* a = NewOrchestrator("a", &a_obs);
  Orchestrator* b = NewOrchestrator("b", &b_obs);
  fake_.hold_copy = true;
  a->Start();
  const std::string id = StartCutover(a);
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_COPYING));
  ASSERT_TRUE(WaitFor([&] { return a_obs.seen().size() == 3; }));
  EXPECT_EQ(Get(id).notified_seq(), 0);
  a->Stop();  // as if it crashed: the cursor stays before CAPTURING
  b->Start();
  fake_.hold_copy = false;
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_COMPLETED));
  ASSERT_TRUE(WaitFor([&] { return store_->GetLease(id)->holder.empty(); }));
  EXPECT_THAT(b_obs.phases(), ElementsAre("CAPTURING", "COPYING", "INDEXING", "VERIFYING_COPY", "MIGRATING",
                                          "CATCHING_UP", "READY", "FLIPPING", "DRAINING", "COMPLETED"))
      << "re-sent from the cursor (PLANNED was the creating daemon's), in order, each once";
  const std::vector<int64_t> all = PhaseChangeSeqs(id);
  EXPECT_EQ(Seqs(b_obs.seen()), std::vector<int64_t>(all.begin() + 1, all.end()));
}

TEST_F(PhaseObserverTest, FailedIsHandedOverBeforeTheWorkerGoesAndResumeDoesNotRepeatIt) {
  RecordingObserver obs;
  Orchestrator* o = NewOrchestrator("d1", &obs);
  o->Start();
  fake_.FailNext("migrate", absl::InvalidArgumentError("syntax error in 002.sql"));
  const std::string id = StartCutover(o);
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_FAILED));
  // Nobody drives a FAILED cutover: the worker leaves after handing FAILED
  // over and storing the cursor past it.
  ASSERT_TRUE(WaitFor([&] { return store_->GetLease(id)->holder.empty(); }));
  EXPECT_THAT(obs.phases(), ElementsAre("PLANNED", "CAPTURING", "COPYING", "INDEXING", "VERIFYING_COPY",
                                        "MIGRATING", "FAILED"));
  EXPECT_EQ(obs.seen().back().action(), "failed");
  EXPECT_EQ(Get(id).notified_seq(), PhaseChangeSeqs(id).back());
  ASSERT_TRUE(o->Resume(id, "fixed 002.sql", kOps).ok());
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_COMPLETED));
  ASSERT_TRUE(WaitFor([&] { return store_->GetLease(id)->holder.empty(); }));
  EXPECT_THAT(obs.phases(), ElementsAre("PLANNED", "CAPTURING", "COPYING", "INDEXING", "VERIFYING_COPY",
                                        "MIGRATING", "FAILED", "MIGRATING", "CATCHING_UP", "READY",
                                        "FLIPPING", "DRAINING", "COMPLETED"));
  EXPECT_EQ(Seqs(obs.seen()), PhaseChangeSeqs(id));
}

TEST_F(PhaseObserverTest, TheWebhookNotifierDeliversEveryPhaseChangeInOrder) {
  cutover::testing::WebhookReceiver rx;
  ASSERT_TRUE(rx.ok());
  notify::EndpointSettings ep;
  ep.name = "ops";
  ep.url = rx.url();
  ep.secret = "s";
  ep.initial_backoff = absl::Milliseconds(5);
  ep.max_backoff = absl::Milliseconds(20);
  absl::StatusOr<std::unique_ptr<notify::WebhookNotifier>> n = notify::WebhookNotifier::Create({ep}, {});
  ASSERT_TRUE(n.ok()) << n.status();
  notifier_ = std::move(*n);
  // Every third request fails once: retries do not reorder or duplicate.
  rx.SetHandler([](const cutover::testing::WebhookReceiver::Request&, int i) {
    return cutover::testing::WebhookReceiver::Status(i % 3 == 1 ? 503 : 200);
  });
  Orchestrator* o = NewOrchestrator("d1", notifier_.get());
  o->Start();
  const std::string id = StartCutover(o);
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_COMPLETED));
  ASSERT_TRUE(WaitFor([&] { return notifier_->Stats("ops").delivered == 11; }));
  std::vector<std::string> delivered;
  std::set<std::string> seen;
  for (const auto& r : rx.requests()) {
    const std::string d = r.headers.at("x-cutover-delivery");
    if (!seen.insert(d).second) continue;  // a retried attempt
    v1::WebhookEvent ev;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.body, &ev).ok());
    EXPECT_EQ(r.headers.at("x-cutover-signature"),
              "sha256=" + notify::SignWebhook("s", std::stoll(r.headers.at("x-cutover-timestamp")), r.body));
    delivered.push_back(PhaseName(ev.to()));
  }
  EXPECT_THAT(delivered,
              ElementsAre("PLANNED", "CAPTURING", "COPYING", "INDEXING", "VERIFYING_COPY", "MIGRATING",
                          "CATCHING_UP", "READY", "FLIPPING", "DRAINING", "COMPLETED"));
  ASSERT_TRUE(WaitFor([&] { return store_->GetLease(id)->holder.empty(); }));
  EXPECT_GE(Get(id).notified_seq(), PhaseChangeSeqs(id).back());
}

}  // namespace
}  // namespace cutover::engine
