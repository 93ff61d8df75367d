// Unit tests of the copier's logic with fakes: the plan built from a catalog,
// the scheduler's ordering and failure rules, TOC filtering, progress and
// pause / cancel / throttle control under simulated time.
#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "cutover/copy/control.h"
#include "cutover/copy/copy_plan.h"
#include "cutover/copy/progress.h"
#include "cutover/copy/report.h"
#include "cutover/copy/scheduler.h"
#include "cutover/copy/schema.h"
#include "cutover/copy/stream.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cutover::copy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TableInfo Table(uint32_t oid, const std::string& name, int64_t bytes, bool data = true) {
  TableInfo t;
  t.oid = oid;
  t.schema = "public";
  t.name = name;
  t.bytes_estimated = bytes;
  t.rows_estimated = bytes / 100;
  t.copy_data = data;
  return t;
}

IndexInfo Index(uint32_t oid, uint32_t table, const std::string& name, char contype = 0) {
  IndexInfo ix;
  ix.oid = oid;
  ix.table_oid = table;
  ix.schema = "public";
  ix.name = name;
  ix.definition = "CREATE " + std::string(contype ? "UNIQUE " : "") + "INDEX " + name + " ON public.t USING btree (id)";
  ix.bytes = oid;
  if (contype) {
    ix.constraint_oid = oid + 1000;
    ix.constraint_name = name;
    ix.constraint_type = contype;
    ix.constraint_definition = "EXCLUDE USING gist (r WITH &&)";
  }
  return ix;
}

Catalog SampleCatalog() {
  Catalog c;
  c.tables = {Table(1, "small", 100), Table(2, "big", 10000), Table(3, "mid", 1000), Table(4, "parent", 0, false)};
  c.indexes = {Index(10, 2, "big_pkey", 'p'), Index(11, 2, "big_idx"), Index(12, 3, "mid_pkey", 'p'),
               Index(13, 1, "small_key", 'u'), Index(14, 3, "mid_excl", 'x')};
  c.indexes[0].is_clustered = true;
  c.indexes[3].deferrable = true;
  c.indexes[3].initially_deferred = true;
  c.foreign_keys = {{20, 3, 2, "mid_big_fkey", "FOREIGN KEY (big_id) REFERENCES public.big(id) ON DELETE CASCADE", true},
                    {21, 1, 3, "small_mid_fkey", "FOREIGN KEY (mid_id) REFERENCES public.mid(id) NOT VALID", false}};
  c.capture_trigger_oids = {99};
  return c;
}

const PostStep* FindStep(const CopyPlan& p, StepKind kind, const std::string& name) {
  for (const auto& s : p.steps) {
    if (s.kind == kind && s.name == name) return &s;
  }
  return nullptr;
}

TEST(CopyPlan, LargestTablesFirst) {
  CopyPlan p = BuildCopyPlan(SampleCatalog(), {});
  std::vector<std::string> names;
  for (const auto& t : p.tables) names.push_back(t.name);
  EXPECT_THAT(names, ElementsAre("big", "mid", "small", "parent"));
}

TEST(CopyPlan, PrimaryKeyIsUniqueIndexThenAttached) {
  CopyPlan p = BuildCopyPlan(SampleCatalog(), {});
  const PostStep* build = FindStep(p, StepKind::kIndex, "big_pkey");
  ASSERT_NE(build, nullptr);
  EXPECT_THAT(build->sql[0], HasSubstr("CREATE UNIQUE INDEX big_pkey"));
  const PostStep* attach = FindStep(p, StepKind::kAttachConstraint, "big_pkey");
  ASSERT_NE(attach, nullptr);
  EXPECT_EQ(attach->sql[0],
            "ALTER TABLE ONLY \"public\".\"big\" ADD CONSTRAINT \"big_pkey\" PRIMARY KEY USING INDEX \"big_pkey\"");
  EXPECT_EQ(attach->sql[1], "ALTER TABLE ONLY \"public\".\"big\" CLUSTER ON \"big_pkey\"");
  const PostStep* uniq = FindStep(p, StepKind::kAttachConstraint, "small_key");
  ASSERT_NE(uniq, nullptr);
  EXPECT_THAT(uniq->sql[0], HasSubstr("UNIQUE USING INDEX \"small_key\" DEFERRABLE INITIALLY DEFERRED"));
}

TEST(CopyPlan, ExclusionConstraintBuildsItsOwnIndex) {
  CopyPlan p = BuildCopyPlan(SampleCatalog(), {});
  EXPECT_EQ(FindStep(p, StepKind::kIndex, "mid_excl"), nullptr);
  const PostStep* ex = FindStep(p, StepKind::kExclusion, "mid_excl");
  ASSERT_NE(ex, nullptr);
  EXPECT_THAT(ex->sql[0], HasSubstr("ADD CONSTRAINT \"mid_excl\" EXCLUDE USING gist"));
}

TEST(CopyPlan, ForeignKeysAddedNotValidThenValidated) {
  CopyPlan p = BuildCopyPlan(SampleCatalog(), {});
  const PostStep* fk = FindStep(p, StepKind::kForeignKey, "mid_big_fkey");
  ASSERT_NE(fk, nullptr);
  ASSERT_EQ(fk->sql.size(), 2u);
  EXPECT_THAT(fk->sql[0], HasSubstr("ON DELETE CASCADE NOT VALID"));
  EXPECT_THAT(fk->sql[1], HasSubstr("VALIDATE CONSTRAINT \"mid_big_fkey\""));
  EXPECT_EQ(fk->referenced_table_oid, 2u);
  // A constraint NOT VALID on blue stays NOT VALID, and is not validated.
  const PostStep* nv = FindStep(p, StepKind::kForeignKey, "small_mid_fkey");
  ASSERT_EQ(nv->sql.size(), 1u);
  EXPECT_THAT(nv->sql[0], Not(HasSubstr("NOT VALID NOT VALID")));
}

TEST(CopyPlan, HandledOidsCoverIndexesConstraintsAndCaptureTriggers) {
  CopyPlan p = BuildCopyPlan(SampleCatalog(), {});
  for (uint32_t oid : {10u, 11u, 12u, 13u, 14u, 1010u, 1012u, 1013u, 1014u, 20u, 21u, 99u}) {
    EXPECT_TRUE(p.handled_oids.count(oid)) << oid;
  }
  EXPECT_EQ(p.index_count, 5);
  EXPECT_EQ(p.constraint_count, 6);
}

TEST(CopyPlan, AnalyzeOptional) {
  EXPECT_NE(FindStep(BuildCopyPlan(SampleCatalog(), {true}), StepKind::kAnalyze, "public.big"), nullptr);
  EXPECT_EQ(FindStep(BuildCopyPlan(SampleCatalog(), {false}), StepKind::kAnalyze, "public.big"), nullptr);
  // Tables without data are not analyzed.
  EXPECT_EQ(FindStep(BuildCopyPlan(SampleCatalog(), {true}), StepKind::kAnalyze, "public.parent"), nullptr);
}

TEST(Toc, FiltersByCatalogAndOid) {
  const std::string toc =
      ";\n; Archive created at 2026-01-01\n"
      "3245; 1259 10 INDEX public big_idx postgres\n"
      "3246; 2606 1010 CONSTRAINT public big big_pkey postgres\n"
      "3247; 2620 99 TRIGGER public big cutover_capture_trg postgres\n"
      "3248; 2620 77 TRIGGER public big audit_trg postgres\n"
      "3249; 2606 20 FK CONSTRAINT public mid mid_big_fkey postgres\n"
      "3250; 0 0 COMMENT public INDEX big_idx postgres\n"
      "3251; 1259 12345 INDEX ATTACH public meas_2024_at_idx postgres\n";
  TocFilterResult r = FilterToc(toc, {10, 1010, 99, 20});
  EXPECT_EQ(r.skipped, 4);
  EXPECT_EQ(r.kept, 3);
  EXPECT_THAT(r.list, HasSubstr("; cutover builds this itself: 3245;"));
  EXPECT_THAT(r.list, HasSubstr("\n3248; 2620 77 TRIGGER"));
  EXPECT_THAT(r.list, HasSubstr("\n3250; 0 0 COMMENT"));
  // An oid from another catalog is never taken for one of ours.
  TocFilterResult other = FilterToc("100; 2615 10 SCHEMA - s postgres\n", {10});
  EXPECT_EQ(other.skipped, 0);
}

TEST(Schema, SplitPasswordKeepsItOffTheCommandLine) {
  auto [dsn, pw] = SplitPassword("host=h port=5 password=s3cret dbname=d");
  EXPECT_EQ(pw, "s3cret");
  EXPECT_THAT(dsn, Not(HasSubstr("s3cret")));
  EXPECT_THAT(dsn, HasSubstr("dbname='d'"));
}

TEST(Stream, HashQueryUsesWholeRowAndOnly) {
  TableInfo t = Table(1, "we\"ird", 1);
  EXPECT_EQ(HashQuery(t, false), "SELECT count(*), '' FROM ONLY \"public\".\"we\"\"ird\"");
  EXPECT_THAT(HashQuery(t, true), HasSubstr("hashtextextended(ROW(cutover_row.*)::text, 0)::numeric"));
  EXPECT_THAT(HashQuery(t, true), HasSubstr("FROM ONLY \"public\".\"we\"\"ird\" AS cutover_row"));
}

// ---- Scheduler with a fake executor ----

class FakeExecutor : public CopyExecutor {
 public:
  explicit FakeExecutor(const CopyPlan* plan) : plan_(plan) {}
  absl::Status CopyTable(const TableInfo& t, int worker) override {
    {
      absl::MutexLock l(&mu_);
      events_.push_back("data:" + t.name);
      max_data_ = std::max(max_data_, ++data_running_);
      if (fail_table_ == t.name) {
        --data_running_;
        return absl::UnavailableError("blue went away");
      }
    }
    absl::SleepFor(absl::Milliseconds(2));
    absl::MutexLock l(&mu_);
    --data_running_;
    data_done_.insert(t.oid);
    events_.push_back("data-done:" + t.name);
    return absl::OkStatus();
  }
  absl::Status RunStep(const PostStep& s, int worker) override {
    absl::MutexLock l(&mu_);
    const std::string tag = std::string(StepKindName(s.kind)) + ":" + s.name;
    events_.push_back(tag);
    // Order rules of copy_plan.h, checked at the moment the step starts.
    const TableInfo* table = nullptr;
    for (const auto& t : plan_->tables) {
      if (t.oid == s.table_oid) table = &t;
    }
    if (table && table->copy_data && !data_done_.count(s.table_oid)) violations_.push_back(tag + " before data");
    auto unfinished = [&](uint32_t oid, std::initializer_list<StepKind> kinds) {
      for (const auto& o : plan_->steps) {
        if (o.table_oid != oid || done_.count(&o)) continue;
        for (auto k : kinds) {
          if (o.kind == k) return true;
        }
      }
      return false;
    };
    if (s.kind == StepKind::kAttachConstraint && unfinished(s.table_oid, {StepKind::kIndex, StepKind::kExclusion}))
      violations_.push_back(tag + " before its indexes");
    if (s.kind == StepKind::kForeignKey &&
        (unfinished(s.table_oid, {StepKind::kIndex, StepKind::kExclusion, StepKind::kAttachConstraint}) ||
         unfinished(s.referenced_table_oid, {StepKind::kIndex, StepKind::kExclusion, StepKind::kAttachConstraint})))
      violations_.push_back(tag + " before keys");
    if (s.kind == StepKind::kAnalyze &&
        unfinished(s.table_oid, {StepKind::kIndex, StepKind::kExclusion, StepKind::kAttachConstraint,
                                 StepKind::kForeignKey}))
      violations_.push_back(tag + " too early");
    done_.insert(&s);
    if (fail_step_ == s.name) return absl::FailedPreconditionError("could not create unique index");
    return absl::OkStatus();
  }

  const CopyPlan* plan_;
  absl::Mutex mu_;
  std::vector<std::string> events_;
  std::vector<std::string> violations_;
  std::set<uint32_t> data_done_;
  std::set<const PostStep*> done_;
  int data_running_ = 0;
  int max_data_ = 0;
  std::string fail_table_;
  std::string fail_step_;
};

TEST(Scheduler, RunsEverythingInDependencyOrder) {
  CopyPlan plan = BuildCopyPlan(SampleCatalog(), {});
  for (int round = 0; round < 20; ++round) {
    FakeExecutor exec(&plan);
    ASSERT_TRUE(RunCopySchedule(plan, {2, 2}, exec, nullptr, nullptr).ok());
    EXPECT_TRUE(exec.violations_.empty()) << exec.violations_[0];
    EXPECT_EQ(exec.done_.size(), plan.steps.size());
    EXPECT_EQ(exec.data_done_.size(), 3u);  // parent has no data
    EXPECT_LE(exec.max_data_, 2);
  }
}

TEST(Scheduler, SingleWorkersStillFinish) {
  CopyPlan plan = BuildCopyPlan(SampleCatalog(), {});
  FakeExecutor exec(&plan);
  ASSERT_TRUE(RunCopySchedule(plan, {1, 1}, exec, nullptr, nullptr).ok());
  EXPECT_EQ(exec.events_.front(), "data:big");  // largest first
  EXPECT_TRUE(exec.violations_.empty());
}

TEST(Scheduler, DataFailureStopsNewWorkAndIsReturned) {
  CopyPlan plan = BuildCopyPlan(SampleCatalog(), {});
  FakeExecutor exec(&plan);
  exec.fail_table_ = "big";
  absl::Status st = RunCopySchedule(plan, {1, 2}, exec, nullptr, nullptr);
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
  // With one data worker failing on the first (largest) table, no other table starts.
  EXPECT_EQ(exec.data_done_.size(), 0u);
  for (const auto& e : exec.events_) EXPECT_FALSE(absl::StartsWith(e, "foreign key")) << e;
}

TEST(Scheduler, StepFailureIsReturned) {
  CopyPlan plan = BuildCopyPlan(SampleCatalog(), {});
  FakeExecutor exec(&plan);
  exec.fail_step_ = "big_pkey";
  absl::Status st = RunCopySchedule(plan, {2, 2}, exec, nullptr, nullptr);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(st.message()), HasSubstr("unique index"));
}

TEST(Scheduler, CancelledControlStopsBeforeWork) {
  CopyPlan plan = BuildCopyPlan(SampleCatalog(), {});
  FakeExecutor exec(&plan);
  CopyControl control;
  control.Cancel(absl::CancelledError("abort requested by operator"));
  absl::Status st = RunCopySchedule(plan, {2, 2}, exec, nullptr, &control);
  EXPECT_EQ(st.code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(exec.events_.empty());
}

class CountingObserver : public ScheduleObserver {
 public:
  void OnDataComplete() override { ++data_complete; }
  void OnStepDone(const PostStep&) override { ++steps; }
  std::atomic<int> data_complete{0};
  std::atomic<int> steps{0};
};

TEST(Scheduler, ReportsDataCompleteOnce) {
  CopyPlan plan = BuildCopyPlan(SampleCatalog(), {});
  FakeExecutor exec(&plan);
  CountingObserver obs;
  ASSERT_TRUE(RunCopySchedule(plan, {3, 2}, exec, &obs, nullptr).ok());
  EXPECT_EQ(obs.data_complete.load(), 1);
  EXPECT_EQ(obs.steps.load(), static_cast<int>(plan.steps.size()));
}

TEST(Scheduler, EmptyPlan) {
  CopyPlan plan;
  FakeExecutor exec(&plan);
  EXPECT_TRUE(RunCopySchedule(plan, {2, 2}, exec, nullptr, nullptr).ok());
}

TEST(ParallelForTest, StopsAtFirstError) {
  std::atomic<int> ran{0};
  absl::Status st = ParallelFor(
      100, 1,
      [&](size_t i, int) {
        ++ran;
        return i == 5 ? absl::DataLossError("mismatch") : absl::OkStatus();
      },
      nullptr);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(ran.load(), 6);
}

// ---- Control under simulated time ----

TEST(Control, PauseBlocksUntilResume) {
  CopyControl control;
  control.Pause();
  std::atomic<bool> passed{false};
  std::thread worker([&] {
    EXPECT_TRUE(control.Checkpoint().ok());
    passed = true;
  });
  // The worker cannot pass while paused; give it every chance to (bounded).
  for (int i = 0; i < 50 && !passed; ++i) std::this_thread::yield();
  EXPECT_FALSE(passed.load());
  control.Resume();
  worker.join();
  EXPECT_TRUE(passed.load());
}

TEST(Control, CancelReleasesPausedWorkers) {
  CopyControl control;
  control.Pause();
  absl::Status seen;
  std::thread worker([&] { seen = control.Checkpoint(); });
  control.Cancel(absl::CancelledError("abort"));
  worker.join();
  EXPECT_EQ(seen.code(), absl::StatusCode::kCancelled);
}

TEST(Control, ThrottleSleepsOnTheInjectedClock) {
  SimulatedClock clock;
  CopyControl control(&clock);
  control.SetMaxBytesPerSecond(1000);
  std::atomic<bool> done{false};
  std::thread worker([&] {
    EXPECT_TRUE(control.Account(500).ok());   // 0.5 s of budget: sleeps until t0+0.5s
    EXPECT_TRUE(control.Account(1500).ok());  // until t0+2s
    done = true;
  });
  while (clock.sleepers() == 0) std::this_thread::yield();
  clock.Advance(absl::Milliseconds(500));
  while (clock.sleepers() == 0 && !done) std::this_thread::yield();
  EXPECT_FALSE(done.load());
  clock.Advance(absl::Milliseconds(1500));
  worker.join();
  EXPECT_TRUE(done.load());
}

// ---- Progress ----

TEST(Progress, RatesEtaAndStates) {
  SimulatedClock clock;
  CopyProgressTracker tracker(&clock);
  CopyPlan plan = BuildCopyPlan(SampleCatalog(), {false});
  tracker.SetPlan(plan, "snap-1");
  const TableInfo& big = plan.tables[0];
  tracker.OnTableDataStarted(big);
  clock.Advance(absl::Seconds(2));
  tracker.AddStreamed(big.oid, 50, 5000);
  auto p = tracker.Snapshot();
  EXPECT_EQ(p.snapshot_id(), "snap-1");
  EXPECT_EQ(p.bytes_copied(), 5000);
  EXPECT_DOUBLE_EQ(p.bytes_per_second(), 2500);
  ASSERT_TRUE(p.has_eta());
  // Left: 5000 of big + mid 1000 + small 100 = 6100 bytes at 2500 B/s.
  EXPECT_NEAR(absl::ToDoubleSeconds(absl::Seconds(p.eta().seconds()) + absl::Nanoseconds(p.eta().nanos())), 2.44,
              0.01);
  EXPECT_EQ(p.tables(0).state(), cutover::v1::TABLE_STATE_COPYING);
  // The partitioned parent (no data, no steps) is done from the start.
  EXPECT_EQ(p.tables(3).state(), cutover::v1::TABLE_STATE_DONE);
  EXPECT_NEAR(CopyFraction(p), 5000.0 / 11100.0, 1e-9);
  tracker.SetCopied(big.oid, 100, 10000);
  tracker.OnTableDataDone(big);
  p = tracker.Snapshot();
  EXPECT_EQ(p.tables(0).state(), cutover::v1::TABLE_STATE_COPIED);
  EXPECT_EQ(p.tables(0).rows_copied(), 100);
  EXPECT_EQ(p.tables(0).indexes_total(), 2);
  EXPECT_THAT(FormatProgressLine(p), HasSubstr("tables copied 2/4"));
}

TEST(Report, MentionsMismatchValues) {
  cutover::v1::CopyReport r;
  auto* v = r.mutable_verify();
  v->set_content_hashed(true);
  auto* t = v->add_tables();
  t->set_table("public.x");
  t->set_blue_rows(10);
  t->set_green_rows(9);
  t->set_blue_hash("123");
  t->set_green_hash("456");
  const std::string text = FormatCopyReport(r);
  EXPECT_THAT(text, HasSubstr("FAIL"));
  EXPECT_THAT(text, HasSubstr("DIFF public.x"));
  EXPECT_THAT(text, HasSubstr("hash blue 123 green 456"));
}

}  // namespace
}  // namespace cutover::copy
