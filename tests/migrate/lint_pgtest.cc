// The linter's verdicts checked against real PostgreSQL 15 (the sandbox's
// green): the online-safe example applies the way the orchestrator runs it
// (psql -1 unless the file carries the marker); every ALTER the linter calls
// a rewrite changes the table's relfilenode and every one it accepts does
// not; every statement it calls non-transactional fails under psql -1.
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cutover/common/subprocess.h"
#include "cutover/migrate/lint.h"
#include "cutover/testing/sandbox_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cutover::migrate {
namespace {

namespace v1 = cutover::v1;
using ::testing::HasSubstr;

std::string SourceDir() {
  const char* dir = std::getenv("CUTOVER_SOURCE_DIR");
  return dir != nullptr ? dir : CUTOVER_DEFAULT_SOURCE_DIR;
}

// psql as the orchestrator's Migrate runs a file, with the SQL on stdin.
CommandResult Psql(const std::string& dsn, const std::string& sql) {
  CommandSpec spec;
  spec.argv = {PgProgram("psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f", "-"};
  if (RunsInTransaction(sql)) spec.argv.insert(spec.argv.begin() + 1, "-1");
  spec.stdin_data = sql;
  spec.timeout = absl::Seconds(60);
  absl::StatusOr<CommandResult> r = RunCommand(spec);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.value_or(CommandResult{});
}

bool HasError(const v1::MigrationLintReport& r, absl::string_view rule) {
  for (const auto& f : r.findings()) {
    if (f.rule() == rule && f.severity() == v1::LINT_SEVERITY_ERROR) return true;
  }
  return false;
}

class LintPgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::FreshDatabases("migrate_lint");
    ASSERT_FALSE(HasFailure());
    ASSERT_NO_FATAL_FAILURE(testing::ExecOrDie(
        db_.green,
        "CREATE TABLE networks (id uuid PRIMARY KEY);"
        "INSERT INTO networks VALUES (gen_random_uuid());"
        "CREATE TABLE hydra_oauth2_access (signature varchar(255) PRIMARY KEY, request_id varchar(40) NOT "
        "NULL,"
        "  client_id varchar(255), subject varchar(255), requested_at timestamptz DEFAULT now(),"
        "  active bool DEFAULT true);"
        "INSERT INTO hydra_oauth2_access (signature, request_id, client_id, subject)"
        "  SELECT 'sig' || g, 'req' || g, 'client', 'subject' FROM generate_series(1, 12000) g;"));
  }

  std::string RelFileNode(const std::string& table) {
    return testing::QueryScalar(
        db_.green, absl::StrCat("SELECT relfilenode FROM pg_class WHERE relname = '", table, "'"));
  }

  testing::TestDb db_;
};

TEST_F(LintPgTest, OnlineSafeExampleAppliesAsTheOrchestratorRunsIt) {
  absl::StatusOr<std::vector<SqlFile>> files =
      ReadMigrationDir(SourceDir() + "/tests/migrate/testdata/online_safe");
  ASSERT_TRUE(files.ok()) << files.status();
  ASSERT_EQ(LintFiles(*files).findings_size(), 0);
  for (const SqlFile& f : *files) {
    CommandResult r = Psql(db_.green, f.body);
    ASSERT_EQ(r.exit_code, 0) << f.name << ": " << r.err;
  }
  EXPECT_EQ(testing::QueryScalar(db_.green, "SELECT count(*) FROM hydra_oauth2_access WHERE nid IS NULL"),
            "0");
  EXPECT_EQ(testing::QueryScalar(
                db_.green,
                "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'hydra_oauth2_access'::regclass"
                " AND attname = 'nid'"),
            "t");
  EXPECT_EQ(testing::QueryScalar(db_.green, "SELECT count(*) FROM pg_index WHERE NOT indisvalid"), "0");
}

TEST_F(LintPgTest, RewriteVerdictsMatchPostgres) {
  ASSERT_NO_FATAL_FAILURE(testing::ExecOrDie(
      db_.green,
      "CREATE TABLE r (v varchar(10), n numeric(10,2), c cidr, x text, i int);"
      "INSERT INTO r SELECT 'v', 1, '10.0.0.0/8', 'x', g FROM generate_series(1, 100) g;"));
  // Each statement runs on r as it is after the previous ones; the linter
  // sees the same history (the CREATE TABLE in an earlier file).
  const std::vector<std::string> steps = {
      "ALTER TABLE r ALTER COLUMN v TYPE varchar(20)",
      "ALTER TABLE r ALTER COLUMN v TYPE varchar(15)",
      "ALTER TABLE r ALTER COLUMN v TYPE text",
      "ALTER TABLE r ALTER COLUMN x TYPE varchar",
      "ALTER TABLE r ALTER COLUMN n TYPE numeric(12,2)",
      "ALTER TABLE r ALTER COLUMN n TYPE numeric(14,3)",
      "ALTER TABLE r ALTER COLUMN n TYPE numeric",
      "ALTER TABLE r ALTER COLUMN c TYPE inet",
      "ALTER TABLE r ALTER COLUMN i TYPE bigint",
      "ALTER TABLE r ALTER COLUMN v TYPE varchar(30) USING v::varchar(30)",
      "ALTER TABLE r ADD COLUMN d1 timestamptz DEFAULT now() + interval '1 day'",
      "ALTER TABLE r ADD COLUMN d2 text DEFAULT 'pending'",
      "ALTER TABLE r ADD COLUMN d3 uuid DEFAULT gen_random_uuid()",
      "ALTER TABLE r ADD COLUMN d4 float8 DEFAULT random()",
      "ALTER TABLE r ADD COLUMN d5 timestamptz DEFAULT clock_timestamp()",
      "ALTER TABLE r ADD COLUMN d6 bigserial",
  };
  std::vector<SqlFile> history = {
      {"0000.sql", "CREATE TABLE r (v varchar(10), n numeric(10,2), c cidr, x text, i int);"}};
  LintOptions o;
  o.allowed_rules.insert("lock-timeout-missing");
  for (size_t k = 0; k < steps.size(); ++k) {
    history.push_back(SqlFile{absl::StrCat(k + 1, ".sql"), steps[k] + ";"});
    v1::MigrationLintReport report = LintFiles(history, o);
    const bool flagged = report.findings_size() > 0 &&
                         report.findings(report.findings_size() - 1).file() == history.back().name;
    const std::string before = RelFileNode("r");
    ASSERT_NO_FATAL_FAILURE(testing::ExecOrDie(db_.green, steps[k]));
    const bool rewrote = RelFileNode("r") != before;
    EXPECT_EQ(flagged, rewrote) << steps[k] << (rewrote ? ": PostgreSQL rewrote the table" : ": no rewrite");
  }
}

TEST_F(LintPgTest, NonTransactionalStatementsFailUnderPsqlDashOne) {
  for (const std::string& stmt :
       {std::string("CREATE INDEX CONCURRENTLY access_client ON hydra_oauth2_access (client_id);"),
        std::string("DROP INDEX CONCURRENTLY IF EXISTS nope;"),
        std::string("REINDEX TABLE CONCURRENTLY hydra_oauth2_access;"),
        std::string("VACUUM hydra_oauth2_access;"), std::string("ALTER SYSTEM SET work_mem = '64MB';"),
        absl::StrCat("CREATE DATABASE ", db_.name, "_x;")}) {
    EXPECT_TRUE(HasError(LintFiles({{"0001.sql", stmt}}), "non-transactional-in-transaction")) << stmt;
    CommandResult in_tx = Psql(db_.green, stmt);
    EXPECT_NE(in_tx.exit_code, 0) << stmt;
    EXPECT_THAT(in_tx.err, HasSubstr("cannot run inside a transaction block")) << stmt;
  }
  // With the marker each runs (ALTER SYSTEM and CREATE DATABASE left out:
  // they would change the shared sandbox).
  for (const std::string& stmt :
       {std::string("CREATE INDEX CONCURRENTLY access_client ON hydra_oauth2_access (client_id);"),
        std::string("REINDEX TABLE CONCURRENTLY hydra_oauth2_access;"),
        std::string("VACUUM hydra_oauth2_access;")}) {
    const std::string file = "-- cutover:no-transaction\nSET lock_timeout = '5s';\n" + stmt;
    EXPECT_EQ(LintFiles({{"0001.sql", file}}).findings_size(), 0) << stmt;
    CommandResult r = Psql(db_.green, file);
    EXPECT_EQ(r.exit_code, 0) << stmt << ": " << r.err;
  }
}

// ADD PRIMARY KEY USING INDEX on a nullable column runs an implicit SET NOT
// NULL: PostgreSQL scans the table (a NULL row makes it fail), and the
// linter calls it an error; with the column NOT NULL it passes both.
TEST_F(LintPgTest, PrimaryKeyOnANullableColumnScansTheTable) {
  ASSERT_NO_FATAL_FAILURE(
      testing::ExecOrDie(db_.green,
                         "CREATE TABLE k (id int NOT NULL, nid uuid);"
                         "INSERT INTO k SELECT g, gen_random_uuid() FROM generate_series(1, 5000) g;"
                         "INSERT INTO k VALUES (0, NULL);"
                         "CREATE UNIQUE INDEX k_uq ON k (id, nid);"
                         "CREATE UNIQUE INDEX k_id_uq ON k (id);"));
  const std::string key = "ALTER TABLE k ADD CONSTRAINT k_pkey PRIMARY KEY USING INDEX k_uq;";
  std::vector<SqlFile> files = {
      {"0000.sql", "CREATE TABLE k (id int NOT NULL, nid uuid);"},
      {"0001.sql",
       "-- cutover:no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY k_uq ON k (id, nid);\n"
       "CREATE UNIQUE INDEX CONCURRENTLY k_id_uq ON k (id);"},
      {"0002.sql", "SET lock_timeout = '5s';\n" + key}};
  EXPECT_TRUE(HasError(LintFiles(files), "set-not-null-without-check"));
  CommandResult r = Psql(db_.green, key);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("contains null values"));

  files.back().body =
      "SET lock_timeout = '5s';\nALTER TABLE k ADD CONSTRAINT k_pkey PRIMARY KEY USING INDEX k_id_uq;";
  EXPECT_EQ(LintFiles(files).findings_size(), 0);
  EXPECT_EQ(Psql(db_.green, files.back().body).exit_code, 0);
}

// A foreign key declared in CREATE TABLE locks the referenced (existing)
// table SHARE ROW EXCLUSIVE until the transaction ends: a writer of it with
// lock_timeout times out while the file's transaction is still open.
TEST_F(LintPgTest, NewTableForeignKeyLocksTheReferencedTableUntilCommit) {
  const std::string file =
      "SET lock_timeout = '5s';\n"
      "CREATE TABLE f (nid uuid REFERENCES networks (id));\n"
      "INSERT INTO f SELECT id FROM networks;\n";
  v1::MigrationLintReport report = LintFiles({{"0001.sql", file}});
  EXPECT_TRUE(HasError(report, "foreign-key-not-valid"));
  // Run the file, then, still in its transaction, ask pg_locks what it holds.
  CommandResult r =
      Psql(db_.green, file +
                          "SELECT 'held:' || mode FROM pg_locks WHERE pid = pg_backend_pid() "
                          "AND relation = 'networks'::regclass AND mode = 'ShareRowExclusiveLock';");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("held:ShareRowExclusiveLock"));
}

}  // namespace
}  // namespace cutover::migrate
