// What green holds, and the copy-attempt marker that makes a crashed copy
// restart clean. The marker lives on green itself (schema cutover_replay,
// table copy_attempt), so the decision "reset or refuse" never depends on
// anything but green:
//  - green empty                      -> copy;
//  - last attempt incomplete (running/failed) -> reset green, then copy;
//  - last attempt copied/verified     -> refuse (a finished copy is never overwritten);
//  - objects but no marker            -> refuse: green is not empty.
// Reset is one transaction (DDL is transactional in PostgreSQL): it never
// leaves a half-reset green.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "cutover/common/pg.h"

namespace cutover::copy {

struct CopyAttempt {
  int64_t id = 0;
  std::string cutover_id;
  std::string snapshot_id;
  std::string state;  // running | copied | verified | failed | reset
  std::string started_at;
  // pg_current_snapshot() of the copy's snapshot on blue (empty for attempts
  // recorded before it was kept).
  std::string blue_xid_snapshot;
};

struct GreenState {
  int64_t object_count = 0;               // relations, types, functions outside system schemas
  std::vector<std::string> sample;        // a few of them, "public.t (table)"
  std::vector<std::string> schemas;       // user schemas other than public / cutover_replay
  std::optional<CopyAttempt> last_attempt;
  bool empty() const { return object_count == 0 && schemas.empty(); }
  bool resettable() const {
    return last_attempt && (last_attempt->state == "running" || last_attempt->state == "failed" ||
                            last_attempt->state == "reset");
  }
};

absl::StatusOr<GreenState> InspectGreen(pg::Session& green);

// OK when a copy may proceed on green as it is (possibly after ResetGreen);
// FailedPrecondition naming what is there otherwise.
absl::Status CheckGreenUsable(const GreenState& state);

// Creates schema cutover_replay and its copy_attempt table if missing.
absl::Status EnsureMarker(pg::Session& green);

// Drops everything a previous attempt created (all user schemas, extensions
// but plpgsql), recreates an empty public schema as PostgreSQL 15 has it, and
// empties cutover_replay's replay tables; one transaction.
absl::Status ResetGreen(pg::Session& green);

absl::StatusOr<int64_t> BeginAttempt(pg::Session& green, const std::string& cutover_id,
                                     const std::string& snapshot_id, const std::string& blue_description,
                                     const std::string& blue_xid_snapshot);
absl::Status SetAttemptState(pg::Session& green, int64_t attempt_id, const std::string& state,
                             const std::string& detail = "");

}  // namespace cutover::copy
