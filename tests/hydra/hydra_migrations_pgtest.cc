// deploy/hydra/migrations (the Hydra 1.11 -> 2.x migration set) against
// PostgreSQL 15, run the way the orchestrator's MIGRATING phase runs it:
// every *.sql file in name order, `psql -X -q -v ON_ERROR_STOP=1 -1 -f FILE`,
// without -1 when the file carries `cutover:no-transaction`.
//
// Green starts as a copy of blue: both get the 1.11 schema, the same
// generated dataset and the same hand-made edge cases (a consent whose login
// request is gone, two consents for one login, denied / unused / unhandled
// consents, logins that never reached consent). Then green is migrated and
// the tests check:
//   (a) green's catalog equals one created directly from schema-2.x.sql
//       (columns, constraints with their definitions, indexes, sequences);
//   (b) the data carried over: tokens, clients and every consent, with the
//       flow columns mapped as 0009_flow.sql documents;
//   (c) the Hydra capture rules apply on the migrated green (and the
//       rollback rules capture on it and apply on blue);
//   (d) the lock-hazard linter finds nothing in the set;
//   (e) a no-transaction file can be run again after it ran (what a retry
//       after a partial failure does), and a second run of the whole set is
//       refused by the first file, changing nothing.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cutover/common/pg.h"
#include "cutover/common/status.h"
#include "cutover/common/subprocess.h"
#include "cutover/hydra/dataset.h"
#include "cutover/migrate/lint.h"
#include "cutover/replay/hydra_profile.h"
#include "cutover/replay/rollback_sweep.h"
#include "cutover/replay/rules.h"
#include "cutover/testing/sandbox_env.h"
#include "gtest/gtest.h"

namespace cutover::hydra {
namespace {

#define ASSERT_OK(expr)                                       \
  do {                                                        \
    const absl::Status assert_ok_status_ = (expr);            \
    ASSERT_TRUE(assert_ok_status_.ok()) << assert_ok_status_; \
  } while (0)

// The network row 0001_networks.sql creates.
constexpr char kNetworkId[] = "dae1e9d2-c1b1-4c50-eca7-7c85d3f70c79";

const char* const kTokenTables[] = {"hydra_oauth2_access", "hydra_oauth2_refresh", "hydra_oauth2_code",
                                    "hydra_oauth2_oidc", "hydra_oauth2_pkce"};

std::string MigrationsDir() {
  const char* dir = std::getenv("CUTOVER_SOURCE_DIR");
  return absl::StrCat(dir != nullptr && *dir != '\0' ? dir : CUTOVER_DEFAULT_SOURCE_DIR,
                      "/deploy/hydra/migrations");
}

// One file as the orchestrator's Migrate applies it (PgBackend::Migrate).
CommandResult RunFile(const std::string& dsn, const migrate::SqlFile& file) {
  CommandSpec spec;
  spec.argv = {PgProgram("psql"),
               "-X",
               "-q",
               "-v",
               "ON_ERROR_STOP=1",
               "-d",
               dsn,
               "-f",
               absl::StrCat(MigrationsDir(), "/", file.name)};
  if (migrate::RunsInTransaction(file.body)) spec.argv.insert(spec.argv.begin() + 1, "-1");
  spec.timeout = absl::Minutes(5);
  absl::StatusOr<CommandResult> r = RunCommand(spec);
  EXPECT_TRUE(r.ok()) << file.name << ": " << r.status();
  return r.value_or(CommandResult{});
}

std::vector<std::string> Lines(const std::string& dsn, const std::string& sql) {
  std::vector<std::string> out;
  auto s = pg::Session::Connect(dsn, "catalog");
  EXPECT_TRUE(s.ok()) << s.status();
  if (!s.ok()) return out;
  auto r = (*s)->Exec(sql);
  EXPECT_TRUE(r.ok()) << r.status();
  if (!r.ok()) return out;
  for (const auto& row : *r) out.push_back(row[0].is_null() ? "<NULL>" : row[0].as<std::string>());
  return out;
}

// A normalized description of the public schema, one sorted line per
// relation, column, constraint and index. Names are kept: the migration
// gives every object the name schema-2.x.sql (or PostgreSQL, for the ones it
// leaves unnamed) gives it. Column order is left out (see ColumnOrder).
std::vector<std::string> Catalog(const std::string& dsn) {
  std::vector<std::string> lines = Lines(dsn, R"sql(
SELECT 'relation ' || c.relname || ' ' || c.relkind::text
FROM pg_class c
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'S', 'v', 'm')
UNION ALL
SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE ' NULL' END
       || coalesce(' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid), '')
       || CASE WHEN a.attidentity <> ''::"char" THEN ' IDENTITY' ELSE '' END
       || CASE WHEN a.attgenerated <> ''::"char" THEN ' GENERATED' ELSE '' END
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND a.attnum > 0
  AND NOT a.attisdropped
UNION ALL
SELECT 'constraint ' || conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
       || CASE WHEN NOT convalidated THEN ' (NOT VALID)' ELSE '' END
       || CASE WHEN condeferrable THEN ' (DEFERRABLE)' ELSE '' END
FROM pg_constraint
WHERE connamespace = 'public'::regnamespace
UNION ALL
SELECT 'index ' || pg_get_indexdef(i.indexrelid)
       || CASE WHEN NOT i.indisvalid THEN ' (INVALID)' ELSE '' END
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
WHERE c.relnamespace = 'public'::regnamespace
ORDER BY 1)sql");
  std::sort(lines.begin(), lines.end());  // byte order, as Diff needs (not the database's collation)
  return lines;
}

// "table: col1, col2, ..." in column order, one line per table.
std::map<std::string, std::string> ColumnOrder(const std::string& dsn) {
  std::map<std::string, std::string> out;
  for (const std::string& line : Lines(dsn, R"sql(
SELECT c.relname || ': ' || string_agg(a.attname, ', ' ORDER BY a.attnum)
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
GROUP BY c.relname)sql")) {
    out[line.substr(0, line.find(':'))] = line;
  }
  return out;
}

// Lines only in `want` (-) and only in `got` (+), or "" when equal.
std::string Diff(const std::vector<std::string>& want, const std::vector<std::string>& got) {
  std::vector<std::string> missing, extra;
  std::set_difference(want.begin(), want.end(), got.begin(), got.end(), std::back_inserter(missing));
  std::set_difference(got.begin(), got.end(), want.begin(), want.end(), std::back_inserter(extra));
  std::string out;
  for (const auto& l : missing) absl::StrAppend(&out, "  - ", l, "\n");
  for (const auto& l : extra) absl::StrAppend(&out, "  + ", l, "\n");
  return out;
}

std::string Text(const std::string& dsn, const std::string& sql) {
  absl::StatusOr<std::string> v = testing::Scalar(dsn, sql);
  EXPECT_TRUE(v.ok()) << sql << ": " << v.status();
  return v.value_or("");
}

// Applied to blue and green alike before green is migrated: the cases the
// generator does not produce. Consent requests are numbered n = 1, 2, ... in
// challenge order (every generated consent follows the login of the same
// index, with the same client, subject and login session).
constexpr char kEdgeCases[] = R"sql(
CREATE TEMP TABLE picks AS
  SELECT challenge, login_challenge, row_number() OVER (ORDER BY challenge) AS n
  FROM hydra_oauth2_consent_request;
-- n = 1: its login request is deleted; the consent loses login_challenge
-- (ON DELETE SET NULL) and keeps its tokens.
DELETE FROM hydra_oauth2_authentication_request WHERE challenge = (SELECT login_challenge FROM picks WHERE n = 1);
-- n = 2: a later second consent for the same login, with a token of its own.
INSERT INTO hydra_oauth2_consent_request (challenge, verifier, client_id, subject, request_url, skip,
  requested_scope, csrf, authenticated_at, requested_at, oidc_context, login_session_id, login_challenge, context)
SELECT 'migtest-second-consent', 'migtest-second-consent-verifier', c.client_id, c.subject, c.request_url,
  false, 'openid', 'migtest-csrf', c.authenticated_at, c.requested_at + interval '1 hour', '{}',
  c.login_session_id, c.login_challenge, '{}'
FROM hydra_oauth2_consent_request c JOIN picks p ON p.challenge = c.challenge WHERE p.n = 2;
INSERT INTO hydra_oauth2_consent_request_handled (challenge, granted_scope, remember, remember_for, error,
  session_access_token, session_id_token, was_used, handled_at)
VALUES ('migtest-second-consent', 'openid', true, 3600, '{}', '{}', '{"email":"x@example.com"}', true,
        timestamp '2023-12-01 00:00:00');
INSERT INTO hydra_oauth2_access (signature, request_id, requested_at, client_id, scope, granted_scope,
  form_data, session_data, subject, challenge_id)
SELECT 'migtest-token-second-consent', 'migtest-request', timestamp '2023-12-01 00:00:01', client_id, 'openid',
  'openid', '', '', subject, challenge
FROM hydra_oauth2_consent_request WHERE challenge = 'migtest-second-consent';
-- n = 3, 4: consent denied.
UPDATE hydra_oauth2_consent_request_handled SET error = '{"error":"access_denied"}', was_used = false
WHERE challenge IN (SELECT challenge FROM picks WHERE n IN (3, 4));
-- n = 5..7: consent accepted, not used yet.
UPDATE hydra_oauth2_consent_request_handled SET was_used = false
WHERE challenge IN (SELECT challenge FROM picks WHERE n IN (5, 6, 7));
-- n = 8, 9: consent requested, never handled (its tokens go with the handled row).
DELETE FROM hydra_oauth2_consent_request_handled WHERE challenge IN (SELECT challenge FROM picks WHERE n IN (8, 9));
-- n = 10..13: logins that never reached consent; 11 accepted but unused,
-- 12 denied, 13 never handled.
DELETE FROM hydra_oauth2_consent_request WHERE challenge IN (SELECT challenge FROM picks WHERE n BETWEEN 10 AND 13);
UPDATE hydra_oauth2_authentication_request_handled SET was_used = false
WHERE challenge = (SELECT login_challenge FROM picks WHERE n = 11);
UPDATE hydra_oauth2_authentication_request_handled SET error = '{"error":"login_required"}'
WHERE challenge = (SELECT login_challenge FROM picks WHERE n = 12);
DELETE FROM hydra_oauth2_authentication_request_handled
WHERE challenge = (SELECT login_challenge FROM picks WHERE n = 13);
)sql";

struct FileRun {
  std::string name;
  bool transactional = true;
  double seconds = 0;
  // No-transaction files only: the file run a second time right away.
  int rerun_exit_code = 0;
  std::string rerun_err;
  std::string rerun_catalog_diff;
};

// Blue and green (1.11 + data + edge cases) and green migrated, once for
// all tests; plus a reference database created from schema-2.x.sql. A setup
// failure fails every test with the reason (rather than skipping them).
class HydraMigrationsPgTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dbs_ = new testing::TestDb;
    reference_ = new std::string;
    runs_ = new std::vector<FileRun>;
    setup_ = new absl::Status(Prepare());
  }
  static void TearDownTestSuite() {
    delete dbs_;
    delete reference_;
    delete runs_;
    delete setup_;
    dbs_ = nullptr;
    reference_ = nullptr;
    runs_ = nullptr;
    setup_ = nullptr;
  }

  static absl::Status Prepare() {
    const auto t0 = std::chrono::steady_clock::now();
    absl::StatusOr<testing::TestDb> dbs = testing::TryFreshDatabases("hydra_migrations");
    RETURN_IF_ERROR(dbs.status());
    *dbs_ = *dbs;
    size_ = DatasetSize::AtScale(0.001);
    size_.clients = 5;
    size_.auth_codes = 40;
    size_.logout_requests = 6;
    size_.obfuscated_sessions = 7;
    size_.jti_blacklist = 8;
    size_.trust_grants = 3;
    if (size_.consent_requests != size_.login_requests || size_.login_requests < 20) {
      return absl::InternalError("the edge cases need one consent per login and at least 20 logins");
    }
    for (const std::string* dsn : {&dbs_->blue, &dbs_->green}) {
      auto s = pg::Session::Connect(*dsn, "1.11 database");
      RETURN_IF_ERROR(s.status());
      RETURN_IF_ERROR(CreateSchema11(**s));
      RETURN_IF_ERROR(Generate(**s, size_));
      RETURN_IF_ERROR(testing::Exec(*dsn, kEdgeCases));
    }
    {
      // The reference: schema-2.x.sql as is, in a database of its own (the
      // control cluster runs the same PostgreSQL).
      absl::StatusOr<testing::TestDb> ref = testing::TryFreshDatabases("hydra_migrations_ref");
      RETURN_IF_ERROR(ref.status());
      *reference_ = ref->control;
      auto s = pg::Session::Connect(*reference_, "2.x reference");
      RETURN_IF_ERROR(s.status());
      RETURN_IF_ERROR(CreateSchema2x(**s));
    }
    const auto t1 = std::chrono::steady_clock::now();

    absl::StatusOr<std::vector<migrate::SqlFile>> files = migrate::ReadMigrationDir(MigrationsDir());
    RETURN_IF_ERROR(files.status());
    if (files->size() < 2) return absl::NotFoundError(absl::StrCat("no migration set in ", MigrationsDir()));
    for (const migrate::SqlFile& f : *files) {
      FileRun run;
      run.name = f.name;
      run.transactional = migrate::RunsInTransaction(f.body);
      const auto start = std::chrono::steady_clock::now();
      CommandResult r = RunFile(dbs_->green, f);
      run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      if (r.exit_code != 0) {
        return absl::InternalError(absl::StrCat(f.name, " failed (exit ", r.exit_code, "):\n", r.err));
      }
      if (!run.transactional) {
        // What a retry after a partial failure does: the whole file again.
        const std::vector<std::string> before = Catalog(dbs_->green);
        CommandResult again = RunFile(dbs_->green, f);
        run.rerun_exit_code = again.exit_code;
        run.rerun_err = again.err;
        run.rerun_catalog_diff = Diff(before, Catalog(dbs_->green));
      }
      runs_->push_back(run);
    }
    const auto t2 = std::chrono::steady_clock::now();
    std::cout << "setup (2 x 1.11 + data + edge cases, 2.x reference): "
              << std::chrono::duration<double>(t1 - t0).count()
              << " s; migration set: " << std::chrono::duration<double>(t2 - t1).count()
              << " s (no-transaction files run twice)\n";
    for (const FileRun& run : *runs_) {
      std::cout << "  " << run.name << (run.transactional ? "  (psql -1)  " : "  (no tx)    ") << run.seconds
                << " s\n";
    }
    return absl::OkStatus();
  }

  void SetUp() override { ASSERT_TRUE(setup_->ok()) << "setting up the databases failed: " << *setup_; }

  static const std::string& blue() { return dbs_->blue; }
  static const std::string& green() { return dbs_->green; }

  static testing::TestDb* dbs_;
  static std::string* reference_;
  static std::vector<FileRun>* runs_;
  static absl::Status* setup_;
  static DatasetSize size_;
};

testing::TestDb* HydraMigrationsPgTest::dbs_ = nullptr;
std::string* HydraMigrationsPgTest::reference_ = nullptr;
std::vector<FileRun>* HydraMigrationsPgTest::runs_ = nullptr;
absl::Status* HydraMigrationsPgTest::setup_ = nullptr;
DatasetSize HydraMigrationsPgTest::size_;

// (a)
TEST_F(HydraMigrationsPgTest, CatalogEqualsSchema2x) {
  const std::vector<std::string> want = Catalog(*reference_);
  const std::vector<std::string> got = Catalog(green());
  ASSERT_GT(want.size(), 300u);
  const std::string diff = Diff(want, got);
  EXPECT_TRUE(diff.empty()) << "catalog of the migrated database (+) vs schema-2.x.sql (-):\n" << diff;
  auto shape = [](const std::string& dsn) {
    auto s = pg::Session::Connect(dsn, "green");
    EXPECT_TRUE(s.ok()) << s.status();
    absl::StatusOr<Shape> shape = s.ok() ? DetectShape(**s) : s.status();
    return shape.ok() ? ShapeName(*shape) : shape.status().ToString();
  };
  EXPECT_EQ(shape(green()), "2.x");

  // Column order is not part of a table's contract (Hydra names its columns;
  // never SELECT *), and the migration appends new columns. It matches 2.x
  // everywhere but hydra_jwk, whose new uuid `pk` 2.x declares first.
  std::map<std::string, std::string> want_order = ColumnOrder(*reference_), got_order = ColumnOrder(green());
  std::vector<std::string> differ;
  for (const auto& [table, order] : want_order) {
    if (got_order[table] != order) differ.push_back(table);
  }
  EXPECT_EQ(differ, std::vector<std::string>{"hydra_jwk"})
      << "tables whose column order differs: " << absl::StrJoin(differ, ", ");
}

// (b)
TEST_F(HydraMigrationsPgTest, DataCarriedOver) {
  // Every table 2.x keeps has the same rows (counts), tokens the same content.
  auto b = pg::Session::Connect(blue(), "blue");
  auto g = pg::Session::Connect(green(), "green");
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_TRUE(g.ok()) << g.status();
  auto blue_counts = Count(**b);
  auto green_counts = Count(**g);
  ASSERT_TRUE(blue_counts.ok()) << blue_counts.status();
  ASSERT_TRUE(green_counts.ok()) << green_counts.status();
  ASSERT_EQ(green_counts->shape, Shape::kHydra2x);
  for (const std::string& t : Tables(Shape::kHydra2x)) {
    if (t == "networks" || t == "hydra_oauth2_flow") continue;
    const int64_t want = blue_counts->Rows(t) + (t == "schema_migration" ? 1 : 0);  // + the 2.x row
    EXPECT_EQ(green_counts->Rows(t), want) << t;
    EXPECT_GT(green_counts->Rows(t), 0) << t;
  }
  for (const char* t : kTokenTables) {
    const std::string digest = absl::StrCat(
        "SELECT count(*) || ' ' || md5(string_agg(concat_ws('/', signature, request_id, requested_at, "
        "client_id, "
        "subject, challenge_id, active, scope, granted_scope, form_data, session_data, requested_audience, "
        "granted_audience), ',' ORDER BY signature)) FROM ",
        t);
    EXPECT_EQ(Text(green(), digest), Text(blue(), digest)) << t;
    // Every token's consent is a flow row.
    EXPECT_EQ(
        Text(green(), absl::StrCat("SELECT count(*) FROM ", t,
                                   " x WHERE x.challenge_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM "
                                   "hydra_oauth2_flow f WHERE f.consent_challenge_id = x.challenge_id)")),
        "0")
        << t;
  }
  // Clients keep their ids (and everything else 1.11 had).
  const std::string clients =
      "SELECT md5(string_agg(concat_ws('/', id, client_name, client_secret, redirect_uris, grant_types, "
      "scope, "
      "token_endpoint_auth_method, subject_type, metadata, created_at), ',' ORDER BY id)) FROM hydra_client";
  EXPECT_EQ(Text(green(), clients), Text(blue(), clients));
  const std::string sessions =
      "SELECT md5(string_agg(concat_ws('/', id, authenticated_at, subject, remember), ',' ORDER BY id)) "
      "FROM hydra_oauth2_authentication_session";
  EXPECT_EQ(Text(green(), sessions), Text(blue(), sessions));
  const std::string keys =
      "SELECT md5(string_agg(concat_ws('/', sid, kid, keydata), ',' ORDER BY sid, kid)) FROM hydra_jwk";
  EXPECT_EQ(Text(green(), keys), Text(blue(), keys));
  EXPECT_EQ(
      Text(green(), "SELECT string_agg(pk_deprecated::text, ',' ORDER BY pk_deprecated) FROM hydra_jwk"),
      Text(blue(), "SELECT string_agg(pk::text, ',' ORDER BY pk) FROM hydra_jwk"));

  // One network, the documented one, on every row.
  EXPECT_EQ(Text(green(), "SELECT string_agg(id::text, ',') FROM networks"), kNetworkId);
  for (const std::string& t : Tables(Shape::kHydra2x)) {
    if (t == "networks" || t == "schema_migration") continue;
    EXPECT_EQ(Text(green(), absl::StrCat("SELECT count(*) FROM ", t, " WHERE nid <> '", kNetworkId, "'")),
              "0")
        << t;
  }
  EXPECT_EQ(Text(green(), "SELECT string_agg(version, ',' ORDER BY version) FROM schema_migration"),
            "20211226156000000000,20230809122501000001");
}

TEST_F(HydraMigrationsPgTest, EveryConsentAndLoginBecameAFlow) {
  // Every 1.11 consent request is a flow row with the same challenge.
  const std::string consents11 =
      "SELECT count(*) || ' ' || md5(string_agg(challenge, ',' ORDER BY challenge)) "
      "FROM hydra_oauth2_consent_request";
  const std::string consents2x =
      "SELECT count(*) || ' ' || md5(string_agg(consent_challenge_id, ',' ORDER BY consent_challenge_id)) "
      "FROM hydra_oauth2_flow WHERE consent_challenge_id IS NOT NULL";
  EXPECT_EQ(Text(green(), consents2x), Text(blue(), consents11));

  // One row per login, plus one per consent that had no login of its own:
  // the orphan (n = 1) and the first of the two consents of one login (n = 2).
  const int64_t logins = size_.login_requests;
  EXPECT_EQ(Text(green(), "SELECT count(*) FROM hydra_oauth2_flow"), absl::StrCat(logins - 1 + 2));
  EXPECT_EQ(Text(green(),
                 "SELECT string_agg(state || ':' || n, ' ' ORDER BY state) FROM "
                 "(SELECT state, count(*) AS n FROM hydra_oauth2_flow GROUP BY state) AS s"),
            absl::StrCat("1:1 2:1 3:1 4:2 5:3 6:", logins + 1 - 4 - 7, " 128:1 129:2"));
  // The orphan consent is keyed by its own challenge, its login half used.
  const std::string orphan =
      Text(blue(), "SELECT challenge FROM hydra_oauth2_consent_request WHERE login_challenge IS NULL");
  ASSERT_FALSE(orphan.empty());
  EXPECT_EQ(Text(green(), absl::StrCat("SELECT concat_ws('/', consent_challenge_id, state, login_was_used, "
                                       "login_verifier <> consent_verifier) FROM hydra_oauth2_flow WHERE "
                                       "login_challenge = ",
                                       pg::QuoteLiteral(orphan))),
            absl::StrCat(orphan, "/6/t/t"));
  // The login with two consents carries the later one.
  const std::string login2 = Text(
      blue(),
      "SELECT login_challenge FROM hydra_oauth2_consent_request WHERE challenge = 'migtest-second-consent'");
  EXPECT_EQ(Text(green(),
                 absl::StrCat("SELECT consent_challenge_id FROM hydra_oauth2_flow WHERE login_challenge = ",
                              pg::QuoteLiteral(login2))),
            "migtest-second-consent");

  // Consent columns, for every handled consent: as 1.11 had them.
  const std::string handled11 = R"sql(
SELECT count(*) || ' ' || md5(string_agg(concat_ws('/', c.challenge, c.verifier, c.csrf, c.skip, c.client_id,
  c.subject, ch.granted_scope, ch.granted_at_audience, ch.remember, ch.remember_for, ch.handled_at, ch.was_used,
  ch.session_access_token::jsonb, ch.session_id_token::jsonb, nullif(nullif(ch.error, '{}'), '')),
  ',' ORDER BY c.challenge))
FROM hydra_oauth2_consent_request c JOIN hydra_oauth2_consent_request_handled ch USING (challenge))sql";
  const std::string handled2x = R"sql(
SELECT count(*) || ' ' || md5(string_agg(concat_ws('/', consent_challenge_id, consent_verifier, consent_csrf,
  consent_skip, client_id, subject, array_to_string(ARRAY(SELECT jsonb_array_elements_text(granted_scope)), '|'),
  array_to_string(ARRAY(SELECT jsonb_array_elements_text(granted_at_audience)), '|'), consent_remember,
  consent_remember_for, consent_handled_at, consent_was_used, session_access_token, session_id_token,
  consent_error), ',' ORDER BY consent_challenge_id))
FROM hydra_oauth2_flow WHERE state IN (5, 6, 129))sql";
  EXPECT_EQ(Text(green(), handled2x), Text(blue(), handled11));

  // Login columns, for every handled login: as 1.11 had them.
  const std::string logins11 = R"sql(
SELECT count(*) || ' ' || md5(string_agg(concat_ws('/', r.challenge, r.verifier, r.csrf, r.subject, r.client_id,
  r.skip, r.request_url, r.requested_at, r.authenticated_at, r.login_session_id, r.requested_scope,
  r.oidc_context::jsonb, lh.remember, lh.remember_for, lh.acr, lh.authenticated_at, lh.was_used,
  lh.context::jsonb, nullif(nullif(lh.error, '{}'), '')), ',' ORDER BY r.challenge))
FROM hydra_oauth2_authentication_request r JOIN hydra_oauth2_authentication_request_handled lh USING (challenge))sql";
  const std::string logins2x = R"sql(
SELECT count(*) || ' ' || md5(string_agg(concat_ws('/', login_challenge, login_verifier, login_csrf, subject,
  client_id, login_skip, request_url, requested_at, login_initialized_at, login_session_id,
  array_to_string(ARRAY(SELECT jsonb_array_elements_text(requested_scope)), '|'), oidc_context, login_remember,
  login_remember_for, acr, login_authenticated_at, login_was_used, context, login_error),
  ',' ORDER BY login_challenge))
FROM hydra_oauth2_flow
WHERE state <> 1 AND login_challenge IS DISTINCT FROM consent_challenge_id)sql";
  EXPECT_EQ(Text(green(), logins2x), Text(blue(), logins11));
}

// Deleting a flow row (a withdrawn consent) or a client cascades on the
// migrated green as DESIGN.md's Hydra profile says (rolled back afterwards).
TEST_F(HydraMigrationsPgTest, CascadesHold) {
  auto g = pg::Session::Connect(green(), "green");
  ASSERT_TRUE(g.ok()) << g.status();
  const std::string challenge =
      Text(green(),
           "SELECT challenge_id FROM hydra_oauth2_refresh WHERE challenge_id IS NOT NULL "
           "GROUP BY challenge_id ORDER BY count(*) DESC, challenge_id LIMIT 1");
  const std::string client = Text(green(),
                                  "SELECT client_id FROM hydra_oauth2_access GROUP BY client_id "
                                  "ORDER BY count(*) DESC, client_id LIMIT 1");
  ASSERT_FALSE(challenge.empty());
  ASSERT_FALSE(client.empty());
  int64_t before_consent = -1, after_consent = -1, before_client = -1, after_client = -1;
  absl::Status st = (*g)->InTransaction([&](pqxx::work& tx) {
    auto count = [&](const std::string& where) {
      int64_t n = 0;
      for (const char* t : kTokenTables) {
        n += tx.exec1(absl::StrCat("SELECT count(*) FROM ", t, " WHERE ", where))[0].as<int64_t>();
      }
      return n;
    };
    const std::string by_challenge = absl::StrCat("challenge_id = ", tx.quote(challenge));
    before_consent = count(by_challenge);
    tx.exec(absl::StrCat("DELETE FROM hydra_oauth2_flow WHERE consent_challenge_id = ", tx.quote(challenge)));
    after_consent = count(by_challenge);
    const std::string by_client = absl::StrCat("client_id = ", tx.quote(client));
    before_client =
        count(by_client) +
        tx.exec1(absl::StrCat("SELECT count(*) FROM hydra_oauth2_flow WHERE ", by_client))[0].as<int64_t>();
    tx.exec(absl::StrCat("DELETE FROM hydra_client WHERE id = ", tx.quote(client)));
    after_client =
        count(by_client) +
        tx.exec1(absl::StrCat("SELECT count(*) FROM hydra_oauth2_flow WHERE ", by_client))[0].as<int64_t>();
    return absl::AbortedError("roll back");
  });
  EXPECT_EQ(st.code(), absl::StatusCode::kAborted) << st;
  EXPECT_GT(before_consent, 1);
  EXPECT_EQ(after_consent, 0);
  EXPECT_GT(before_client, 0);
  EXPECT_EQ(after_client, 0);
}

// (c)
TEST_F(HydraMigrationsPgTest, CaptureRulesApplyOnTheMigratedDatabase) {
  auto b = pg::Session::Connect(blue(), "blue");
  auto g = pg::Session::Connect(green(), "green");
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_OK(replay::CheckRulesAgainstCatalog(replay::HydraRules(), **b, **g));
  ASSERT_OK(replay::CheckRulesAgainstCatalog(replay::HydraRollbackRules(), **g, **b));
}

// (c) The rollback sweep with the Hydra rules: rows written on blue (1.11)
// after the copy are looked up on the migrated green (2.x; consent through
// hydra_oauth2_flow.consent_challenge_id) and the ones green lacks are
// deleted from blue; nothing from before the snapshot is touched. Blue is
// left as the fixture had it (the sweep removes exactly what was added).
TEST_F(HydraMigrationsPgTest, RollbackSweepRevokesOnlyWindowRowsGreenLacks) {
  std::map<std::string, std::string> before;
  auto counts = [&] {
    std::map<std::string, std::string> out;
    for (const char* t : kTokenTables) out[t] = testing::QueryScalar(blue(), absl::StrCat("SELECT count(*) FROM ", t));
    for (const char* t : {"hydra_oauth2_consent_request", "hydra_oauth2_consent_request_handled",
                          "hydra_oauth2_authentication_session", "hydra_client", "hydra_jwk"}) {
      out[t] = testing::QueryScalar(blue(), absl::StrCat("SELECT count(*) FROM ", t));
    }
    return out;
  };
  before = counts();
  const std::string snapshot = testing::QueryScalar(blue(), "SELECT pg_current_snapshot()::text");
  // The window: two tokens of each kind, a consent and a login session
  // issued on blue only (copies of existing rows under new keys).
  std::string window;
  for (const char* t : kTokenTables) {
    absl::StrAppend(&window, "CREATE TEMP TABLE w AS SELECT * FROM ", t, " LIMIT 2; ",
                    "UPDATE w SET signature = 'win-' || left(signature, 200); INSERT INTO ", t,
                    " SELECT * FROM w; DROP TABLE w; ");
  }
  absl::StrAppend(&window,
                  "CREATE TEMP TABLE w AS SELECT * FROM hydra_oauth2_consent_request LIMIT 1; "
                  "UPDATE w SET challenge = 'win-' || left(challenge, 30), verifier = 'win-' || left(verifier, 30); "
                  "INSERT INTO hydra_oauth2_consent_request SELECT * FROM w; DROP TABLE w; "
                  "INSERT INTO hydra_oauth2_authentication_session (id, subject) VALUES ('win-session', 'win-user'); "
                  // Rows from before the copy touched in the window: candidates green has.
                  "UPDATE hydra_oauth2_consent_request SET csrf = csrf WHERE challenge IN "
                  "  (SELECT challenge FROM hydra_oauth2_consent_request WHERE challenge NOT LIKE 'win-%' LIMIT 3); "
                  "UPDATE hydra_oauth2_access SET active = active WHERE signature IN "
                  "  (SELECT signature FROM hydra_oauth2_access WHERE signature NOT LIKE 'win-%' LIMIT 3)");
  ASSERT_NO_FATAL_FAILURE(testing::ExecOrDie(blue(), window));

  auto b = pg::Session::Connect(blue(), "blue");
  auto g = pg::Session::Connect(green(), "green");
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_TRUE(g.ok()) << g.status();
  ASSERT_OK(replay::CheckSweepTargets(replay::HydraRules(), **g));
  absl::StatusOr<v1::RollbackSweep> sweep = replay::SweepRowsMissingOnGreen(replay::HydraRules(), snapshot, **b, **g);
  ASSERT_TRUE(sweep.ok()) << sweep.status();
  std::map<std::string, int64_t> revoked, candidates;
  for (const auto& t : sweep->tables()) {
    revoked[t.table()] = t.revoked();
    candidates[t.table()] = t.candidates();
  }
  EXPECT_EQ(candidates["public.hydra_oauth2_consent_request"], 4) << "1 new + 3 touched";
  EXPECT_EQ(candidates["public.hydra_oauth2_access"], 5) << "2 new + 3 touched";
  for (const char* t : kTokenTables) EXPECT_EQ(revoked[absl::StrCat("public.", t)], 2) << t;
  EXPECT_EQ(revoked["public.hydra_oauth2_consent_request"], 1);
  EXPECT_EQ(revoked["public.hydra_oauth2_authentication_session"], 1);
  EXPECT_EQ(revoked["public.hydra_client"], 0);
  EXPECT_EQ(sweep->revoked(), 12);
  EXPECT_EQ(counts(), before) << "the sweep removed exactly the window's rows";
  // Whatever happened above, leave the shared fixture as it was.
  for (const char* t : kTokenTables) {
    (void)testing::Exec(blue(), absl::StrCat("DELETE FROM ", t, " WHERE signature LIKE 'win-%'"));
  }
  (void)testing::Exec(blue(), "DELETE FROM hydra_oauth2_consent_request WHERE challenge LIKE 'win-%'; "
                              "DELETE FROM hydra_oauth2_authentication_session WHERE id = 'win-session'");
}

// (e) The orchestrator records applied files and never runs one twice; a
// person running the set by hand a second time is stopped by the first file.
TEST_F(HydraMigrationsPgTest, SecondRunIsRefusedAndChangesNothing) {
  absl::StatusOr<std::vector<migrate::SqlFile>> files = migrate::ReadMigrationDir(MigrationsDir());
  ASSERT_TRUE(files.ok()) << files.status();
  const std::vector<std::string> before = Catalog(green());
  auto g = pg::Session::Connect(green(), "green");
  ASSERT_TRUE(g.ok()) << g.status();
  auto counts_before = Count(**g);
  ASSERT_TRUE(counts_before.ok()) << counts_before.status();

  std::string refused_by;
  CommandResult refusal;
  for (const migrate::SqlFile& f : *files) {
    CommandResult r = RunFile(green(), f);
    if (r.exit_code != 0) {
      refused_by = f.name;
      refusal = r;
      break;
    }
  }
  EXPECT_EQ(refused_by, files->front().name);
  EXPECT_TRUE(absl::StrContains(refusal.err, "already migrated")) << refusal.err;
  const std::string diff = Diff(before, Catalog(green()));
  EXPECT_TRUE(diff.empty()) << diff;
  auto counts_after = Count(**g);
  ASSERT_TRUE(counts_after.ok()) << counts_after.status();
  EXPECT_EQ(counts_after->rows, counts_before->rows);

  // And it refuses a database that is not Hydra 1.11 at all.
  CommandResult empty = RunFile(dbs_->control, files->front());
  EXPECT_NE(empty.exit_code, 0);
  EXPECT_TRUE(absl::StrContains(empty.err, "not a Hydra 1.11 schema")) << empty.err;
}

// (d) Needs no database.
TEST(HydraMigrationsLintTest, LinterFindsNothing) {
  absl::StatusOr<v1::MigrationLintReport> report = migrate::LintDirectory(MigrationsDir());
  ASSERT_TRUE(report.ok()) << report.status();
  std::string findings;
  for (const auto& f : report->findings()) absl::StrAppend(&findings, migrate::FormatFinding(f), "\n");
  EXPECT_FALSE(migrate::HasErrors(*report)) << findings;
  EXPECT_EQ(report->findings_size(), 0) << findings;
  // 0008_keys.sql allows set-not-null-without-check on the three primary keys
  // over Hydra 1.11 key columns (NOT NULL there, which the linter cannot see).
  EXPECT_EQ(report->suppressed(), 3);
  std::cout << "lint: " << migrate::Summary(*report) << "\n";
}

// (e) A no-transaction file stops half-applied when a statement fails; the
// retry runs the whole file again. Each one, run again right after it ran,
// succeeds and changes nothing.
TEST_F(HydraMigrationsPgTest, NoTransactionFilesCanRunAgain) {
  int no_tx = 0;
  for (const FileRun& run : *runs_) {
    if (run.transactional) continue;
    ++no_tx;
    EXPECT_EQ(run.rerun_exit_code, 0) << run.name << " run again:\n" << run.rerun_err;
    EXPECT_TRUE(run.rerun_catalog_diff.empty()) << run.name << " changed the catalog when run again:\n"
                                                << run.rerun_catalog_diff;
  }
  EXPECT_GE(no_tx, 5);
}

}  // namespace
}  // namespace cutover::hydra
