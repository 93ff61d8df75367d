// The rollback sweep (replay::SweepRowsMissingOnGreen) against real
// PostgreSQL 15 databases: blue rows written after the copy snapshot that
// green lacks are revoked on blue; rows from before the snapshot are never
// touched, even when green lacks them; blue fenced read-only and with its
// own capture installed; mapping to another table and composite keys; the
// update action; idempotence; errors that name the field.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cutover/common/pg.h"
#include "cutover/replay/capture.h"
#include "cutover/replay/rollback_sweep.h"
#include "cutover/replay/rules.h"
#include "cutover/testing/sandbox_env.h"
#include "gtest/gtest.h"

namespace cutover::replay {
namespace {

using cutover::v1::CaptureRule;
using cutover::v1::RollbackSweep;
using testing::ExecOrDie;
using testing::QueryScalar;

CaptureRule DeleteRule(const std::string& name, const std::string& table, std::vector<std::string> keys,
                       const std::string& apply) {
  CaptureRule r;
  r.set_name(name);
  r.set_table(table);
  r.set_revocation_class(cutover::v1::REVOCATION_CLASS_TOKEN);
  r.set_on_delete(true);
  for (const auto& k : keys) r.add_key_columns(k);
  r.add_apply(apply);
  return r;
}

class RollbackSweepPgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<testing::TestDb> dbs = testing::TryFreshDatabases("rollback_sweep");
    ASSERT_TRUE(dbs.ok()) << dbs.status();
    db_ = *dbs;
    for (const std::string* dsn : {&db_.blue, &db_.green}) {
      ASSERT_NO_FATAL_FAILURE(ExecOrDie(*dsn,
                                        "CREATE TABLE public.tok (sig text PRIMARY KEY, active boolean NOT NULL "
                                        "DEFAULT true, n int); "
                                        "CREATE TABLE public.jwk (sid text, kid text, PRIMARY KEY (sid, kid))"));
    }
    // The copy: 100 tokens and 10 keys on both sides, then the snapshot.
    const std::string rows =
        "INSERT INTO public.tok (sig, n) SELECT 'old-' || i, i FROM generate_series(1, 100) i; "
        "INSERT INTO public.jwk SELECT 's' || (i % 2), 'k' || i FROM generate_series(1, 10) i";
    ASSERT_NO_FATAL_FAILURE(ExecOrDie(db_.blue, rows));
    ASSERT_NO_FATAL_FAILURE(ExecOrDie(db_.green, rows));
    snapshot_ = QueryScalar(db_.blue, "SELECT pg_current_snapshot()::text");
    ASSERT_FALSE(snapshot_.empty());
  }

  absl::StatusOr<RollbackSweep> Sweep(const std::vector<CaptureRule>& rules, int batch = 4) {
    auto blue = pg::Session::Connect(db_.blue, "blue");
    auto green = pg::Session::Connect(db_.green, "green");
    if (!blue.ok()) return blue.status();
    if (!green.ok()) return green.status();
    SweepOptions o;
    o.batch = batch;  // small: several round trips per table
    o.log = [](const std::string& line) { std::cout << "  sweep: " << line << "\n"; };
    return SweepRowsMissingOnGreen(rules, snapshot_, **blue, **green, o);
  }

  int64_t Count(const std::string& dsn, const std::string& where, const std::string& table = "public.tok") {
    return std::stoll(QueryScalar(dsn, absl::StrCat("SELECT count(*) FROM ", table, " WHERE ", where)));
  }

  std::vector<CaptureRule> TokRules() {
    return {DeleteRule("tok.delete", "public.tok", {"sig"}, "DELETE FROM public.tok WHERE sig = :sig")};
  }

  testing::TestDb db_;
  std::string snapshot_;
};

TEST_F(RollbackSweepPgTest, RevokesWindowRowsGreenLacksAndNothingFromBeforeTheSnapshot) {
  // The window on blue: 10 new tokens (green got 3 of them some other way),
  // old-7 updated (new xmin, still on green); on green old-5 was deleted and
  // its reverse event not applied yet (a pre-snapshot row green lacks).
  ASSERT_NO_FATAL_FAILURE(ExecOrDie(db_.blue,
                                    "INSERT INTO public.tok (sig, n) SELECT 'win-' || i, i FROM generate_series(1, 10) i; "
                                    "UPDATE public.tok SET n = -7 WHERE sig = 'old-7'"));
  ASSERT_NO_FATAL_FAILURE(ExecOrDie(db_.green,
                                    "INSERT INTO public.tok (sig, n) VALUES ('win-1', 1), ('win-2', 2), ('win-3', 3); "
                                    "DELETE FROM public.tok WHERE sig = 'old-5'"));
  // Blue as a rollback finds it: fenced, and its forward capture installed.
  const std::string blue_db = QueryScalar(db_.blue, "SELECT current_database()");
  CaptureInstallOptions capture;
  capture.cutover_id = "sweep-test";
  capture.direction = cutover::v1::DIRECTION_BLUE_TO_GREEN;
  {
    auto blue = pg::Session::Connect(db_.blue, "blue");
    ASSERT_TRUE(blue.ok()) << blue.status();
    absl::Status st = InstallCapture(**blue, TokRules(), capture);
    ASSERT_TRUE(st.ok()) << st;
  }
  ASSERT_NO_FATAL_FAILURE(
      ExecOrDie(db_.blue, absl::StrCat("ALTER DATABASE ", pg::QuoteIdent(blue_db), " SET default_transaction_read_only = on")));

  absl::StatusOr<RollbackSweep> s = Sweep(TokRules());
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->done());
  ASSERT_EQ(s->tables_size(), 1);
  EXPECT_EQ(s->tables(0).table(), "public.tok");
  EXPECT_EQ(s->tables(0).action(), "delete");
  EXPECT_EQ(s->tables(0).candidates(), 11);  // 10 window rows + old-7
  EXPECT_EQ(s->tables(0).revoked(), 7);      // win-4..win-10
  EXPECT_EQ(s->revoked(), 7);

  EXPECT_EQ(Count(db_.blue, "sig LIKE 'win-%'"), 3);
  EXPECT_EQ(Count(db_.blue, "sig IN ('win-1', 'win-2', 'win-3')"), 3);
  EXPECT_EQ(Count(db_.blue, "sig LIKE 'old-%'"), 100) << "a row from before the snapshot was touched";
  EXPECT_EQ(Count(db_.blue, "sig = 'old-7' AND n = -7"), 1);
  // The sweep is not a revocation made on blue: blue's capture skipped it.
  EXPECT_EQ(QueryScalar(db_.blue, "SELECT count(*) FROM cutover_capture.outbox"), "0");
  // Fenced blue stays fenced for everyone else.
  EXPECT_EQ(QueryScalar(db_.blue, "SHOW default_transaction_read_only"), "on");

  // Again: nothing more to do.
  absl::StatusOr<RollbackSweep> again = Sweep(TokRules());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->tables(0).candidates(), 4);
  EXPECT_EQ(again->revoked(), 0);
  EXPECT_EQ(Count(db_.blue, "true"), 103);
}

TEST_F(RollbackSweepPgTest, MapsToAnotherTableAndCompositeKeys) {
  // Blue's consent(challenge) lives on green as flow(login, consent_challenge).
  ASSERT_NO_FATAL_FAILURE(ExecOrDie(db_.blue, "CREATE TABLE public.consent (challenge text PRIMARY KEY)"));
  ASSERT_NO_FATAL_FAILURE(ExecOrDie(
      db_.green, "CREATE TABLE public.flow (login text PRIMARY KEY, consent_challenge varchar(40) UNIQUE)"));
  // consent was created after the snapshot: every row is a candidate.
  ASSERT_NO_FATAL_FAILURE(ExecOrDie(db_.blue, "INSERT INTO public.consent VALUES ('c1'), ('c2'), ('c3'), ('c4')"));
  ASSERT_NO_FATAL_FAILURE(ExecOrDie(db_.green, "INSERT INTO public.flow VALUES ('l1', 'c1'), ('l3', 'c3'), ('l9', NULL)"));
  ASSERT_NO_FATAL_FAILURE(ExecOrDie(db_.blue, "INSERT INTO public.jwk VALUES ('s1', 'new-a'), ('s2', 'new-b')"));
  ASSERT_NO_FATAL_FAILURE(ExecOrDie(db_.green, "INSERT INTO public.jwk VALUES ('s2', 'new-b'), ('s1', 'new-b')"));

  CaptureRule consent = DeleteRule("consent.delete", "public.consent", {"challenge"},
                                   "DELETE FROM flow WHERE consent_challenge = :challenge");
  consent.set_target_table("public.flow");
  consent.add_target_key_columns("consent_challenge");
  CaptureRule jwk = DeleteRule("jwk.delete", "public.jwk", {"sid", "kid"},
                               "DELETE FROM public.jwk WHERE sid = :sid AND kid = :kid");
  ASSERT_TRUE(ValidateRules({consent, jwk}).ok());

  absl::StatusOr<RollbackSweep> s = Sweep({consent, jwk}, /*batch=*/1000);
  ASSERT_TRUE(s.ok()) << s.status();
  ASSERT_EQ(s->tables_size(), 2);
  EXPECT_EQ(s->tables(0).target_table(), "public.flow");
  EXPECT_EQ(s->tables(0).candidates(), 4);
  EXPECT_EQ(s->tables(0).revoked(), 2);
  EXPECT_EQ(QueryScalar(db_.blue, "SELECT string_agg(challenge, ',' ORDER BY challenge) FROM public.consent"), "c1,c3");
  EXPECT_EQ(s->tables(1).candidates(), 2);
  EXPECT_EQ(s->tables(1).revoked(), 1);  // (s1, new-a); (s1, new-b) on green is another key
  EXPECT_EQ(Count(db_.blue, "kid = 'new-a'", "public.jwk"), 0);
  EXPECT_EQ(Count(db_.blue, "kid = 'new-b'", "public.jwk"), 1);
  EXPECT_EQ(Count(db_.blue, "kid LIKE 'k%'", "public.jwk"), 10);
}

TEST_F(RollbackSweepPgTest, ATableWithoutOnDeleteIsDeactivatedNotDeleted) {
  CaptureRule deact;
  deact.set_name("tok.deactivate");
  deact.set_table("public.tok");
  deact.set_revocation_class(cutover::v1::REVOCATION_CLASS_TOKEN);
  deact.add_key_columns("sig");
  auto* u = deact.add_on_update();
  u->set_column("active");
  u->set_value("false");
  deact.add_apply("UPDATE public.tok SET active = false WHERE sig = :sig");
  ASSERT_NO_FATAL_FAILURE(ExecOrDie(db_.blue,
                                    "INSERT INTO public.tok (sig) VALUES ('win-a'), ('win-b'); "
                                    "INSERT INTO public.tok (sig, active) VALUES ('win-c', false)"));
  absl::StatusOr<RollbackSweep> s = Sweep({deact});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->tables(0).action(), "update");
  EXPECT_EQ(s->tables(0).candidates(), 3);
  EXPECT_EQ(s->tables(0).revoked(), 2);  // win-c was already inactive
  EXPECT_EQ(Count(db_.blue, "sig LIKE 'win-%' AND NOT active"), 3);
  EXPECT_EQ(Count(db_.blue, "active"), 100);
}

TEST_F(RollbackSweepPgTest, ErrorsNameTheField) {
  auto blue = pg::Session::Connect(db_.blue, "blue");
  auto green = pg::Session::Connect(db_.green, "green");
  ASSERT_TRUE(blue.ok() && green.ok());

  absl::StatusOr<RollbackSweep> bad = SweepRowsMissingOnGreen(TokRules(), "not a snapshot", **blue, **green);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("copy_report.blue_xid_snapshot"), std::string::npos) << bad.status();

  CaptureRule r = TokRules()[0];
  r.set_target_table("public.nope");
  absl::Status st = CheckSweepTargets({r}, **green);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("capture.rules[tok.delete].target_table: public.nope does not exist on green"),
            std::string::npos)
      << st;

  r.set_target_table("public.tok");
  r.add_target_key_columns("signature");
  st = CheckSweepTargets({r}, **green);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(st.message().find("capture.rules[tok.delete].target_key_columns: column signature does not exist"),
            std::string::npos)
      << st;
  // Nothing changed on blue by any of it.
  EXPECT_EQ(Count(db_.blue, "true"), 100);
}

TEST(RollbackSweepRules, TargetFieldsAreValidated) {
  CaptureRule r = DeleteRule("a.delete", "public.a", {"id"}, "DELETE FROM a WHERE id = :id");
  r.add_target_key_columns("x");
  absl::Status st = ValidateRules({r});
  EXPECT_NE(st.message().find("capture.rules[a.delete].target_key_columns: is set without target_table"),
            std::string::npos)
      << st;
  r.set_target_table("flow");
  st = ValidateRules({r});
  EXPECT_NE(st.message().find("capture.rules[a.delete].target_table: \"flow\" is not a schema-qualified table"),
            std::string::npos)
      << st;
  r.set_target_table("public.flow");
  r.add_target_key_columns("y");
  st = ValidateRules({r});
  EXPECT_NE(st.message().find("target_key_columns: 2 column(s): expected one per key column (1"), std::string::npos)
      << st;
  r.clear_target_key_columns();
  r.add_target_key_columns("Bad-Name");
  st = ValidateRules({r});
  EXPECT_NE(st.message().find("target_key_columns[0]: \"Bad-Name\" is not a column name"), std::string::npos) << st;
  r.clear_target_key_columns();
  r.add_target_key_columns("consent_challenge_id");
  EXPECT_TRUE(ValidateRules({r}).ok());
}

TEST(RollbackSweepRules, OneTargetPerTableDeleteWinsOverUpdate) {
  CaptureRule del = DeleteRule("t.delete", "public.t", {"sig"}, "DELETE FROM t WHERE sig = :sig");
  CaptureRule deact = del;
  deact.set_name("t.deactivate");
  deact.set_on_delete(false);
  auto* u = deact.add_on_update();
  u->set_column("active");
  u->set_value("false");
  std::vector<SweepTarget> t = SweepTargets({deact, del});
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0].path, "capture.rules[t.deactivate]");
  EXPECT_TRUE(t[0].delete_rows);
  EXPECT_EQ(t[0].target_table, "public.t");
  EXPECT_EQ(t[0].target_key_columns, std::vector<std::string>{"sig"});
}

}  // namespace
}  // namespace cutover::replay
