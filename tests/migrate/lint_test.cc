// The migration linter over SQL text: every rule positive and negative, text
// inside strings/comments/dollar quotes never matching, line numbers, allow
// comments, the no-transaction marker, and the online-safe example set in
// testdata/ producing no finding at all.
#include "cutover/migrate/lint.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "temp_dir_test.h"

namespace cutover::migrate {
namespace {

namespace v1 = cutover::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

constexpr char kLockTimeout[] = "lock-timeout-missing";

// "rule:line" of every finding, in report order.
std::vector<std::string> Found(const v1::MigrationLintReport& r) {
  std::vector<std::string> out;
  for (const auto& f : r.findings()) out.push_back(absl::StrCat(f.rule(), ":", f.line()));
  return out;
}

v1::MigrationLintReport LintSql(const std::string& sql, LintOptions o = {}) {
  return LintFiles({SqlFile{"0001.sql", sql}}, o);
}

// Findings of one file, lock-timeout warnings left out (most rule tests are
// about one statement, not about the file's preamble).
std::vector<std::string> Hazards(const std::string& sql, LintOptions o = {}) {
  o.allowed_rules.insert(kLockTimeout);
  return Found(LintSql(sql, o));
}

std::vector<std::string> HazardsInFiles(const std::vector<SqlFile>& files) {
  LintOptions o;
  o.allowed_rules.insert(kLockTimeout);
  return Found(LintFiles(files, o));
}

std::string SourceDir() {
  const char* dir = std::getenv("CUTOVER_SOURCE_DIR");
  return dir != nullptr ? dir : CUTOVER_DEFAULT_SOURCE_DIR;
}

// ----- create-index-not-concurrently -----

TEST(CreateIndexRule, IndexOnExistingTableWithoutConcurrentlyIsAnError) {
  v1::MigrationLintReport r = LintSql("SET lock_timeout = '5s';\nCREATE INDEX users_email ON users (email);");
  ASSERT_THAT(Found(r), ElementsAre("create-index-not-concurrently:2"));
  EXPECT_EQ(r.findings(0).severity(), v1::LINT_SEVERITY_ERROR);
  EXPECT_EQ(r.findings(0).file(), "0001.sql");
  EXPECT_THAT(r.findings(0).message(), HasSubstr("CREATE INDEX CONCURRENTLY"));
  EXPECT_THAT(r.findings(0).message(), HasSubstr("-- cutover:no-transaction"));
  EXPECT_EQ(r.errors(), 1);

  v1::MigrationLintReport u = LintSql("CREATE UNIQUE INDEX ON public.users (lower(email));");
  ASSERT_THAT(Found(u), ElementsAre("create-index-not-concurrently:1"));
  EXPECT_THAT(u.findings(0).message(), HasSubstr("CREATE UNIQUE INDEX CONCURRENTLY"));
  EXPECT_THAT(u.findings(0).message(), HasSubstr("public.users"));
}

TEST(CreateIndexRule, ConcurrentlyOrATableCreatedInTheSameFileIsFine) {
  EXPECT_THAT(Hazards("-- cutover:no-transaction\nCREATE INDEX CONCURRENTLY i ON users (email);"), IsEmpty());
  EXPECT_THAT(Hazards("CREATE TABLE audit (id bigint, at timestamptz);\n"
                      "CREATE INDEX audit_at ON audit (at);\n"
                      "CREATE UNIQUE INDEX audit_id ON public.audit (id);"),
              IsEmpty());
}

TEST(CreateIndexRule, ATableCreatedInAnEarlierFileCountsAsExisting) {
  EXPECT_THAT(HazardsInFiles({{"0001.sql", "CREATE TABLE audit (id bigint);"},
                              {"0002.sql", "CREATE INDEX audit_id ON audit (id);"}}),
              ElementsAre("create-index-not-concurrently:1"));
}

TEST(CreateIndexRule, UniqueOrPrimaryKeyConstraintBuildsAnIndexUnlessUsingIndex) {
  v1::MigrationLintReport r =
      LintSql("SET lock_timeout = '5s';\nALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);");
  ASSERT_THAT(Found(r), ElementsAre("create-index-not-concurrently:2"));
  EXPECT_THAT(r.findings(0).message(), HasSubstr("USING INDEX"));
  // (and a warning that id may not be NOT NULL yet: see SetNotNullRule)
  EXPECT_THAT(Hazards("ALTER TABLE users ADD PRIMARY KEY (id);"),
              ElementsAre("set-not-null-without-check:1", "create-index-not-concurrently:1"));
  EXPECT_THAT(Hazards("ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_uq;"),
              IsEmpty());
}

// ----- add-column-volatile-default -----

TEST(VolatileDefaultRule, VolatileDefaultsAreErrors) {
  for (const char* def :
       {"random()", "gen_random_uuid()", "clock_timestamp()", "nextval('users_seq')", "uuid_generate_v4()",
        "timeofday()", "public.uuid_generate_v4()", "(random() * 100)::int", "md5(random()::text)"}) {
    v1::MigrationLintReport r = LintSql(
        absl::StrCat("ALTER TABLE users ADD COLUMN c text DEFAULT ", def, ";"), LintOptions{{kLockTimeout}});
    ASSERT_THAT(Found(r), ElementsAre("add-column-volatile-default:1")) << def;
    EXPECT_EQ(r.findings(0).severity(), v1::LINT_SEVERITY_ERROR) << def;
    EXPECT_THAT(r.findings(0).message(), HasSubstr("rewrites the whole table")) << def;
    EXPECT_THAT(r.findings(0).message(), HasSubstr("backfill")) << def;
  }
}

TEST(VolatileDefaultRule, ConstantsAndStableFunctionsAreFine) {
  for (const char* def :
       {"now()", "CURRENT_TIMESTAMP", "'pending'", "0", "NULL", "true", "now() + interval '1 day'",
        "'x'::text", "lower('ABC')", "ARRAY[]::text[]", "'{}'::jsonb", "current_setting('app.tenant')"}) {
    EXPECT_THAT(Hazards(absl::StrCat("ALTER TABLE users ADD COLUMN c text DEFAULT ", def, ";")), IsEmpty())
        << def;
  }
  EXPECT_THAT(Hazards("ALTER TABLE users ADD COLUMN c int NOT NULL DEFAULT 2;"), IsEmpty());
  EXPECT_THAT(Hazards("ALTER TABLE users ADD COLUMN c uuid;\n"
                      "ALTER TABLE users ALTER COLUMN c SET DEFAULT gen_random_uuid();"),
              IsEmpty());
}

TEST(VolatileDefaultRule, UnknownFunctionIsAWarning) {
  v1::MigrationLintReport r =
      LintSql("ALTER TABLE users ADD COLUMN c int DEFAULT next_ticket();", LintOptions{{kLockTimeout}});
  ASSERT_THAT(Found(r), ElementsAre("add-column-volatile-default:1"));
  EXPECT_EQ(r.findings(0).severity(), v1::LINT_SEVERITY_WARNING);
  EXPECT_THAT(r.findings(0).message(), HasSubstr("next_ticket()"));
  EXPECT_EQ(r.errors(), 0);
  EXPECT_EQ(r.warnings(), 1);
}

TEST(VolatileDefaultRule, SerialIdentityAndStoredGeneratedColumnsRewrite) {
  EXPECT_THAT(Hazards("ALTER TABLE users ADD COLUMN n bigserial;"),
              ElementsAre("add-column-volatile-default:1"));
  EXPECT_THAT(Hazards("ALTER TABLE users ADD COLUMN n bigint GENERATED ALWAYS AS IDENTITY;"),
              ElementsAre("add-column-volatile-default:1"));
  EXPECT_THAT(Hazards("ALTER TABLE users ADD COLUMN n text GENERATED ALWAYS AS (lower(email)) STORED;"),
              ElementsAre("add-column-volatile-default:1"));
}

TEST(VolatileDefaultRule, NewTableAndServerVersion) {
  EXPECT_THAT(Hazards("CREATE TABLE t (id int);\nALTER TABLE t ADD COLUMN c uuid DEFAULT gen_random_uuid();"),
              IsEmpty());
  LintOptions pg10;
  pg10.server_major_version = 10;
  EXPECT_THAT(Hazards("ALTER TABLE users ADD COLUMN c int DEFAULT 0;", pg10),
              ElementsAre("add-column-volatile-default:1"));
  EXPECT_THAT(Hazards("ALTER TABLE users ADD COLUMN c int DEFAULT NULL;", pg10), IsEmpty());
}

// ----- column-type-rewrite -----

std::vector<std::string> AlterType(const std::string& column, const std::string& type) {
  return HazardsInFiles(
      {{"0001.sql",
        "CREATE TABLE t (v varchar(50), u varchar, x text, n numeric(10,2), c cidr, ts timestamp, i int);"},
       {"0002.sql", absl::StrCat("ALTER TABLE t ALTER COLUMN ", column, " TYPE ", type, ";")}});
}

TEST(TypeRewriteRule, BinaryCoercibleChangesAreFine) {
  EXPECT_THAT(AlterType("v", "varchar(100)"), IsEmpty());
  EXPECT_THAT(AlterType("v", "character varying(50)"), IsEmpty());
  EXPECT_THAT(AlterType("v", "text"), IsEmpty());
  EXPECT_THAT(AlterType("v", "varchar"), IsEmpty());
  EXPECT_THAT(AlterType("u", "text"), IsEmpty());
  EXPECT_THAT(AlterType("x", "varchar"), IsEmpty());
  EXPECT_THAT(AlterType("n", "numeric(12,2)"), IsEmpty());
  EXPECT_THAT(AlterType("n", "decimal(12,2)"), IsEmpty());
  EXPECT_THAT(AlterType("n", "numeric"), IsEmpty());
  EXPECT_THAT(AlterType("c", "inet"), IsEmpty());
}

TEST(TypeRewriteRule, OtherChangesRewrite) {
  EXPECT_THAT(AlterType("v", "varchar(20)"), ElementsAre("column-type-rewrite:1"));
  EXPECT_THAT(AlterType("u", "varchar(20)"), ElementsAre("column-type-rewrite:1"));
  EXPECT_THAT(AlterType("n", "numeric(12,3)"), ElementsAre("column-type-rewrite:1"));
  EXPECT_THAT(AlterType("n", "numeric(8,2)"), ElementsAre("column-type-rewrite:1"));
  EXPECT_THAT(AlterType("i", "bigint"), ElementsAre("column-type-rewrite:1"));
  EXPECT_THAT(AlterType("x", "varchar(10)"), ElementsAre("column-type-rewrite:1"));
  EXPECT_THAT(AlterType("v", "varchar(100)[]"), ElementsAre("column-type-rewrite:1"));
  EXPECT_THAT(AlterType("v", "varchar(100) USING v::varchar(100)"), ElementsAre("column-type-rewrite:1"));
}

TEST(TypeRewriteRule, TimestampToTimestamptzIsFlaggedWithTheUtcNote) {
  LintOptions o;
  o.allowed_rules.insert(kLockTimeout);
  v1::MigrationLintReport r =
      LintFiles({{"0001.sql", "CREATE TABLE t (ts timestamp);"},
                 {"0002.sql", "ALTER TABLE t ALTER COLUMN ts TYPE timestamp with time zone;"}},
                o);
  ASSERT_THAT(Found(r), ElementsAre("column-type-rewrite:1"));
  EXPECT_THAT(r.findings(0).message(), HasSubstr("TimeZone is UTC"));
  EXPECT_THAT(r.findings(0).message(), HasSubstr("-- cutover:allow column-type-rewrite"));
}

TEST(TypeRewriteRule, UnknownCurrentType) {
  // Maybe binary-coercible: a warning; certainly a rewrite: an error.
  v1::MigrationLintReport r =
      LintSql("ALTER TABLE users ALTER COLUMN name TYPE text;", LintOptions{{kLockTimeout}});
  ASSERT_THAT(Found(r), ElementsAre("column-type-rewrite:1"));
  EXPECT_EQ(r.findings(0).severity(), v1::LINT_SEVERITY_WARNING);
  v1::MigrationLintReport e =
      LintSql("ALTER TABLE users ALTER COLUMN age TYPE bigint;", LintOptions{{kLockTimeout}});
  ASSERT_THAT(Found(e), ElementsAre("column-type-rewrite:1"));
  EXPECT_EQ(e.findings(0).severity(), v1::LINT_SEVERITY_ERROR);
}

TEST(TypeRewriteRule, TypeAddedByAnEarlierAlterIsKnown) {
  EXPECT_THAT(HazardsInFiles({{"0001.sql", "ALTER TABLE users ADD COLUMN code varchar(8);"},
                              {"0002.sql", "ALTER TABLE users ALTER COLUMN code TYPE varchar(16);"}}),
              IsEmpty());
  EXPECT_THAT(Hazards("CREATE TABLE t (i int);\nALTER TABLE t ALTER COLUMN i TYPE bigint;"), IsEmpty());
}

// ----- set-not-null-without-check -----

TEST(SetNotNullRule, PlainSetNotNullIsAnError) {
  v1::MigrationLintReport r =
      LintSql("ALTER TABLE users ALTER COLUMN email SET NOT NULL;", LintOptions{{kLockTimeout}});
  ASSERT_THAT(Found(r), ElementsAre("set-not-null-without-check:1"));
  EXPECT_THAT(r.findings(0).message(), HasSubstr("CHECK (email IS NOT NULL) NOT VALID"));
}

TEST(SetNotNullRule, ValidatedCheckInAnEarlierFileMakesItSafe) {
  EXPECT_THAT(HazardsInFiles(
                  {{"0001.sql",
                    "ALTER TABLE users ADD CONSTRAINT users_email_nn CHECK (email IS NOT NULL) NOT VALID;"},
                   {"0002.sql", "ALTER TABLE users VALIDATE CONSTRAINT users_email_nn;"},
                   {"0003.sql", "ALTER TABLE users ALTER COLUMN email SET NOT NULL;"}}),
              IsEmpty());
  // The unnamed form gets PostgreSQL's default name, users_email_check.
  EXPECT_THAT(HazardsInFiles({{"0001.sql", "ALTER TABLE users ADD CHECK (email IS NOT NULL) NOT VALID;"},
                              {"0002.sql",
                               "ALTER TABLE users VALIDATE CONSTRAINT users_email_check;\n"
                               "ALTER TABLE users ALTER COLUMN email SET NOT NULL;"}}),
              IsEmpty());
}

TEST(SetNotNullRule, CheckNeverValidatedOrOnAnotherColumnDoesNotCount) {
  EXPECT_THAT(HazardsInFiles(
                  {{"0001.sql",
                    "ALTER TABLE users ADD CONSTRAINT users_email_nn CHECK (email IS NOT NULL) NOT VALID;"},
                   {"0002.sql", "ALTER TABLE users ALTER COLUMN email SET NOT NULL;"}}),
              ElementsAre("set-not-null-without-check:1"));
  EXPECT_THAT(
      HazardsInFiles(
          {{"0001.sql", "ALTER TABLE users ADD CONSTRAINT users_name_nn CHECK (name IS NOT NULL) NOT VALID;"},
           {"0002.sql", "ALTER TABLE users VALIDATE CONSTRAINT users_name_nn;"},
           {"0003.sql",
            "ALTER TABLE users ALTER COLUMN email SET NOT NULL;\n"
            "ALTER TABLE accounts ALTER COLUMN name SET NOT NULL;"}}),
      ElementsAre("set-not-null-without-check:1", "set-not-null-without-check:2"));
}

TEST(SetNotNullRule, ValidateInTheSameTransactionHoldsTheLockThroughTheScan) {
  // Same file, run with psql -1: the ADD's ACCESS EXCLUSIVE lock is still
  // held while VALIDATE scans; SET NOT NULL itself is then fine.
  v1::MigrationLintReport r = LintSql(
      "ALTER TABLE users ADD CONSTRAINT users_email_nn CHECK (email IS NOT NULL) NOT VALID;\n"
      "ALTER TABLE users VALIDATE CONSTRAINT users_email_nn;\n"
      "ALTER TABLE users ALTER COLUMN email SET NOT NULL;",
      LintOptions{{kLockTimeout}});
  ASSERT_THAT(Found(r), ElementsAre("validate-in-same-transaction:2"));
  EXPECT_THAT(r.findings(0).message(), HasSubstr("later file"));
  // Without a transaction each statement commits on its own: fine.
  EXPECT_THAT(Hazards("-- cutover:no-transaction\n"
                      "ALTER TABLE users ADD CONSTRAINT users_email_nn CHECK (email IS NOT NULL) NOT VALID;\n"
                      "ALTER TABLE users VALIDATE CONSTRAINT users_email_nn;\n"
                      "ALTER TABLE users ALTER COLUMN email SET NOT NULL;"),
              IsEmpty());
}

TEST(SetNotNullRule, NewTableIsFine) {
  EXPECT_THAT(Hazards("CREATE TABLE t (a int);\nALTER TABLE t ALTER COLUMN a SET NOT NULL;"), IsEmpty());
}

TEST(SetNotNullRule, PrimaryKeyUsingIndexOnAColumnAddedNullableIsAnError) {
  // The set from the bug report: nid added nullable, the key attached later.
  v1::MigrationLintReport r = LintFiles(
      {{"0001.sql", "SET lock_timeout = '5s';\nALTER TABLE hydra_client ADD COLUMN nid uuid;"},
       {"0002.sql",
        "-- cutover:no-transaction\n"
        "CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS hydra_client_id_nid_uq ON hydra_client (id, nid);"},
       {"0003.sql",
        "SET lock_timeout = '5s';\n"
        "ALTER TABLE hydra_client DROP CONSTRAINT hydra_client_pkey;\n"
        "ALTER TABLE hydra_client ADD CONSTRAINT hydra_client_pkey PRIMARY KEY USING INDEX "
        "hydra_client_id_nid_uq;"}});
  ASSERT_THAT(Found(r), ElementsAre("set-not-null-without-check:3"));
  EXPECT_EQ(r.findings(0).file(), "0003.sql");
  EXPECT_EQ(r.findings(0).severity(), v1::LINT_SEVERITY_ERROR);
  EXPECT_THAT(r.findings(0).message(), HasSubstr("makes column nid NOT NULL"));
  EXPECT_THAT(r.findings(0).message(), HasSubstr("CHECK (nid IS NOT NULL) NOT VALID"));
  EXPECT_THAT(r.findings(0).message(), HasSubstr("make sure id is already NOT NULL"));
  // ADD PRIMARY KEY (cols) on an existing table: the index build and the scan.
  EXPECT_THAT(HazardsInFiles({{"0001.sql", "ALTER TABLE t ADD COLUMN k int;"},
                              {"0002.sql", "ALTER TABLE t ADD PRIMARY KEY (k);"}}),
              ElementsAre("set-not-null-without-check:1", "create-index-not-concurrently:1"));
  // A table created earlier in the set with a nullable column.
  EXPECT_THAT(HazardsInFiles(
                  {{"0001.sql", "CREATE TABLE t (k int, v text);"},
                   {"0002.sql", "-- cutover:no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY t_k ON t (k);"},
                   {"0003.sql", "\nALTER TABLE t ADD CONSTRAINT t_pkey PRIMARY KEY USING INDEX t_k;"}}),
              ElementsAre("set-not-null-without-check:2"));
}

TEST(SetNotNullRule, PrimaryKeyOnColumnsKnownNotNullIsFine) {
  const SqlFile index{"0002.sql",
                      "-- cutover:no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY t_k ON t (k);"};
  const SqlFile key{"0003.sql", "ALTER TABLE t ADD CONSTRAINT t_pkey PRIMARY KEY USING INDEX t_k;"};
  // Declared NOT NULL when created in the set.
  EXPECT_THAT(HazardsInFiles({{"0001.sql", "CREATE TABLE t (k int NOT NULL);"}, index, key}), IsEmpty());
  // SET NOT NULL earlier in the set (after a validated CHECK).
  EXPECT_THAT(HazardsInFiles({{"0001.sql",
                               "ALTER TABLE t ADD COLUMN k int;\n"
                               "ALTER TABLE t ADD CONSTRAINT t_k_nn CHECK (k IS NOT NULL) NOT VALID;"},
                              {"0001b.sql", "ALTER TABLE t VALIDATE CONSTRAINT t_k_nn;"},
                              {"0001c.sql", "ALTER TABLE t ALTER COLUMN k SET NOT NULL;"},
                              index,
                              key}),
              IsEmpty());
  // The validated CHECK alone.
  EXPECT_THAT(HazardsInFiles({{"0001.sql",
                               "ALTER TABLE t ADD COLUMN k int;\n"
                               "ALTER TABLE t ADD CONSTRAINT t_k_nn CHECK (k IS NOT NULL) NOT VALID;"},
                              {"0001b.sql", "ALTER TABLE t VALIDATE CONSTRAINT t_k_nn;"},
                              index,
                              key}),
              IsEmpty());
  // ADD COLUMN ... NOT NULL DEFAULT, and a table created in the same file.
  EXPECT_THAT(
      HazardsInFiles({{"0001.sql", "ALTER TABLE t ADD COLUMN k int NOT NULL DEFAULT 0;"}, index, key}),
      IsEmpty());
  EXPECT_THAT(Hazards("CREATE TABLE t (k int);\nALTER TABLE t ADD PRIMARY KEY (k);"), IsEmpty());
  // UNIQUE USING INDEX does not make anything NOT NULL.
  EXPECT_THAT(HazardsInFiles({{"0001.sql", "ALTER TABLE t ADD COLUMN k int;"},
                              index,
                              {"0003.sql", "ALTER TABLE t ADD CONSTRAINT t_k UNIQUE USING INDEX t_k;"}}),
              IsEmpty());
  // DROP NOT NULL makes it nullable again.
  EXPECT_THAT(HazardsInFiles({{"0001.sql", "CREATE TABLE t (k int NOT NULL);"},
                              {"0001b.sql", "ALTER TABLE t ALTER COLUMN k DROP NOT NULL;"},
                              index,
                              key}),
              ElementsAre("set-not-null-without-check:1"));
}

TEST(SetNotNullRule, PrimaryKeyOnColumnsOfUnknownNullabilityIsAWarning) {
  v1::MigrationLintReport r = LintFiles(
      {{"0001.sql", "-- cutover:no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY t_ab ON t (a, b);"},
       {"0002.sql",
        "SET lock_timeout = '5s';\n\nALTER TABLE t ADD CONSTRAINT t_pkey PRIMARY KEY USING INDEX t_ab;"}});
  ASSERT_THAT(Found(r), ElementsAre("set-not-null-without-check:3"));
  EXPECT_EQ(r.findings(0).severity(), v1::LINT_SEVERITY_WARNING);
  EXPECT_THAT(r.findings(0).message(), HasSubstr("columns a, b NOT NULL"));
  EXPECT_THAT(r.findings(0).message(), HasSubstr("Make sure they are already NOT NULL"));
  EXPECT_EQ(r.errors(), 0);
  // An index the set did not create: its columns are unknown too.
  EXPECT_THAT(Hazards("ALTER TABLE t ADD CONSTRAINT t_pkey PRIMARY KEY USING INDEX old_idx;"),
              ElementsAre("set-not-null-without-check:1"));
}

// ----- foreign-key-not-valid, check-constraint-not-valid -----

TEST(ForeignKeyRule, ForeignKeyWithoutNotValidIsAnError) {
  v1::MigrationLintReport r =
      LintSql("ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id);",
              LintOptions{{kLockTimeout}});
  ASSERT_THAT(Found(r), ElementsAre("foreign-key-not-valid:1"));
  EXPECT_THAT(r.findings(0).message(), HasSubstr("NOT VALID"));
  EXPECT_THAT(r.findings(0).message(), HasSubstr("VALIDATE CONSTRAINT"));
  EXPECT_THAT(r.findings(0).message(), HasSubstr("users"));
}

TEST(ForeignKeyRule, NotValidThenValidateLaterIsFine) {
  EXPECT_THAT(HazardsInFiles({{"0001.sql",
                               "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) "
                               "REFERENCES users (id) NOT VALID;"},
                              {"0002.sql", "ALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk;"}}),
              IsEmpty());
}

TEST(ForeignKeyRule, NewTablesAreFine) {
  EXPECT_THAT(
      Hazards("CREATE TABLE items (id int PRIMARY KEY, order_id int);\n"
              "ALTER TABLE items ADD CONSTRAINT items_fk FOREIGN KEY (order_id) REFERENCES orders (id);"),
      IsEmpty());
}

TEST(ForeignKeyRule, NewTableReferencingAnExistingTableThenFilledIsAnError) {
  v1::MigrationLintReport r = LintSql(
      "SET lock_timeout = '5s';\n"
      "CREATE TABLE flow (id int PRIMARY KEY,\n"
      "  client_id int REFERENCES clients (id));\n"
      "INSERT INTO flow SELECT id, id FROM old_flow;");
  ASSERT_THAT(Found(r), ElementsAre("foreign-key-not-valid:2"));
  EXPECT_EQ(r.findings(0).severity(), v1::LINT_SEVERITY_ERROR);
  EXPECT_THAT(r.findings(0).message(), HasSubstr("SHARE ROW EXCLUSIVE lock on clients"));
  EXPECT_THAT(r.findings(0).message(), HasSubstr("NOT VALID"));
  // Table-level, filled by COPY, a CTE, or UPDATE; and ALTER ... ADD FK before the fill.
  EXPECT_THAT(Hazards("CREATE TABLE f (c int, CONSTRAINT f_fk FOREIGN KEY (c) REFERENCES clients (id));\n"
                      "COPY f FROM '/tmp/f.csv';"),
              ElementsAre("foreign-key-not-valid:1"));
  EXPECT_THAT(Hazards("CREATE TABLE f (c int REFERENCES clients);\n"
                      "WITH s AS (SELECT id FROM clients) INSERT INTO public.f SELECT id FROM s;"),
              ElementsAre("foreign-key-not-valid:1"));
  EXPECT_THAT(Hazards("CREATE TABLE f (c int);\n"
                      "ALTER TABLE f ADD CONSTRAINT f_fk FOREIGN KEY (c) REFERENCES clients (id) NOT VALID;\n"
                      "INSERT INTO f SELECT id FROM clients;"),
              ElementsAre("foreign-key-not-valid:2"));
}

TEST(ForeignKeyRule, NewTableReferencingAnExistingTableWithMoreWorkAfterIsAWarning) {
  v1::MigrationLintReport r = LintSql(
      "SET lock_timeout = '5s';\n"
      "CREATE TABLE f (c int REFERENCES clients (id));\n"
      "ALTER TABLE other ADD COLUMN x int;");
  ASSERT_THAT(Found(r), ElementsAre("foreign-key-not-valid:2"));
  EXPECT_EQ(r.findings(0).severity(), v1::LINT_SEVERITY_WARNING);
}

TEST(ForeignKeyRule, NewTableForeignKeyWithNothingAfterItIsFine) {
  // Last statement (SET/COMMENT/COMMIT after it take no time), no-transaction
  // file, referenced table created in the set, ADD FK last after the fill.
  EXPECT_THAT(Hazards("CREATE TABLE f (c int REFERENCES clients (id));\n"
                      "COMMENT ON TABLE f IS 'x';\nCOMMIT;"),
              IsEmpty());
  EXPECT_THAT(Hazards("-- cutover:no-transaction\n"
                      "CREATE TABLE f (c int REFERENCES clients (id));\n"
                      "INSERT INTO f SELECT id FROM clients;"),
              IsEmpty());
  EXPECT_THAT(HazardsInFiles({{"0001.sql", "CREATE TABLE networks (id int PRIMARY KEY);"},
                              {"0002.sql",
                               "CREATE TABLE f (n int REFERENCES networks (id));\n"
                               "INSERT INTO f SELECT id FROM networks;"}}),
              IsEmpty());
  EXPECT_THAT(
      Hazards("CREATE TABLE f (c int);\n"
              "INSERT INTO f SELECT id FROM clients;\n"
              "CREATE INDEX f_c ON f (c);\n"
              "ALTER TABLE f ADD CONSTRAINT f_fk FOREIGN KEY (c) REFERENCES clients (id) NOT VALID;\n"
              "ALTER TABLE f ADD CONSTRAINT f_fk2 FOREIGN KEY (c) REFERENCES clients (id) NOT VALID;"),
      IsEmpty());
}

TEST(CheckConstraintRule, CheckWithoutNotValidIsAnErrorButProvesNotNull) {
  EXPECT_THAT(Hazards("ALTER TABLE users ADD CONSTRAINT users_age_ck CHECK (age >= 0);"),
              ElementsAre("check-constraint-not-valid:1"));
  EXPECT_THAT(Hazards("ALTER TABLE users ADD CONSTRAINT users_age_ck CHECK (age >= 0) NOT VALID;"),
              IsEmpty());
  EXPECT_THAT(Hazards("ALTER TABLE users ADD CONSTRAINT users_email_nn CHECK (email IS NOT NULL);\n"
                      "ALTER TABLE users ALTER COLUMN email SET NOT NULL;"),
              ElementsAre("check-constraint-not-valid:1"));
}

// ----- select-star -----

TEST(SelectStarRule, ViewsAndMaterializedViews) {
  v1::MigrationLintReport r = LintSql("CREATE VIEW v AS SELECT * FROM users;");
  ASSERT_THAT(Found(r), ElementsAre("select-star:1"));
  EXPECT_THAT(r.findings(0).message(), HasSubstr("List the columns"));
  EXPECT_THAT(Hazards("CREATE OR REPLACE VIEW v AS SELECT u.* FROM users u;"), ElementsAre("select-star:1"));
  EXPECT_THAT(Hazards("CREATE VIEW v AS SELECT id FROM (SELECT * FROM users) s;"),
              ElementsAre("select-star:1"));
  EXPECT_THAT(Hazards("CREATE VIEW v AS SELECT id FROM a UNION ALL SELECT * FROM b;"),
              ElementsAre("select-star:1"));
  EXPECT_THAT(Hazards("CREATE MATERIALIZED VIEW mv AS SELECT * FROM users;"), ElementsAre("select-star:1"));
  EXPECT_THAT(Hazards("CREATE VIEW v AS SELECT id, email, count(*) OVER () FROM users;"), IsEmpty());
  EXPECT_THAT(Hazards("CREATE VIEW v AS SELECT id FROM users WHERE EXISTS (SELECT 1 FROM orders);"),
              IsEmpty());
  // Not a view: a plain query is none of the linter's business.
  EXPECT_THAT(Hazards("SELECT * FROM users;"), IsEmpty());
}

TEST(SelectStarRule, FunctionAndProcedureBodies) {
  EXPECT_THAT(Hazards("CREATE FUNCTION f() RETURNS SETOF users LANGUAGE sql AS $$ SELECT * FROM users $$;"),
              ElementsAre("select-star:1"));
  EXPECT_THAT(Hazards("CREATE OR REPLACE FUNCTION f() RETURNS SETOF users LANGUAGE sql\n"
                      "BEGIN ATOMIC\n  SELECT * FROM users;\nEND;"),
              ElementsAre("select-star:1"));
  EXPECT_THAT(Hazards("CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $body$\n"
                      "DECLARE r record;\nBEGIN\n  SELECT * INTO r FROM users LIMIT 1;\nEND\n$body$;"),
              ElementsAre("select-star:1"));
  EXPECT_THAT(Hazards("CREATE PROCEDURE p() LANGUAGE plpgsql AS $$\n"
                      "BEGIN INSERT INTO archive SELECT DISTINCT u.* FROM users u; END $$;"),
              ElementsAre("select-star:1"));
}

TEST(SelectStarRule, StarsThatAreNotASelectListAreFine) {
  EXPECT_THAT(Hazards("CREATE FUNCTION f() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM users $$;"),
              IsEmpty());
  EXPECT_THAT(Hazards("CREATE FUNCTION f(a int, b int) RETURNS int LANGUAGE sql AS 'SELECT a * b';"),
              IsEmpty());
  EXPECT_THAT(Hazards("CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$\n"
                      "DECLARE n bigint;\nBEGIN\n"
                      "  -- SELECT * FROM users would break; count(*) does not\n"
                      "  SELECT count(*) INTO n FROM users;\n"
                      "  EXECUTE 'SELECT * FROM users';\n"
                      "  RAISE NOTICE 'SELECT * %', n * 2;\n"
                      "END $$;"),
              IsEmpty());
  EXPECT_THAT(Hazards("CREATE FUNCTION f() RETURNS int LANGUAGE c AS 'libx', 'select_star';"), IsEmpty());
}

// ----- non-transactional-in-transaction -----

TEST(NonTransactionalRule, StatementsThatCannotRunInATransactionBlock) {
  for (const char* stmt :
       {"CREATE INDEX CONCURRENTLY i ON users (email);",
        "CREATE UNIQUE INDEX CONCURRENTLY i ON users (email);", "DROP INDEX CONCURRENTLY i;",
        "REINDEX INDEX CONCURRENTLY i;", "REINDEX (VERBOSE) TABLE CONCURRENTLY users;",
        "REINDEX DATABASE app;", "VACUUM users;", "VACUUM (ANALYZE) users;",
        "ALTER SYSTEM SET work_mem = '64MB';", "CREATE DATABASE app2;", "DROP DATABASE app2;"}) {
    v1::MigrationLintReport r = LintSql(stmt, LintOptions{{kLockTimeout}});
    ASSERT_THAT(Found(r), ElementsAre("non-transactional-in-transaction:1")) << stmt;
    EXPECT_THAT(r.findings(0).message(), HasSubstr("-- cutover:no-transaction")) << stmt;
    EXPECT_THAT(Hazards(absl::StrCat("-- cutover:no-transaction\n", stmt)), IsEmpty()) << stmt;
  }
  EXPECT_THAT(Hazards("ANALYZE users;\nREINDEX INDEX users_email;"), IsEmpty());
}

TEST(NonTransactionalRule, AlterTypeAddValueOnlyBeforePostgres12) {
  const std::string sql = "ALTER TYPE mood ADD VALUE 'meh';";
  EXPECT_THAT(Hazards(sql), IsEmpty());
  LintOptions pg11;
  pg11.server_major_version = 11;
  EXPECT_THAT(Hazards(sql, pg11), ElementsAre("non-transactional-in-transaction:1"));
}

TEST(NonTransactionalRule, MarkerWithAnExplicitTransactionIsFlagged) {
  v1::MigrationLintReport r =
      LintSql("-- cutover:no-transaction\nBEGIN;\nCREATE INDEX CONCURRENTLY i ON users (email);\nCOMMIT;",
              LintOptions{{kLockTimeout}});
  EXPECT_THAT(Found(r),
              ElementsAre("non-transactional-in-transaction:2", "non-transactional-in-transaction:3"));
  EXPECT_THAT(r.findings(0).message(), HasSubstr("opens its own transaction"));
  EXPECT_THAT(r.findings(1).message(), HasSubstr("BEGIN ... COMMIT"));
}

TEST(NonTransactionalRule, CommitInTheMiddleOfAFileRunWithPsqlDashOne) {
  // Wrapping the whole file is harmless under psql -1.
  EXPECT_THAT(Hazards("BEGIN;\nALTER TABLE users ADD COLUMN a int;\nCOMMIT;"), IsEmpty());
  v1::MigrationLintReport r =
      LintSql("ALTER TABLE users ADD COLUMN a int;\nCOMMIT;\nALTER TABLE users ADD COLUMN b int;",
              LintOptions{{kLockTimeout}});
  ASSERT_THAT(Found(r), ElementsAre("non-transactional-in-transaction:2"));
  EXPECT_THAT(r.findings(0).message(), HasSubstr("ends it early"));
}

TEST(NonTransactionalRule, RunsInTransactionMatchesTheOrchestrator) {
  EXPECT_TRUE(RunsInTransaction("CREATE INDEX i ON t (a);"));
  EXPECT_FALSE(RunsInTransaction("-- cutover:no-transaction\nCREATE INDEX CONCURRENTLY i ON t (a);"));
  EXPECT_FALSE(RunsInTransaction("/* cutover:no-transaction */"));
}

// ----- lock-timeout-missing -----

TEST(LockTimeoutRule, AccessExclusiveWithoutLockTimeoutIsOneWarningPerFile) {
  v1::MigrationLintReport r =
      LintSql("ALTER TABLE users ADD COLUMN a int;\nALTER TABLE users ADD COLUMN b int;");
  ASSERT_THAT(Found(r), ElementsAre("lock-timeout-missing:1"));
  EXPECT_EQ(r.findings(0).severity(), v1::LINT_SEVERITY_WARNING);
  EXPECT_EQ(r.errors(), 0);
  EXPECT_EQ(r.warnings(), 1);
  EXPECT_FALSE(HasErrors(r));
  EXPECT_THAT(r.findings(0).message(), HasSubstr("SET lock_timeout"));

  EXPECT_THAT(Found(LintSql("DROP TABLE old_sessions;")), ElementsAre("lock-timeout-missing:1"));
  EXPECT_THAT(Found(LintSql("ALTER TABLE users RENAME COLUMN a TO b;")),
              ElementsAre("lock-timeout-missing:1"));
  EXPECT_THAT(Found(LintSql("ALTER TABLE users RENAME TO accounts;")), ElementsAre("lock-timeout-missing:1"));
  EXPECT_THAT(Found(LintSql("TRUNCATE sessions;")), ElementsAre("lock-timeout-missing:1"));
  EXPECT_THAT(Found(LintSql("DROP INDEX users_email;")), ElementsAre("lock-timeout-missing:1"));
}

TEST(LockTimeoutRule, SetLockTimeoutEarlierInTheFile) {
  EXPECT_THAT(Found(LintSql("SET lock_timeout = '5s';\nALTER TABLE users ADD COLUMN a int;")), IsEmpty());
  EXPECT_THAT(Found(LintSql("SET LOCAL lock_timeout TO 5000;\nALTER TABLE users ADD COLUMN a int;")),
              IsEmpty());
  // Too late, disabled, or SET LOCAL where every statement is its own transaction.
  EXPECT_THAT(Found(LintSql("ALTER TABLE users ADD COLUMN a int;\nSET lock_timeout = '5s';")),
              ElementsAre("lock-timeout-missing:1"));
  EXPECT_THAT(Found(LintSql("SET lock_timeout = 0;\nALTER TABLE users ADD COLUMN a int;")),
              ElementsAre("lock-timeout-missing:2"));
  EXPECT_THAT(Found(LintSql("SET lock_timeout = '5s';\nRESET lock_timeout;\nDROP TABLE t;")),
              ElementsAre("lock-timeout-missing:3"));
  EXPECT_THAT(Found(LintSql("-- cutover:no-transaction\nSET LOCAL lock_timeout = '5s';\nDROP TABLE t;")),
              ElementsAre("lock-timeout-missing:3"));
  // Each file sets its own: the setting of an earlier file is gone.
  EXPECT_THAT(Found(LintFiles({{"0001.sql", "SET lock_timeout = '5s';"}, {"0002.sql", "DROP TABLE t;"}})),
              ElementsAre("lock-timeout-missing:1"));
}

TEST(LockTimeoutRule, TablesCreatedInTheFileAndLighterLocksAreFine) {
  EXPECT_THAT(Found(LintSql("CREATE TABLE t (a int);\nALTER TABLE t ADD COLUMN b int;\nDROP TABLE t;")),
              IsEmpty());
  EXPECT_THAT(Found(LintSql("ALTER TABLE users VALIDATE CONSTRAINT users_fk;")), IsEmpty());
  EXPECT_THAT(Found(LintSql("-- cutover:no-transaction\nDROP INDEX CONCURRENTLY users_email;")), IsEmpty());
}

// ----- the lexer: strings, comments, dollar quotes, lines -----

TEST(Lexing, RuleTextInsideStringsCommentsAndBodiesNeverMatches) {
  const std::string sql =
      "-- CREATE INDEX i ON users (email);\n"
      "/* outer /* CREATE INDEX nested ON users (email); */ VACUUM users; */\n"
      "SELECT 'CREATE INDEX i ON users (email); VACUUM users;';\n"
      "SELECT 'it''s; CREATE INDEX i ON users (email)';\n"
      "SELECT E'it\\'s; CREATE INDEX i ON users (email)';\n"
      "SELECT $$ ; CREATE INDEX i ON users (email); $$;\n"
      "SELECT $tag$ $$ ; ALTER TABLE users ALTER COLUMN a SET NOT NULL; $tag$;\n"
      "SELECT 1 AS \"CREATE INDEX i ON users (email); VACUUM\";\n"
      "DO $do$ BEGIN PERFORM 'ALTER TABLE users ALTER COLUMN a TYPE bigint'; END $do$;\n"
      "INSERT INTO notes (body) VALUES ('SELECT * FROM users; BEGIN; COMMIT;');\n";
  v1::MigrationLintReport r = LintSql(sql);
  EXPECT_THAT(Found(r), IsEmpty());
  EXPECT_EQ(r.statements(), 8);
}

TEST(Lexing, LinesAreThoseOfEachStatementsFirstToken) {
  const std::string sql =
      "-- leading comment\n"                                  // 1
      "\n"                                                    // 2
      "SET lock_timeout = '5s';\n"                            // 3
      "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$\n"  // 4
      "  SELECT 1; -- CREATE INDEX in a body\n"               // 5
      "$$;\n"                                                 // 6
      "/* block\n"                                            // 7
      "   comment */ CREATE INDEX a ON users (x);\n"          // 8
      "SELECT 'multi\n"                                       // 9
      "line; string'; CREATE INDEX b ON users (y); CREATE\n"  // 10
      "  INDEX c\n"                                           // 11
      "  ON users (z);\n";                                    // 12
  EXPECT_THAT(Found(LintSql(sql)),
              ElementsAre("create-index-not-concurrently:8", "create-index-not-concurrently:10",
                          "create-index-not-concurrently:10"));
}

TEST(Lexing, PsqlMetaCommandsAreSkipped) {
  v1::MigrationLintReport r = LintSql(
      "\\set ON_ERROR_STOP on\nSET lock_timeout = '5s';\n\\echo adding index\nCREATE INDEX i ON users "
      "(email);");
  EXPECT_THAT(Found(r), ElementsAre("create-index-not-concurrently:4"));
  EXPECT_EQ(r.statements(), 2);
}

TEST(Lexing, SyntaxErrorIsReportedAndTheRestIsStillChecked) {
  v1::MigrationLintReport r =
      LintSql("SET lock_timeout = '5s';\nCREATE TABLE (;\nSELECT 1;\nCREATE INDEX i ON users (email);\n");
  ASSERT_THAT(Found(r), ElementsAre("syntax-error:2", "create-index-not-concurrently:4"));
  EXPECT_THAT(r.findings(0).message(), HasSubstr("syntax error at or near"));
  EXPECT_EQ(r.findings(0).severity(), v1::LINT_SEVERITY_ERROR);
  // A BEGIN ATOMIC body (semicolons inside) after the error still parses whole.
  EXPECT_THAT(
      Found(LintSql("SET lock_timeout = '5s';\nSELEC 1;\n"
                    "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT 2; END;\n"
                    "CREATE INDEX i ON users (email);")),
      ElementsAre("syntax-error:2", "create-index-not-concurrently:4"));
}

TEST(Lexing, LexerErrorIsOneFindingAtItsLine) {
  v1::MigrationLintReport r = LintSql("SELECT 1;\nSELECT 'unterminated;\nCREATE INDEX i ON users (email);");
  ASSERT_THAT(Found(r), ElementsAre("syntax-error:2"));
  EXPECT_THAT(r.findings(0).message(), HasSubstr("unterminated quoted string"));
}

// ----- allow-listing -----

TEST(Allow, CommentOnTheStatementLineOrTheLineAbove) {
  const std::string index = "CREATE INDEX i ON users (email);";
  v1::MigrationLintReport same = LintSql(
      absl::StrCat("SET lock_timeout = '5s';\n", index, " -- cutover:allow create-index-not-concurrently"));
  EXPECT_THAT(Found(same), IsEmpty());
  EXPECT_EQ(same.suppressed(), 1);
  EXPECT_THAT(Found(LintSql(absl::StrCat(
                  "SET lock_timeout = '5s';\n-- cutover:allow create-index-not-concurrently\n", index))),
              IsEmpty());
  EXPECT_THAT(Found(LintSql(absl::StrCat("SET lock_timeout = '5s';\n/* cutover:allow select-star, "
                                         "create-index-not-concurrently */\n",
                                         index))),
              IsEmpty());
}

TEST(Allow, OtherPlacesRulesAndStringsDoNotAllow) {
  const std::string index = "CREATE INDEX i ON users (email);";
  // Two lines above.
  EXPECT_THAT(Found(LintSql(absl::StrCat(
                  "-- cutover:allow create-index-not-concurrently\nSET lock_timeout = '5s';\n", index))),
              ElementsAre("create-index-not-concurrently:3"));
  // Another rule.
  EXPECT_THAT(Found(LintSql(absl::StrCat("SET lock_timeout = '5s';\n-- cutover:allow select-star\n", index))),
              ElementsAre("create-index-not-concurrently:3"));
  // Inside a string, not a comment.
  EXPECT_THAT(Found(LintSql(absl::StrCat("SELECT '-- cutover:allow create-index-not-concurrently';\n",
                                         "SET lock_timeout = '5s'; ", index))),
              ElementsAre("create-index-not-concurrently:2"));
}

TEST(Allow, GlobalAllowedRules) {
  LintOptions o;
  o.allowed_rules = {"create-index-not-concurrently", kLockTimeout};
  v1::MigrationLintReport r = LintSql("CREATE INDEX i ON users (email);\nVACUUM users;\nDROP TABLE old;", o);
  EXPECT_THAT(Found(r), ElementsAre("non-transactional-in-transaction:2"));
  EXPECT_EQ(r.suppressed(), 2);
}

TEST(Rules, EveryRuleIsKnownAndDocumented) {
  std::ifstream in(SourceDir() + "/docs/migrations.md");
  std::stringstream doc;
  doc << in.rdbuf();
  ASSERT_FALSE(doc.str().empty());
  for (const RuleInfo& r : Rules()) {
    EXPECT_TRUE(IsKnownRule(r.id));
    EXPECT_THAT(doc.str(), HasSubstr(absl::StrCat("### `", r.id, "`"))) << r.id;
  }
  EXPECT_FALSE(IsKnownRule("no-such-rule"));
}

// ----- directories, order, the online-safe example -----

using DirTest = testing::TempDirTest;

TEST_F(DirTest, FilesAreReadInNameOrderAndOnlySql) {
  Write("0002_index.sql", "CREATE INDEX i ON audit (at);");
  Write("0001_table.sql", "CREATE TABLE audit (at timestamptz);");
  Write("README.md", "CREATE INDEX x ON y (z);");
  Write("0003_notes.sql.bak", "CREATE INDEX x ON y (z);");
  std::filesystem::create_directory(dir_ + "/9999_dir.sql");
  absl::StatusOr<std::vector<SqlFile>> files = ReadMigrationDir(dir_);
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_EQ(files->size(), 2u);
  EXPECT_EQ((*files)[0].name, "0001_table.sql");
  EXPECT_EQ((*files)[1].name, "0002_index.sql");
  absl::StatusOr<v1::MigrationLintReport> r = LintDirectory(dir_);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->files(), 2);
  EXPECT_THAT(Found(*r), ElementsAre("create-index-not-concurrently:1"));
  EXPECT_EQ(r->findings(0).file(), "0002_index.sql");
  EXPECT_THAT(Summary(*r), HasSubstr("1 error, 0 warnings in 2 files (2 statements)"));
  EXPECT_THAT(FormatFinding(r->findings(0)),
              HasSubstr("0002_index.sql:1  error  create-index-not-concurrently  "));
}

TEST_F(DirTest, MissingDirectoryOrAFileNamesThePath) {
  absl::StatusOr<v1::MigrationLintReport> missing = LintDirectory(dir_ + "/nope");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr(dir_ + "/nope"));
  Write("a.sql", "SELECT 1;");
  absl::StatusOr<v1::MigrationLintReport> file = LintDirectory(dir_ + "/a.sql");
  EXPECT_EQ(file.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(file.status().message(), HasSubstr("not a directory"));
  absl::StatusOr<v1::MigrationLintReport> empty = LintDirectory(dir_ + "/");
  ASSERT_TRUE(empty.ok());
}

TEST(OnlineSafeExample, RealisticMigrationSetHasNoFinding) {
  absl::StatusOr<v1::MigrationLintReport> r =
      LintDirectory(SourceDir() + "/tests/migrate/testdata/online_safe");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->files(), 5);
  EXPECT_GT(r->statements(), 20);
  EXPECT_THAT(Found(*r), IsEmpty());
  EXPECT_EQ(r->suppressed(), 0);
}

TEST(OnlineSafeExample, TheSameChangesWrittenNaivelyAreAllFlagged) {
  v1::MigrationLintReport r = LintFiles(
      {{"0001_naive.sql",
        "ALTER TABLE hydra_oauth2_access ADD COLUMN nid uuid NOT NULL DEFAULT gen_random_uuid();\n"
        "ALTER TABLE hydra_oauth2_access ADD CONSTRAINT nid_fk FOREIGN KEY (nid) REFERENCES networks (id);\n"
        "CREATE UNIQUE INDEX hydra_oauth2_access_request_nid_uq ON hydra_oauth2_access (request_id, nid);\n"
        "ALTER TABLE hydra_oauth2_access ALTER COLUMN client_id SET NOT NULL;\n"
        "CREATE VIEW hydra_active AS SELECT * FROM hydra_oauth2_access WHERE active;\n"
        "CREATE INDEX CONCURRENTLY hydra_oauth2_access_nid_idx ON hydra_oauth2_access (nid);\n"}});
  EXPECT_THAT(Found(r), ElementsAre("add-column-volatile-default:1", "lock-timeout-missing:1",
                                    "foreign-key-not-valid:2", "create-index-not-concurrently:3",
                                    "set-not-null-without-check:4", "select-star:5",
                                    "non-transactional-in-transaction:6"));
  EXPECT_EQ(r.errors(), 6);
  EXPECT_EQ(r.warnings(), 1);
}

// ----- limits (found with the migration_lint fuzz target's work: docs/fuzzing.md) -----

std::string Chain(int terms) {
  std::string sql = "UPDATE t SET v = 'a'";
  for (int i = 1; i < terms; ++i) sql += " || 'a'";
  return sql + ";";
}

TEST(Limits, LongConcatenationIsNotASyntaxError) {
  // Protobuf's default recursion limit (100) made a 50-term || chain a
  // "syntax error".
  EXPECT_THAT(Hazards(Chain(50)), IsEmpty());
  EXPECT_THAT(Hazards(Chain(900)), IsEmpty());
}

TEST(Limits, OperatorChainBeyondTheLimitIsRefusedNotACrash) {
  // 30000 terms overflowed the stack inside libpg_query (SIGSEGV); now the
  // statement is reported without being handed to it, and the next one is
  // still linted.
  for (int terms : {1200, 30000}) {
    v1::MigrationLintReport r = LintSql(Chain(terms) + "\nCREATE INDEX i ON t (v);", LintOptions{{kLockTimeout}});
    ASSERT_THAT(Found(r), ElementsAre("syntax-error:1", "create-index-not-concurrently:2")) << terms;
    EXPECT_THAT(r.findings(0).message(), HasSubstr("the linter cannot check this statement")) << terms;
    EXPECT_THAT(r.findings(0).message(), HasSubstr("operators nested in one chain (at most 1000)")) << terms;
  }
}

TEST(Limits, NonUtf8FileIsRefusedWithWhereAndWhy) {
  // A Latin-1 identifier made libpg_query's tree unreadable (protobuf strings
  // are UTF-8), reported as a syntax error without a useful reason.
  v1::MigrationLintReport r = LintSql("SET lock_timeout = '5s';\nCREATE TABLE caf\xe9 (id int);\n");
  ASSERT_THAT(Found(r), ElementsAre("syntax-error:2"));
  EXPECT_THAT(r.findings(0).message(), HasSubstr("not UTF-8 (0xe9) at byte 41"));
  v1::MigrationLintReport n = LintSql(std::string("SELECT 1;\nSELECT\0 2;", 19));
  ASSERT_THAT(Found(n), ElementsAre("syntax-error:2"));
  EXPECT_THAT(n.findings(0).message(), HasSubstr("a NUL byte at byte 16"));
  EXPECT_THAT(Hazards("SET lock_timeout = '5s';\nCREATE TABLE caf\xc3\xa9 (id int);\n"), IsEmpty());
}

TEST(Limits, ManyBadStatementsStayLinear) {
  // Each bad piece was re-parsed merged with up to 63 following ones: 8 kB of
  // "x;" took 8 s (89 s under ASan). An error before a piece's last token
  // cannot be fixed by appending text, so no merge is tried then.
  std::string sql;
  for (int i = 0; i < 20000; ++i) sql += "x;\n";
  const absl::Time start = absl::Now();
  v1::MigrationLintReport r = LintSql(sql, LintOptions{{kLockTimeout}});
  EXPECT_EQ(r.errors(), 20000);
  // Pieces that fail "at end of input" are merged only while the merged
  // text still fails at its end.
  std::string open_parens;
  for (int i = 0; i < 5000; ++i) open_parens += "select (;\n";
  EXPECT_EQ(LintSql(open_parens, LintOptions{{kLockTimeout}}).errors(), 5000);
  EXPECT_LT(absl::Now() - start, absl::Seconds(20));
  // Merging still happens when the error is at the piece's end, also after
  // multibyte text (libpg_query's error position counts characters).
  EXPECT_THAT(
      Found(LintSql("SET lock_timeout = '5s';\nSELEC 1;\n"
                    "CREATE FUNCTION f() RETURNS text LANGUAGE sql BEGIN ATOMIC SELECT '\xc3\xa9\xc3\xa9\xc3\xa9'; "
                    "SELECT 'caf\xc3\xa9'; END;\n"
                    "CREATE INDEX i ON users (email);")),
      ElementsAre("syntax-error:2", "create-index-not-concurrently:4"));
}

}  // namespace
}  // namespace cutover::migrate
