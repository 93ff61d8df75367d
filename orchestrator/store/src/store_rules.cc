#include "store_rules.h"

#include "absl/strings/str_cat.h"
#include "cutover/common/proto_time.h"
#include "cutover/common/status.h"

namespace cutover::store::internal {
namespace {

std::string FormatLeaseTime(absl::Time t) {
  if (t == absl::InfinitePast()) return "-infinity";
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

}  // namespace

std::string PhaseName(cutover::v1::Phase phase) {
  const std::string& name = cutover::v1::Phase_Name(phase);
  return name.empty() ? absl::StrCat("phase ", static_cast<int>(phase)) : name;
}

absl::Status CheckId(absl::string_view id) {
  if (id.empty()) return absl::InvalidArgumentError("cutover id is empty");
  return absl::OkStatus();
}

absl::Status CheckCreate(const cutover::v1::Cutover& cutover, const TransitionRecord& first) {
  RETURN_IF_ERROR(CheckId(cutover.id()));
  if (cutover.phase() == cutover::v1::PHASE_UNSPECIFIED) {
    return absl::InvalidArgumentError(absl::StrCat("cutover ", cutover.id(), " has no phase"));
  }
  if (first.to != cutover::v1::PHASE_UNSPECIFIED && first.to != cutover.phase()) {
    return absl::InvalidArgumentError(
        absl::StrCat("cutover ", cutover.id(), " is created in ", PhaseName(cutover.phase()),
                     " but its first timeline row goes to ", PhaseName(first.to)));
  }
  return absl::OkStatus();
}

absl::Status CheckTransitionArgs(const cutover::v1::Cutover& updated, const TransitionRecord& record) {
  RETURN_IF_ERROR(CheckId(updated.id()));
  if (record.from == cutover::v1::PHASE_UNSPECIFIED || record.to == cutover::v1::PHASE_UNSPECIFIED) {
    return absl::InvalidArgumentError(absl::StrCat("transition of cutover ", updated.id(),
                                                   " needs both phases (from ", PhaseName(record.from),
                                                   " to ", PhaseName(record.to), ")"));
  }
  if (updated.phase() != record.to) {
    return absl::InvalidArgumentError(absl::StrCat("transition of cutover ", updated.id(), " to ",
                                                   PhaseName(record.to), " carries a state in ",
                                                   PhaseName(updated.phase())));
  }
  return absl::OkStatus();
}

absl::Status NotFound(absl::string_view id) {
  return absl::NotFoundError(absl::StrCat("no cutover with id ", id));
}

absl::Status AlreadyExists(absl::string_view id) {
  return absl::AlreadyExistsError(absl::StrCat("cutover ", id, " already exists"));
}

absl::Status CheckPhase(absl::string_view id, cutover::v1::Phase stored, cutover::v1::Phase expected) {
  if (stored == expected) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat("cutover ", id, " is in ", PhaseName(stored), ", expected ", PhaseName(expected)));
}

absl::Status CheckRecordPhases(absl::string_view id, cutover::v1::Phase stored,
                               const TransitionRecord& record) {
  for (cutover::v1::Phase p : {record.from, record.to}) {
    if (p != cutover::v1::PHASE_UNSPECIFIED) RETURN_IF_ERROR(CheckPhase(id, stored, p));
  }
  return absl::OkStatus();
}

absl::Status CheckLease(absl::string_view id, const LeaseInfo& lease, absl::Time now,
                        absl::string_view holder) {
  if (holder.empty()) return absl::OkStatus();
  if (lease.holder == holder && lease.expires_at > now) return absl::OkStatus();
  if (lease.holder == holder) {
    return absl::AbortedError(absl::StrCat("lease lost: lease on ", id, " held by ", holder, " expired at ",
                                           FormatLeaseTime(lease.expires_at)));
  }
  if (LeaseLive(lease, now)) {
    return absl::AbortedError(absl::StrCat("lease lost: lease on ", id, " is held by ", lease.holder,
                                           " until ", FormatLeaseTime(lease.expires_at), ", not by ",
                                           holder));
  }
  return absl::AbortedError(absl::StrCat("lease lost: nobody holds the lease on ", id, ", not ", holder));
}

absl::Status CheckLeaseArgs(absl::string_view id, absl::string_view holder, absl::Duration ttl) {
  RETURN_IF_ERROR(CheckId(id));
  if (holder.empty()) return absl::InvalidArgumentError(absl::StrCat("lease on ", id, ": holder is empty"));
  if (ttl <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("lease on ", id, ": ttl must be positive, got ", absl::FormatDuration(ttl)));
  }
  return absl::OkStatus();
}

LeaseInfo NextLease(const LeaseInfo& current, absl::string_view holder, absl::Time now, absl::Duration ttl) {
  if (LeaseLive(current, now) && current.holder != holder) return current;
  LeaseInfo next;
  next.holder = std::string(holder);
  next.expires_at = now + ttl;
  next.epoch = current.holder == holder ? current.epoch : current.epoch + 1;
  return next;
}

cutover::v1::Cutover StrippedForStorage(const cutover::v1::Cutover& cutover) {
  cutover::v1::Cutover out = cutover;
  out.clear_lease_holder();
  out.clear_lease_expires_at();
  return out;
}

void FillLease(const LeaseInfo& lease, cutover::v1::Cutover* cutover) {
  cutover->clear_lease_holder();
  cutover->clear_lease_expires_at();
  if (lease.holder.empty()) return;
  cutover->set_lease_holder(lease.holder);
  *cutover->mutable_lease_expires_at() = ToProtoTime(lease.expires_at);
}

}  // namespace cutover::store::internal
