// MockKafkaCluster: librdkafka's in-process mock Kafka cluster, for tests and
// the `cutover-kafka-mock` demo tool. It speaks the real Kafka protocol on
// loopback ports, so KafkaQueue runs against it unchanged, and it can take
// brokers down, inject protocol errors, move leaders and add latency.
//
// NOT durable and NOT a Kafka broker: everything lives in this process's
// memory and is gone when the object is destroyed; each partition keeps at
// most about 5 MiB / 100k message sets and silently drops older data. Only
// for demos and tests (see replay/kafka/README.md).
//
// Thread-safety: every method may be called from any thread (librdkafka
// serializes the commands on the cluster's own thread). The destructor stops
// the cluster; clients still connected see their brokers disappear.
#pragma once

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

// Opaque librdkafka types (rdkafka_mock.h is only included by the .cc).
typedef struct rd_kafka_mock_cluster_s rd_kafka_mock_cluster_t;

namespace cutover::replay {

class MockKafkaCluster {
 public:
  // Starts `brokers` brokers (ids 1..brokers) on loopback ports chosen by the OS.
  static absl::StatusOr<std::unique_ptr<MockKafkaCluster>> Start(int brokers = 3);
  ~MockKafkaCluster();
  MockKafkaCluster(const MockKafkaCluster&) = delete;
  MockKafkaCluster& operator=(const MockKafkaCluster&) = delete;

  // "127.0.0.1:port,..." for bootstrap.servers.
  std::string bootstrap_servers() const;
  int brokers() const { return brokers_; }

  // Creates a topic (the mock does not implement the CreateTopics API).
  // replication_factor is capped at the broker count. Partition p is led by
  // broker p % brokers() + 1 (the mock alone would pick leaders at random).
  absl::Status CreateTopic(const std::string& topic, int partitions, int replication_factor = 3);

  // Disconnects a broker and refuses new connections (down), or accepts them
  // again (up). Leadership does not move. broker_id -1 = every broker.
  absl::Status SetBrokerDown(int broker_id, bool down);

  // The next errors.size() requests of `api_key` (e.g. RD_KAFKAP_Produce = 0)
  // to any broker fail with these errors, in order.
  // RD_KAFKA_RESP_ERR__TRANSPORT makes the broker drop the connection.
  absl::Status PushRequestErrors(int16_t api_key, const std::vector<rd_kafka_resp_err_t>& errors);
  // Same, for one broker only, each response also delayed by `rtt`; these
  // are counted by BrokerErrorStackSize. RD_KAFKA_RESP_ERR_NO_ERROR with an
  // rtt lets a request succeed on the broker but answers it late.
  absl::Status PushBrokerRequestErrors(int broker_id, int16_t api_key,
                                       const std::vector<rd_kafka_resp_err_t>& errors,
                                       absl::Duration rtt = absl::ZeroDuration());
  // Injected errors for `api_key` not yet consumed on `broker_id`.
  absl::StatusOr<size_t> BrokerErrorStackSize(int broker_id, int16_t api_key);
  // Drops the cluster-wide injected errors for `api_key`.
  void ClearRequestErrors(int16_t api_key);

  // Makes Metadata requests report `err` for `topic` (e.g.
  // RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART to simulate a missing topic: the
  // mock itself auto-creates any topic a client asks about).
  absl::Status SetTopicError(const std::string& topic, rd_kafka_resp_err_t err);

  // Moves a partition's leadership (-1: leaderless).
  absl::Status SetPartitionLeader(const std::string& topic, int32_t partition, int broker_id);

  // Adds `rtt` of delay to every response of a broker (-1 = every broker).
  absl::Status SetRtt(int broker_id, absl::Duration rtt);

  // The raw cluster, for librdkafka mock calls not wrapped here.
  rd_kafka_mock_cluster_t* handle() { return mcluster_.get(); }

 private:
  struct HostDeleter {
    void operator()(rd_kafka_t* rk) const;  // rd_kafka_destroy
  };
  struct ClusterDeleter {
    void operator()(rd_kafka_mock_cluster_t* mcluster) const;  // rd_kafka_mock_cluster_destroy
  };
  using HostHandle = std::unique_ptr<rd_kafka_t, HostDeleter>;
  using ClusterHandle = std::unique_ptr<rd_kafka_mock_cluster_t, ClusterDeleter>;

  MockKafkaCluster(HostHandle rk, ClusterHandle mcluster, int brokers);
  absl::Status CheckBroker(int broker_id, bool allow_all) const;

  // The cluster lives inside a dedicated rd_kafka_t (librdkafka's
  // requirement) that must outlive it: rk_ is declared first, so it is
  // destroyed after mcluster_.
  HostHandle rk_;
  ClusterHandle mcluster_;
  const int brokers_;
};

}  // namespace cutover::replay
