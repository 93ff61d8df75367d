// Failpoints: named places in cutoverd where a test (or an SRE rehearsing a
// failure) can make the process fail on purpose, so the e2e tests can kill
// or break the real daemon at an exact step instead of racing it.
//
// Configured once per process from the environment:
//   CUTOVER_FAILPOINTS="flip.before_fence=error,phase.COPYING=kill"
// Actions:
//   error      Failpoint() returns Unavailable("failpoint <name>") (retryable,
//              like a lost connection) every time it is reached;
//   error-once the same, only the first time;
//   kill       the process sends itself SIGKILL (as `kill -9` would);
//   sleep:<ms> blocks that long, then continues.
// Unknown names never fire; a malformed spec is logged and ignored entry by
// entry. With the variable unset, Failpoint() is one relaxed atomic load.
// Names in use: docs/orchestrator.md "Failpoints".
//
// Thread-safety: safe from any thread.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace cutover {

// Reaches the failpoint `name`: OK unless it is configured to fail.
absl::Status Failpoint(absl::string_view name);

// Replaces the configuration (tests in one process); "" clears it.
void SetFailpointsForTest(const std::string& spec);

}  // namespace cutover
