// The durable log of revocation events between capture and replay: one
// interface, two backends (PgQueue: a table in the control database, the
// embedded default; KafkaQueue: librdkafka). Semantics: docs/queue.md.
//
// Contract shared by every backend:
//  - Append returns only after every message is durably acknowledged
//    (committed / acks=all). On error some messages may have been appended:
//    callers re-send, so delivery is at-least-once; replay dedups by event_id.
//  - Messages with the same key keep their relative order (same partition).
//  - A position is (partition, offset); offsets grow by at least 1 per message
//    within a partition. "Next" positions name the offset after the last one.
//  - Readers return messages in offset order per partition, starting from
//    the given next positions; a reader belongs to one thread.
// Implementations are safe for concurrent Append from several threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cutover/v1/event.pb.h"

namespace cutover::replay {

struct QueueMessage {
  std::string key;      // ordering key (PartitionKey)
  std::string payload;  // EncodeEvent() bytes
};

struct QueuedMessage {
  cutover::v1::QueuePosition position;  // this message's own offset
  std::string key;
  std::string payload;
};

// Next offsets to read, per partition: missing partitions start at offset 0.
using Positions = std::vector<cutover::v1::QueuePosition>;

// Next offset for `partition` in `positions`, or 0.
int64_t NextOffset(const Positions& positions, int32_t partition);
// Sets the next offset of `partition`.
void SetNextOffset(Positions* positions, int32_t partition, int64_t next);
// True when every partition of `seal` is reached by `positions`.
bool Reached(const Positions& positions, const Positions& seal);
// "p0:12 p1:40"
std::string FormatPositions(const Positions& positions);

class QueueReader {
 public:
  virtual ~QueueReader() = default;
  // Up to `max` messages, waiting up to `timeout` for the first one; returns
  // an empty vector when nothing arrived in time.
  virtual absl::StatusOr<std::vector<QueuedMessage>> Poll(int max, absl::Duration timeout) = 0;
};

class RevocationQueue {
 public:
  virtual ~RevocationQueue() = default;
  // "postgres" or "kafka".
  virtual std::string backend() const = 0;
  virtual int32_t partitions() const = 0;
  // Appends durably; returns each message's position, in input order. The
  // partition is always right; the offset may be -1 when the backend knows the
  // message is stored but not where (Kafka: a retried idempotent produce whose
  // first attempt was persisted). Callers use positions for reporting only;
  // the seal comes from EndPositions().
  virtual absl::StatusOr<std::vector<cutover::v1::QueuePosition>> Append(
      const std::vector<QueueMessage>& messages) = 0;
  // The next offset that will be written, per partition: once appends have
  // stopped (blue fenced, outbox drained) these are the seal.
  virtual absl::StatusOr<Positions> EndPositions() = 0;
  virtual absl::StatusOr<std::unique_ptr<QueueReader>> OpenReader(const Positions& start) = 0;
};

}  // namespace cutover::replay
