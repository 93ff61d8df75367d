// `cutoverctl lint-migrations DIR` as a real subprocess: exit codes (0 clean
// or warnings only, 3 errors, 2 usage), the text table, JSON that parses back
// into MigrationLintReport, --allow. No server is needed (none is running).
#include <cstdlib>
#include <string>
#include <vector>

#include "cutover/common/subprocess.h"
#include "cutover/v1/migration_lint.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "temp_dir_test.h"

namespace cutover::migrate {
namespace {

namespace v1 = cutover::v1;
using ::testing::HasSubstr;
using ::testing::Not;

std::string EnvOr(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : fallback;
}

class LintMigrationsCliTest : public testing::TempDirTest {
 protected:
  // cutoverctl with CUTOVER_SERVER naming a port nobody listens on: the
  // linter must not need the server.
  static CommandResult Ctl(std::vector<std::string> args) {
    args.insert(args.begin(),
                EnvOr("CUTOVER_BINARY_DIR", CUTOVER_DEFAULT_BINARY_DIR) + "/orchestrator/tools/cutoverctl");
    CommandSpec spec;
    spec.argv = std::move(args);
    spec.env["CUTOVER_SERVER"] = "127.0.0.1:1";
    spec.timeout = absl::Seconds(60);
    absl::StatusOr<CommandResult> r = RunCommand(spec);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.value_or(CommandResult{});
  }
};

TEST_F(LintMigrationsCliTest, OnlineSafeSetExitsZero) {
  CommandResult r = Ctl({"lint-migrations", EnvOr("CUTOVER_SOURCE_DIR", CUTOVER_DEFAULT_SOURCE_DIR) +
                                                "/tests/migrate/testdata/online_safe"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("0 errors, 0 warnings in 5 files"));
}

TEST_F(LintMigrationsCliTest, ErrorsExitThreeWithATable) {
  Write("0001_table.sql", "SET lock_timeout = '5s';\nCREATE TABLE audit (at timestamptz);\n");
  Write("0002_index.sql", "SET lock_timeout = '5s';\n\nCREATE INDEX users_email ON users (email);\n");
  Write("0003_drop.sql", "DROP TABLE old_sessions;\n");
  CommandResult r = Ctl({"lint-migrations", dir_});
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_THAT(
      r.out, HasSubstr("0002_index.sql:3  error    create-index-not-concurrently  CREATE INDEX users_email"));
  EXPECT_THAT(r.out, HasSubstr("0003_drop.sql:1   warning  lock-timeout-missing"));
  EXPECT_THAT(r.out, HasSubstr("1 error, 1 warning in 3 files (5 statements)"));
  EXPECT_EQ(r.err, "");
}

TEST_F(LintMigrationsCliTest, WarningsOnlyExitZero) {
  Write("0001_drop.sql", "DROP TABLE old_sessions;\n");
  CommandResult r = Ctl({"lint-migrations", dir_});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("lock-timeout-missing"));
}

TEST_F(LintMigrationsCliTest, JsonParsesBackIntoTheReport) {
  Write("0001.sql", "CREATE VIEW v AS SELECT * FROM users;\n");
  CommandResult r = Ctl({"-o", "json", "lint-migrations", dir_});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  v1::MigrationLintReport report;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &report).ok()) << r.out;
  ASSERT_EQ(report.findings_size(), 1);
  EXPECT_EQ(report.findings(0).file(), "0001.sql");
  EXPECT_EQ(report.findings(0).line(), 1);
  EXPECT_EQ(report.findings(0).rule(), "select-star");
  EXPECT_EQ(report.findings(0).severity(), v1::LINT_SEVERITY_ERROR);
  EXPECT_EQ(report.errors(), 1);
  EXPECT_THAT(r.out, HasSubstr("\"severity\": \"LINT_SEVERITY_ERROR\""));
  EXPECT_THAT(r.out, HasSubstr("\"warnings\": 0"));  // defaults are printed too
}

TEST_F(LintMigrationsCliTest, AllowSuppressesRules) {
  Write("0001.sql", "CREATE INDEX i ON users (email);\nVACUUM users;\n");
  CommandResult r = Ctl({"lint-migrations", dir_, "--allow", "create-index-not-concurrently",
                         "--allow=non-transactional-in-transaction"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("2 allowed"));
  CommandResult comma = Ctl(
      {"lint-migrations", "--allow", "create-index-not-concurrently,non-transactional-in-transaction", dir_});
  EXPECT_EQ(comma.exit_code, 0) << comma.out << comma.err;
}

TEST_F(LintMigrationsCliTest, UsageErrorsExitTwoAndNameThePath) {
  CommandResult missing = Ctl({"lint-migrations", dir_ + "/nope"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr(dir_ + "/nope"));
  EXPECT_THAT(missing.err, HasSubstr("expected a directory of .sql files"));

  Write("a.sql", "SELECT 1;");
  CommandResult file = Ctl({"lint-migrations", dir_ + "/a.sql"});
  EXPECT_EQ(file.exit_code, 2);
  EXPECT_THAT(file.err, HasSubstr("not a directory"));

  CommandResult rule = Ctl({"lint-migrations", dir_, "--allow", "no-such-rule"});
  EXPECT_EQ(rule.exit_code, 2);
  EXPECT_THAT(rule.err, HasSubstr("unknown rule 'no-such-rule'"));
  EXPECT_THAT(rule.err, HasSubstr("select-star"));

  CommandResult none = Ctl({"lint-migrations"});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_THAT(none.out + none.err, HasSubstr("dir"));
  EXPECT_THAT(none.err, Not(HasSubstr("cannot reach")));
}

}  // namespace
}  // namespace cutover::migrate
