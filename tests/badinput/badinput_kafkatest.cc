// The bad-input matrix, Kafka part (docs/bad-input.md): garbage bytes in the
// revocation topic (written by any producer) are dead-lettered with their
// reason, partition and offset; the good events around them are applied on
// green (a sandbox PostgreSQL); the replayer carries on and the topic keeps
// every message. Same rows as the PostgreSQL queue (queue_garbage.h), on
// librdkafka's mock cluster.
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

}  // namespace
}  // namespace cutover::badinput
