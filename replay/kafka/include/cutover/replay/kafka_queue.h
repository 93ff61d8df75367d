// KafkaQueue: the RevocationQueue backend on Apache Kafka (librdkafka).
//
// Guarantees, on top of the RevocationQueue contract (queue.h):
//  - Append returns only after every message has a delivery report from an
//    idempotent producer with acks=all, so an acknowledged message is on every
//    in-sync replica (durability then depends on the topic: replication
//    factor 3, min.insync.replicas=2 in production, see replay/kafka/README.md).
//  - One key always maps to one partition (Java-compatible murmur2 hash of the
//    key), so one row's events keep their order.
//  - A position is (Kafka partition, Kafka offset); "next" positions are the
//    partitions' high watermarks. One exception: when a produce response is
//    lost and the broker later confirms the batch is stored anyway (the
//    retry is answered DUPLICATE_SEQUENCE_NUMBER, or a later batch of the
//    partition is acknowledged), the message is written once but Kafka does
//    not say where: Append reports offset kUnknownOffset for it (the Java
//    producer does the same). Readers always see real offsets.
// Thread-safety: Append, EndPositions and OpenReader may be called from any
// thread concurrently; a reader belongs to one thread. Destroying the queue
// while an Append is running is not allowed; the destructor blocks for at most
// a few seconds (it purges messages left behind by timed-out Appends).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cutover/replay/queue.h"

namespace cutover::replay {

// Offset reported by Append for a message that is stored but whose offset
// the broker did not return (see above). The partition is still right.
inline constexpr int64_t kUnknownOffset = -1;

struct KafkaQueueOptions {
  // "host:port[,host:port...]": the initial brokers to contact.
  std::string bootstrap_servers;
  // An existing topic; it is never created (create it with the partition
  // count and replication settings you want: see the README).
  std::string topic;
  // Expected partition count; 0 = take it from the topic's metadata. A
  // mismatch is refused (FailedPrecondition): changing the partition count
  // moves keys to other partitions and breaks per-key ordering.
  int32_t partitions = 0;
  // Extra librdkafka configuration for both the producer and the readers
  // (security.protocol, sasl.*, ssl.*, client.id, group.id, ...). Properties
  // that carry the queue's guarantees (acks, enable.idempotence, partitioner,
  // auto.offset.reset, ...) are refused. Values are never logged.
  std::map<std::string, std::string> properties;
  // Bounds one Append (it is also the producer's message.timeout.ms) and the
  // metadata / watermark requests of OpenKafkaQueue and EndPositions.
  absl::Duration append_timeout = absl::Seconds(30);
};

// Validates `options` (InvalidArgument naming the field, e.g.
// "queue.kafka.topic is empty"), connects and reads the topic's metadata:
// Unavailable when no broker answers within append_timeout (naming the
// bootstrap servers), NotFound when the topic does not exist,
// PermissionDenied when it may not be described, FailedPrecondition on a
// partition-count mismatch.
absl::StatusOr<std::unique_ptr<RevocationQueue>> OpenKafkaQueue(const KafkaQueueOptions& options);

}  // namespace cutover::replay
