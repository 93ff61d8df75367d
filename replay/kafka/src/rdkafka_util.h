// Private helpers shared by the Kafka queue and the mock cluster: RAII
// holders for librdkafka handles, configuration with redaction, log routing
// to spdlog, and the mapping of librdkafka errors to absl::Status codes.
#pragma once

#include <librdkafka/rdkafka.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace cutover::replay::kafka {

// Ownership rules (userver kafka/impl/holders.hpp style):
//  - ConfHandle owns a rd_kafka_conf_t until it is handed to rd_kafka_new():
//    on success rd_kafka_new() takes it and the holder must be release()d; on
//    failure the caller still owns it. NewHandle() below does exactly that.
//  - KafkaHandle owns a rd_kafka_t; rd_kafka_destroy() blocks until
//    librdkafka's threads have stopped. Consumers are closed first
//    (rd_kafka_consumer_close) by ConsumerHandle's deleter.
//  - Topic, partition-list, message and metadata holders destroy what
//    librdkafka handed to us; a topic handle must die before its rd_kafka_t.
struct ConfDeleter {
  void operator()(rd_kafka_conf_t* c) const { rd_kafka_conf_destroy(c); }
};
struct KafkaDeleter {
  void operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }
};
struct ConsumerDeleter {
  void operator()(rd_kafka_t* rk) const {
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
  }
};
struct TopicDeleter {
  void operator()(rd_kafka_topic_t* t) const { rd_kafka_topic_destroy(t); }
};
struct PartitionListDeleter {
  void operator()(rd_kafka_topic_partition_list_t* l) const { rd_kafka_topic_partition_list_destroy(l); }
};
struct MessageDeleter {
  void operator()(rd_kafka_message_t* m) const { rd_kafka_message_destroy(m); }
};
struct MetadataDeleter {
  void operator()(const rd_kafka_metadata_t* m) const { rd_kafka_metadata_destroy(m); }
};

using ConfHandle = std::unique_ptr<rd_kafka_conf_t, ConfDeleter>;
using KafkaHandle = std::unique_ptr<rd_kafka_t, KafkaDeleter>;
using ConsumerHandle = std::unique_ptr<rd_kafka_t, ConsumerDeleter>;
using TopicHandle = std::unique_ptr<rd_kafka_topic_t, TopicDeleter>;
using PartitionListHandle = std::unique_ptr<rd_kafka_topic_partition_list_t, PartitionListDeleter>;
using MessageHandle = std::unique_ptr<rd_kafka_message_t, MessageDeleter>;
using MetadataHandle = std::unique_ptr<const rd_kafka_metadata_t, MetadataDeleter>;

// A new configuration that routes librdkafka's log lines and error callbacks
// to spdlog (log_cb / error_cb run on librdkafka's internal threads or in
// the poll calls; both only touch spdlog, which is thread-safe).
ConfHandle NewConf();

// Sets one property. InvalidArgument naming `field` (e.g.
// "queue.kafka.properties[ssl.ca.location]"); librdkafka's message is dropped
// for properties that may hold secrets, so a value never reaches a status.
absl::Status SetConf(rd_kafka_conf_t* conf, const std::string& name, const std::string& value,
                     absl::string_view field);

// True for property names whose values may be secrets (passwords, keys).
bool IsSecretProperty(absl::string_view name);

// rd_kafka_new(); takes `conf` only on success (see ConfHandle).
absl::Status NewHandle(rd_kafka_type_t type, ConfHandle& conf, rd_kafka_t** out);

// Maps an error to a status code following common/status.h: transient
// broker/network errors -> Unavailable, local timeouts -> DeadlineExceeded,
// authorization -> PermissionDenied, missing topic -> NotFound, fatal
// idempotence/producer state -> Internal. `what` prefixes the message.
absl::Status ErrorToStatus(rd_kafka_resp_err_t err, absl::string_view what);

// Milliseconds for librdkafka timeouts, clamped to [0, INT32_MAX].
int ToMillis(absl::Duration d);

}  // namespace cutover::replay::kafka
