// The bad-input matrix, Kafka part (docs/bad-input.md): garbage bytes in the
// revocation topic (written by any producer) are dead-lettered with their
// reason, partition and offset; the good events around them are applied on
// green (a sandbox PostgreSQL); the replayer carries on and the topic keeps
// every message. Same rows as the PostgreSQL queue (queue_garbage.h), on
// librdkafka's mock cluster.
#include <map>

#include "cutover/engine/pg_backend.h"
#include "cutover/replay/kafka_mock.h"
#include "cutover/replay/kafka_queue.h"
#include "gtest/gtest.h"
#include "queue_garbage.h"

namespace cutover::badinput {
namespace {

TEST(KafkaQueueGarbageTest, BadMessagesAreDeadLetteredGoodOnesAppliedNothingLost) {
  auto cluster = replay::MockKafkaCluster::Start(1);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  ASSERT_TRUE((*cluster)->CreateTopic("revocations", 3, 1).ok());
  cutover::testing::TestDb db = cutover::testing::FreshDatabases("badin_k");
  ASSERT_FALSE(::testing::Test::HasFailure());
  replay::KafkaQueueOptions o;
  o.bootstrap_servers = (*cluster)->bootstrap_servers();
  o.topic = "revocations";
  auto queue = replay::OpenKafkaQueue(o);
  ASSERT_TRUE(queue.ok()) << queue.status();
  ExpectGarbageDeadLetteredAndGoodEventsApplied(queue->get(), db.name, db.green);
}

// A plan with a rollback window on Kafka needs <topic>.rollback with the
// plan's partition count: preflight names it when it is wrong (not the
// rollback, hours later, with traffic on green) and passes when it is right.
// (The mock cluster auto-creates a topic a metadata request names, with 4
// partitions, as a broker with auto.create.topics.enable does: that is the
// "wrong" case here.)
TEST(KafkaQueuePreflightTest, ABadRollbackTopicIsNamedAtPreflight) {
  auto cluster = replay::MockKafkaCluster::Start(1);
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  ASSERT_TRUE((*cluster)->CreateTopic("revocations", 3, 1).ok());
  ASSERT_TRUE((*cluster)->CreateTopic("good", 3, 1).ok());
  ASSERT_TRUE((*cluster)->CreateTopic("good.rollback", 3, 1).ok());
  cutover::testing::TestDb db = cutover::testing::FreshDatabases("badin_kr");
  ASSERT_FALSE(::testing::Test::HasFailure());
  v1::Plan plan;
  plan.set_name("kafka-rollback");
  plan.mutable_blue()->set_dsn(db.blue);
  plan.mutable_green()->set_dsn(db.green);
  plan.mutable_queue()->mutable_kafka()->set_bootstrap_servers((*cluster)->bootstrap_servers());
  plan.mutable_queue()->mutable_kafka()->set_topic("revocations");
  plan.mutable_queue()->mutable_kafka()->set_partitions(3);
  plan.mutable_router()->mutable_command()->set_pause("true");
  plan.mutable_capture()->set_profile("hydra");
  auto checks = [&](const v1::Plan& p) {
    std::unique_ptr<engine::BackendFactory> f = engine::NewPgBackendFactory();
    auto backend = f->Create(db.name, p);
    EXPECT_TRUE(backend.ok()) << backend.status();
    std::map<std::string, v1::Check> out;
    if (!backend.ok()) return out;
    const v1::ValidationResult vr = (*backend)->Preflight();
    for (const v1::Check& c : vr.checks()) out[c.name()] = c;
    return out;
  };
  // Without a rollback window nothing asks for the rollback topic.
  EXPECT_EQ(checks(plan).count("queue.kafka.rollback"), 0u);
  plan.mutable_flip()->mutable_rollback_window()->set_seconds(600);
  std::map<std::string, v1::Check> bad = checks(plan);
  ASSERT_EQ(bad.count("queue.kafka.rollback"), 1u);
  EXPECT_FALSE(bad["queue.kafka.rollback"].ok());
  EXPECT_NE(bad["queue.kafka.rollback"].detail().find("revocations.rollback"), std::string::npos)
      << bad["queue.kafka.rollback"].detail();
  EXPECT_TRUE(bad["queue.kafka"].ok()) << bad["queue.kafka"].detail();
  plan.mutable_queue()->mutable_kafka()->set_topic("good");
  std::map<std::string, v1::Check> good = checks(plan);
  ASSERT_EQ(good.count("queue.kafka.rollback"), 1u);
  EXPECT_TRUE(good["queue.kafka.rollback"].ok()) << good["queue.kafka.rollback"].detail();
}

}  // namespace
}  // namespace cutover::badinput
