// The real backends: PostgreSQL blue/green, the plan's queue (PgQueue or
// KafkaQueue), capture + relay + replayer from replay/, the PostgreSQL
// copier, the plan's router and the PostgreSQL fence on blue.
// Backends connect lazily: creating one never fails on an unreachable
// database (Preflight reports that).
#pragma once

#include <memory>

#include "cutover/common/clock.h"
#include "cutover/engine/backend.h"
#include "cutover/replay/queue.h"

namespace cutover::engine {

std::unique_ptr<BackendFactory> NewPgBackendFactory(Clock* clock = Clock::Real());

// The plan's queue (PgQueue named after the cutover, or KafkaQueue).
absl::StatusOr<std::unique_ptr<replay::RevocationQueue>> OpenPlanQueue(const std::string& cutover_id,
                                                                       const cutover::v1::Plan& plan);

}  // namespace cutover::engine
