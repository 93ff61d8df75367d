// The rollback sweep: before a rollback lets blue serve again, revoke on blue
// what green never knew.
//
// A row written on blue after the copy snapshot and before the flip (a token
// issued in the window) is not on green: an accepted loss at the flip, since
// green rejects it. If the client then "revokes" it on green, green has no
// row, nothing is captured, and a rollback would bring it back to life on
// blue. The sweep closes that hole: for every captured table of the forward
// rules, the rows of blue written after the copy snapshot (their xmin is not
// visible in the snapshot recorded by the copy) that have no counterpart on
// green (rule.target_table / target_key_columns, defaulting to the same table
// and key columns) are revoked on blue — deleted when a rule on the table has
// on_delete, else set to the rule's on_update values. Rows from before the
// snapshot are never touched, so a wrong mapping cannot reach past the
// window's rows.
//
// Blue is fenced (read-only) during a rollback; the sweep's session turns
// read-only off for itself and sets cutover.replaying so blue's own capture
// triggers (still there when the rollback comes before DRAINING) skip it.
// One transaction on blue: all or nothing, and running it again finds
// nothing more to do (idempotent).
//
// Thread-safety: free functions; the sessions they are given must not be used
// by another thread meanwhile.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cutover/common/pg.h"
#include "cutover/v1/cutover.pb.h"
#include "cutover/v1/plan.pb.h"

namespace cutover::replay {

// One captured table as the sweep sees it.
struct SweepTarget {
  std::string path;  // capture.rules[<name>] of the first rule on the table
  std::string table;  // "schema.table" on blue
  std::vector<std::string> key_columns;
  std::string target_table;  // "schema.table" on green
  std::vector<std::string> target_key_columns;
  bool delete_rows = false;                                // else `set`
  std::vector<std::pair<std::string, std::string>> set;  // column -> revoked value
};

// One target per captured table, in rule order: keys and mapping from the
// first rule on the table; delete when any rule on it has on_delete.
std::vector<SweepTarget> SweepTargets(const std::vector<cutover::v1::CaptureRule>& forward_rules);

// The targets resolve on green: each target table exists with its target key
// columns. FailedPrecondition naming the field, e.g.
//   capture.rules[x].target_table: public.t does not exist on green (...)
absl::Status CheckSweepTargets(const std::vector<cutover::v1::CaptureRule>& forward_rules, pg::Session& green);

struct SweepOptions {
  // Candidate keys looked up on green per round trip.
  int batch = 1000;
  absl::Duration lock_timeout = absl::Seconds(10);
  // Progress lines ("public.t: 120 written after the snapshot, 7 not on green").
  std::function<void(const std::string&)> log;
};

// Runs the sweep (see the top of this file). `blue_xid_snapshot` is
// CopyReport.blue_xid_snapshot; InvalidArgument when it is not a
// pg_snapshot. The result has done = true and per-table counts.
absl::StatusOr<cutover::v1::RollbackSweep> SweepRowsMissingOnGreen(
    const std::vector<cutover::v1::CaptureRule>& forward_rules, const std::string& blue_xid_snapshot,
    pg::Session& blue, pg::Session& green, const SweepOptions& options = {});

}  // namespace cutover::replay
