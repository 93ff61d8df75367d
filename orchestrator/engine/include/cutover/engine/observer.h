// PhaseObserver: how the orchestrator tells the outside world (webhooks,
// orchestrator/notify) about phase changes without knowing about HTTP.
// The orchestrator hands over each phase change (a timeline row with
// from != to) once per daemon, in timeline order per cutover, and persists
// how far the observer has settled (Cutover.notified_seq) so a daemon taking
// over re-hands what was not settled. Guarantee: docs/webhooks.md.
// Implementations must be safe for concurrent use from any thread and must
// not block on I/O in these calls (queue and return).
#pragma once

#include <cstdint>

#include "absl/strings/string_view.h"
#include "cutover/v1/cutover.pb.h"

namespace cutover::engine {

class PhaseObserver {
 public:
  virtual ~PhaseObserver() = default;

  // One phase change of `cutover` (its state when handed over, not when the
  // row was written: a takeover hands old rows with the current figures).
  virtual void OnPhaseChange(const cutover::v1::Cutover& cutover,
                             const cutover::v1::Transition& transition) = 0;

  // The highest seq S <= handed_through such that every phase change of
  // `cutover_id` handed over with seq <= S is settled (delivered, given up
  // on, or dropped) — the cursor the lease holder may persist. Callers pass
  // the highest seq they have handed over (or skipped) so far.
  virtual int64_t SettledThrough(absl::string_view cutover_id, int64_t handed_through) = 0;
};

}  // namespace cutover::engine
