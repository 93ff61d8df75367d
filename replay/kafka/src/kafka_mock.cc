#include "cutover/replay/kafka_mock.h"

#include <librdkafka/rdkafka.h>
// rdkafka_mock.h must come after rdkafka.h.
#include <librdkafka/rdkafka_mock.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "cutover/common/status.h"
#include "rdkafka_util.h"

namespace cutover::replay {

using kafka::ConfHandle;
using kafka::ErrorToStatus;

absl::StatusOr<std::unique_ptr<MockKafkaCluster>> MockKafkaCluster::Start(int brokers) {
  if (brokers < 1 || brokers > 32) {
    return absl::InvalidArgumentError(absl::StrCat("mock kafka: brokers is ", brokers, ", want 1..32"));
  }
  ConfHandle conf = kafka::NewConf();
  // The handle only hosts the cluster; it never talks to a broker itself.
  RETURN_IF_ERROR(kafka::SetConf(conf.get(), "client.id", "cutover-kafka-mock", "mock kafka client.id"));
  // Warnings and worse only: the host handle has no bootstrap.servers by
  // design and would say so at notice level.
  RETURN_IF_ERROR(kafka::SetConf(conf.get(), "log_level", "4", "mock kafka log_level"));
  // The mock brokers' accepted sockets take their options from this handle:
  // without TCP_NODELAY a second pipelined response on one connection
  // waits for the client's delayed ACK (~40 ms), which real brokers avoid.
  RETURN_IF_ERROR(
      kafka::SetConf(conf.get(), "socket.nagle.disable", "true", "mock kafka socket.nagle.disable"));
  rd_kafka_t* raw = nullptr;
  RETURN_IF_ERROR(kafka::NewHandle(RD_KAFKA_PRODUCER, conf, &raw));
  HostHandle rk(raw);
  ClusterHandle mcluster(rd_kafka_mock_cluster_new(rk.get(), brokers));
  if (!mcluster) {
    return absl::InternalError("mock kafka: rd_kafka_mock_cluster_new failed (see the log)");
  }
  return std::unique_ptr<MockKafkaCluster>(new MockKafkaCluster(std::move(rk), std::move(mcluster), brokers));
}

void MockKafkaCluster::HostDeleter::operator()(rd_kafka_t* rk) const { rd_kafka_destroy(rk); }

void MockKafkaCluster::ClusterDeleter::operator()(rd_kafka_mock_cluster_t* mcluster) const {
  rd_kafka_mock_cluster_destroy(mcluster);
}

MockKafkaCluster::MockKafkaCluster(HostHandle rk, ClusterHandle mcluster, int brokers)
    : rk_(std::move(rk)), mcluster_(std::move(mcluster)), brokers_(brokers) {}

// Members go in reverse order: the cluster, then the handle hosting it.
MockKafkaCluster::~MockKafkaCluster() = default;

std::string MockKafkaCluster::bootstrap_servers() const {
  return rd_kafka_mock_cluster_bootstraps(mcluster_.get());
}

absl::Status MockKafkaCluster::CheckBroker(int broker_id, bool allow_all) const {
  if ((allow_all && broker_id == -1) || (broker_id >= 1 && broker_id <= brokers_)) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrCat("mock kafka: broker ", broker_id, " does not exist (ids 1..",
                                                 brokers_, allow_all ? ", or -1)" : ")"));
}

absl::Status MockKafkaCluster::CreateTopic(const std::string& topic, int partitions, int replication_factor) {
  if (topic.empty() || partitions < 1 || replication_factor < 1) {
    return absl::InvalidArgumentError(absl::StrCat("mock kafka: cannot create topic '", topic, "' with ",
                                                   partitions, " partitions, replication factor ",
                                                   replication_factor));
  }
  const int rf = std::min(replication_factor, brokers_);
  RETURN_IF_ERROR(ErrorToStatus(rd_kafka_mock_topic_create(mcluster_.get(), topic.c_str(), partitions, rf),
                                absl::StrCat("mock kafka: create topic '", topic, "'")));
  // The mock picks leaders at random (a broker may lead nothing); spread
  // them round-robin so a fault on any broker hits some partitions.
  for (int32_t p = 0; p < partitions; ++p) {
    RETURN_IF_ERROR(SetPartitionLeader(topic, p, p % brokers_ + 1));
  }
  return absl::OkStatus();
}

absl::Status MockKafkaCluster::SetBrokerDown(int broker_id, bool down) {
  RETURN_IF_ERROR(CheckBroker(broker_id, /*allow_all=*/true));
  const int first = broker_id == -1 ? 1 : broker_id;
  const int last = broker_id == -1 ? brokers_ : broker_id;
  for (int id = first; id <= last; ++id) {
    const rd_kafka_resp_err_t err = down ? rd_kafka_mock_broker_set_down(mcluster_.get(), id)
                                         : rd_kafka_mock_broker_set_up(mcluster_.get(), id);
    RETURN_IF_ERROR(ErrorToStatus(err, absl::StrCat("mock kafka: set broker ", id, down ? " down" : " up")));
  }
  return absl::OkStatus();
}

absl::Status MockKafkaCluster::PushRequestErrors(int16_t api_key,
                                                 const std::vector<rd_kafka_resp_err_t>& errors) {
  if (errors.empty()) {
    return absl::OkStatus();
  }
  rd_kafka_mock_push_request_errors_array(mcluster_.get(), api_key, errors.size(), errors.data());
  return absl::OkStatus();
}

absl::Status MockKafkaCluster::PushBrokerRequestErrors(int broker_id, int16_t api_key,
                                                       const std::vector<rd_kafka_resp_err_t>& errors,
                                                       absl::Duration rtt) {
  RETURN_IF_ERROR(CheckBroker(broker_id, /*allow_all=*/false));
  // The mock's per-broker variant is variadic ((err, rtt) pairs): push one at a time.
  for (rd_kafka_resp_err_t e : errors) {
    RETURN_IF_ERROR(ErrorToStatus(rd_kafka_mock_broker_push_request_error_rtts(
                                      mcluster_.get(), broker_id, api_key, 1, e, kafka::ToMillis(rtt)),
                                  absl::StrCat("mock kafka: push errors on broker ", broker_id)));
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> MockKafkaCluster::BrokerErrorStackSize(int broker_id, int16_t api_key) {
  RETURN_IF_ERROR(CheckBroker(broker_id, /*allow_all=*/false));
  size_t cnt = 0;
  RETURN_IF_ERROR(
      ErrorToStatus(rd_kafka_mock_broker_error_stack_cnt(mcluster_.get(), broker_id, api_key, &cnt),
                    absl::StrCat("mock kafka: error stack of broker ", broker_id)));
  return cnt;
}

void MockKafkaCluster::ClearRequestErrors(int16_t api_key) {
  rd_kafka_mock_clear_request_errors(mcluster_.get(), api_key);
}

absl::Status MockKafkaCluster::SetTopicError(const std::string& topic, rd_kafka_resp_err_t err) {
  if (topic.empty()) {
    return absl::InvalidArgumentError("mock kafka: topic is empty");
  }
  rd_kafka_mock_topic_set_error(mcluster_.get(), topic.c_str(), err);
  return absl::OkStatus();
}

absl::Status MockKafkaCluster::SetPartitionLeader(const std::string& topic, int32_t partition,
                                                  int broker_id) {
  RETURN_IF_ERROR(CheckBroker(broker_id, /*allow_all=*/true));
  return ErrorToStatus(
      rd_kafka_mock_partition_set_leader(mcluster_.get(), topic.c_str(), partition, broker_id),
      absl::StrCat("mock kafka: set leader of ", topic, " [", partition, "] to ", broker_id));
}

absl::Status MockKafkaCluster::SetRtt(int broker_id, absl::Duration rtt) {
  RETURN_IF_ERROR(CheckBroker(broker_id, /*allow_all=*/true));
  const int ms = kafka::ToMillis(rtt);
  const int first = broker_id == -1 ? 1 : broker_id;
  const int last = broker_id == -1 ? brokers_ : broker_id;
  for (int id = first; id <= last; ++id) {
    RETURN_IF_ERROR(ErrorToStatus(rd_kafka_mock_broker_set_rtt(mcluster_.get(), id, ms),
                                  absl::StrCat("mock kafka: set rtt of broker ", id)));
  }
  return absl::OkStatus();
}

}  // namespace cutover::replay
