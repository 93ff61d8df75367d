// The real backends: PostgreSQL blue/green, the plan's queue (PgQueue or
// KafkaQueue), capture + relay + replayer from replay/, the PostgreSQL
// copier, the plan's router and the PostgreSQL fences on blue and green.
// Backends connect lazily: creating one never fails on an unreachable
// database (Preflight reports that).
#pragma once

#include <memory>

#include "cutover/common/clock.h"
#include "cutover/engine/backend.h"
#include "cutover/replay/queue.h"

namespace cutover::engine {

std::unique_ptr<BackendFactory> NewPgBackendFactory(Clock* clock = Clock::Real());

// The plan's queue for one leg: PgQueue named after the cutover (the
// rollback leg: "<id>:rollback"), or KafkaQueue on the plan's topic (the
// rollback leg: "<topic>.rollback").
absl::StatusOr<std::unique_ptr<replay::RevocationQueue>> OpenPlanQueue(const std::string& cutover_id,
                                                                       const cutover::v1::Plan& plan,
                                                                       Direction direction = kForward);

}  // namespace cutover::engine
