// The rules every ControlStore implementation applies, written once so the
// PostgreSQL and in-memory stores cannot drift apart: argument checks, the
// phase and lease checks a write must pass, the lease state machine (acquire,
// renew, takeover, epoch) and the error messages operators read.
// Pure functions: thread-safe, no I/O. Private to the store module.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cutover/store/control_store.h"
#include "cutover/v1/cutover.pb.h"

namespace cutover::store::internal {

// "PHASE_COPYING" (or the number when it has no name).
std::string PhaseName(cutover::v1::Phase phase);

// InvalidArgument unless `id` is a usable cutover id.
absl::Status CheckId(absl::string_view id);
// Create: a non-empty id, a known phase; `first.to` (when set) equal to the phase.
absl::Status CheckCreate(const cutover::v1::Cutover& cutover, const TransitionRecord& first);
// Transition: `updated.phase` must be record.to, both phases set.
absl::Status CheckTransitionArgs(const cutover::v1::Cutover& updated, const TransitionRecord& record);

absl::Status NotFound(absl::string_view id);
absl::Status AlreadyExists(absl::string_view id);
// FailedPrecondition("cutover c1 is in PHASE_READY, expected PHASE_FLIPPING") unless equal.
absl::Status CheckPhase(absl::string_view id, cutover::v1::Phase stored, cutover::v1::Phase expected);

// Record: the row's phases (when set) must both equal the stored phase.
absl::Status CheckRecordPhases(absl::string_view id, cutover::v1::Phase stored,
                               const TransitionRecord& record);

// OK when `holder` is empty (API call on a cutover nobody runs) or holds a
// live lease at `now`; else Aborted("lease lost: ...") naming the real holder.
absl::Status CheckLease(absl::string_view id, const LeaseInfo& lease, absl::Time now,
                        absl::string_view holder);
inline bool LeaseLive(const LeaseInfo& lease, absl::Time now) {
  return !lease.holder.empty() && lease.expires_at > now;
}

// The lease after AcquireLease(holder, ttl) at `now`: taken when free or
// expired, renewed when `holder` has it, unchanged when someone else holds a
// live one. The epoch grows whenever the holder changes to a new name
// (including "" -> holder after a release), never on a renewal.
LeaseInfo NextLease(const LeaseInfo& current, absl::string_view holder, absl::Time now, absl::Duration ttl);
absl::Status CheckLeaseArgs(absl::string_view id, absl::string_view holder, absl::Duration ttl);

// The state as persisted: the lease fields are not part of it (they live
// with the lease and are filled in on read).
cutover::v1::Cutover StrippedForStorage(const cutover::v1::Cutover& cutover);
void FillLease(const LeaseInfo& lease, cutover::v1::Cutover* cutover);

}  // namespace cutover::store::internal
