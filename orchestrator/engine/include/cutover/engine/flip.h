// The flip protocol (zero exposure; DESIGN.md "The flip protocol"):
//   pause router -> fence blue -> seal (outbox drained, queue end positions)
//   -> replay up to the seal on green -> repoint router to green -> resume.
// Bounded by flip_timeout up to the repoint; any failure before the repoint
// is undone completely (fence lowered, router back on blue and resumed) and
// reported in FlipResult.failure_reason. persist() is called before each
// step's side effects (the orchestrator stores PAUSING and REPOINTING and
// keeps the steps between in memory), so a restarted cutoverd can tell, from
// the stored FlipStep alone, whether to undo (before DRAINED) or finish
// (DRAINED and later: green has the whole seal, so going forward is safe).
//
// A rollback runs the same protocol the other way (direction GREEN_TO_BLUE):
// pause -> fence green -> seal green's outbox -> replay the tail onto blue ->
// lower blue's fence and repoint to blue -> resume. Its failpoints are named
// rollback.<step> instead of flip.<step>.
#pragma once

#include <functional>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "cutover/common/clock.h"
#include "cutover/engine/backend.h"
#include "cutover/v1/cutover.pb.h"

namespace cutover::engine {

struct FlipContext {
  CutoverBackend* backend = nullptr;
  // kForward: blue -> green (the cutover); kReverse: green -> blue (rollback).
  Direction direction = kForward;
  Clock* clock = Clock::Real();
  absl::Duration flip_timeout = absl::Seconds(30);
  // Budget for undoing a failed flip (fence lowered, router resumed on blue);
  // transient errors are retried until it is spent.
  absl::Duration undo_timeout = absl::Seconds(30);
  // Persists the step about to start (and the result so far). A failure
  // stops the flip before that step and undoes what was done.
  std::function<absl::Status(cutover::v1::FlipStep, const cutover::v1::FlipResult&)> persist;
};

// Runs one flip attempt. On success: traffic on green, blue fenced,
// result.succeeded. On failure: undone (unless the undo itself failed:
// then the returned status is not OK and the cutover must go to FAILED).
struct FlipOutcome {
  cutover::v1::FlipResult result;
  absl::Status undo_status;  // OK unless an undo step failed
  // An undo ran (even partly): clients may have been let back onto the
  // source, so the flip must never be finished forward from its stored step
  // (the source may hold writes after the seal); retry the undo instead.
  bool undo_attempted = false;
};
FlipOutcome RunFlip(const FlipContext& ctx);

// After a restart in FLIPPING at `step`: finish (repoint green + resume) when
// step >= DRAINED, else undo. Returns the result of what it did.
FlipOutcome RecoverFlip(const FlipContext& ctx, cutover::v1::FlipStep step, cutover::v1::FlipResult previous);

// Undo: lower the source's fence (and, for a rollback, fence blue again),
// repoint to the source, resume, restart the leg's relay and replayer;
// retried until undo_timeout.
absl::Status UndoFlip(const FlipContext& ctx);

}  // namespace cutover::engine
