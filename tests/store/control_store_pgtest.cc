// The ControlStore contract against PgControlStore on the shared sandbox's
// control cluster (label pg), plus what only PostgreSQL shows: the rows an
// SRE queries (phase text, table_progress), Init racing, two daemons racing
// for the lease, and a control-database restart.
#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "control_store_contract.h"
#include "cutover/common/clock.h"
#include "cutover/common/status.h"
#include "cutover/store/control_store.h"
#include "cutover/testing/sandbox_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cutover::store::testing {
namespace {

using cutover::v1::Cutover;
namespace v1 = cutover::v1;
using cutover::testing::FreshDatabases;
using cutover::testing::QueryScalar;

std::unique_ptr<ControlStore> MustOpen(const std::string& dsn) {
  auto s = NewPgControlStore(dsn);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

class PgHarness : public StoreHarness {
 public:
  PgHarness() {
    auto db = FreshDatabases("ctlstore");
    if (db.control.empty()) return;
    store_ = MustOpen(db.control);
  }
  bool ok() const { return store_ != nullptr; }
  ControlStore& store() override { return *store_; }
  Clock& clock() override { return *Clock::Real(); }
  void PassTime(absl::Duration) override {}  // real time passes by itself
  absl::Duration ShortTtl() override { return absl::Seconds(1); }

 private:
  std::unique_ptr<ControlStore> store_;
};

INSTANTIATE_TEST_SUITE_P(Postgres, ControlStoreContract,
                         ::testing::Values(HarnessParam{"postgres",
                                                        []() -> std::unique_ptr<StoreHarness> {
                                                          auto h = std::make_unique<PgHarness>();
                                                          if (!h->ok()) return nullptr;
                                                          return h;
                                                        }}),
                         ParamName);

class PgControlStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = FreshDatabases("ctlstore");
    ASSERT_FALSE(HasFailure());
    store_ = MustOpen(db_.control);
    ASSERT_NE(store_, nullptr);
    absl::Status st = store_->Init();
    ASSERT_TRUE(st.ok()) << st;
  }
  std::string Q(const std::string& sql) { return QueryScalar(db_.control, sql); }

  cutover::testing::TestDb db_;
  std::unique_ptr<ControlStore> store_;
};

TEST_F(PgControlStoreTest, RowsReadableWithSql) {
  Cutover c = MakeCutover("c1", v1::PHASE_COPYING);
  auto* a = c.mutable_copy()->add_tables();
  a->set_table("public.a");
  a->set_state(v1::TABLE_STATE_COPYING);
  a->set_rows_estimated(1000);
  a->set_rows_copied(10);
  a->set_bytes_copied(4096);
  a->set_indexes_total(2);
  auto* b = c.mutable_copy()->add_tables();
  b->set_table("public.b");
  b->set_state(v1::TABLE_STATE_PENDING);
  ASSERT_TRUE(store_->Create(c, Rec(v1::PHASE_UNSPECIFIED, v1::PHASE_COPYING, "create", "ops")).ok());

  EXPECT_EQ(Q("SELECT phase FROM cutover.cutovers WHERE id = 'c1'"), "PHASE_COPYING");
  EXPECT_EQ(Q("SELECT name FROM cutover.cutovers WHERE id = 'c1'"), "plan-c1");
  EXPECT_EQ(Q("SELECT count(*) FROM cutover.table_progress WHERE cutover_id = 'c1'"), "2");
  EXPECT_EQ(Q("SELECT state || ' ' || rows_copied || ' ' || bytes_copied || ' ' || indexes_total "
              "FROM cutover.table_progress WHERE cutover_id = 'c1' AND table_name = 'public.a'"),
            "TABLE_STATE_COPYING 10 4096 2");

  a->set_rows_copied(1000);
  a->set_state(v1::TABLE_STATE_DONE);
  a->set_indexes_done(2);
  ASSERT_TRUE(store_->Save(c, "").ok());
  EXPECT_EQ(Q("SELECT state || ' ' || rows_copied || ' ' || indexes_done FROM cutover.table_progress "
              "WHERE cutover_id = 'c1' AND table_name = 'public.a'"),
            "TABLE_STATE_DONE 1000 2");
  EXPECT_EQ(Q("SELECT state FROM cutover.table_progress WHERE cutover_id = 'c1' AND table_name = 'public.b'"),
            "TABLE_STATE_PENDING");

  c.set_phase(v1::PHASE_INDEXING);
  ASSERT_TRUE(
      store_->Transition(c, Rec(v1::PHASE_COPYING, v1::PHASE_INDEXING, "phase-complete", "cutoverd"), "")
          .ok());
  EXPECT_EQ(
      Q("SELECT string_agg(seq || ':' || from_phase || '->' || to_phase || ':' || actor, ' ' ORDER BY seq) "
        "FROM cutover.transitions WHERE cutover_id = 'c1'"),
      "1:PHASE_UNSPECIFIED->PHASE_COPYING:ops 2:PHASE_COPYING->PHASE_INDEXING:cutoverd");
  EXPECT_EQ(Q("SELECT version FROM cutover.cutovers WHERE id = 'c1'"), "3");

  ASSERT_TRUE(store_->AcquireLease("c1", "cutoverd@a", absl::Seconds(30)).ok());
  EXPECT_EQ(Q("SELECT holder || ' ' || epoch || ' ' || (expires_at > now()) FROM cutover.leases "
              "WHERE cutover_id = 'c1'"),
            "cutoverd@a 1 true");
}

TEST_F(PgControlStoreTest, InitIsIdempotentAndSafeToRace) {
  auto db = FreshDatabases("ctlstore_init");
  ASSERT_FALSE(HasFailure());
  std::vector<std::unique_ptr<ControlStore>> stores;
  for (int i = 0; i < 4; ++i) stores.push_back(MustOpen(db.control));
  ASSERT_FALSE(HasFailure());
  std::vector<absl::Status> results(stores.size());
  std::vector<std::thread> threads;
  for (size_t i = 0; i < stores.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = stores[i]->Init(); });
  }
  for (auto& t : threads) t.join();
  for (const auto& st : results) EXPECT_TRUE(st.ok()) << st;
  EXPECT_TRUE(stores[0]->Init().ok());
  EXPECT_EQ(QueryScalar(db.control, "SELECT count(*) FROM pg_tables WHERE schemaname = 'cutover'"), "4");
}

// Two daemons (two stores, two connections) race for one lease; each keeps
// it for a moment and releases it. The critical sections must never overlap
// and every acquisition must carry a new epoch.
TEST_F(PgControlStoreTest, TwoDaemonsNeverHoldTheLeaseTogether) {
  ASSERT_TRUE(store_->Create(MakeCutover("c1", v1::PHASE_CAPTURING), {}).ok());
  auto other = MustOpen(db_.control);
  ASSERT_NE(other, nullptr);
  std::atomic<int> inside{0};
  std::atomic<int> overlaps{0};
  std::mutex mu;
  std::vector<int64_t> epochs;
  std::vector<std::string> errors;
  auto run = [&](ControlStore* s, const std::string& me) {
    for (int i = 0; i < 50; ++i) {
      auto l = s->AcquireLease("c1", me, absl::Seconds(30));
      if (!l.ok()) {
        std::lock_guard<std::mutex> g(mu);
        errors.push_back(l.status().ToString());
        continue;
      }
      if (l->holder != me) continue;
      if (inside.fetch_add(1) != 0) overlaps.fetch_add(1);
      // Work under the lease: a holder's write must succeed.
      absl::Status w = s->Record("c1", Rec(v1::PHASE_CAPTURING, v1::PHASE_CAPTURING, "tick", me), me);
      {
        std::lock_guard<std::mutex> g(mu);
        epochs.push_back(l->epoch);
        if (!w.ok()) errors.push_back(w.ToString());
      }
      inside.fetch_sub(1);
      absl::Status r = s->ReleaseLease("c1", me);
      if (!r.ok()) {
        std::lock_guard<std::mutex> g(mu);
        errors.push_back(r.ToString());
      }
    }
  };
  std::thread ta(run, store_.get(), "daemon-a");
  std::thread tb(run, other.get(), "daemon-b");
  ta.join();
  tb.join();
  EXPECT_EQ(overlaps.load(), 0);
  EXPECT_THAT(errors, ::testing::IsEmpty());
  ASSERT_FALSE(epochs.empty());
  std::set<int64_t> distinct(epochs.begin(), epochs.end());
  EXPECT_EQ(distinct.size(), epochs.size()) << "an epoch was handed out twice";
  // Every successful acquisition wrote one timeline row.
  auto t = store_->Transitions("c1");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->size(), epochs.size() + 1);
}

TEST_F(PgControlStoreTest, ControlRestartLosesNoCommittedTransition) {
  ASSERT_TRUE(store_->Create(MakeCutover("c1", v1::PHASE_PLANNED), {}).ok());
  const std::vector<v1::Phase> path = {v1::PHASE_PLANNED, v1::PHASE_CAPTURING, v1::PHASE_COPYING,
                                       v1::PHASE_INDEXING};
  for (size_t i = 1; i < path.size(); ++i) {
    auto t = store_->Transition(MakeCutover("c1", path[i]), Rec(path[i - 1], path[i], "phase-complete"), "");
    ASSERT_TRUE(t.ok()) << t.status();
  }
  // A waiter's pooled listener connection dies with the server too.
  ASSERT_TRUE(store_->WaitForChange("c1", 0, absl::Now()).ok());

  ASSERT_TRUE(cutover::testing::SharedSandbox().RestartCluster("control", /*immediate=*/true).ok());

  // The store reconnects by itself: no call needs a retry from the caller.
  auto got = store_->Get("c1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->cutover.phase(), v1::PHASE_INDEXING);
  EXPECT_EQ(got->version, 4);
  auto timeline = store_->Transitions("c1");
  ASSERT_TRUE(timeline.ok()) << timeline.status();
  EXPECT_EQ(timeline->size(), 4u);

  auto next = store_->Transition(MakeCutover("c1", v1::PHASE_VERIFYING_COPY),
                                 Rec(v1::PHASE_INDEXING, v1::PHASE_VERIFYING_COPY, "phase-complete"), "");
  ASSERT_TRUE(next.ok()) << next.status();
  auto waited = store_->WaitForChange("c1", 4, absl::Now() + absl::Seconds(30));
  ASSERT_TRUE(waited.ok()) << waited.status();
  EXPECT_EQ(*waited, 5);
}

TEST_F(PgControlStoreTest, UnreachableDatabaseIsRetryable) {
  auto s = NewPgControlStore("host=127.0.0.1 port=1 dbname=nothing connect_timeout=2");
  ASSERT_TRUE(s.ok()) << s.status();  // connects lazily
  absl::Status st = (*s)->Init();
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
  EXPECT_TRUE(IsRetryable(st));
  EXPECT_EQ(NewPgControlStore("host='unterminated").status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cutover::store::testing
