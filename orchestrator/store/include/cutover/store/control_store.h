// The control store: where cutoverd persists every cutover, its audit
// timeline, per-table copy progress and the orchestration leases, so that a
// restarted (or standby) cutoverd resumes exactly where the last one was.
//
// Contract shared by every implementation:
//  - A transition (phase change) and its timeline row are written in one
//    atomic step, and only by the current lease holder: a holder whose lease
//    expired or was taken over gets kAborted ("lease lost") and must stop
//    touching the cutover. Reads need no lease.
//  - Each cutover carries a version that grows by one on every write, so
//    watchers can ask "anything newer than v?" (WaitForChange).
//  - Lease times are the store's own clock (PgControlStore: the database's
//    now()), so daemons on hosts with skewed clocks still agree.
// Implementations are safe for concurrent use from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cutover/common/clock.h"
#include "cutover/v1/cutover.pb.h"

namespace cutover::store {

struct StoredCutover {
  cutover::v1::Cutover cutover;  // lease_holder / lease_expires_at filled from the lease
  int64_t version = 0;
};

// What a transition writes besides the new state.
struct TransitionRecord {
  cutover::v1::Phase from = cutover::v1::PHASE_UNSPECIFIED;
  cutover::v1::Phase to = cutover::v1::PHASE_UNSPECIFIED;
  std::string actor;   // "cutoverd@host:pid", or the API caller's identity
  std::string action;  // "start", "approve", "phase-complete", "flip-failed", ...
  std::string reason;
};

struct LeaseInfo {
  std::string holder;  // empty: nobody
  absl::Time expires_at = absl::InfinitePast();
  int64_t epoch = 0;  // grows on every change of holder
};

class ControlStore {
 public:
  virtual ~ControlStore() = default;

  // Creates the schema / tables if missing (idempotent, safe to race).
  virtual absl::Status Init() = 0;

  // Stores a new cutover (phase = cutover.phase) with its first timeline row.
  // AlreadyExists when the id is taken.
  virtual absl::StatusOr<StoredCutover> Create(const cutover::v1::Cutover& cutover,
                                               const TransitionRecord& first) = 0;
  // NotFound naming the id.
  virtual absl::StatusOr<StoredCutover> Get(absl::string_view id) = 0;
  // Newest first; only the given phases when non-empty.
  virtual absl::StatusOr<std::vector<StoredCutover>> List(const std::vector<cutover::v1::Phase>& phases) = 0;

  // Writes `updated` (whose phase is record.to) and appends the timeline row,
  // atomically, if the stored phase is still record.from (else
  // FailedPrecondition naming both) and, when `holder` is non-empty, `holder`
  // holds a live lease (else Aborted). API calls on a cutover nobody runs
  // (PLANNED, terminal phases) pass an empty holder.
  virtual absl::StatusOr<StoredCutover> Transition(const cutover::v1::Cutover& updated,
                                                   const TransitionRecord& record,
                                                   absl::string_view holder) = 0;
  // Saves progress without a phase change or a timeline row (copy progress,
  // replay stats, flip step markers, approval flag); same lease rule. The
  // stored phase must equal updated.phase (FailedPrecondition otherwise), so a
  // progress write can never undo a concurrent transition.
  virtual absl::StatusOr<StoredCutover> Save(const cutover::v1::Cutover& updated, absl::string_view holder) = 0;
  // Appends a timeline row without a phase change (from == to), e.g. a
  // refused approve or a flip retry, with the same lease rule as Save. Also
  // bumps the version.
  virtual absl::Status Record(absl::string_view id, const TransitionRecord& record, absl::string_view holder) = 0;

  // Timeline rows with seq > after_seq, oldest first.
  virtual absl::StatusOr<std::vector<cutover::v1::Transition>> Transitions(absl::string_view id,
                                                                          int64_t after_seq = 0) = 0;

  // Takes the lease if free or expired, or renews it if `holder` has it.
  // Returns the lease as it is after the call; the caller holds it iff
  // lease.holder == holder.
  virtual absl::StatusOr<LeaseInfo> AcquireLease(absl::string_view id, absl::string_view holder,
                                                 absl::Duration ttl) = 0;
  // Gives the lease up (no-op if `holder` does not hold it).
  virtual absl::Status ReleaseLease(absl::string_view id, absl::string_view holder) = 0;
  virtual absl::StatusOr<LeaseInfo> GetLease(absl::string_view id) = 0;

  // Blocks until the cutover's version exceeds `version` or `deadline`;
  // returns the current version (unchanged on timeout).
  virtual absl::StatusOr<int64_t> WaitForChange(absl::string_view id, int64_t version, absl::Time deadline) = 0;
};

// The PostgreSQL control store (schema `cutover` in the control database).
// Layout: docs/control-store.md. Connects lazily: one connection for reads
// and writes (calls serialized; reconnects by itself after a loss) plus a
// small pool of listener connections for WaitForChange; connection errors are
// returned as Unavailable (retryable). Only the DSN is checked here.
absl::StatusOr<std::unique_ptr<ControlStore>> NewPgControlStore(const std::string& dsn);

// In-memory store for unit tests and `--store memory`; lease times from `clock`.
std::unique_ptr<ControlStore> NewMemoryControlStore(Clock* clock = Clock::Real());

}  // namespace cutover::store
