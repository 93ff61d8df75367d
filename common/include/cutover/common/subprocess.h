// Runs external programs (pg_dump, pg_restore, pgbouncer, operator router
// commands) with a deadline, capturing their output. Safe to call from any
// thread; each call owns its child and reaps it before returning. On timeout
// the child's whole process group is killed (by pid, never by name).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace cutover {

struct CommandSpec {
  std::vector<std::string> argv;
  // Added to (or overriding) the parent's environment.
  std::map<std::string, std::string> env;
  // Written to the child's stdin, which is then closed.
  std::string stdin_data;
  absl::Duration timeout = absl::InfiniteDuration();
  // Working directory; empty = inherit.
  std::string cwd;
};

struct CommandResult {
  int exit_code = -1;     // exit status, or 128 + signal
  bool timed_out = false;
  std::string out;        // captured stdout
  std::string err;        // captured stderr
};

// Runs the command to completion. Fails (Internal) only when it cannot be
// started; a non-zero exit is reported in the result, not as an error.
absl::StatusOr<CommandResult> RunCommand(const CommandSpec& spec);

// Runs the command and returns its stdout, or an error naming the program,
// its exit code and the tail of its stderr. DeadlineExceeded on timeout.
absl::StatusOr<std::string> RunCommandOk(const CommandSpec& spec);

// Absolute path of a PostgreSQL client/server program (pg_dump, pg_restore,
// initdb, ...): $CUTOVER_PG_BINDIR, then the Debian 15 bindir, then PATH.
std::string PgProgram(const std::string& name);

}  // namespace cutover
