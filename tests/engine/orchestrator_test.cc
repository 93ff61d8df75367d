// The state machine and the flip protocol over fakes (FakeBackend, the
// in-memory control store): every phase, the undo of a failure at each flip
// step, guardrails, approval deadline, pause/abort, restart recovery inside
// the flip and standby takeover.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "cutover/common/proto_time.h"
#include "cutover/engine/flip.h"
#include "cutover/engine/orchestrator.h"
#include "cutover/store/control_store.h"
#include "fake_backend.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cutover::engine {
namespace {

namespace v1 = cutover::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

v1::Plan TestPlan(bool auto_flip) {
  v1::Plan p;
  p.set_name("test");
  p.mutable_blue()->set_dsn("host=blue");
  p.mutable_green()->set_dsn("host=green");
  p.mutable_queue()->mutable_postgres()->set_dsn("host=control");
  p.mutable_router()->mutable_command()->set_pause("true");
  p.mutable_capture()->set_profile("hydra");
  p.mutable_flip()->set_auto_flip(auto_flip);
  p.mutable_flip()->mutable_flip_timeout()->set_seconds(5);
  p.mutable_flip()->set_max_backlog(10);
  return p;
}

const Caller kOps{"token:ops", Role::kApprover};

class OrchestratorTest : public ::testing::Test {
 protected:
  OrchestratorTest() : store_(store::NewMemoryControlStore(Clock::Real())), factory_(&fake_) {}
  ~OrchestratorTest() override {
    for (auto& o : orchs_) o->Stop();
  }

  Orchestrator* NewOrchestrator(const std::string& identity, absl::Duration ttl = absl::Seconds(5)) {
    OrchestratorOptions o;
    o.identity = identity;
    o.lease_ttl = ttl;
    o.tick = absl::Milliseconds(5);
    o.scan_interval = absl::Milliseconds(20);
    o.undo_timeout = absl::Seconds(2);
    orchs_.push_back(std::make_unique<Orchestrator>(store_.get(), &factory_, Clock::Real(), o));
    return orchs_.back().get();
  }

  std::string StartCutover(Orchestrator* o, const v1::Plan& plan) {
    absl::StatusOr<v1::Cutover> c = o->CreatePlan(plan, kOps);
    EXPECT_TRUE(c.ok()) << c.status();
    EXPECT_TRUE(o->Start(c->id(), kOps).ok());
    return c->id();
  }

  v1::Cutover Get(const std::string& id) {
    absl::StatusOr<store::StoredCutover> s = store_->Get(id);
    EXPECT_TRUE(s.ok()) << s.status();
    return s->cutover;
  }

  // Polls until the cutover is in `phase` (fails the test after 10 s).
  bool WaitPhase(const std::string& id, v1::Phase phase, absl::Duration timeout = absl::Seconds(10)) {
    const absl::Time end = absl::Now() + timeout;
    while (absl::Now() < end) {
      if (Get(id).phase() == phase) return true;
      absl::SleepFor(absl::Milliseconds(2));
    }
    ADD_FAILURE() << "cutover " << id << " stuck in " << PhaseName(Get(id).phase()) << " waiting for "
                  << PhaseName(phase) << "; reason: " << Get(id).reason();
    return false;
  }
  bool WaitFor(const std::function<bool()>& pred, absl::Duration timeout = absl::Seconds(10)) {
    const absl::Time end = absl::Now() + timeout;
    while (absl::Now() < end) {
      if (pred()) return true;
      absl::SleepFor(absl::Milliseconds(2));
    }
    return false;
  }

  std::vector<v1::Transition> Timeline(const std::string& id) {
    absl::StatusOr<std::vector<v1::Transition>> t = store_->Transitions(id, 0);
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? *t : std::vector<v1::Transition>{};
  }

  std::vector<std::string> Phases(const std::string& id) {
    std::vector<std::string> out;
    for (const auto& t : Timeline(id)) {
      if (t.from() != t.to()) out.push_back(PhaseName(t.to()));
    }
    return out;
  }
  std::vector<std::string> Actions(const std::string& id) {
    std::vector<std::string> out;
    for (const auto& t : Timeline(id)) out.push_back(t.action());
    return out;
  }

  FakeBackend fake_;
  std::unique_ptr<store::ControlStore> store_;
  FakeFactory factory_;
  std::vector<std::unique_ptr<Orchestrator>> orchs_;
};

// An orchestrator with a world of its own (fake backend, memory store), for
// tests that loop over cases.
struct World {
  World() {
    OrchestratorOptions opts;
    opts.identity = "d1";
    opts.tick = absl::Milliseconds(5);
    opts.scan_interval = absl::Milliseconds(20);
    opts.undo_timeout = absl::Seconds(2);
    orch = std::make_unique<Orchestrator>(store.get(), &factory, Clock::Real(), opts);
    orch->Start();
  }
  ~World() { orch->Stop(); }
  std::string Start(const v1::Plan& plan) {
    absl::StatusOr<v1::Cutover> created = orch->CreatePlan(plan, kOps);
    EXPECT_TRUE(created.ok()) << created.status();
    EXPECT_TRUE(orch->Start(created->id(), kOps).ok());
    return created->id();
  }
  v1::Cutover Get(const std::string& id) { return store->Get(id)->cutover; }

  FakeBackend fake;
  FakeFactory factory{&fake};
  std::unique_ptr<store::ControlStore> store = store::NewMemoryControlStore(Clock::Real());
  std::unique_ptr<Orchestrator> orch;
};

TEST_F(OrchestratorTest, AutoFlipRunsEveryPhaseInOrderAndCleansUp) {
  Orchestrator* o = NewOrchestrator("d1");
  o->Start();
  const std::string id = StartCutover(o, TestPlan(/*auto_flip=*/true));
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_COMPLETED));
  EXPECT_THAT(Phases(id), ElementsAre("PLANNED", "CAPTURING", "COPYING", "INDEXING", "VERIFYING_COPY", "MIGRATING",
                                      "CATCHING_UP", "READY", "FLIPPING", "DRAINING", "COMPLETED"));
  // "check" first: the flip opens its connections before clients wait.
  EXPECT_THAT(fake_.router_.calls(), ElementsAre("check", "pause", "repoint:green", "resume"));
  EXPECT_EQ(fake_.router_.target(), router::Target::kGreen);
  EXPECT_FALSE(fake_.router_.paused());
  EXPECT_TRUE(fake_.fence_.raised()) << "blue stays fenced after the flip";
  EXPECT_FALSE(fake_.capture_installed) << "capture is removed on COMPLETED";
  EXPECT_TRUE(fake_.migrated);
  const v1::Cutover c = Get(id);
  EXPECT_TRUE(c.flip().succeeded());
  EXPECT_EQ(c.flip().tail_events(), 7);
  EXPECT_EQ(c.flip().seal().end(0).offset(), 100);
  EXPECT_EQ(c.flip().steps_size(), 6);
  // The lease is released once the cutover is terminal.
  ASSERT_TRUE(WaitFor([&] { return store_->GetLease(id)->holder.empty(); }));
  absl::StatusOr<v1::Report> r = o->GetReport(id);
  ASSERT_TRUE(r.ok());
  EXPECT_GE(r->timings_size(), 9);
  EXPECT_EQ(r->copy().rows(), 42);
  // Accepted losses: the counters' growth between the copy and the fence
  // (10 inserts, 4 deletes) minus the 3 events capture carried.
  ASSERT_EQ(r->accepted_losses_size(), 1);
  EXPECT_EQ(r->accepted_losses(0).table(), "public.t");
  EXPECT_EQ(r->accepted_losses(0).inserts(), 10);
  EXPECT_EQ(r->accepted_losses(0).deletes(), 1);
}

TEST_F(OrchestratorTest, ManualApprovalWaitsInReadyAndIsAudited) {
  Orchestrator* o = NewOrchestrator("d1");
  o->Start();
  const std::string id = StartCutover(o, TestPlan(false));
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_READY));
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(Get(id).phase(), v1::PHASE_READY) << "no flip without approve";
  EXPECT_TRUE(fake_.router_.calls().empty());
  // A viewer-level identity is checked by the service; here the approver.
  ASSERT_TRUE(o->Approve(id, "change CHG-1", {"token:alice", Role::kApprover}).ok());
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_COMPLETED));
  bool audited = false;
  for (const auto& t : Timeline(id)) {
    if (t.action() == "request:approve") {
      audited = true;
      EXPECT_THAT(t.actor(), HasSubstr("token:alice"));
      EXPECT_EQ(t.reason(), "change CHG-1");
    }
  }
  EXPECT_TRUE(audited);
  // Approving again after the flip is refused: nothing to approve.
  EXPECT_EQ(o->Approve(id, "", kOps).status().code(), absl::StatusCode::kFailedPrecondition);
}

// Progress is saved only when it changed: a cutover waiting for approval
// does not rewrite its document (and wake every watcher) each second.
TEST_F(OrchestratorTest, AnIdleCutoverIsNotRewrittenEverySecond) {
  Orchestrator* o = NewOrchestrator("d1");
  o->Start();
  const std::string id = StartCutover(o, TestPlan(/*auto_flip=*/false));
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_READY));
  // Let the first READY ticks settle (guardrails, replay stats).
  const absl::Time settle = absl::Now() + absl::Milliseconds(1500);
  while (absl::Now() < settle) absl::SleepFor(absl::Milliseconds(50));
  const int64_t before = store_->Get(id)->version;
  // Three progress intervals with nothing happening.
  const absl::Time end = absl::Now() + absl::Seconds(3);
  while (absl::Now() < end) absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(store_->Get(id)->version, before);
  // A change is still saved.
  fake_.backlog = 3;
  EXPECT_TRUE(WaitFor([&] { return Get(id).replay().backlog() == 3; }));
}

TEST_F(OrchestratorTest, GuardrailsRefuseTheFlipAndSayWhy) {
  Orchestrator* o = NewOrchestrator("d1");
  o->Start();
  v1::Plan plan = TestPlan(false);
  plan.mutable_flip()->mutable_max_blue_transaction_age()->set_seconds(30);
  const std::string id = StartCutover(o, plan);
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_READY));
  fake_.dead_letters = 2;
  fake_.oldest_txn_seconds = 120;
  ASSERT_TRUE(WaitFor([&] { return Get(id).flip_blockers_size() == 2; }));
  absl::StatusOr<v1::Cutover> a = o->Approve(id, "", kOps);
  ASSERT_EQ(a.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(a.status().message(), HasSubstr("dead-lettered"));
  EXPECT_THAT(a.status().message(), HasSubstr("max_blue_transaction_age"));
  // Backlog above the threshold blocks too; clearing everything lets it go.
  fake_.dead_letters = 0;
  fake_.oldest_txn_seconds = 0;
  fake_.backlog = 11;
  ASSERT_TRUE(WaitFor([&] { return Get(id).flip_blockers_size() == 1; }));
  EXPECT_THAT(Get(id).flip_blockers(0), HasSubstr("max_backlog"));
  fake_.backlog = 0;
  ASSERT_TRUE(WaitFor([&] { return Get(id).flip_blockers_size() == 0; }));
  ASSERT_TRUE(o->Approve(id, "", kOps).ok());
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_COMPLETED));
}

TEST_F(OrchestratorTest, UnverifiedCopyFailsAndBlocks) {
  Orchestrator* o = NewOrchestrator("d1");
  o->Start();
  fake_.verify_ok = false;
  const std::string id = StartCutover(o, TestPlan(true));
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_READY));
  ASSERT_TRUE(WaitFor([&] { return Get(id).flip_blockers_size() == 1; }));
  EXPECT_THAT(Get(id).flip_blockers(0), HasSubstr("not verified"));
  EXPECT_TRUE(fake_.router_.calls().empty()) << "auto_flip must not flip an unverified copy";
  EXPECT_THAT(Actions(id), ::testing::Contains("flip-refused"));
}

TEST_F(OrchestratorTest, ApprovalDeadlineAbortsAndRemovesCapture) {
  Orchestrator* o = NewOrchestrator("d1");
  o->Start();
  v1::Plan plan = TestPlan(false);
  plan.mutable_flip()->mutable_approval_deadline()->set_nanos(100'000'000);
  const std::string id = StartCutover(o, plan);
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_ABORTED));
  EXPECT_THAT(Get(id).reason(), HasSubstr("approval deadline"));
  ASSERT_TRUE(WaitFor([&] { return !Get(id).capture_installed(); }));
  EXPECT_FALSE(fake_.capture_installed);
  EXPECT_FALSE(fake_.fence_.raised());
  EXPECT_TRUE(fake_.router_.calls().empty()) << "an abort before the flip never touches the router";
}

// A failure at each step of the flip is undone completely: back to READY
// with the reason, blue unfenced, router on blue and resumed, the pipeline
// running again; a later approve completes the cutover.
TEST_F(OrchestratorTest, FailureAtEachFlipStepIsUndone) {
  struct Case {
    std::string step;
    std::function<void(FakeBackend&)> inject;
  };
  const absl::Status boom = absl::FailedPreconditionError("injected");
  const std::vector<Case> cases = {
      {"pause", [&](FakeBackend& b) { b.router_.FailNext("pause", boom); }},
      {"fence", [&](FakeBackend& b) { b.fence_.FailNext("raise", boom); }},
      {"seal", [&](FakeBackend& b) { b.FailNext("seal", boom); }},
      {"drain", [&](FakeBackend& b) { b.FailNext("replay_until", boom); }},
      {"repoint", [&](FakeBackend& b) { b.router_.FailNext("repoint", boom); }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.step);
    World w;
    FakeBackend& fresh = w.fake;
    const std::string id = w.Start(TestPlan(false));
    auto phase = [&] { return w.Get(id).phase(); };
    ASSERT_TRUE(WaitFor([&] { return phase() == v1::PHASE_READY; }));
    c.inject(fresh);
    ASSERT_TRUE(w.orch->Approve(id, "", kOps).ok());
    ASSERT_TRUE(WaitFor([&] { return w.Get(id).flip().attempts() == 1 && phase() == v1::PHASE_READY; }));
    const v1::Cutover after = w.Get(id);
    EXPECT_THAT(after.reason(), HasSubstr(c.step));
    EXPECT_THAT(after.reason(), HasSubstr("injected"));
    EXPECT_FALSE(after.approved()) << "a failed flip needs a new approve";
    EXPECT_FALSE(fresh.fence_.raised());
    EXPECT_EQ(fresh.router_.target(), router::Target::kBlue);
    EXPECT_FALSE(fresh.router_.paused());
    ASSERT_TRUE(WaitFor([&] { return fresh.relay_running && fresh.replayer_running; }));
    ASSERT_TRUE(w.orch->Approve(id, "retry", kOps).ok());
    ASSERT_TRUE(WaitFor([&] { return phase() == v1::PHASE_COMPLETED; }));
    EXPECT_EQ(fresh.router_.target(), router::Target::kGreen);
  }
}

TEST_F(OrchestratorTest, FlipTimeoutIsUndoneInTime) {
  Orchestrator* o = NewOrchestrator("d1");
  o->Start();
  v1::Plan plan = TestPlan(false);
  plan.mutable_flip()->mutable_flip_timeout()->set_seconds(0);
  plan.mutable_flip()->mutable_flip_timeout()->set_nanos(200'000'000);
  const std::string id = StartCutover(o, plan);
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_READY));
  fake_.hold_replay = true;
  const absl::Time t0 = absl::Now();
  ASSERT_TRUE(o->Approve(id, "", kOps).ok());
  ASSERT_TRUE(WaitFor([&] { return Get(id).flip().attempts() == 1 && Get(id).phase() == v1::PHASE_READY; }));
  EXPECT_LT(absl::Now() - t0, absl::Seconds(5));
  EXPECT_THAT(Get(id).reason(), HasSubstr("drain"));
  EXPECT_FALSE(fake_.router_.paused());
  EXPECT_FALSE(fake_.fence_.raised());
  EXPECT_EQ(fake_.router_.target(), router::Target::kBlue);
}

TEST_F(OrchestratorTest, FailedUndoStopsInFailedWithTheCommandToRun) {
  Orchestrator* o = NewOrchestrator("d1");
  o->Start();
  const std::string id = StartCutover(o, TestPlan(false));
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_READY));
  fake_.FailNext("seal", absl::FailedPreconditionError("seal broke"));
  fake_.fence_.FailAlways("lower", absl::FailedPreconditionError("cannot lower"));
  ASSERT_TRUE(o->Approve(id, "", kOps).ok());
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_FAILED));
  const v1::Cutover c = Get(id);
  EXPECT_THAT(c.reason(), HasSubstr("undo failed"));
  EXPECT_THAT(c.next_step(), HasSubstr("cutoverctl resume " + id));
  EXPECT_EQ(c.failed_phase(), v1::PHASE_FLIPPING);
  EXPECT_FALSE(fake_.router_.paused()) << "clients are let go even when the fence could not be lowered";
  // Fixed by the operator; resume re-runs the undo from the stored step.
  fake_.fence_.Clear("lower");
  ASSERT_TRUE(o->Resume(id, "fence fixed", kOps).ok());
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_READY));
  EXPECT_FALSE(fake_.fence_.raised());
  ASSERT_TRUE(o->Approve(id, "", kOps).ok());
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_COMPLETED));
}

// A repoint that fails, then an undo that fails after letting clients back
// onto blue (fence lowered, resumed): blue may now hold writes after the
// seal, so resume must retry the undo (back to READY, a fresh flip reseals),
// never finish forward from the stored REPOINTING marker.
TEST_F(OrchestratorTest, ResumeAfterAFailedUndoAtRepointUndoesNeverFinishesForward) {
  Orchestrator* o = NewOrchestrator("d1");
  o->Start();
  const std::string id = StartCutover(o, TestPlan(false));
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_READY));
  fake_.router_.FailAlways("repoint", absl::FailedPreconditionError("config not writable"));
  ASSERT_TRUE(o->Approve(id, "", kOps).ok());
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_FAILED));
  EXPECT_THAT(Get(id).reason(), HasSubstr("undo failed"));
  EXPECT_FALSE(fake_.fence_.raised()) << "the undo lowered the fence before failing at the repoint";
  EXPECT_FALSE(fake_.router_.paused());
  EXPECT_EQ(Get(id).flip_step(), v1::FLIP_STEP_PAUSING) << "stored so that resume undoes";
  fake_.router_.Clear("repoint");
  const int seals = fake_.Count("seal");
  ASSERT_TRUE(o->Resume(id, "config fixed", kOps).ok());
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_READY));
  EXPECT_EQ(fake_.router_.target(), router::Target::kBlue);
  EXPECT_EQ(fake_.Count("seal"), seals) << "no forward finish";
  // The next flip seals again, covering blue's writes since the undo.
  ASSERT_TRUE(o->Approve(id, "", kOps).ok());
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_COMPLETED));
  EXPECT_EQ(fake_.Count("seal"), seals + 1);
}

TEST_F(OrchestratorTest, TransientErrorsAreRetriedPermanentOnesFail) {
  Orchestrator* o = NewOrchestrator("d1");
  o->Start();
  fake_.FailNext("install_capture", absl::UnavailableError("blue restarting"));
  fake_.FailNext("install_capture", absl::UnavailableError("blue restarting"));
  fake_.FailNext("migrate", absl::InvalidArgumentError("syntax error in 002.sql"));
  const std::string id = StartCutover(o, TestPlan(true));
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_FAILED));
  EXPECT_EQ(fake_.Count("install_capture"), 3);
  const v1::Cutover c = Get(id);
  EXPECT_EQ(c.failed_phase(), v1::PHASE_MIGRATING);
  EXPECT_THAT(c.reason(), HasSubstr("002.sql"));
  EXPECT_THAT(c.next_step(), HasSubstr("cutoverctl resume"));
  ASSERT_TRUE(o->Resume(id, "fixed 002.sql", kOps).ok());
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_COMPLETED));
}

TEST_F(OrchestratorTest, PauseAndResumeDuringTheCopy) {
  Orchestrator* o = NewOrchestrator("d1");
  o->Start();
  fake_.hold_copy = true;
  const std::string id = StartCutover(o, TestPlan(true));
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_COPYING));
  ASSERT_TRUE(o->Pause(id, "peak traffic", kOps).ok());
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_PAUSED));
  EXPECT_EQ(Get(id).paused_phase(), v1::PHASE_COPYING);
  fake_.hold_copy = false;  // the copy is paused by its control: it must not finish
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_EQ(Get(id).phase(), v1::PHASE_PAUSED);
  EXPECT_EQ(o->Pause(id, "", kOps).status().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(o->Resume(id, "", kOps).ok());
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_COMPLETED));
  EXPECT_EQ(fake_.copies, 1);
}

TEST_F(OrchestratorTest, AbortDuringTheCopyLeavesBlueAsItWas) {
  Orchestrator* o = NewOrchestrator("d1");
  o->Start();
  fake_.hold_copy = true;
  const std::string id = StartCutover(o, TestPlan(true));
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_COPYING));
  ASSERT_TRUE(fake_.capture_installed);
  ASSERT_TRUE(o->Abort(id, "change cancelled", kOps).ok());
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_ABORTED));
  ASSERT_TRUE(WaitFor([&] { return !Get(id).capture_installed(); }));
  EXPECT_FALSE(fake_.capture_installed);
  EXPECT_FALSE(fake_.relay_running);
  EXPECT_FALSE(fake_.fence_.raised());
  EXPECT_TRUE(fake_.router_.calls().empty());
  EXPECT_EQ(Get(id).reason(), "change cancelled");
  ASSERT_TRUE(WaitFor([&] { return o->ActiveForTest().empty(); }));
}

TEST_F(OrchestratorTest, CommandsInTheWrongPhaseAreRefusedWithoutChange) {
  Orchestrator* o = NewOrchestrator("d1");
  absl::StatusOr<v1::Cutover> c = o->CreatePlan(TestPlan(false), kOps);
  ASSERT_TRUE(c.ok());
  const std::string id = c->id();
  for (auto call : {&Orchestrator::Pause, &Orchestrator::Resume, &Orchestrator::Approve}) {
    absl::StatusOr<v1::Cutover> r = (o->*call)(id, "", kOps);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
    EXPECT_THAT(r.status().message(), HasSubstr("PLANNED"));
  }
  EXPECT_EQ(o->Get("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(Phases(id), ElementsAre("PLANNED"));
  // Start twice: the second is refused.
  ASSERT_TRUE(o->Start(id, kOps).ok());
  EXPECT_EQ(o->Start(id, kOps).status().code(), absl::StatusCode::kFailedPrecondition);
  // Preflight failures are refused at create, naming the check.
  fake_.preflight_ok = false;
  absl::StatusOr<v1::Cutover> bad = o->CreatePlan(TestPlan(false), kOps);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(bad.status().message(), HasSubstr("fake.ok"));
}

TEST(PlanFields, ErrorsNameEveryField) {
  v1::Plan p;
  absl::Status st = ValidatePlanFields(p);
  ASSERT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  for (const char* f : {"plan.name", "plan.blue.dsn", "plan.green.dsn", "plan.queue", "plan.router", "plan.capture"}) {
    EXPECT_THAT(st.message(), HasSubstr(f));
  }
  p = TestPlan(false);
  EXPECT_TRUE(ValidatePlanFields(p).ok());
  p.mutable_flip()->set_max_backlog(-1);
  EXPECT_THAT(ValidatePlanFields(p).message(), HasSubstr("plan.flip.max_backlog"));
}

// Recovery after a crash inside the flip, decided from the stored step alone.
class FlipRecoveryTest : public OrchestratorTest, public ::testing::WithParamInterface<v1::FlipStep> {};

TEST_P(FlipRecoveryTest, RestartInsideTheFlipUndoesOrFinishes) {
  const v1::FlipStep step = GetParam();
  // A cutover "left behind" by a daemon that died at `step`.
  v1::Cutover c;
  c.set_id("crashed");
  *c.mutable_plan() = TestPlan(false);
  c.set_phase(v1::PHASE_FLIPPING);
  c.set_flip_step(step);
  c.set_capture_installed(true);
  c.mutable_copy_report()->mutable_verify()->set_all_match(true);
  c.mutable_flip()->mutable_seal()->add_end()->set_offset(100);
  // Paused a second before the daemon died.
  *c.mutable_flip()->mutable_paused_at() = ToProtoTime(absl::Now() - absl::Seconds(1));
  ASSERT_TRUE(store_->Create(c, {v1::PHASE_UNSPECIFIED, v1::PHASE_FLIPPING, "dead", "test", ""}).ok());
  // The world as the dead daemon left it.
  ASSERT_TRUE(fake_.router_.Pause(absl::InfiniteFuture()).ok());
  if (step >= v1::FLIP_STEP_SEALING) {
    ASSERT_TRUE(fake_.fence_.Raise(absl::InfiniteFuture()).ok());
  }
  fake_.capture_installed = true;
  fake_.router_.ClearCalls();

  Orchestrator* o = NewOrchestrator("d2");
  o->Start();
  if (step >= v1::FLIP_STEP_REPOINTING) {
    ASSERT_TRUE(WaitPhase("crashed", v1::PHASE_COMPLETED));
    EXPECT_EQ(fake_.router_.target(), router::Target::kGreen);
    EXPECT_TRUE(fake_.fence_.raised());
    // The write gap counts from the dead daemon's pause.
    EXPECT_GE(FromProto(Get("crashed").flip().write_gap()), absl::Seconds(1));
  } else {
    ASSERT_TRUE(WaitPhase("crashed", v1::PHASE_READY));
    EXPECT_GE(FromProto(Get("crashed").flip().write_gap()), absl::Seconds(1));
    EXPECT_THAT(Get("crashed").reason(), HasSubstr("restarted during the flip"));
    EXPECT_EQ(fake_.router_.target(), router::Target::kBlue);
    EXPECT_FALSE(fake_.fence_.raised());
  }
  EXPECT_FALSE(fake_.router_.paused()) << "clients are never left paused";
}

INSTANTIATE_TEST_SUITE_P(Steps, FlipRecoveryTest,
                         ::testing::Values(v1::FLIP_STEP_PAUSING, v1::FLIP_STEP_FENCING, v1::FLIP_STEP_SEALING,
                                           v1::FLIP_STEP_DRAINING, v1::FLIP_STEP_REPOINTING),
                         [](const auto& info) { return v1::FlipStep_Name(info.param); });

// ---- rollback ----

v1::Plan RollbackPlan(bool auto_flip, absl::Duration window) {
  v1::Plan p = TestPlan(auto_flip);
  p.mutable_flip()->mutable_rollback_window()->set_seconds(absl::ToInt64Seconds(window));
  p.mutable_flip()->mutable_rollback_window()->set_nanos(
      static_cast<int32_t>(absl::ToInt64Nanoseconds(window - absl::Seconds(absl::ToInt64Seconds(window)))));
  return p;
}

int IndexOf(const std::vector<std::string>& v, const std::string& what) {
  auto it = std::find(v.begin(), v.end(), what);
  return it == v.end() ? -1 : static_cast<int>(it - v.begin());
}

TEST_F(OrchestratorTest, RollbackAfterTheFlipCarriesGreenBackToBlue) {
  Orchestrator* o = NewOrchestrator("d1");
  o->Start();
  const std::string id = StartCutover(o, RollbackPlan(/*auto_flip=*/true, absl::Minutes(10)));
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_COMPLETED));
  // Capture for the rollback went onto green before the flip let clients in,
  // and the reverse stream runs while the window is open.
  const std::vector<std::string> calls = fake_.calls();
  ASSERT_GE(IndexOf(calls, "reverse_install_capture"), 0);
  EXPECT_LT(IndexOf(calls, "reverse_install_capture"), IndexOf(calls, "seal"));
  EXPECT_TRUE(fake_.reverse_capture_installed);
  ASSERT_TRUE(WaitFor([&] { return fake_.reverse_relay_running && fake_.reverse_replayer_running; }));
  EXPECT_TRUE(Get(id).has_rollback_window_ends_at());
  EXPECT_FALSE(store_->GetLease(id)->holder.empty()) << "a daemon keeps the window";

  ASSERT_TRUE(o->Rollback(id, "error rate on green", kOps).ok());
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_ROLLED_BACK));
  EXPECT_THAT(Phases(id), ::testing::IsSupersetOf({"COMPLETED", "ROLLING_BACK", "ROLLED_BACK"}));
  EXPECT_THAT(fake_.router_.calls(),
              ElementsAre("check", "pause", "repoint:green", "resume", "check", "pause", "repoint:blue", "resume"));
  EXPECT_EQ(fake_.router_.target(), router::Target::kBlue);
  EXPECT_FALSE(fake_.router_.paused());
  EXPECT_FALSE(fake_.fence_.raised()) << "blue takes writes again";
  EXPECT_TRUE(fake_.green_fence_.raised()) << "green is fenced after the rollback";
  EXPECT_FALSE(fake_.reverse_capture_installed);
  EXPECT_FALSE(fake_.capture_installed);
  EXPECT_GE(fake_.Count("reverse_seal"), 1);
  EXPECT_GE(fake_.Count("reverse_replay_until"), 1);
  // The sweep ran once, before the reverse flip, with the copy's snapshot.
  const std::vector<std::string> all = fake_.calls();
  EXPECT_EQ(fake_.Count("sweep"), 1);
  EXPECT_LT(IndexOf(all, "sweep"), IndexOf(all, "reverse_seal"));
  EXPECT_THAT(fake_.sweep_snapshots(), ElementsAre("100:100:"));
  const v1::Cutover c = Get(id);
  EXPECT_TRUE(c.rollback_sweep().done());
  EXPECT_EQ(c.rollback_sweep().revoked(), 3);
  EXPECT_THAT(Actions(id), ::testing::Contains("rollback-sweep"));
  EXPECT_TRUE(c.rollback().succeeded());
  EXPECT_EQ(c.rollback().steps_size(), 6);
  EXPECT_TRUE(c.green_fenced());
  EXPECT_FALSE(c.blue_fenced());
  // Audited with the caller, and in the report.
  bool audited = false;
  for (const auto& t : Timeline(id)) audited |= t.action() == "request:rollback" && t.actor() == "token:ops (approver)";
  EXPECT_TRUE(audited);
  absl::StatusOr<v1::Report> r = o->GetReport(id);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->rollback().succeeded());
  ASSERT_TRUE(WaitFor([&] { return store_->GetLease(id)->holder.empty(); }));
  // Terminal: a second rollback is refused.
  EXPECT_EQ(o->Rollback(id, "", kOps).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(OrchestratorTest, RollbackIsRefusedBeforeTheFlipWithoutAWindowAndAfterItCloses) {
  Orchestrator* o = NewOrchestrator("d1");
  o->Start();
  // Before the flip: abort is the tool.
  const std::string ready = StartCutover(o, RollbackPlan(/*auto_flip=*/false, absl::Minutes(10)));
  ASSERT_TRUE(WaitPhase(ready, v1::PHASE_READY));
  absl::StatusOr<v1::Cutover> r = o->Rollback(ready, "", kOps);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("use abort"));
  // Abort in READY removes the rollback capture from green too.
  ASSERT_TRUE(WaitFor([&] { return fake_.reverse_capture_installed.load(); }));
  ASSERT_TRUE(o->Abort(ready, "not tonight", kOps).ok());
  ASSERT_TRUE(WaitPhase(ready, v1::PHASE_ABORTED));
  ASSERT_TRUE(WaitFor([&] { return !fake_.reverse_capture_installed && !fake_.capture_installed; }));

  // No window in the plan: refused with the reason.
  const std::string none = StartCutover(o, TestPlan(/*auto_flip=*/true));
  ASSERT_TRUE(WaitPhase(none, v1::PHASE_COMPLETED));
  r = o->Rollback(none, "", kOps);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("rollback_window is 0"));
  EXPECT_EQ(fake_.Count("reverse_install_capture"), 1) << "no rollback capture without a window";

  // A short window closes by itself: green's capture is removed, then refused.
  const std::string brief = StartCutover(o, RollbackPlan(/*auto_flip=*/true, absl::Milliseconds(300)));
  ASSERT_TRUE(WaitPhase(brief, v1::PHASE_COMPLETED));
  ASSERT_TRUE(WaitFor([&] { return !Get(brief).reverse_capture_installed(); }));
  EXPECT_FALSE(fake_.reverse_capture_installed);
  EXPECT_THAT(Actions(brief), ::testing::Contains("rollback-window-closed"));
  r = o->Rollback(brief, "", kOps);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(r.status().message(), HasSubstr("rollback"));
  ASSERT_TRUE(WaitFor([&] { return store_->GetLease(brief)->holder.empty(); })) << "nothing left to watch";
}

TEST_F(OrchestratorTest, FailureAtEachRollbackStepIsUndoneTrafficStaysOnGreen) {
  struct Case {
    std::string step;
    std::function<void(FakeBackend&)> inject;
  };
  const absl::Status boom = absl::FailedPreconditionError("injected");
  const std::vector<Case> cases = {
      {"pause", [&](FakeBackend& b) { b.router_.FailNext("pause", boom); }},
      {"fence", [&](FakeBackend& b) { b.green_fence_.FailNext("raise", boom); }},
      {"seal", [&](FakeBackend& b) { b.FailNext("reverse_seal", boom); }},
      {"drain", [&](FakeBackend& b) { b.FailNext("reverse_replay_until", boom); }},
      {"repoint", [&](FakeBackend& b) { b.fence_.FailNext("lower", boom); }},
      {"repoint", [&](FakeBackend& b) { b.router_.FailNext("repoint", boom); }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.step);
    World w;
    FakeBackend& fresh = w.fake;
    const std::string id = w.Start(RollbackPlan(true, absl::Minutes(10)));
    auto phase = [&] { return w.Get(id).phase(); };
    ASSERT_TRUE(WaitFor([&] { return phase() == v1::PHASE_COMPLETED; }));
    c.inject(fresh);
    ASSERT_TRUE(w.orch->Rollback(id, "", kOps).ok());
    ASSERT_TRUE(WaitFor([&] { return w.Get(id).rollback().attempts() == 1 && phase() == v1::PHASE_COMPLETED; }));
    const v1::Cutover after = w.Get(id);
    EXPECT_THAT(after.reason(), HasSubstr(c.step));
    EXPECT_THAT(after.reason(), HasSubstr("injected"));
    EXPECT_THAT(after.reason(), HasSubstr("traffic still on green"));
    EXPECT_EQ(fresh.router_.target(), router::Target::kGreen);
    EXPECT_FALSE(fresh.router_.paused());
    EXPECT_FALSE(fresh.green_fence_.raised());
    EXPECT_TRUE(fresh.fence_.raised()) << "blue is fenced again while green has the traffic";
    EXPECT_TRUE(fresh.reverse_capture_installed);
    ASSERT_TRUE(WaitFor([&] { return fresh.reverse_relay_running && fresh.reverse_replayer_running; }));
    // A second rollback goes through.
    ASSERT_TRUE(w.orch->Rollback(id, "retry", kOps).ok());
    ASSERT_TRUE(WaitFor([&] { return phase() == v1::PHASE_ROLLED_BACK; }));
    EXPECT_EQ(fresh.router_.target(), router::Target::kBlue);
    EXPECT_FALSE(fresh.fence_.raised());
    EXPECT_TRUE(fresh.green_fence_.raised());
  }
}

// Chaos seed 1024: the install of the rollback capture failed once (blue
// restarting); the retry saw the "installed" mark and flipped without it, so
// every later rollback failed at the seal (no outbox on green).
TEST_F(OrchestratorTest, AFailedRollbackCaptureInstallIsRetriedBeforeTheFlip) {
  fake_.FailNext("reverse_install_capture", absl::UnavailableError("cannot connect to blue"));
  Orchestrator* o = NewOrchestrator("d1");
  o->Start();
  const std::string id = StartCutover(o, RollbackPlan(/*auto_flip=*/true, absl::Minutes(10)));
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_COMPLETED));
  const std::vector<std::string> calls = fake_.calls();
  EXPECT_EQ(fake_.Count("reverse_install_capture"), 2) << "the failed install is tried again";
  ASSERT_GE(IndexOf(calls, "reverse_verify_capture"), 0);
  EXPECT_LT(IndexOf(calls, "reverse_verify_capture"), IndexOf(calls, "seal")) << "verified before the flip";
  EXPECT_TRUE(fake_.reverse_capture_installed);
  EXPECT_THAT(Actions(id), ::testing::Contains("rollback-prepared"));
  ASSERT_TRUE(o->Rollback(id, "", kOps).ok());
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_ROLLED_BACK));
}

TEST_F(OrchestratorTest, ARollbackSweepFailureIsUndoneBeforeAnythingPausesAndATransientOneIsRetried) {
  Orchestrator* o = NewOrchestrator("d1");
  o->Start();
  const std::string id = StartCutover(o, RollbackPlan(/*auto_flip=*/true, absl::Minutes(10)));
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_COMPLETED));
  fake_.router_.ClearCalls();

  // A permanent failure: the rollback is undone before the router is touched.
  fake_.FailNext("sweep", absl::FailedPreconditionError("injected sweep failure"));
  ASSERT_TRUE(o->Rollback(id, "", kOps).ok());
  ASSERT_TRUE(WaitFor([&] { return Get(id).phase() == v1::PHASE_COMPLETED && Get(id).rollback().attempts() == 1; }));
  v1::Cutover c = Get(id);
  EXPECT_THAT(c.reason(), HasSubstr("rollback sweep on blue failed"));
  EXPECT_THAT(c.reason(), HasSubstr("injected sweep failure"));
  EXPECT_THAT(c.reason(), HasSubstr("traffic still on green"));
  EXPECT_FALSE(c.rollback_sweep().done());
  EXPECT_THAT(fake_.router_.calls(), ::testing::IsEmpty()) << "nothing paused or repointed";
  EXPECT_EQ(fake_.router_.target(), router::Target::kGreen);
  EXPECT_FALSE(fake_.green_fence_.raised());
  EXPECT_TRUE(fake_.fence_.raised()) << "blue stays fenced";
  ASSERT_TRUE(WaitFor([&] { return fake_.reverse_relay_running && fake_.reverse_replayer_running; }));

  // A transient failure is retried within the same rollback.
  fake_.FailNext("sweep", absl::UnavailableError("blue restarting"));
  ASSERT_TRUE(o->Rollback(id, "retry", kOps).ok());
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_ROLLED_BACK));
  EXPECT_EQ(fake_.Count("sweep"), 3);
  c = Get(id);
  EXPECT_TRUE(c.rollback_sweep().done());
  EXPECT_EQ(fake_.router_.target(), router::Target::kBlue);
}

TEST_F(OrchestratorTest, ARollbackWithoutARecordedSnapshotSkipsTheSweepAndSaysSo) {
  fake_.record_snapshot = false;  // as a copy by an older cutoverd reports it
  Orchestrator* o2 = NewOrchestrator("d1");
  o2->Start();
  const std::string id = StartCutover(o2, RollbackPlan(/*auto_flip=*/true, absl::Minutes(10)));
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_COMPLETED));
  ASSERT_TRUE(o2->Rollback(id, "", kOps).ok());
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_ROLLED_BACK));
  EXPECT_EQ(fake_.Count("sweep"), 0);
  EXPECT_THAT(Get(id).rollback_sweep().skipped_reason(), HasSubstr("no copy snapshot recorded"));
  bool noted = false;
  for (const auto& t : Timeline(id)) noted |= t.action() == "rollback-sweep" && absl::StrContains(t.reason(), "skipped");
  EXPECT_TRUE(noted);
}

// A daemon killed during the sweep (or after its commit, before saving it)
// leaves ROLLING_BACK with no step and no sweep recorded: the next holder
// sweeps (again: idempotent) and then runs the reverse flip.
TEST_F(OrchestratorTest, RestartDuringTheRollbackSweepSweepsAgainAndRollsBack) {
  v1::Cutover c;
  c.set_id("mid-sweep");
  *c.mutable_plan() = RollbackPlan(false, absl::Minutes(10));
  c.set_phase(v1::PHASE_ROLLING_BACK);
  c.set_rollback_from(v1::PHASE_COMPLETED);
  c.set_reverse_capture_installed(true);
  c.set_blue_fenced(true);
  c.mutable_flip()->set_succeeded(true);
  c.mutable_rollback()->set_attempts(1);
  c.mutable_copy_report()->set_blue_xid_snapshot("100:100:");
  *c.mutable_rollback_window_ends_at() = ToProtoTime(absl::Now() + absl::Minutes(10));
  ASSERT_TRUE(store_->Create(c, {v1::PHASE_UNSPECIFIED, v1::PHASE_ROLLING_BACK, "dead", "test", ""}).ok());
  ASSERT_TRUE(fake_.router_.Repoint(router::Target::kGreen, absl::InfiniteFuture()).ok());
  ASSERT_TRUE(fake_.fence_.Raise(absl::InfiniteFuture()).ok());
  fake_.reverse_capture_installed = true;

  Orchestrator* o = NewOrchestrator("d2");
  o->Start();
  ASSERT_TRUE(WaitPhase("mid-sweep", v1::PHASE_ROLLED_BACK));
  EXPECT_EQ(fake_.Count("sweep"), 1);
  EXPECT_THAT(fake_.sweep_snapshots(), ElementsAre("100:100:"));
  const std::vector<std::string> calls = fake_.calls();
  EXPECT_LT(IndexOf(calls, "sweep"), IndexOf(calls, "reverse_seal"));
  EXPECT_TRUE(Get("mid-sweep").rollback_sweep().done());
  EXPECT_EQ(fake_.router_.target(), router::Target::kBlue);
}

class RollbackRecoveryTest : public OrchestratorTest, public ::testing::WithParamInterface<v1::FlipStep> {};

TEST_P(RollbackRecoveryTest, RestartInsideTheRollbackUndoesOrFinishes) {
  const v1::FlipStep step = GetParam();
  v1::Cutover c;
  c.set_id("crashed");
  *c.mutable_plan() = RollbackPlan(false, absl::Minutes(10));
  c.set_phase(v1::PHASE_ROLLING_BACK);
  c.set_rollback_from(v1::PHASE_COMPLETED);
  c.set_rollback_step(step);
  c.set_reverse_capture_installed(true);
  c.set_blue_fenced(true);
  c.mutable_flip()->set_succeeded(true);
  c.mutable_rollback()->set_attempts(1);
  c.mutable_rollback()->mutable_seal()->add_end()->set_offset(5);
  *c.mutable_rollback_window_ends_at() = ToProtoTime(absl::Now() + absl::Minutes(10));
  ASSERT_TRUE(store_->Create(c, {v1::PHASE_UNSPECIFIED, v1::PHASE_ROLLING_BACK, "dead", "test", ""}).ok());
  // The world as the dead daemon left it: traffic on green, paused, blue fenced.
  ASSERT_TRUE(fake_.router_.Repoint(router::Target::kGreen, absl::InfiniteFuture()).ok());
  ASSERT_TRUE(fake_.router_.Pause(absl::InfiniteFuture()).ok());
  ASSERT_TRUE(fake_.fence_.Raise(absl::InfiniteFuture()).ok());
  if (step >= v1::FLIP_STEP_SEALING) {
    ASSERT_TRUE(fake_.green_fence_.Raise(absl::InfiniteFuture()).ok());
  }
  fake_.reverse_capture_installed = true;
  fake_.router_.ClearCalls();

  Orchestrator* o = NewOrchestrator("d2");
  o->Start();
  if (step >= v1::FLIP_STEP_REPOINTING) {
    ASSERT_TRUE(WaitPhase("crashed", v1::PHASE_ROLLED_BACK));
    EXPECT_EQ(fake_.router_.target(), router::Target::kBlue);
    EXPECT_FALSE(fake_.fence_.raised());
    EXPECT_TRUE(fake_.green_fence_.raised());
    EXPECT_FALSE(fake_.reverse_capture_installed);
  } else {
    ASSERT_TRUE(WaitPhase("crashed", v1::PHASE_COMPLETED));
    EXPECT_THAT(Get("crashed").reason(), HasSubstr("restarted during the flip"));
    EXPECT_EQ(fake_.router_.target(), router::Target::kGreen);
    EXPECT_TRUE(fake_.fence_.raised());
    EXPECT_FALSE(fake_.green_fence_.raised());
    EXPECT_TRUE(fake_.reverse_capture_installed) << "the window stays open";
  }
  EXPECT_FALSE(fake_.router_.paused()) << "clients are never left paused";
  EXPECT_EQ(fake_.Count("sweep"), 0) << "the sweep runs before the flip starts, never inside it";
}

INSTANTIATE_TEST_SUITE_P(Steps, RollbackRecoveryTest,
                         ::testing::Values(v1::FLIP_STEP_PAUSING, v1::FLIP_STEP_FENCING, v1::FLIP_STEP_SEALING,
                                           v1::FLIP_STEP_DRAINING, v1::FLIP_STEP_REPOINTING),
                         [](const auto& info) { return v1::FlipStep_Name(info.param); });

TEST_F(OrchestratorTest, StandbyTakesOverWhenTheLeaseHolderStops) {
  Orchestrator* a = NewOrchestrator("daemon-a", absl::Milliseconds(300));
  Orchestrator* b = NewOrchestrator("daemon-b", absl::Milliseconds(300));
  fake_.hold_copy = true;
  a->Start();
  const std::string id = StartCutover(a, TestPlan(true));
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_COPYING));
  b->Start();
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_TRUE(b->ActiveForTest().empty()) << "b is a standby while a holds the lease";
  EXPECT_EQ(store_->GetLease(id)->holder, "daemon-a");
  // a goes away (its lease is released on Stop; a crash would let it expire).
  a->Stop();
  fake_.hold_copy = false;
  ASSERT_TRUE(WaitPhase(id, v1::PHASE_COMPLETED));
  bool adopted_by_b = false;
  for (const auto& t : Timeline(id)) {
    adopted_by_b |= t.action() == "adopted" && t.actor() == "daemon-b";
  }
  EXPECT_TRUE(adopted_by_b);
}

}  // namespace
}  // namespace cutover::engine
