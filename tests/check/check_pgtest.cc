// cutover-check as a subprocess against real PostgreSQL (the shared test
// sandbox): blue and green get the same deterministic Hydra dataset (1.11 on
// blue, 2.x on green unless a test says otherwise), then each test injects
// one kind of difference and checks the exit code, the counts and the keys
// of the JSON report.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "cutover/check/check.h"
#include "cutover/common/pg.h"
#include "cutover/common/subprocess.h"
#include "cutover/hydra/dataset.h"
#include "cutover/testing/sandbox_env.h"
#include "cutover/v1/check.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace cutover::check {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string EnvOr(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : fallback;
}

// Tiny, but with rows in every compared table and several clients (a client
// deletion must not wipe everything).
hydra::DatasetSize TinySize() {
  hydra::DatasetSize size = hydra::DatasetSize::AtScale(0.001);
  size.clients = 5;
  size.auth_codes = 40;
  return size;
}

const hydra::Shape k111 = hydra::Shape::kHydra111;
const hydra::Shape k2x = hydra::Shape::kHydra2x;

class CheckPgTest : public ::testing::Test {
 protected:
  void Load(hydra::Shape blue_shape = k111, hydra::Shape green_shape = k2x) {
    db_ = cutover::testing::FreshDatabases("check");
    ASSERT_FALSE(HasFailure());
    blue_shape_ = blue_shape;
    green_shape_ = green_shape;
    ASSERT_NO_FATAL_FAILURE(Fill(db_.blue, blue_shape));
    ASSERT_NO_FATAL_FAILURE(Fill(db_.green, green_shape));
  }

  static void Fill(const std::string& dsn, hydra::Shape shape) {
    auto s = pg::Session::Connect(dsn, "test database");
    ASSERT_TRUE(s.ok()) << s.status();
    absl::Status st = shape == k111 ? hydra::CreateSchema11(**s) : hydra::CreateSchema2x(**s);
    ASSERT_TRUE(st.ok()) << st;
    st = hydra::Generate(**s, TinySize());
    ASSERT_TRUE(st.ok()) << st;
  }

  std::string LedgerPath() const {
    return absl::StrCat(::testing::TempDir(), "/", db_.name, ".ledger.jsonl");
  }
  std::string ReportPath() const { return absl::StrCat(::testing::TempDir(), "/", db_.name, ".report.json"); }
  void TearDown() override {
    if (db_.name.empty()) return;
    std::remove(LedgerPath().c_str());
    std::remove(ReportPath().c_str());
  }

  void WriteLedger(const std::vector<std::string>& lines) {
    std::FILE* f = std::fopen(LedgerPath().c_str(), "w");
    ASSERT_NE(f, nullptr);
    for (const auto& l : lines) std::fprintf(f, "%s\n", l.c_str());
    std::fclose(f);
  }

  static std::string Line(absl::Time at, const std::string& schema, const std::string& kind,
                          const std::string& key) {
    return absl::StrCat(R"({"at":")", FormatRfc3339(at), R"(","schema":")", schema, R"(","kind":")", kind,
                        R"(","key":")", key, R"("})");
  }

  // Runs cutover-check on this test's databases.
  CommandResult Run(std::vector<std::string> extra, const std::string& green_dsn = "") {
    std::vector<std::string> argv = {
        EnvOr("CUTOVER_BINARY_DIR", CUTOVER_DEFAULT_BINARY_DIR) + "/deploy/hydra/check/cutover-check",
        "--blue", db_.blue, "--green", green_dsn.empty() ? db_.green : green_dsn};
    argv.insert(argv.end(), extra.begin(), extra.end());
    CommandSpec spec;
    spec.argv = std::move(argv);
    spec.timeout = absl::Seconds(120);
    auto r = RunCommand(spec);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.value_or(CommandResult{});
  }

  // Runs with --output json and parses the report.
  v1::CheckReport RunJson(std::vector<std::string> extra, int expected_exit) {
    extra.push_back("--output");
    extra.push_back("json");
    CommandResult r = Run(std::move(extra));
    EXPECT_EQ(r.exit_code, expected_exit) << r.out << r.err;
    v1::CheckReport report;
    auto st = google::protobuf::util::JsonStringToMessage(r.out, &report);
    EXPECT_TRUE(st.ok()) << st.ToString() << "\n" << r.out << r.err;
    return report;
  }

  static const v1::CheckEntityResult& Entity(const v1::CheckReport& r, const std::string& name) {
    for (const auto& e : r.entities()) {
      if (e.entity() == name) return e;
    }
    static const v1::CheckEntityResult kNone;
    ADD_FAILURE() << "no entity " << name;
    return kNone;
  }

  // A new token row on `dsn` copied from an existing one, created now (UTC,
  // as Hydra stores it).
  static std::string CloneTokenSql(const std::string& table, hydra::Shape shape, const std::string& prefix,
                                   int n) {
    const std::string extra = shape == k2x ? ", nid, expires_at" : "";
    return absl::StrCat(
        "INSERT INTO ", table,
        " (signature, request_id, requested_at, client_id, scope, granted_scope, form_data, "
        "session_data, subject, active, requested_audience, granted_audience, challenge_id",
        extra, ") SELECT '", prefix,
        "' || signature, request_id, now() AT TIME ZONE 'UTC', client_id, scope, granted_scope, "
        "form_data, session_data, subject, true, requested_audience, granted_audience, "
        "challenge_id",
        extra, " FROM ", table, " ORDER BY signature LIMIT ", n);
  }

  std::string Q(const std::string& dsn, const std::string& sql) {
    return cutover::testing::QueryScalar(dsn, sql);
  }
  void X(const std::string& dsn, const std::string& sql) { cutover::testing::ExecOrDie(dsn, sql); }

  cutover::testing::TestDb db_;
  hydra::Shape blue_shape_ = k111;
  hydra::Shape green_shape_ = k2x;
};

std::string Now() { return FormatRfc3339(absl::Now()); }

// (a) The same dataset on both sides: every key matched, exit 0.
TEST_F(CheckPgTest, IdenticalDatasetsAreOk) {
  ASSERT_NO_FATAL_FAILURE(Load());
  const absl::Time start = absl::Now();
  CommandResult text = Run({"--snapshot-at", Now()});
  EXPECT_EQ(text.exit_code, 0) << text.out << text.err;
  EXPECT_THAT(text.out, HasSubstr("\nOK: 0 lost, 0 false revocations\n"));
  EXPECT_THAT(text.err, HasSubstr("cutover-check: access: "));  // progress per entity on stderr
  std::printf("cutover-check on the tiny dataset took %s\n",
              absl::FormatDuration(absl::Now() - start).c_str());

  v1::CheckReport r = RunJson({"--snapshot-at", Now()}, 0);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.blue_shape(), "1.11");
  EXPECT_EQ(r.green_shape(), "2.x");
  EXPECT_EQ(r.verdict(), "OK: 0 lost, 0 false revocations");
  ASSERT_EQ(r.entities_size(), 8);
  const hydra::DatasetSize size = TinySize();
  EXPECT_EQ(Entity(r, "access").matched(), size.access_tokens);
  EXPECT_EQ(Entity(r, "refresh").matched(), size.refresh_tokens);
  EXPECT_EQ(Entity(r, "consent").matched(), size.consent_requests);
  EXPECT_EQ(Entity(r, "login_session").matched(), size.login_sessions);
  EXPECT_EQ(Entity(r, "client").matched(), size.clients);
  for (const auto& e : r.entities()) {
    EXPECT_GT(e.matched(), 0) << e.entity();
    EXPECT_EQ(e.blue_rows(), e.matched()) << e.entity();
    EXPECT_EQ(e.green_rows(), e.matched()) << e.entity();
    EXPECT_EQ(e.lost() + e.false_revocations() + e.accepted_losses(), 0) << e.entity();
  }
  EXPECT_EQ(Entity(r, "consent").blue_table(), "hydra_oauth2_consent_request");
  EXPECT_EQ(Entity(r, "consent").green_table(), "hydra_oauth2_flow");
}

// The shape is detected per side, so 1.11 vs 1.11 and 2.x vs 2.x work too.
TEST_F(CheckPgTest, SameShapeOnBothSides) {
  for (hydra::Shape shape : {k111, k2x}) {
    SCOPED_TRACE(hydra::ShapeName(shape));
    ASSERT_NO_FATAL_FAILURE(Load(shape, shape));
    X(db_.blue,
      "DELETE FROM hydra_oauth2_authentication_session WHERE id = (SELECT min(id) FROM "
      "hydra_oauth2_authentication_session)");
    v1::CheckReport r = RunJson({}, 1);
    EXPECT_EQ(r.blue_shape(), hydra::ShapeName(shape));
    EXPECT_EQ(r.green_shape(), hydra::ShapeName(shape));
    EXPECT_EQ(Entity(r, "login_session").lost(), 1);
    EXPECT_EQ(r.lost(), 1);
  }
}

// (b) A token deleted on blue is still active on green: one lost revocation, its key reported.
TEST_F(CheckPgTest, TokenDeletedOnBlueIsLost) {
  ASSERT_NO_FATAL_FAILURE(Load());
  const std::string sig = Q(db_.blue, "SELECT min(signature COLLATE \"C\") FROM hydra_oauth2_access");
  X(db_.blue, absl::StrCat("DELETE FROM hydra_oauth2_access WHERE signature = ", pg::QuoteLiteral(sig)));
  // And a refresh token deactivated on blue, active on green.
  const std::string rt =
      Q(db_.blue, "SELECT max(signature COLLATE \"C\") FROM hydra_oauth2_refresh WHERE active");
  X(db_.blue,
    absl::StrCat("UPDATE hydra_oauth2_refresh SET active = false WHERE signature = ", pg::QuoteLiteral(rt)));
  v1::CheckReport r = RunJson({"--snapshot-at", Now()}, 1);
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.lost(), 2);
  EXPECT_EQ(r.false_revocations(), 0);
  EXPECT_THAT(Entity(r, "access").lost_keys(), ElementsAre(sig));
  EXPECT_THAT(Entity(r, "refresh").lost_keys(), ElementsAre(rt));
  EXPECT_EQ(r.verdict(), "FAIL: 2 lost, 0 false revocations");
}

// (c) A consent withdrawn on blue (cascading to its tokens) but still on green.
TEST_F(CheckPgTest, ConsentRevokedOnBlueLosesTheConsentAndItsTokens) {
  ASSERT_NO_FATAL_FAILURE(Load());
  const std::string c =
      Q(db_.blue,
        "SELECT min(challenge_id COLLATE \"C\") FROM hydra_oauth2_access WHERE challenge_id IS NOT NULL");
  ASSERT_FALSE(c.empty());
  int64_t expected_tokens = 0;
  for (const char* t : {"access", "refresh", "code", "oidc", "pkce"}) {
    expected_tokens +=
        std::stoll(Q(db_.green, absl::StrCat("SELECT count(*) FROM hydra_oauth2_", t,
                                             " WHERE active AND challenge_id = ", pg::QuoteLiteral(c))));
  }
  ASSERT_GT(expected_tokens, 0);
  X(db_.blue,
    absl::StrCat("DELETE FROM hydra_oauth2_consent_request WHERE challenge = ", pg::QuoteLiteral(c)));
  ASSERT_EQ(Q(db_.blue, absl::StrCat("SELECT count(*) FROM hydra_oauth2_access WHERE challenge_id = ",
                                     pg::QuoteLiteral(c))),
            "0");  // the cascade happened on blue
  v1::CheckReport r = RunJson({"--snapshot-at", Now()}, 1);
  EXPECT_THAT(Entity(r, "consent").lost_keys(), ElementsAre(c));
  int64_t token_lost = 0;
  for (const char* t : {"access", "refresh", "code", "oidc", "pkce"}) token_lost += Entity(r, t).lost();
  EXPECT_EQ(token_lost, expected_tokens);
  EXPECT_EQ(r.lost(), 1 + expected_tokens);
}

// (d) A token active on blue, deleted on green (and one deactivated there): false revocations.
TEST_F(CheckPgTest, TokenGoneOnGreenIsAFalseRevocation) {
  ASSERT_NO_FATAL_FAILURE(Load());
  const std::string sig = Q(db_.green, "SELECT min(signature COLLATE \"C\") FROM hydra_oauth2_access");
  X(db_.green, absl::StrCat("DELETE FROM hydra_oauth2_access WHERE signature = ", pg::QuoteLiteral(sig)));
  v1::CheckReport r = RunJson({"--snapshot-at", Now()}, 1);
  EXPECT_EQ(r.false_revocations(), 1);
  EXPECT_EQ(r.lost(), 0);
  EXPECT_THAT(Entity(r, "access").false_revocation_keys(), ElementsAre(sig));
  EXPECT_EQ(r.verdict(), "FAIL: 0 lost, 1 false revocation");

  // Without a snapshot time the checker cannot tell it from a write made on
  // blue after the snapshot: an accepted loss, and a note says why.
  r = RunJson({}, 0);
  EXPECT_EQ(Entity(r, "access").accepted_losses(), 1);
  EXPECT_THAT(absl::StrJoin(r.notes(), "\n"), HasSubstr("no snapshot time"));
}

// (e) The same, and more, explained by revocations made on green per the ledger.
TEST_F(CheckPgTest, GreenRevocationsInTheLedgerAreNotFalse) {
  ASSERT_NO_FATAL_FAILURE(Load());
  const std::string g = db_.green;
  std::vector<std::string> ledger;
  // A token revocation by request id: access rows deleted, refresh rows deactivated.
  const std::string rid = Q(g, "SELECT min(request_id COLLATE \"C\") FROM hydra_oauth2_refresh WHERE active");
  X(g, absl::StrCat(
           "DELETE FROM hydra_oauth2_access WHERE request_id = ", pg::QuoteLiteral(rid),
           "; UPDATE hydra_oauth2_refresh SET active = false WHERE request_id = ", pg::QuoteLiteral(rid)));
  ledger.push_back(Line(absl::Now(), "2.x", "token", rid));
  // A refresh rotation: the old refresh token deactivated, the grant's access tokens deleted.
  const std::string rt = Q(g, "SELECT max(signature COLLATE \"C\") FROM hydra_oauth2_refresh WHERE active");
  const std::string rt_rid =
      Q(g,
        absl::StrCat("SELECT request_id FROM hydra_oauth2_refresh WHERE signature = ", pg::QuoteLiteral(rt)));
  ASSERT_NE(rt_rid, rid);
  X(g, absl::StrCat(
           "UPDATE hydra_oauth2_refresh SET active = false WHERE request_id = ", pg::QuoteLiteral(rt_rid),
           "; DELETE FROM hydra_oauth2_access WHERE request_id = ", pg::QuoteLiteral(rt_rid)));
  ledger.push_back(Line(absl::Now(), "2.x", "refresh", rt));
  // A consent withdrawn on green (2.x deletes the flow; its tokens cascade).
  const std::string c = Q(g, "SELECT max(challenge_id COLLATE \"C\") FROM hydra_oauth2_access");
  X(g, absl::StrCat("DELETE FROM hydra_oauth2_flow WHERE consent_challenge_id = ", pg::QuoteLiteral(c)));
  ledger.push_back(Line(absl::Now(), "2.x", "consent", c));
  // A login session logged out and a client deleted (cascading to its tokens and flows).
  const std::string ls = Q(g, "SELECT min(id) FROM hydra_oauth2_authentication_session");
  X(g, absl::StrCat("DELETE FROM hydra_oauth2_authentication_session WHERE id = ", pg::QuoteLiteral(ls)));
  ledger.push_back(Line(absl::Now(), "2.x", "login_session", ls));
  const std::string client = Q(g, "SELECT max(id COLLATE \"C\") FROM hydra_client");
  X(g, absl::StrCat("DELETE FROM hydra_client WHERE id = ", pg::QuoteLiteral(client)));
  ledger.push_back(Line(absl::Now(), "2.x", "client", client));
  ASSERT_NO_FATAL_FAILURE(WriteLedger(ledger));

  // Without the ledger all of it is false revocations...
  v1::CheckReport without = RunJson({"--snapshot-at", Now()}, 1);
  EXPECT_GT(without.false_revocations(), 5);
  // ... with it, none is.
  v1::CheckReport r = RunJson({"--snapshot-at", Now(), "--ledger", LedgerPath()}, 0);
  EXPECT_EQ(r.false_revocations(), 0);
  EXPECT_EQ(r.lost(), 0);
  int64_t revoked = 0;
  for (const auto& e : r.entities()) revoked += e.revoked_on_green();
  EXPECT_EQ(revoked, without.false_revocations());
  EXPECT_EQ(r.ledger().entries(), 5);
  EXPECT_EQ(r.ledger().green_entries(), 5);
  EXPECT_EQ(r.ledger().checked(), 0);
}

// (f) Tokens created on green after the cutoff are not compared.
TEST_F(CheckPgTest, RowsCreatedOnGreenAfterTheCutoffAreIgnored) {
  ASSERT_NO_FATAL_FAILURE(Load());
  const absl::Time flip = absl::Now() - absl::Seconds(5);
  X(db_.green, CloneTokenSql("hydra_oauth2_access", k2x, "new-on-green-", 3));
  v1::CheckReport r = RunJson({"--since-flip", FormatRfc3339(flip)}, 0);
  EXPECT_EQ(Entity(r, "access").created_on_green(), 3);
  EXPECT_EQ(r.created_after_source(), "--since-flip");

  // The same cutoff read from a cutover report (pause time).
  const std::string report = ReportPath();
  std::FILE* f = std::fopen(report.c_str(), "w");
  ASSERT_NE(f, nullptr);
  std::fprintf(f, R"({"cutover_id":"x","flip":{"succeeded":true,"paused_at":"%s"}})",
               FormatRfc3339(flip).c_str());
  std::fclose(f);
  r = RunJson({"--report", report}, 0);
  EXPECT_EQ(Entity(r, "access").created_on_green(), 3);
  EXPECT_EQ(r.created_after_source(), "report flip.paused_at");

  // Without a cutoff they look like rows blue deleted: lost.
  r = RunJson({}, 1);
  EXPECT_EQ(Entity(r, "access").lost(), 3);
  // --since-flip and --report exclude each other.
  EXPECT_EQ(Run({"--since-flip", FormatRfc3339(flip), "--report", report}).exit_code, 2);
}

// (g) Rows written on blue after the snapshot and absent on green: accepted losses, exit 0.
TEST_F(CheckPgTest, BlueWritesAfterTheSnapshotAreAcceptedLosses) {
  ASSERT_NO_FATAL_FAILURE(Load());
  const absl::Time snapshot = absl::Now() - absl::Seconds(5);
  X(db_.blue, CloneTokenSql("hydra_oauth2_access", k111, "window-", 2));
  X(db_.blue, CloneTokenSql("hydra_oauth2_refresh", k111, "window-", 1));
  X(db_.blue,
    "INSERT INTO hydra_oauth2_authentication_session (id, authenticated_at, subject) "
    "VALUES ('window-session', now() AT TIME ZONE 'UTC', 'someone')");
  v1::CheckReport r = RunJson({"--snapshot-at", FormatRfc3339(snapshot), "--since-flip",
                               FormatRfc3339(absl::Now() + absl::Seconds(5))},
                              0);
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(Entity(r, "access").accepted_losses(), 2);
  EXPECT_EQ(Entity(r, "refresh").accepted_losses(), 1);
  EXPECT_EQ(Entity(r, "login_session").accepted_losses(), 1);
  EXPECT_EQ(r.accepted_losses(), 4);
  CommandResult text = Run({"--snapshot-at", FormatRfc3339(snapshot)});
  EXPECT_EQ(text.exit_code, 0);
  EXPECT_THAT(text.out, HasSubstr("OK: 0 lost, 0 false revocations"));
}

// (h) Revocations acknowledged on blue must be in effect on green.
TEST_F(CheckPgTest, LedgerRevocationsMadeOnBlueMustBeInEffectOnGreen) {
  ASSERT_NO_FATAL_FAILURE(Load());
  const std::string g = db_.green;
  const std::string live_rid = Q(g, "SELECT min(request_id COLLATE \"C\") FROM hydra_oauth2_access");
  const std::string dead_rt =
      Q(g, "SELECT min(signature COLLATE \"C\") FROM hydra_oauth2_refresh WHERE NOT active");
  const std::string live_rt =
      Q(g, "SELECT min(signature COLLATE \"C\") FROM hydra_oauth2_refresh WHERE active");
  const absl::Time now = absl::Now();
  ASSERT_NO_FATAL_FAILURE(WriteLedger({
      Line(now, "1.x", "refresh", dead_rt),            // in effect (inactive on green)
      Line(now, "1.x", "token", live_rid),             // NOT in effect: tokens still active
      Line(now, "1.x", "consent", "no-such-consent"),  // absent on green: in effect
      Line(absl::FromUnixSeconds(1000000000), "1.x", "token",
           live_rid),                        // its rows are newer: nothing to revoke
      Line(now, "1.x", "refresh", live_rt),  // NOT in effect
  }));
  v1::CheckReport r = RunJson({"--snapshot-at", Now(), "--ledger", LedgerPath()}, 1);
  EXPECT_EQ(r.lost(), 0);  // blue and green agree; only the ledger knows
  EXPECT_EQ(r.ledger().entries(), 5);
  EXPECT_EQ(r.ledger().blue_entries(), 5);
  EXPECT_EQ(r.ledger().checked(), 5);
  EXPECT_EQ(r.ledger().absent_on_green(), 2);
  EXPECT_EQ(r.ledger().lost(), 2);
  EXPECT_EQ(r.ledger_lost(), 2);
  ASSERT_EQ(r.ledger().lost_entries_size(), 2);
  EXPECT_EQ(r.ledger().lost_entries(0).line(), 2);
  EXPECT_EQ(r.ledger().lost_entries(0).kind(), "token");
  EXPECT_EQ(r.ledger().lost_entries(0).key(), live_rid);
  EXPECT_THAT(r.ledger().lost_entries(0).detail(), HasSubstr("still active"));
  EXPECT_EQ(r.ledger().lost_entries(1).line(), 5);
  EXPECT_EQ(r.verdict(), "FAIL: 0 lost, 0 false revocations, 2 ledger revocations not in effect on green");
}

// --serving blue (aborted or rolled back): every ledger entry, made on blue or
// on green, is looked up on blue; green is not read and entities are not compared.
TEST_F(CheckPgTest, ServingBlueChecksEveryLedgerEntryOnBlue) {
  ASSERT_NO_FATAL_FAILURE(Load());
  const std::string b = db_.blue;
  const std::string live_rid = Q(b, "SELECT min(request_id COLLATE \"C\") FROM hydra_oauth2_access");
  const std::string dead_rt =
      Q(b, "SELECT min(signature COLLATE \"C\") FROM hydra_oauth2_refresh WHERE NOT active");
  const std::string live_session =
      Q(b, "SELECT min(id COLLATE \"C\") FROM hydra_oauth2_authentication_session");
  // Green differs wildly: it must not matter.
  X(db_.green, "DELETE FROM hydra_oauth2_access");
  const absl::Time now = absl::Now();
  ASSERT_NO_FATAL_FAILURE(WriteLedger({
      Line(now, "1.x", "refresh", dead_rt),                  // in effect on blue
      Line(now, "2.x", "token", live_rid),                   // made on green, NOT in effect on blue
      Line(now, "2.x", "login_session", "no-such-session"),  // absent on blue: in effect
      Line(now, "2.x", "login_session", live_session),       // NOT in effect on blue
  }));
  v1::CheckReport r = RunJson({"--serving", "blue", "--ledger", LedgerPath()}, 1);
  EXPECT_EQ(r.entities_size(), 0);
  EXPECT_EQ(r.ledger().entries(), 4);
  EXPECT_EQ(r.ledger().blue_entries(), 1);
  EXPECT_EQ(r.ledger().green_entries(), 3);
  EXPECT_EQ(r.ledger().checked(), 4);
  EXPECT_EQ(r.ledger().absent_on_green(), 1);
  EXPECT_EQ(r.ledger_lost(), 2);
  ASSERT_EQ(r.ledger().lost_entries_size(), 2);
  EXPECT_EQ(r.ledger().lost_entries(0).line(), 2);
  EXPECT_EQ(r.ledger().lost_entries(1).line(), 4);
  EXPECT_EQ(r.verdict(), "FAIL: 2 ledger revocations not in effect on blue (blue serves)");

  // Revoked on blue (as a rollback would carry them back): OK.
  X(b, absl::StrCat("DELETE FROM hydra_oauth2_access WHERE request_id = '", live_rid, "'"));
  X(b, absl::StrCat("UPDATE hydra_oauth2_refresh SET active = false WHERE request_id = '", live_rid, "'"));
  X(b, absl::StrCat("DELETE FROM hydra_oauth2_authentication_session WHERE id = '", live_session, "'"));
  r = RunJson({"--serving", "blue", "--ledger", LedgerPath()}, 0);
  EXPECT_EQ(r.verdict(), "OK: 0 ledger revocations not in effect on blue (blue serves)");

  // It needs the ledger.
  CommandResult u = Run({"--serving", "blue"});
  EXPECT_EQ(u.exit_code, 2) << u.out << u.err;
  EXPECT_THAT(u.err, HasSubstr("--serving blue needs --ledger"));
}

TEST_F(CheckPgTest, MalformedLedgerLineExitsTwoNamingFileAndLine) {
  ASSERT_NO_FATAL_FAILURE(Load());
  ASSERT_NO_FATAL_FAILURE(
      WriteLedger({Line(absl::Now(), "1.x", "token", "r1"),
                   R"({"at":"2024-05-01T12:00:00Z","schema":"1.x","kind":"grant","key":"a"})"}));
  CommandResult r = Run({"--ledger", LedgerPath()});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr(absl::StrCat(LedgerPath(), ":2: expected a JSON object")));
  EXPECT_THAT(r.err, HasSubstr("unknown \"kind\" \"grant\""));
  r = Run({"--ledger", LedgerPath() + ".missing"});
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr(".missing"));
}

// (i) A database that cannot be read: exit 3, the message names the side.
TEST_F(CheckPgTest, UnreadableDatabaseExitsThreeNamingTheSide) {
  ASSERT_NO_FATAL_FAILURE(Load());
  CommandResult r = Run({}, "host=127.0.0.1 port=1 dbname=nowhere user=postgres connect_timeout=3");
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("green"));
  EXPECT_THAT(r.err, ::testing::Not(HasSubstr("blue")));
  // Reachable, but no Hydra schema there.
  r = Run({}, db_.control);
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("green: no Hydra schema"));
  // A malformed DSN is a usage error naming the flag.
  r = Run({}, "nonsense");
  EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
  EXPECT_THAT(r.err, HasSubstr("--green"));
}

}  // namespace
}  // namespace cutover::check
