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

class CutoverBackend {
 public:
  virtual ~CutoverBackend() = default;

  // Preflight: connectivity and privileges on blue/green/queue, rules resolve
  // against both catalogs, green empty, router and fence checks, long
  // transactions on blue, window vs token TTL. Writes nothing.
  virtual cutover::v1::ValidationResult Preflight() = 0;

  // Capture on blue (triggers + outbox); idempotent.
  virtual absl::Status InstallCapture() = 0;
  virtual absl::Status RemoveCapture() = 0;
  // Whether the triggers are present and the outbox is writable.
  virtual absl::Status VerifyCapture() = 0;

  // Relay (outbox -> queue) and replayer (queue -> green) as background
  // threads. Start* are idempotent; Stop* block until the thread has stopped.
  virtual absl::Status StartRelay() = 0;
  virtual void StopRelay() = 0;
  virtual absl::Status StartReplayer() = 0;
  virtual void StopReplayer() = 0;

  // The whole copy + verification; resets a half-done green first. When the
  // last attempt on green is already verified, returns its report without
  // copying again.
  virtual absl::StatusOr<cutover::v1::CopyReport> Copy(copy::CopyObserver* observer,
                                                       copy::CopyControl* control) = 0;
  // The plan's migrations on green; applied files are recorded on green and
  // skipped when run again.
  virtual absl::Status Migrate(absl::Time deadline) = 0;

  // Backlog = outbox rows on blue + queue messages not yet applied on green.
  virtual absl::StatusOr<cutover::v1::ReplayStats> Stats() = 0;
  // Age of the oldest open transaction on blue (0 when none).
  virtual absl::StatusOr<absl::Duration> OldestBlueTransaction() = 0;

  // The flip's pieces. Seal: relay thread stopped, outbox drained into the
  // queue, queue end positions returned. ReplayUntil: replayer thread
  // stopped, everything up to the seal applied to green (tail count returned).
  virtual router::Router& router() = 0;
  virtual router::Fence& fence() = 0;
  virtual absl::StatusOr<cutover::v1::Seal> Seal(absl::Time deadline) = 0;
  virtual absl::StatusOr<int64_t> ReplayUntil(const cutover::v1::Seal& seal, absl::Time deadline) = 0;
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
