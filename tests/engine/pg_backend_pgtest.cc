// The real backend's MIGRATING work on the sandbox: the lock-hazard lint runs
// first and refuses hazards (naming file, line and rule) unless the plan
// allows them; safe files are applied once, recorded on green with their
// SHA-256, skipped when run again, and a changed applied file is refused.
// Preflight reports the lint as a check.
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "cutover/common/pg.h"
#include "cutover/common/proto_time.h"
#include "cutover/engine/orchestrator.h"
#include "cutover/engine/pg_backend.h"
#include "cutover/testing/sandbox_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cutover::engine {
namespace {

namespace ct = cutover::testing;
namespace v1 = cutover::v1;
using ::testing::HasSubstr;

class PgBackendMigrateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = ct::FreshDatabases("migrate");
    ASSERT_FALSE(HasFailure());
    dir_ = absl::StrCat(ct::SharedSandbox().root(), "/", db_.name, "-migrations");
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    ct::ExecOrDie(db_.green, "CREATE TABLE public.tokens (signature text PRIMARY KEY, active boolean NOT NULL)");
  }
  void Write(const std::string& name, const std::string& body) {
    std::ofstream(absl::StrCat(dir_, "/", name)) << body;
  }
  v1::Plan Plan() {
    v1::Plan p;
    p.set_name("migrate");
    p.mutable_blue()->set_dsn(db_.blue);
    p.mutable_green()->set_dsn(db_.green);
    p.mutable_queue()->mutable_postgres()->set_dsn(db_.control);
    p.mutable_router()->mutable_command()->set_pause("true");
    p.mutable_capture()->set_profile("hydra");
    p.mutable_migration()->set_dir(dir_);
    return p;
  }
  absl::Status Migrate(const v1::Plan& plan) {
    std::unique_ptr<BackendFactory> f = NewPgBackendFactory();
    absl::StatusOr<std::unique_ptr<CutoverBackend>> b = f->Create(db_.name, plan);
    if (!b.ok()) return b.status();
    return (*b)->Migrate(absl::Now() + absl::Minutes(2));
  }
  std::string Applied() {
    return ct::QueryScalar(db_.green,
                           "SELECT coalesce(string_agg(file, ',' ORDER BY file), '') FROM cutover_replay.migrations");
  }

  ct::TestDb db_;
  std::string dir_;
};

TEST_F(PgBackendMigrateTest, LockHazardsAreRefusedBeforeAnythingRuns) {
  Write("0001_column.sql", "SET lock_timeout = '2s';\nALTER TABLE public.tokens ADD COLUMN note text;\n");
  Write("0002_index.sql", "SET lock_timeout = '2s';\n\nCREATE INDEX tokens_active ON public.tokens (active);\n");
  absl::Status st = Migrate(Plan());
  ASSERT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_THAT(st.message(), HasSubstr("0002_index.sql:3"));
  EXPECT_THAT(st.message(), HasSubstr("create-index-not-concurrently"));
  EXPECT_THAT(st.message(), HasSubstr("allowedLintRules"));
  // Nothing ran, not even the harmless first file.
  EXPECT_EQ(ct::QueryScalar(db_.green, "SELECT count(*) FROM information_schema.columns WHERE column_name = 'note'"),
            "0");
  // Preflight says so too.
  std::unique_ptr<BackendFactory> f = NewPgBackendFactory();
  v1::ValidationResult vr = (*f->Create(db_.name, Plan()))->Preflight();
  bool seen = false;
  for (const auto& c : vr.checks()) {
    if (c.name() == "migration.lint") {
      seen = true;
      EXPECT_FALSE(c.ok());
      EXPECT_THAT(c.detail(), HasSubstr("create-index-not-concurrently"));
    }
  }
  EXPECT_TRUE(seen);
  EXPECT_FALSE(vr.ok());
}

TEST_F(PgBackendMigrateTest, AllowedHazardsRunAndAppliedFilesAreRecordedOnce) {
  Write("0001_column.sql", "SET lock_timeout = '2s';\nALTER TABLE public.tokens ADD COLUMN note text;\n");
  Write("0002_index.sql", "SET lock_timeout = '2s';\nCREATE INDEX tokens_active ON public.tokens (active);\n");
  v1::Plan plan = Plan();
  plan.mutable_migration()->add_allowed_lint_rules("create-index-not-concurrently");
  ASSERT_TRUE(Migrate(plan).ok());
  EXPECT_EQ(Applied(), "0001_column.sql,0002_index.sql");
  // Run again: skipped (the ADD COLUMN would fail if it ran twice).
  ASSERT_TRUE(Migrate(plan).ok());
  // A changed applied file is refused.
  Write("0001_column.sql", "SET lock_timeout = '2s';\nALTER TABLE public.tokens ADD COLUMN note2 text;\n");
  absl::Status st = Migrate(plan);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr("0001_column.sql changed after it was applied"));
}

TEST_F(PgBackendMigrateTest, AllowLockHazardsRunsThemAnyway) {
  Write("0001_index.sql", "SET lock_timeout = '2s';\nCREATE INDEX tokens_active ON public.tokens (active);\n");
  v1::Plan plan = Plan();
  plan.mutable_migration()->set_allow_lock_hazards(true);
  ASSERT_TRUE(Migrate(plan).ok());
  EXPECT_EQ(Applied(), "0001_index.sql");
}

// Preflight on the sandbox: every failed check is named, warnings for a long
// transaction on blue and a window longer than the token TTL.
TEST_F(PgBackendMigrateTest, PreflightNamesEveryProblem) {
  v1::Plan plan = Plan();
  plan.mutable_migration()->clear_dir();
  plan.mutable_router()->clear_command();
  auto* pgb = plan.mutable_router()->mutable_pgbouncer();
  pgb->set_admin_dsn("host=127.0.0.1 port=1 dbname=pgbouncer user=postgres connect_timeout=2");
  pgb->set_config_path("/nonexistent/pgbouncer.ini");
  pgb->set_database(db_.name);
  pgb->set_blue_target("host=127.0.0.1");
  pgb->set_green_target("host=127.0.0.2");
  plan.mutable_flip()->mutable_max_blue_transaction_age()->set_seconds(1);
  plan.mutable_expected_window()->set_seconds(7200);
  plan.mutable_token_ttl()->set_seconds(3600);
  // green already has a table (SetUp); a transaction stays open on blue.
  absl::StatusOr<pg::RawConn> idle = pg::RawConn::Connect(db_.blue, "blue", "app");
  ASSERT_TRUE(idle.ok()) << idle.status();
  ASSERT_TRUE(idle->Exec("BEGIN; SELECT 1").ok());
  absl::SleepFor(absl::Milliseconds(1500));  // the transaction's age, not synchronisation
  std::unique_ptr<BackendFactory> f = NewPgBackendFactory();
  v1::ValidationResult vr = (*f->Create(db_.name, plan))->Preflight();
  EXPECT_FALSE(vr.ok());
  std::map<std::string, v1::Check> checks;
  for (const auto& c : vr.checks()) checks[c.name()] = c;
  ASSERT_TRUE(checks.count("green.empty"));
  EXPECT_FALSE(checks["green.empty"].ok()) << checks["green.empty"].detail();
  ASSERT_TRUE(checks.count("router.reachable"));
  EXPECT_FALSE(checks["router.reachable"].ok());
  EXPECT_TRUE(checks["blue.connect"].ok());
  EXPECT_TRUE(checks["blue.fence"].ok()) << checks["blue.fence"].detail();
  std::set<std::string> warnings;
  for (const auto& w : vr.warnings()) warnings.insert(w.code());
  EXPECT_TRUE(warnings.count("blue.long_transaction"));
  EXPECT_TRUE(warnings.count("window.token_ttl"));
}

TEST(PlanFieldsLint, UnknownAllowedRuleIsNamed) {
  v1::Plan p;
  p.mutable_migration()->add_allowed_lint_rules("no-such-rule");
  absl::Status st = ValidatePlanFields(p);
  EXPECT_THAT(st.message(), HasSubstr("plan.migration.allowed_lint_rules[0]: unknown rule \"no-such-rule\""));
}

// Stats() splits the backlog: rows still in the capturing side's outbox
// (nothing relays them here) are relay_backlog, their age relay_lag.
TEST_F(PgBackendMigrateTest, StatsReportTheRelayBacklogAndLag) {
  ct::ExecOrDie(db_.blue,
                "CREATE TABLE public.tokens (signature text PRIMARY KEY, active boolean NOT NULL); "
                "INSERT INTO public.tokens VALUES ('a', true), ('b', true), ('c', true)");
  v1::Plan plan = Plan();
  plan.mutable_capture()->set_profile("generic");
  v1::CaptureRule* r = plan.mutable_capture()->add_rules();
  r->set_name("tokens");
  r->set_table("public.tokens");
  r->set_revocation_class(v1::REVOCATION_CLASS_TOKEN);
  r->set_on_delete(true);
  r->add_key_columns("signature");
  r->add_apply("DELETE FROM public.tokens WHERE signature = :signature");
  std::unique_ptr<BackendFactory> f = NewPgBackendFactory();
  absl::StatusOr<std::unique_ptr<CutoverBackend>> b = f->Create(db_.name, plan);
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_TRUE((*b)->InstallCapture(kForward).ok());
  absl::StatusOr<v1::ReplayStats> s = (*b)->Stats(kForward);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->relay_backlog(), 0);

  ct::ExecOrDie(db_.blue, "DELETE FROM public.tokens WHERE signature IN ('a', 'b')");
  absl::SleepFor(absl::Milliseconds(1100));  // an age to measure, not synchronisation
  s = (*b)->Stats(kForward);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->relay_backlog(), 2);
  EXPECT_EQ(s->backlog(), 2) << "outbox rows are part of the backlog";
  EXPECT_GE(FromProto(s->relay_lag()), absl::Seconds(1));
  EXPECT_EQ(FromProto(s->relay_lag()), FromProto(s->oldest_event_age()));
  ASSERT_TRUE((*b)->RemoveCapture(kForward).ok());
}

}  // namespace
}  // namespace cutover::engine
