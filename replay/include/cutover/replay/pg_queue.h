// PgQueue: the embedded revocation queue, an append-only table in the
// control database (schema cutover_queue). One partition (0); offsets are a
// per-queue bigint sequence handed out under the queue's head-row lock, so
// commit order equals offset order and a reader never sees a gap that a
// slower appender fills later. Readers wake on NOTIFY. Layout: docs/queue.md.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "cutover/replay/queue.h"

namespace cutover::replay {

struct PgQueueOptions {
  std::string dsn;    // control database
  std::string queue;  // queue name, normally the cutover id
};

// Creates the schema (idempotent) and the queue's head row.
absl::StatusOr<std::unique_ptr<RevocationQueue>> OpenPgQueue(const PgQueueOptions& options);

// Removes a queue's events and head (after a cutover completed or aborted).
absl::Status DropPgQueue(const PgQueueOptions& options);

}  // namespace cutover::replay
