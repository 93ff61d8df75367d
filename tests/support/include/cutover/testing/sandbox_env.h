// Support for tests that need real PostgreSQL (label `pg`, name suffix
// `_pgtest`): one shared sandbox per test process, unique names, fresh
// per-test databases and small SQL helpers that report through gtest.
//
// Thread-safety: every function here may be called from any thread.
// SharedSandbox() starts the sandbox once (other callers wait for it) and it
// is stopped when the test program ends — after the last test through a
// gtest Environment, or at exit() — also when tests failed. A crashed or
// killed test process leaves it behind; the next Sandbox::Start() on the
// machine cleans it up.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cutover/sandbox/sandbox.h"

namespace cutover::testing {

// The process-wide sandbox: blue, green, control and a PgBouncer in front of
// blue, fast mode. When it cannot start, the calling test FAILS with the
// reason (an exception, which gtest reports as a failure of the test body,
// SetUp or SetUpTestSuite that called it), and so does every later caller;
// nothing is skipped.
// CUTOVER_SANDBOX_KEEP=1 keeps its directory after the run for debugging.
sandbox::Sandbox& SharedSandbox();
// Same, returning the start error instead of failing the test.
absl::StatusOr<sandbox::Sandbox*> TrySharedSandbox();

// "<prefix>_<pid>_<n>": unique in this machine's test runs, a valid lowercase
// SQL identifier of at most 63 bytes. The prefix is lowercased; characters
// other than [a-z0-9_] become '_'.
std::string UniqueName(absl::string_view prefix);

// A database created with the same unique name on blue, green and control of
// the shared sandbox. The fields are DSNs, except `name`.
struct TestDb {
  std::string name;
  std::string blue;
  std::string green;
  std::string control;
  std::string bouncer;  // blue's database through PgBouncer
};
// Records a (non-fatal) gtest failure when a database cannot be created;
// check HasFailure() or use TryFreshDatabases to stop early.
TestDb FreshDatabases(absl::string_view prefix);
absl::StatusOr<TestDb> TryFreshDatabases(absl::string_view prefix);

// One connection per call: runs `sql` (may hold several statements; simple
// query protocol, so it works through PgBouncer and its admin console too).
absl::Status Exec(const std::string& dsn, const std::string& sql);
// First column of the first row as text ("" for NULL); NotFound without rows.
absl::StatusOr<std::string> Scalar(const std::string& dsn, const std::string& sql);
// As above, but a failure is a fatal gtest failure in the calling test (wrap
// in ASSERT_NO_FATAL_FAILURE to stop the test there). QueryScalar returns ""
// on failure.
void ExecOrDie(const std::string& dsn, const std::string& sql);
std::string QueryScalar(const std::string& dsn, const std::string& sql);

// `pg_dump --schema-only` of `dsn` without comments, blank lines and the
// random \restrict keys, so two databases' schemas compare as text. Schemas
// in `exclude_schemas` are left out. A failure is a (non-fatal) gtest failure.
std::string SchemaDump(const std::string& dsn, const std::vector<std::string>& exclude_schemas = {});

// Polls `pred` until it returns true (-> true) or `timeout` passes (-> false).
bool WaitFor(const std::function<bool()>& pred, absl::Duration timeout,
             absl::Duration poll = absl::Milliseconds(20));

// Makes this process a child subreaper (PR_SET_CHILD_SUBREAPER): servers left
// running by a child that exits (the cutover-sandbox CLI, a fork()ed child)
// are re-parented to this process instead of pid 1, so they can be reaped
// here once stopped. Some container inits never reap, leaving <defunct>
// entries behind. Idempotent.
void AdoptOrphans();
// Reaps `pid` if it is an exited child of this process. True when it was
// reaped or is not (or no longer) our child; false while it still runs.
bool ReapIfExited(pid_t pid);
// The process exists and is not a zombie (kill(pid, 0) alone says yes for zombies).
bool ProcessRunning(pid_t pid);

}  // namespace cutover::testing
