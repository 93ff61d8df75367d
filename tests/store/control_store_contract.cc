#include "control_store_contract.h"

#include <atomic>
#include <thread>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "cutover/common/proto_time.h"
#include "gmock/gmock.h"

namespace cutover::store::testing {

using cutover::v1::Cutover;
using cutover::v1::Phase;
using ::testing::HasSubstr;

void ControlStoreContract::SetUp() {
  harness_ = GetParam().make();
  ASSERT_NE(harness_, nullptr);
  ASSERT_FALSE(HasFailure());
  absl::Status st = store().Init();
  ASSERT_TRUE(st.ok()) << st;
}

std::string ParamName(const ::testing::TestParamInfo<HarnessParam>& info) { return info.param.name; }

Cutover MakeCutover(const std::string& id, Phase phase) {
  Cutover c;
  c.set_id(id);
  c.set_phase(phase);
  c.mutable_plan()->set_name("plan-" + id);
  return c;
}

TransitionRecord Rec(Phase from, Phase to, const std::string& action, const std::string& actor,
                     const std::string& reason) {
  TransitionRecord r;
  r.from = from;
  r.to = to;
  r.action = action;
  r.actor = actor;
  r.reason = reason;
  return r;
}

namespace {

constexpr absl::Duration kLongTtl = absl::Seconds(60);
// Real-time bound on anything that polls (only reached when broken).
constexpr absl::Duration kPollDeadline = absl::Seconds(20);

#define ASSERT_OK(expr)                            \
  do {                                             \
    const absl::Status st_ = (expr);               \
    ASSERT_TRUE(st_.ok()) << #expr << ": " << st_; \
  } while (0)

// Creates `id` in PLANNED, asserting success.
StoredCutover MustCreate(ControlStore& s, const std::string& id, Phase phase = v1::PHASE_PLANNED) {
  auto c = s.Create(MakeCutover(id, phase), Rec(v1::PHASE_UNSPECIFIED, phase, "create"));
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? *c : StoredCutover{};
}

size_t TimelineSize(ControlStore& s, const std::string& id) {
  auto t = s.Transitions(id);
  EXPECT_TRUE(t.ok()) << t.status();
  return t.ok() ? t->size() : 0;
}

int64_t VersionOf(ControlStore& s, const std::string& id) {
  auto c = s.Get(id);
  EXPECT_TRUE(c.ok()) << c.status();
  return c.ok() ? c->version : -1;
}

TEST_P(ControlStoreContract, CreateGetList) {
  StoredCutover c1 = MustCreate(store(), "c1");
  ASSERT_FALSE(HasFailure());
  EXPECT_EQ(c1.version, 1);
  EXPECT_EQ(c1.cutover.phase(), v1::PHASE_PLANNED);
  EXPECT_TRUE(c1.cutover.has_created_at());

  auto again =
      store().Create(MakeCutover("c1", v1::PHASE_PLANNED), Rec(v1::PHASE_UNSPECIFIED, v1::PHASE_PLANNED));
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists) << again.status();
  EXPECT_EQ(store().Create(MakeCutover("", v1::PHASE_PLANNED), {}).status().code(),
            absl::StatusCode::kInvalidArgument);

  auto got = store().Get("c1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->version, 1);
  EXPECT_EQ(got->cutover.plan().name(), "plan-c1");
  EXPECT_EQ(got->cutover.phase(), v1::PHASE_PLANNED);
  EXPECT_EQ(FromProtoTime(got->cutover.created_at()), FromProtoTime(c1.cutover.created_at()));

  auto missing = store().Get("nope");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr("nope"));

  harness().PassTime(absl::Seconds(1));
  MustCreate(store(), "c2", v1::PHASE_COPYING);
  ASSERT_FALSE(HasFailure());

  auto all = store().List({});
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].cutover.id(), "c2");  // newest first
  EXPECT_EQ((*all)[1].cutover.id(), "c1");

  auto planned = store().List({v1::PHASE_PLANNED});
  ASSERT_TRUE(planned.ok()) << planned.status();
  ASSERT_EQ(planned->size(), 1u);
  EXPECT_EQ((*planned)[0].cutover.id(), "c1");

  auto two = store().List({v1::PHASE_COPYING, v1::PHASE_PLANNED});
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(two->size(), 2u);

  auto none = store().List({v1::PHASE_READY});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST_P(ControlStoreContract, TransitionWritesStateAndTimeline) {
  MustCreate(store(), "c1");
  Cutover c = MakeCutover("c1", v1::PHASE_CAPTURING);
  auto t1 = store().Transition(c, Rec(v1::PHASE_PLANNED, v1::PHASE_CAPTURING, "start", "ops", "go"), "");
  ASSERT_TRUE(t1.ok()) << t1.status();
  EXPECT_EQ(t1->version, 2);
  EXPECT_EQ(t1->cutover.phase(), v1::PHASE_CAPTURING);

  c.set_phase(v1::PHASE_COPYING);
  c.set_reason("snapshot exported");
  auto t2 =
      store().Transition(c, Rec(v1::PHASE_CAPTURING, v1::PHASE_COPYING, "phase-complete", "cutoverd"), "");
  ASSERT_TRUE(t2.ok()) << t2.status();
  EXPECT_EQ(t2->version, 3);

  auto got = store().Get("c1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->version, 3);
  EXPECT_EQ(got->cutover.phase(), v1::PHASE_COPYING);
  EXPECT_EQ(got->cutover.reason(), "snapshot exported");

  auto timeline = store().Transitions("c1");
  ASSERT_TRUE(timeline.ok()) << timeline.status();
  ASSERT_EQ(timeline->size(), 3u);
  for (size_t i = 0; i < timeline->size(); ++i) EXPECT_EQ((*timeline)[i].seq(), static_cast<int64_t>(i + 1));
  EXPECT_EQ((*timeline)[0].to(), v1::PHASE_PLANNED);
  EXPECT_EQ((*timeline)[0].action(), "create");
  EXPECT_EQ((*timeline)[1].from(), v1::PHASE_PLANNED);
  EXPECT_EQ((*timeline)[1].to(), v1::PHASE_CAPTURING);
  EXPECT_EQ((*timeline)[1].actor(), "ops");
  EXPECT_EQ((*timeline)[1].action(), "start");
  EXPECT_EQ((*timeline)[1].reason(), "go");
  EXPECT_EQ((*timeline)[2].to(), v1::PHASE_COPYING);
  EXPECT_GE(FromProtoTime((*timeline)[2].at()), FromProtoTime((*timeline)[1].at()));

  auto tail = store().Transitions("c1", 2);
  ASSERT_TRUE(tail.ok());
  ASSERT_EQ(tail->size(), 1u);
  EXPECT_EQ((*tail)[0].seq(), 3);
  EXPECT_EQ(store().Transitions("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(
      store()
          .Transition(MakeCutover("nope", v1::PHASE_COPYING), Rec(v1::PHASE_PLANNED, v1::PHASE_COPYING), "")
          .status()
          .code(),
      absl::StatusCode::kNotFound);
}

TEST_P(ControlStoreContract, WrongFromPhaseWritesNothing) {
  MustCreate(store(), "c1");
  auto r =
      store().Transition(MakeCutover("c1", v1::PHASE_FLIPPING), Rec(v1::PHASE_READY, v1::PHASE_FLIPPING), "");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("c1 is in PHASE_PLANNED, expected PHASE_READY"));
  // The state must match record.to.
  auto bad = store().Transition(MakeCutover("c1", v1::PHASE_COPYING),
                                Rec(v1::PHASE_PLANNED, v1::PHASE_CAPTURING), "");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument) << bad.status();

  EXPECT_EQ(VersionOf(store(), "c1"), 1);
  EXPECT_EQ(TimelineSize(store(), "c1"), 1u);
  auto got = store().Get("c1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->cutover.phase(), v1::PHASE_PLANNED);
}

TEST_P(ControlStoreContract, SaveKeepsPhaseAndTimeline) {
  StoredCutover created = MustCreate(store(), "c1");
  Cutover c = MakeCutover("c1", v1::PHASE_CAPTURING);
  auto moved = store().Save(c, "");
  EXPECT_EQ(moved.status().code(), absl::StatusCode::kFailedPrecondition) << moved.status();
  EXPECT_THAT(std::string(moved.status().message()), HasSubstr("PHASE_PLANNED"));
  EXPECT_EQ(VersionOf(store(), "c1"), 1);

  harness().PassTime(absl::Seconds(2));
  c.set_phase(v1::PHASE_PLANNED);
  c.set_approved(true);
  c.mutable_replay()->set_backlog(42);
  auto saved = store().Save(c, "");
  ASSERT_TRUE(saved.ok()) << saved.status();
  EXPECT_EQ(saved->version, 2);
  auto got = store().Get("c1");
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->cutover.approved());
  EXPECT_EQ(got->cutover.replay().backlog(), 42);
  EXPECT_EQ(got->version, 2);
  // created_at is the store's, updated_at moves.
  EXPECT_EQ(FromProtoTime(got->cutover.created_at()), FromProtoTime(created.cutover.created_at()));
  EXPECT_GT(FromProtoTime(got->cutover.updated_at()), FromProtoTime(created.cutover.updated_at()));
  EXPECT_EQ(TimelineSize(store(), "c1"), 1u);
}

TEST_P(ControlStoreContract, RecordAppendsRowWithoutPhaseChange) {
  MustCreate(store(), "c1");
  TransitionRecord r =
      Rec(v1::PHASE_UNSPECIFIED, v1::PHASE_UNSPECIFIED, "approve-refused", "ops", "not READY");
  ASSERT_OK(store().Record("c1", r, ""));
  EXPECT_EQ(VersionOf(store(), "c1"), 2);
  auto t = store().Transitions("c1");
  ASSERT_TRUE(t.ok());
  ASSERT_EQ(t->size(), 2u);
  EXPECT_EQ((*t)[1].seq(), 2);
  EXPECT_EQ((*t)[1].from(), v1::PHASE_PLANNED);
  EXPECT_EQ((*t)[1].to(), v1::PHASE_PLANNED);
  EXPECT_EQ((*t)[1].action(), "approve-refused");
  EXPECT_EQ((*t)[1].reason(), "not READY");

  auto stale = store().Record("c1", Rec(v1::PHASE_READY, v1::PHASE_READY, "flip-retry"), "");
  EXPECT_EQ(stale.code(), absl::StatusCode::kFailedPrecondition) << stale;
  EXPECT_EQ(store().Record("nope", r, "").code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(TimelineSize(store(), "c1"), 2u);
}

TEST_P(ControlStoreContract, LeaseAcquireRenewRelease) {
  MustCreate(store(), "c1");
  auto none = store().GetLease("c1");
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_EQ(none->holder, "");

  auto a = store().AcquireLease("c1", "A", kLongTtl);
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->holder, "A");
  EXPECT_EQ(a->epoch, 1);
  auto got = store().Get("c1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->cutover.lease_holder(), "A");
  EXPECT_EQ(FromProtoTime(got->cutover.lease_expires_at()), a->expires_at);

  harness().PassTime(absl::Seconds(5));
  auto renewed = store().AcquireLease("c1", "A", kLongTtl);
  ASSERT_TRUE(renewed.ok());
  EXPECT_EQ(renewed->holder, "A");
  EXPECT_EQ(renewed->epoch, 1);  // a renewal is no change of holder
  EXPECT_GT(renewed->expires_at, a->expires_at);

  auto b = store().AcquireLease("c1", "B", kLongTtl);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->holder, "A");  // refused: A's lease is live
  EXPECT_EQ(b->epoch, 1);
  EXPECT_EQ(b->expires_at, renewed->expires_at);

  ASSERT_OK(store().ReleaseLease("c1", "B"));  // not B's: no-op
  auto still = store().GetLease("c1");
  ASSERT_TRUE(still.ok());
  EXPECT_EQ(still->holder, "A");

  ASSERT_OK(store().ReleaseLease("c1", "A"));
  auto released = store().GetLease("c1");
  ASSERT_TRUE(released.ok());
  EXPECT_EQ(released->holder, "");
  EXPECT_EQ(VersionOf(store(), "c1"), 1);  // leases are not cutover writes

  auto b2 = store().AcquireLease("c1", "B", kLongTtl);
  ASSERT_TRUE(b2.ok());
  EXPECT_EQ(b2->holder, "B");
  EXPECT_EQ(b2->epoch, 2);

  EXPECT_EQ(store().AcquireLease("nope", "A", kLongTtl).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store().GetLease("nope").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store().AcquireLease("c1", "A", absl::ZeroDuration()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store().AcquireLease("c1", "", kLongTtl).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(ControlStoreContract, TakeoverAfterExpiryFencesTheOldHolder) {
  MustCreate(store(), "c1");
  auto a = store().AcquireLease("c1", "A", harness().ShortTtl());
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_EQ(a->holder, "A");
  auto captured = store().Transition(MakeCutover("c1", v1::PHASE_CAPTURING),
                                     Rec(v1::PHASE_PLANNED, v1::PHASE_CAPTURING, "start"), "A");
  ASSERT_TRUE(captured.ok()) << captured.status();

  // B keeps trying until A's lease has run out.
  LeaseInfo b;
  const absl::Time give_up = absl::Now() + kPollDeadline;
  while (absl::Now() < give_up) {
    harness().PassTime(harness().ShortTtl());
    auto r = store().AcquireLease("c1", "B", kLongTtl);
    ASSERT_TRUE(r.ok()) << r.status();
    b = *r;
    if (b.holder == "B") break;
    absl::SleepFor(absl::Milliseconds(50));  // poll interval, not synchronization
  }
  ASSERT_EQ(b.holder, "B") << "B never took over the expired lease";
  EXPECT_EQ(b.epoch, a->epoch + 1);

  const int64_t version = VersionOf(store(), "c1");
  const size_t rows = TimelineSize(store(), "c1");
  auto t = store().Transition(MakeCutover("c1", v1::PHASE_COPYING),
                              Rec(v1::PHASE_CAPTURING, v1::PHASE_COPYING, "phase-complete"), "A");
  EXPECT_EQ(t.status().code(), absl::StatusCode::kAborted) << t.status();
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("held by B"));
  EXPECT_EQ(store().Save(MakeCutover("c1", v1::PHASE_CAPTURING), "A").status().code(),
            absl::StatusCode::kAborted);
  EXPECT_EQ(store().Record("c1", Rec(v1::PHASE_CAPTURING, v1::PHASE_CAPTURING), "A").code(),
            absl::StatusCode::kAborted);
  EXPECT_EQ(VersionOf(store(), "c1"), version);
  EXPECT_EQ(TimelineSize(store(), "c1"), rows);

  auto back = store().AcquireLease("c1", "A", kLongTtl);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->holder, "B");

  auto t2 = store().Transition(MakeCutover("c1", v1::PHASE_COPYING),
                               Rec(v1::PHASE_CAPTURING, v1::PHASE_COPYING, "phase-complete"), "B");
  ASSERT_TRUE(t2.ok()) << t2.status();
}

TEST_P(ControlStoreContract, ExpiredHolderCannotWrite) {
  MustCreate(store(), "c1");
  auto a = store().AcquireLease("c1", "A", harness().ShortTtl());
  ASSERT_TRUE(a.ok() && a->holder == "A");
  // Nobody takes over, but A's lease runs out: A's writes are refused.
  absl::Status st;
  const absl::Time give_up = absl::Now() + kPollDeadline;
  while (absl::Now() < give_up) {
    harness().PassTime(harness().ShortTtl());
    st = store().Record("c1", Rec(v1::PHASE_PLANNED, v1::PHASE_PLANNED, "heartbeat"), "A");
    if (!st.ok()) break;
    absl::SleepFor(absl::Milliseconds(50));  // poll interval
  }
  EXPECT_EQ(st.code(), absl::StatusCode::kAborted) << st;
  EXPECT_THAT(std::string(st.message()), HasSubstr("expired"));
  // Renewing by the same holder is no change of holder.
  auto again = store().AcquireLease("c1", "A", kLongTtl);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->holder, "A");
  EXPECT_EQ(again->epoch, a->epoch);
  ASSERT_OK(store().Record("c1", Rec(v1::PHASE_PLANNED, v1::PHASE_PLANNED, "heartbeat"), "A"));
}

TEST_P(ControlStoreContract, NonHolderWritesAreRejectedAndLeaveNoTrace) {
  MustCreate(store(), "c1");
  auto a = store().AcquireLease("c1", "A", kLongTtl);
  ASSERT_TRUE(a.ok() && a->holder == "A");
  Cutover c = MakeCutover("c1", v1::PHASE_CAPTURING);

  auto t = store().Transition(c, Rec(v1::PHASE_PLANNED, v1::PHASE_CAPTURING, "start"), "B");
  EXPECT_EQ(t.status().code(), absl::StatusCode::kAborted) << t.status();
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("lease on c1 is held by A until"));
  EXPECT_THAT(std::string(t.status().message()), HasSubstr("not by B"));
  c.set_phase(v1::PHASE_PLANNED);
  c.set_approved(true);
  EXPECT_EQ(store().Save(c, "B").status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(store().Record("c1", Rec(v1::PHASE_PLANNED, v1::PHASE_PLANNED), "B").code(),
            absl::StatusCode::kAborted);

  auto got = store().Get("c1");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->version, 1);
  EXPECT_EQ(got->cutover.phase(), v1::PHASE_PLANNED);
  EXPECT_FALSE(got->cutover.approved());
  EXPECT_EQ(TimelineSize(store(), "c1"), 1u);

  // The holder writes.
  c.set_phase(v1::PHASE_CAPTURING);
  auto ok = store().Transition(c, Rec(v1::PHASE_PLANNED, v1::PHASE_CAPTURING, "start"), "A");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->version, 2);
  EXPECT_EQ(ok->cutover.lease_holder(), "A");
}

TEST_P(ControlStoreContract, WaitForChangeWakesOnWrite) {
  MustCreate(store(), "c1");
  const int64_t v = VersionOf(store(), "c1");
  // Already newer: returns at once.
  auto now = store().WaitForChange("c1", v - 1, harness().clock().Now() + absl::Seconds(30));
  ASSERT_TRUE(now.ok()) << now.status();
  EXPECT_EQ(*now, v);

  absl::StatusOr<int64_t> seen = absl::UnknownError("not run");
  std::thread waiter(
      [&] { seen = store().WaitForChange("c1", v, harness().clock().Now() + absl::Seconds(60)); });
  Cutover c = MakeCutover("c1", v1::PHASE_PLANNED);
  c.set_reason("poke");
  auto saved = store().Save(c, "");
  waiter.join();
  ASSERT_TRUE(saved.ok()) << saved.status();
  ASSERT_TRUE(seen.ok()) << seen.status();
  EXPECT_EQ(*seen, v + 1);
  EXPECT_EQ(store().WaitForChange("nope", 0, harness().clock().Now()).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_P(ControlStoreContract, WaitForChangeTimesOut) {
  MustCreate(store(), "c1");
  const int64_t v = VersionOf(store(), "c1");
  const absl::Time deadline = harness().clock().Now() + absl::Milliseconds(300);
  std::atomic<bool> done{false};
  // Drives a simulated clock forward; with real time it only waits.
  std::thread ticker([&] {
    while (!done.load()) {
      harness().PassTime(absl::Milliseconds(20));
      absl::SleepFor(absl::Milliseconds(2));
    }
  });
  auto r = store().WaitForChange("c1", v, deadline);
  done = true;
  ticker.join();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, v);
  EXPECT_GE(harness().clock().Now(), deadline);
}

}  // namespace
}  // namespace cutover::store::testing
