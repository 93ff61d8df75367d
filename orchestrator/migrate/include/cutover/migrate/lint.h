// The migration lock-hazard linter: reads the .sql files the orchestrator
// applies to green in MIGRATING (name order, each with `psql -1` unless it
// carries `-- cutover:no-transaction`) and reports statements that would hold
// strong locks for long (table rewrites, full scans under ACCESS EXCLUSIVE,
// index builds that block writes) or cannot run the way the file is run.
// Every rule, why it is a hazard and the safe pattern: docs/migrations.md.
//
// Statements are split and parsed by PostgreSQL's own grammar (libpg_query),
// so text inside strings, dollar-quoted bodies and comments never matches a
// rule. All functions are safe to call concurrently from any thread; only
// ReadMigrationDir and LintDirectory touch the file system (read-only).
#pragma once

#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cutover/v1/migration_lint.pb.h"

namespace cutover::migrate {

struct LintOptions {
  // Rule ids never reported, wherever they occur (the plan's global allow
  // list). Unknown ids are ignored here: check them with IsKnownRule.
  absl::flat_hash_set<std::string> allowed_rules;
  // PostgreSQL major version of green. Below 11 any ADD COLUMN default
  // rewrites the table; below 12 ALTER TYPE ... ADD VALUE cannot run in a
  // transaction block.
  int server_major_version = 15;
};

struct RuleInfo {
  absl::string_view id;
  v1::LintSeverity severity;  // the usual one; a finding may be milder
  absl::string_view summary;
};

// Every rule, in documentation order.
const std::vector<RuleInfo>& Rules();
bool IsKnownRule(absl::string_view id);

// The text that makes the orchestrator run a file without `psql -1`. Like
// the orchestrator, RunsInTransaction looks for it anywhere in the file; the
// documented form is a comment line `-- cutover:no-transaction`.
inline constexpr absl::string_view kNoTransactionMarker = "cutover:no-transaction";
bool RunsInTransaction(absl::string_view file_body);

// One migration file: its name in the directory and its contents.
struct SqlFile {
  std::string name;
  std::string body;
};

// The *.sql files of `dir` sorted by name, as the orchestrator applies them
// (an empty directory gives an empty list). NotFound when `dir` does not
// exist, InvalidArgument when it is not a directory, FailedPrecondition when
// it cannot be read; each message names the path.
absl::StatusOr<std::vector<SqlFile>> ReadMigrationDir(const std::string& dir);

// Lints the files in the given order; what an earlier file did (a table it
// created, a CHECK it validated) counts for the later ones. Never fails: a
// statement PostgreSQL's grammar refuses is a `syntax-error` finding.
v1::MigrationLintReport LintFiles(const std::vector<SqlFile>& files, const LintOptions& options = {});

// ReadMigrationDir + LintFiles.
absl::StatusOr<v1::MigrationLintReport> LintDirectory(const std::string& dir,
                                                      const LintOptions& options = {});

inline bool HasErrors(const v1::MigrationLintReport& r) { return r.errors() > 0; }

// "0003_index.sql:7  error  create-index-not-concurrently  CREATE INDEX ..."
std::string FormatFinding(const v1::MigrationLintFinding& f);
// "2 errors, 1 warning in 5 files (31 statements, 1 allowed)"
std::string Summary(const v1::MigrationLintReport& r);

}  // namespace cutover::migrate
