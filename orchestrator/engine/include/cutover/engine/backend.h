// Everything with side effects that the state machine does for one cutover,
// behind one interface: the real PgCutoverBackend wires the copier, capture,
// relay, replayer, queue, router and fence; tests use FakeBackend. The state
// machine (Orchestrator) and the flip protocol (RunFlip) only see this.
//
// Contract: every method is idempotent (a restarted cutoverd calls them again
// for the phase it resumes), returns retryable errors (IsRetryable) for
// transient failures and honours deadlines where it takes one. Called from
// the cutover's worker thread, except Copy (its own thread) and Stats (any
// thread); implementations make Stats thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cutover/copy/control.h"
#include "cutover/copy/copier.h"
#include "cutover/router/router.h"
#include "cutover/v1/cutover.pb.h"
#include "cutover/v1/event.pb.h"
#include "cutover/v1/plan.pb.h"

namespace cutover::engine {

// The two legs of a cutover's revocation stream. BLUE_TO_GREEN: capture on
// blue with the plan's rules, queue, replay onto green (the cutover).
// GREEN_TO_BLUE: capture on green with the rollback rules, the rollback
// queue, replay onto blue (the rollback window and ROLLING_BACK).
using Direction = cutover::v1::Direction;
inline constexpr Direction kForward = cutover::v1::DIRECTION_BLUE_TO_GREEN;
inline constexpr Direction kReverse = cutover::v1::DIRECTION_GREEN_TO_BLUE;

class CutoverBackend {
 public:
  virtual ~CutoverBackend() = default;

  // Preflight: connectivity and privileges on blue/green/queue, rules resolve
  // against both catalogs, green empty, router and fence checks, long
  // transactions on blue, window vs token TTL. Writes nothing.
  virtual cutover::v1::ValidationResult Preflight() = 0;

  // Capture (triggers + outbox) on the leg's capturing side; idempotent.
  // Forward: on blue. Reverse: on green, checked against green's (migrated)
  // catalog and blue's for the apply statements.
  virtual absl::Status InstallCapture(Direction d) = 0;
  // Removes it; rows left in that side's outbox are dropped (callers drain
  // first when they matter).
  virtual absl::Status RemoveCapture(Direction d) = 0;
  // Whether the triggers are present and the outbox is writable.
  virtual absl::Status VerifyCapture(Direction d) = 0;

  // Relay (outbox -> queue) and replayer (queue -> other side) of a leg as
  // background threads. Start* are idempotent; Stop* block until the thread
  // has stopped.
  virtual absl::Status StartRelay(Direction d) = 0;
  virtual void StopRelay(Direction d) = 0;
  virtual absl::Status StartReplayer(Direction d) = 0;
  virtual void StopReplayer(Direction d) = 0;

  // The whole copy + verification; resets a half-done green first. When the
  // last attempt on green is already verified, returns its report without
  // copying again.
  virtual absl::StatusOr<cutover::v1::CopyReport> Copy(copy::CopyObserver* observer,
                                                       copy::CopyControl* control) = 0;
  // The plan's migrations on green; applied files are recorded on green and
  // skipped when run again.
  virtual absl::Status Migrate(absl::Time deadline) = 0;

  // Backlog of a leg = outbox rows on its capturing side + queue messages
  // not yet applied on its target.
  virtual absl::StatusOr<cutover::v1::ReplayStats> Stats(Direction d) = 0;
  // Blue's cumulative write counters per user table (pg_stat_user_tables:
  // n_tup_ins / n_tup_upd / n_tup_del), as AcceptedLoss rows.
  virtual absl::StatusOr<std::vector<cutover::v1::AcceptedLoss>> BlueWrites() = 0;
  // Events the forward leg applied on green per captured table ("schema.table").
  virtual absl::StatusOr<std::map<std::string, int64_t>> CarriedByTable() = 0;
  // Age of the oldest open transaction on blue (0 when none).
  virtual absl::StatusOr<absl::Duration> OldestBlueTransaction() = 0;

  // The rollback sweep (ROLLING_BACK, before the reverse flip): rows of the
  // forward rules' tables written on blue after the copy snapshot
  // (`blue_xid_snapshot`, CopyReport.blue_xid_snapshot) that green has no row
  // for are revoked on blue, in one transaction; running it again finds
  // nothing more (replay::SweepRowsMissingOnGreen).
  virtual absl::StatusOr<cutover::v1::RollbackSweep> SweepBlue(const std::string& blue_xid_snapshot) = 0;

  // The flip's pieces. Seal: the leg's relay thread stopped, its outbox
  // drained into the queue, queue end positions returned. ReplayUntil:
  // everything up to the seal applied to the target — by the leg's running
  // replayer thread when there is one (it keeps running), else synchronously;
  // returns the tail (events in the seal not yet applied when it was taken).
  virtual router::Router& router() = 0;
  // The fence of one side (kBlue during the cutover; kGreen for a rollback).
  virtual router::Fence& fence(router::Target side) = 0;
  virtual absl::StatusOr<cutover::v1::Seal> Seal(Direction d, absl::Time deadline) = 0;
  virtual absl::StatusOr<int64_t> ReplayUntil(Direction d, const cutover::v1::Seal& seal, absl::Time deadline) = 0;
};

// Builds the backend for a plan (real one: connects lazily, so building it
// never fails for an unreachable database; preflight reports that).
class BackendFactory {
 public:
  virtual ~BackendFactory() = default;
  virtual absl::StatusOr<std::unique_ptr<CutoverBackend>> Create(const std::string& cutover_id,
                                                                 const cutover::v1::Plan& plan) = 0;
};

}  // namespace cutover::engine
