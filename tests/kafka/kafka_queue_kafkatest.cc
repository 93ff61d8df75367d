// KafkaQueue against librdkafka's mock cluster (3 brokers, real Kafka
// protocol on loopback): round trip, positions, resume, concurrency, faults
// (broker down, injected produce errors, leader moves, whole cluster down)
// with a no-loss check after each, and bad input. Each test starts its own
// cluster; waits poll a condition with a deadline, never a fixed sleep.
#include <arpa/inet.h>
#include <librdkafka/rdkafka.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cutover/common/status.h"
#include "cutover/replay/kafka_mock.h"
#include "cutover/replay/kafka_queue.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "kafka_test_util.h"
#include "spdlog/spdlog.h"

namespace cutover::replay {
namespace {

using cutover::v1::QueuePosition;
using testing::Appender;
using testing::ExpectNoLoss;
using ::testing::HasSubstr;
using testing::IdOf;
using testing::MakeMessages;
using testing::ReadAll;
using testing::ReadRange;
using testing::WaitFor;

constexpr char kTopic[] = "revocations";
constexpr int kPartitions = 6;
constexpr int16_t kProduceApi = 0;  // RD_KAFKAP_Produce

class KafkaQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto cluster = MockKafkaCluster::Start(3);
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_ = std::move(*cluster);
    // Partition p is led by broker p % 3 + 1: every broker leads two.
    ASSERT_TRUE(cluster_->CreateTopic(kTopic, kPartitions, 3).ok());
  }

  KafkaQueueOptions Options(absl::Duration append_timeout = absl::Seconds(30)) const {
    KafkaQueueOptions o;
    o.bootstrap_servers = cluster_->bootstrap_servers();
    o.topic = kTopic;
    o.append_timeout = append_timeout;
    // CUTOVER_KAFKA_TEST_DEBUG=eos,msg,protocol turns on librdkafka's debug
    // contexts (logged at debug level) when a test needs investigating.
    if (const char* debug = std::getenv("CUTOVER_KAFKA_TEST_DEBUG"); debug != nullptr && *debug != '\0') {
      o.properties["debug"] = debug;
      spdlog::set_level(spdlog::level::debug);
    }
    return o;
  }

  std::unique_ptr<RevocationQueue> Open(absl::Duration append_timeout = absl::Seconds(30)) {
    auto q = OpenKafkaQueue(Options(append_timeout));
    EXPECT_TRUE(q.ok()) << q.status();
    return q.ok() ? std::move(*q) : nullptr;
  }

  std::unique_ptr<MockKafkaCluster> cluster_;
};

// Records each position returned by Append under the message id.
void Record(const std::vector<QueueMessage>& batch, const std::vector<QueuePosition>& positions,
            std::map<std::string, QueuePosition>* acked) {
  ASSERT_EQ(positions.size(), batch.size());
  for (size_t i = 0; i < batch.size(); ++i) {
    (*acked)[IdOf(batch[i].payload)] = positions[i];
  }
}

TEST_F(KafkaQueueTest, RoundTripPositionsOrderAndResume) {
  auto queue = Open();
  ASSERT_NE(queue, nullptr);
  EXPECT_EQ(queue->backend(), "kafka");
  EXPECT_EQ(queue->partitions(), kPartitions);

  auto empty_end = queue->EndPositions();
  ASSERT_TRUE(empty_end.ok()) << empty_end.status();
  ASSERT_EQ(empty_end->size(), static_cast<size_t>(kPartitions));
  for (const auto& p : *empty_end) {
    EXPECT_EQ(p.offset(), 0) << "partition " << p.partition();
  }

  std::map<std::string, QueuePosition> acked;
  std::map<std::string, int32_t> key_partition;
  std::map<int32_t, int64_t> last_offset;  // per partition, in append order
  int next_id = 0;
  for (int size : {1, 100, 1000, 1, 500}) {
    const auto batch = MakeMessages("rt", next_id, size, /*keys=*/50);
    next_id += size;
    auto positions = queue->Append(batch);
    ASSERT_TRUE(positions.ok()) << positions.status();
    Record(batch, *positions, &acked);
    for (size_t i = 0; i < batch.size(); ++i) {
      const auto& pos = (*positions)[i];
      ASSERT_GE(pos.partition(), 0);
      ASSERT_LT(pos.partition(), kPartitions);
      // Input order is kept within a partition: offsets grow in input order.
      auto it = last_offset.find(pos.partition());
      if (it != last_offset.end()) {
        EXPECT_GT(pos.offset(), it->second) << "message " << IdOf(batch[i].payload);
      }
      last_offset[pos.partition()] = pos.offset();
      // One key, one partition, and the Java producer's partition.
      auto [kp, inserted] = key_partition.emplace(batch[i].key, pos.partition());
      if (!inserted) {
        EXPECT_EQ(kp->second, pos.partition()) << batch[i].key;
      }
      EXPECT_EQ(pos.partition(), testing::JavaMurmur2Partition(batch[i].key, kPartitions)) << batch[i].key;
    }
  }
  std::set<int32_t> used;
  for (const auto& [key, p] : key_partition) {
    used.insert(p);
  }
  EXPECT_EQ(used.size(), static_cast<size_t>(kPartitions)) << "50 keys should spread over every partition";

  // End positions are the next offsets: last offset + 1 per partition.
  auto end = queue->EndPositions();
  ASSERT_TRUE(end.ok()) << end.status();
  for (int32_t p = 0; p < kPartitions; ++p) {
    const int64_t want = last_offset.count(p) ? last_offset[p] + 1 : 0;
    EXPECT_EQ(NextOffset(*end, p), want) << "partition " << p;
  }

  // Everything, in order per partition, at the positions Append returned.
  const auto all = ReadRange(queue.get(), {}, *end);
  ASSERT_EQ(all.size(), acked.size());
  EXPECT_EQ(ExpectNoLoss(acked, all), 0);
  for (const auto& m : all) {
    EXPECT_EQ(m.key, testing::KeyFor(std::stoi(IdOf(m.payload).substr(3)), 50));
  }

  // Resume from stored positions in the middle of every partition: exactly
  // the messages at or after them, nothing before.
  Positions middle;
  for (const auto& e : *end) {
    SetNextOffset(&middle, e.partition(), e.offset() / 2);
  }
  const auto rest = ReadRange(queue.get(), middle, *end);
  size_t want = 0;
  for (const auto& [id, pos] : acked) {
    if (pos.offset() >= NextOffset(middle, pos.partition())) {
      ++want;
    }
  }
  EXPECT_EQ(rest.size(), want);
  for (const auto& m : rest) {
    EXPECT_GE(m.position.offset(), NextOffset(middle, m.position.partition()));
    EXPECT_EQ(acked.at(IdOf(m.payload)).offset(), m.position.offset());
  }

  // A reader at the end gets nothing, without error.
  auto at_end = queue->OpenReader(*end);
  ASSERT_TRUE(at_end.ok()) << at_end.status();
  auto nothing = (*at_end)->Poll(100, absl::Milliseconds(300));
  ASSERT_TRUE(nothing.ok()) << nothing.status();
  EXPECT_TRUE(nothing->empty());

  // An empty Append is a no-op.
  auto none = queue->Append({});
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_TRUE(none->empty());
}

TEST_F(KafkaQueueTest, SameKeySamePartitionAcrossQueueInstances) {
  // A relay restart opens a new producer: keys must land where they did.
  auto first = Open();
  ASSERT_NE(first, nullptr);
  const auto batch = MakeMessages("a", 0, 200, /*keys=*/40);
  auto p1 = first->Append(batch);
  ASSERT_TRUE(p1.ok()) << p1.status();
  first.reset();
  auto second = Open();
  ASSERT_NE(second, nullptr);
  auto p2 = second->Append(batch);
  ASSERT_TRUE(p2.ok()) << p2.status();
  for (size_t i = 0; i < batch.size(); ++i) {
    EXPECT_EQ((*p1)[i].partition(), (*p2)[i].partition()) << batch[i].key;
  }
}

TEST_F(KafkaQueueTest, ConcurrentAppendsEachMessageExactlyOnceAtItsPosition) {
  auto queue = Open();
  ASSERT_NE(queue, nullptr);
  constexpr int kThreads = 4, kBatches = 40, kBatch = 25;
  std::vector<std::map<std::string, QueuePosition>> per_thread(kThreads);
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  threads.reserve(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int b = 0; b < kBatches; ++b) {
        // Batch sizes vary so the threads' messages interleave in batches.
        const auto batch = MakeMessages(absl::StrCat("t", t), b * kBatch, 1 + (b * 7 + t) % kBatch);
        auto positions = queue->Append(batch);
        if (!positions.ok()) {
          errors[t] = positions.status().ToString();
          return;
        }
        for (size_t i = 0; i < batch.size(); ++i) {
          per_thread[t][IdOf(batch[i].payload)] = (*positions)[i];
        }
      }
    });
  }
  for (auto& th : threads) {
    th.join();
  }
  std::map<std::string, QueuePosition> acked;
  std::set<std::pair<int32_t, int64_t>> distinct;
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(errors[t], "") << "thread " << t;
    for (const auto& [id, pos] : per_thread[t]) {
      acked[id] = pos;
      EXPECT_TRUE(distinct.insert({pos.partition(), pos.offset()}).second)
          << "two messages got p" << pos.partition() << ":" << pos.offset();
    }
  }
  const auto all = ReadAll(queue.get());
  EXPECT_EQ(all.size(), acked.size());
  EXPECT_EQ(ExpectNoLoss(acked, all), 0);
}

TEST_F(KafkaQueueTest, LeaderBrokerDownMidStreamNoLoss) {
  auto queue = Open();
  ASSERT_NE(queue, nullptr);
  auto leader = testing::LeaderOf(cluster_->bootstrap_servers(), kTopic, 0);
  ASSERT_TRUE(leader.ok()) << leader.status();

  Appender appender(queue.get(), "down", /*batch_size=*/50, /*max_batches=*/200);
  appender.Start();
  ASSERT_TRUE(WaitFor([&] { return appender.acked() >= 1000; }, absl::Seconds(60)));
  ASSERT_TRUE(cluster_->SetBrokerDown(*leader, true).ok());
  // Keep it down until an Append is visibly stuck on it.
  const bool stalled = WaitFor([&] { return appender.InFlightFor() >= absl::Seconds(1); }, absl::Seconds(30));
  const int64_t acked_while_down = appender.acked();
  ASSERT_TRUE(cluster_->SetBrokerDown(*leader, false).ok());
  EXPECT_TRUE(stalled) << "appends kept succeeding with the leader of partition 0 down";
  ASSERT_TRUE(WaitFor([&] { return appender.acked() >= acked_while_down + 2000 || appender.done(); },
                      absl::Seconds(60)));
  appender.Stop();
  EXPECT_EQ(appender.failures(), 0) << ::testing::PrintToString(appender.errors());

  const auto all = ReadAll(queue.get());
  const auto attempted = appender.attempted();
  const int64_t dups = ExpectNoLoss(appender.acked_positions(), all, &attempted);
  std::cout << "[ info ] broker " << *leader << " down: " << appender.acked() << " acked, " << all.size()
            << " read, " << dups << " duplicate(s)\n";
}

// Pushes `errors` onto every broker's Produce error stack, appends from a
// background thread until every injected error has been consumed by a real
// produce request and 400 more messages went through, then checks that no
// Append failed and nothing acknowledged is missing.
void RunInjectedProduceErrors(MockKafkaCluster* cluster, RevocationQueue* queue,
                              const std::vector<rd_kafka_resp_err_t>& errors, const std::string& prefix) {
  for (int b = 1; b <= 3; ++b) {
    ASSERT_TRUE(cluster->PushBrokerRequestErrors(b, kProduceApi, errors).ok());
  }
  Appender appender(queue, prefix, /*batch_size=*/40, /*max_batches=*/150);
  appender.Start();
  auto stacks_empty = [&] {
    for (int b = 1; b <= 3; ++b) {
      auto n = cluster->BrokerErrorStackSize(b, kProduceApi);
      if (!n.ok() || *n != 0) {
        return false;
      }
    }
    return true;
  };
  EXPECT_TRUE(WaitFor(stacks_empty, absl::Seconds(30))) << "injected errors not all hit";
  const int64_t after_errors = appender.acked();
  ASSERT_TRUE(
      WaitFor([&] { return appender.done() || appender.acked() >= after_errors + 400; }, absl::Seconds(60)));
  appender.Stop();
  EXPECT_EQ(appender.failures(), 0) << ::testing::PrintToString(appender.errors());

  const auto all = ReadAll(queue);
  const auto attempted = appender.attempted();
  const auto acked = appender.acked_positions();
  const int64_t dups = ExpectNoLoss(acked, all, &attempted);
  const auto unknown = std::count_if(acked.begin(), acked.end(),
                                     [](const auto& kv) { return kv.second.offset() == kUnknownOffset; });
  std::cout << "[ info ] " << prefix << ": " << appender.acked() << " acked (" << unknown
            << " without a reported offset), " << dups << " duplicate(s)\n";
}

// Injected produce errors need one request in flight per connection to stay
// faithful to a real broker. librdkafka pipelines up to 5 produce requests
// per connection and, when a LATER batch of a partition succeeds after an
// earlier one failed, counts the earlier one as stored ("implicit ack"): a
// real broker only accepts the later batch once the earlier one is stored,
// otherwise it answers OUT_OF_ORDER_SEQUENCE_NUMBER. The mock checks
// producer sequence numbers only for transactional producers, so with an
// injected error on batch N and batch N+1 accepted, librdkafka acknowledges
// messages the mock never stored (seen with the default: 1-3 messages lost
// in about one run out of four, for any injected error). One request in
// flight removes batch N+1. The queue itself keeps librdkafka's default of 5.
KafkaQueueOptions OneInFlight(KafkaQueueOptions o) {
  o.properties["max.in.flight.requests.per.connection"] = "1";
  return o;
}

TEST_F(KafkaQueueTest, InjectedNotPersistedProduceErrorsAreRetriedTransparently) {
  // Errors the broker returns before writing anything: retried (after a
  // metadata refresh for the leadership ones).
  auto queue = OpenKafkaQueue(OneInFlight(Options()));
  ASSERT_TRUE(queue.ok()) << queue.status();
  RunInjectedProduceErrors(
      cluster_.get(), queue->get(),
      {RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
       RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
       RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS},
      "notpersisted");
}

TEST_F(KafkaQueueTest, InjectedPossiblyPersistedProduceErrorsAreRetriedTransparently) {
  // Errors after which the batch may or may not be on the broker
  // (REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS_AFTER_APPEND, a dropped
  // connection): retried with the same producer id and sequence numbers, so
  // a real broker drops the copy it already has. (The mock injects them
  // without storing the batch.)
  auto queue = OpenKafkaQueue(OneInFlight(Options()));
  ASSERT_TRUE(queue.ok()) << queue.status();
  RunInjectedProduceErrors(
      cluster_.get(), queue->get(),
      {RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
       RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
       RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, RD_KAFKA_RESP_ERR__TRANSPORT},
      "possiblypersisted");
}

TEST_F(KafkaQueueTest, LeaderChangeMidStreamNoLoss) {
  auto queue = Open();
  ASSERT_NE(queue, nullptr);
  Appender appender(queue.get(), "lead", /*batch_size=*/50, /*max_batches=*/200);
  appender.Start();
  ASSERT_TRUE(WaitFor([&] { return appender.acked() >= 1000; }, absl::Seconds(60)));
  for (int32_t p = 0; p < kPartitions; ++p) {
    auto leader = testing::LeaderOf(cluster_->bootstrap_servers(), kTopic, p);
    ASSERT_TRUE(leader.ok()) << leader.status();
    ASSERT_TRUE(cluster_->SetPartitionLeader(kTopic, p, *leader % 3 + 1).ok());
  }
  const int64_t at_move = appender.acked();
  ASSERT_TRUE(
      WaitFor([&] { return appender.done() || appender.acked() >= at_move + 2000; }, absl::Seconds(60)));
  // And once more while appends run, back again.
  for (int32_t p = 0; p < kPartitions; ++p) {
    ASSERT_TRUE(cluster_->SetPartitionLeader(kTopic, p, p % 3 + 1).ok());
  }
  const int64_t at_second = appender.acked();
  ASSERT_TRUE(
      WaitFor([&] { return appender.done() || appender.acked() >= at_second + 1000; }, absl::Seconds(60)));
  appender.Stop();
  EXPECT_EQ(appender.failures(), 0) << ::testing::PrintToString(appender.errors());
  auto moved = testing::LeaderOf(cluster_->bootstrap_servers(), kTopic, 0);
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(*moved, 1);

  const auto all = ReadAll(queue.get());
  const auto attempted = appender.attempted();
  const int64_t dups = ExpectNoLoss(appender.acked_positions(), all, &attempted);
  std::cout << "[ info ] leader moves: " << appender.acked() << " acked, " << dups << " duplicate(s)\n";
}

TEST_F(KafkaQueueTest, AllBrokersDownAppendFailsRetryablyAndNothingAcknowledgedIsLost) {
  const absl::Duration timeout = absl::Seconds(3);
  auto queue = Open(timeout);
  ASSERT_NE(queue, nullptr);
  std::map<std::string, QueuePosition> acked;
  const auto before = MakeMessages("before", 0, 300);
  auto p = queue->Append(before);
  ASSERT_TRUE(p.ok()) << p.status();
  Record(before, *p, &acked);

  ASSERT_TRUE(cluster_->SetBrokerDown(-1, true).ok());
  const auto during = MakeMessages("during", 0, 300);
  const absl::Time start = absl::Now();
  auto failed = queue->Append(during);
  const absl::Duration took = absl::Now() - start;
  ASSERT_FALSE(failed.ok());
  EXPECT_TRUE(IsRetryable(failed.status())) << failed.status();
  EXPECT_LE(took, timeout + absl::Seconds(3)) << failed.status();
  std::cout << "[ info ] all brokers down: Append failed after " << absl::FormatDuration(took) << ": "
            << failed.status() << "\n";
  auto end_down = queue->EndPositions();
  ASSERT_FALSE(end_down.ok());
  EXPECT_TRUE(IsRetryable(end_down.status())) << end_down.status();

  ASSERT_TRUE(cluster_->SetBrokerDown(-1, false).ok());
  // The relay re-sends the failed batch until it is acknowledged.
  absl::StatusOr<std::vector<QueuePosition>> resent;
  ASSERT_TRUE(WaitFor(
      [&] {
        resent = queue->Append(during);
        return resent.ok();
      },
      absl::Seconds(60)))
      << resent.status();
  Record(during, *resent, &acked);
  const auto after = MakeMessages("after", 0, 300);
  p = queue->Append(after);
  ASSERT_TRUE(p.ok()) << p.status();
  Record(after, *p, &acked);

  const auto all = ReadAll(queue.get());
  const int64_t dups = ExpectNoLoss(acked, all);
  EXPECT_LE(dups, static_cast<int64_t>(during.size()) * 8);
  std::cout << "[ info ] all brokers down: " << acked.size() << " acked, " << dups << " duplicate(s)\n";
}

TEST_F(KafkaQueueTest, AllBrokersDownWithProduceRequestsInFlight) {
  // Responses are delayed so produce requests are stored but not yet
  // acknowledged when every broker disappears: the messages end up "possibly
  // persisted", time out, and the idempotent producer must recover (epoch
  // bump) rather than fail fatally. The re-sent batch may then be in the log
  // twice: duplicates are allowed, losses are not.
  const absl::Duration timeout = absl::Seconds(3);
  auto queue = Open(timeout);
  ASSERT_NE(queue, nullptr);
  std::map<std::string, QueuePosition> acked;
  const auto before = MakeMessages("before", 0, 200);
  auto p = queue->Append(before);
  ASSERT_TRUE(p.ok()) << p.status();
  Record(before, *p, &acked);

  // Each broker's next two produce requests (one per partition it leads)
  // are written but answered only after 10 s.
  for (int b = 1; b <= 3; ++b) {
    ASSERT_TRUE(cluster_
                    ->PushBrokerRequestErrors(b, kProduceApi,
                                              {RD_KAFKA_RESP_ERR_NO_ERROR, RD_KAFKA_RESP_ERR_NO_ERROR},
                                              absl::Seconds(10))
                    .ok());
  }
  const auto during = MakeMessages("during", 0, 200);
  absl::StatusOr<std::vector<QueuePosition>> result;
  std::thread appender([&] { result = queue->Append(during); });
  // Every broker has received (and stored) its delayed requests: cut now.
  const bool received = WaitFor(
      [&] {
        for (int b = 1; b <= 3; ++b) {
          auto n = cluster_->BrokerErrorStackSize(b, kProduceApi);
          if (!n.ok() || *n != 0) {
            return false;
          }
        }
        return true;
      },
      absl::Seconds(10));
  ASSERT_TRUE(cluster_->SetBrokerDown(-1, true).ok());
  EXPECT_TRUE(received);
  appender.join();
  if (result.ok()) {
    Record(during, *result, &acked);  // answered before the cut: fine too
  } else {
    EXPECT_TRUE(IsRetryable(result.status())) << result.status();
    EXPECT_NE(result.status().code(), absl::StatusCode::kInternal) << result.status();
  }
  std::cout << "[ info ] in-flight cut: "
            << (result.ok() ? std::string("acknowledged") : result.status().ToString()) << "\n";
  ASSERT_TRUE(cluster_->SetBrokerDown(-1, false).ok());
  if (!result.ok()) {
    absl::StatusOr<std::vector<QueuePosition>> resent;
    ASSERT_TRUE(WaitFor(
        [&] {
          resent = queue->Append(during);
          return resent.ok();
        },
        absl::Seconds(60)))
        << resent.status();
    Record(during, *resent, &acked);
  }
  const auto after = MakeMessages("after", 0, 200);
  p = queue->Append(after);
  ASSERT_TRUE(p.ok()) << p.status();
  Record(after, *p, &acked);

  const auto all = ReadAll(queue.get());
  const int64_t dups = ExpectNoLoss(acked, all);
  EXPECT_LE(dups, static_cast<int64_t>(during.size()));
  EXPECT_FALSE(result.ok()) << "the cut should have caught the delayed requests";
  std::cout << "[ info ] in-flight cut: " << acked.size() << " acked, " << dups << " duplicate(s)\n";
}

TEST_F(KafkaQueueTest, ReaderSurvivesClusterRestartWithoutGapsOrRedelivery) {
  auto queue = Open();
  ASSERT_NE(queue, nullptr);
  std::map<std::string, QueuePosition> acked;
  auto append = [&](const std::string& prefix, int batches) {
    for (int b = 0; b < batches; ++b) {
      const auto batch = MakeMessages(prefix, b * 500, 500);
      auto p = queue->Append(batch);
      ASSERT_TRUE(p.ok()) << p.status();
      Record(batch, *p, &acked);
    }
  };
  append("r1", 2);
  auto reader = queue->OpenReader({});
  ASSERT_TRUE(reader.ok()) << reader.status();
  std::vector<QueuedMessage> read;
  Positions next;
  auto drain_until = [&](const Positions& end, absl::Duration timeout) {
    return WaitFor(
        [&] {
          auto b = (*reader)->Poll(1000, absl::Milliseconds(100));
          EXPECT_TRUE(b.ok()) << b.status();
          if (!b.ok()) {
            return true;
          }
          for (const auto& m : *b) {
            // Contiguous per partition: no gap, no re-delivery.
            EXPECT_EQ(m.position.offset(), NextOffset(next, m.position.partition()));
            SetNextOffset(&next, m.position.partition(), m.position.offset() + 1);
            read.push_back(m);
          }
          return Reached(next, end);
        },
        timeout);
  };
  auto end1 = queue->EndPositions();
  ASSERT_TRUE(end1.ok()) << end1.status();
  ASSERT_TRUE(drain_until(*end1, absl::Seconds(30)));

  // The whole cluster goes away under a caught-up reader.
  ASSERT_TRUE(cluster_->SetBrokerDown(-1, true).ok());
  for (int i = 0; i < 3; ++i) {
    auto b = (*reader)->Poll(100, absl::Milliseconds(300));
    ASSERT_TRUE(b.ok()) << "a transport error must not surface: " << b.status();
    EXPECT_TRUE(b->empty());
  }
  ASSERT_TRUE(cluster_->SetBrokerDown(-1, false).ok());
  append("r2", 4);  // blocks until the producer has reconnected
  auto end2 = queue->EndPositions();
  ASSERT_TRUE(end2.ok()) << end2.status();
  ASSERT_TRUE(drain_until(*end2, absl::Seconds(60)))
      << FormatPositions(next) << " vs " << FormatPositions(*end2);
  EXPECT_EQ(read.size(), acked.size());
  EXPECT_EQ(ExpectNoLoss(acked, read), 0);
}

// ---- bad input -------------------------------------------------------------

TEST_F(KafkaQueueTest, OptionsErrorsNameTheField) {
  auto o = Options();
  o.topic = "";
  auto q = OpenKafkaQueue(o);
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(q.status().message()), HasSubstr("queue.kafka.topic is empty"));

  o = Options();
  o.bootstrap_servers = " ";
  q = OpenKafkaQueue(o);
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(q.status().message()), HasSubstr("queue.kafka.bootstrap_servers is empty"));

  o = Options();
  o.topic = "revocations; drop";
  q = OpenKafkaQueue(o);
  ASSERT_FALSE(q.ok());
  EXPECT_THAT(std::string(q.status().message()), HasSubstr("queue.kafka.topic"));

  o = Options();
  o.partitions = -2;
  q = OpenKafkaQueue(o);
  ASSERT_FALSE(q.ok());
  EXPECT_THAT(std::string(q.status().message()), HasSubstr("queue.kafka.partitions"));

  o = Options();
  o.append_timeout = absl::ZeroDuration();
  q = OpenKafkaQueue(o);
  ASSERT_FALSE(q.ok());
  EXPECT_THAT(std::string(q.status().message()), HasSubstr("queue.kafka.append_timeout"));

  o = Options();
  o.properties["acks"] = "1";
  q = OpenKafkaQueue(o);
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(q.status().message()), HasSubstr("queue.kafka.properties[acks]"));

  o = Options();
  o.properties["no.such.property"] = "x";
  q = OpenKafkaQueue(o);
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(q.status().message()), HasSubstr("no.such.property"));

  o = Options();
  o.properties["socket.timeout.ms"] = "not-a-number";
  q = OpenKafkaQueue(o);
  ASSERT_FALSE(q.ok());
  EXPECT_THAT(std::string(q.status().message()), HasSubstr("queue.kafka.properties[socket.timeout.ms]"));

  // Harmless extras are accepted.
  o = Options();
  o.properties["client.id"] = "relay-test";
  o.properties["security.protocol"] = "plaintext";
  q = OpenKafkaQueue(o);
  EXPECT_TRUE(q.ok()) << q.status();
}

TEST_F(KafkaQueueTest, UnknownTopicIsNotFoundNamingIt) {
  // The mock auto-creates every topic a client asks about (its Metadata
  // API predates AllowAutoTopicCreation); a real broker answers
  // UNKNOWN_TOPIC_OR_PART, which this injects.
  ASSERT_TRUE(cluster_->SetTopicError("no-such-topic", RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART).ok());
  auto o = Options();
  o.topic = "no-such-topic";
  auto q = OpenKafkaQueue(o);
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.status().code(), absl::StatusCode::kNotFound) << q.status();
  EXPECT_THAT(std::string(q.status().message()), HasSubstr("'no-such-topic'"));
  EXPECT_FALSE(IsRetryable(q.status()));
}

TEST_F(KafkaQueueTest, PartitionCountMismatchIsRefused) {
  auto o = Options();
  o.partitions = 4;
  auto q = OpenKafkaQueue(o);
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.status().code(), absl::StatusCode::kFailedPrecondition) << q.status();
  o.partitions = kPartitions;
  EXPECT_TRUE(OpenKafkaQueue(o).ok());
}

TEST_F(KafkaQueueTest, UnreachableBrokersAreUnavailableNamingThem) {
  // A loopback port nobody listens on.
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  close(fd);
  const std::string bootstrap = absl::StrCat("127.0.0.1:", ntohs(addr.sin_port));

  auto o = Options(absl::Seconds(2));
  o.bootstrap_servers = bootstrap;
  const absl::Time start = absl::Now();
  auto q = OpenKafkaQueue(o);
  const absl::Duration took = absl::Now() - start;
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.status().code(), absl::StatusCode::kUnavailable) << q.status();
  EXPECT_THAT(std::string(q.status().message()), HasSubstr(bootstrap));
  EXPECT_LE(took, absl::Seconds(6));
}

TEST_F(KafkaQueueTest, OversizedMessageIsInvalidArgument) {
  auto queue = Open();
  ASSERT_NE(queue, nullptr);
  std::vector<QueueMessage> batch = MakeMessages("big", 0, 1);
  batch[0].payload.assign(size_t{2} * 1024 * 1024, 'x');  // over message.max.bytes (1 MB)
  auto p = queue->Append(batch);
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kInvalidArgument) << p.status();
  // The queue keeps working.
  auto ok = queue->Append(MakeMessages("small", 0, 5));
  EXPECT_TRUE(ok.ok()) << ok.status();
}

TEST_F(KafkaQueueTest, NonRetriableProduceErrorIsReportedAsSuch) {
  auto queue = Open();
  ASSERT_NE(queue, nullptr);
  ASSERT_TRUE(cluster_->PushRequestErrors(kProduceApi, {RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED}).ok());
  auto p = queue->Append(MakeMessages("denied", 0, 1));
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), absl::StatusCode::kPermissionDenied) << p.status();
  EXPECT_FALSE(IsRetryable(p.status()));
  // librdkafka remembers the topic as unauthorized until its next metadata
  // refresh: the operator fixes the ACL and the queue is reopened.
  queue.reset();
  queue = Open();
  ASSERT_NE(queue, nullptr);
  auto ok = queue->Append(MakeMessages("allowed", 0, 10));
  EXPECT_TRUE(ok.ok()) << ok.status();
}

TEST_F(KafkaQueueTest, GarbageBytesAreReturnedAsIs) {
  auto queue = Open();
  ASSERT_NE(queue, nullptr);
  const std::vector<std::string> garbage = {std::string("\x00\x01\x02\xff\xfe", 5), "not a protobuf",
                                            std::string("\x0a\xff\xff\xff\xff\x0f", 6),
                                            std::string(300, '\0')};
  {
    // A plain producer, as a foreign writer would be.
    char errstr[256];
    rd_kafka_conf_t* conf = rd_kafka_conf_new();
    ASSERT_EQ(rd_kafka_conf_set(conf, "bootstrap.servers", cluster_->bootstrap_servers().c_str(), errstr,
                                sizeof errstr),
              RD_KAFKA_CONF_OK);
    rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    ASSERT_NE(rk, nullptr) << errstr;  // owns conf from here on
    std::unique_ptr<rd_kafka_t, void (*)(rd_kafka_t*)> holder(rk, &rd_kafka_destroy);
    for (const auto& g : garbage) {
      ASSERT_EQ(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(kTopic), RD_KAFKA_V_PARTITION(2),
                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                  RD_KAFKA_V_VALUE(const_cast<char*>(g.data()), g.size()), RD_KAFKA_V_END),
                RD_KAFKA_RESP_ERR_NO_ERROR);
    }
    // A message without key or value (a tombstone).
    ASSERT_EQ(rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(kTopic), RD_KAFKA_V_PARTITION(2), RD_KAFKA_V_END),
              RD_KAFKA_RESP_ERR_NO_ERROR);
    ASSERT_EQ(rd_kafka_flush(rk, 10000), RD_KAFKA_RESP_ERR_NO_ERROR);
  }
  auto good = queue->Append(MakeMessages("good", 0, 20));
  ASSERT_TRUE(good.ok()) << good.status();

  const auto all = ReadAll(queue.get());
  std::vector<std::string> p2;
  size_t good_count = 0;
  for (const auto& m : all) {
    if (m.position.partition() == 2 && m.position.offset() < 5) {
      p2.push_back(m.payload);
      if (m.position.offset() < 4) {
        EXPECT_EQ(m.key, "");
      }
    } else {
      ++good_count;
    }
  }
  ASSERT_EQ(p2.size(), garbage.size() + 1);
  for (size_t i = 0; i < garbage.size(); ++i) {
    EXPECT_EQ(p2[i], garbage[i]) << "garbage message " << i;
  }
  EXPECT_EQ(p2.back(), "");
  EXPECT_EQ(good_count, 20u);
}

TEST_F(KafkaQueueTest, ReaderPositionsOutsideTheLogAreErrors) {
  auto queue = Open();
  ASSERT_NE(queue, nullptr);
  ASSERT_TRUE(queue->Append(MakeMessages("x", 0, 30)).ok());
  auto end = queue->EndPositions();
  ASSERT_TRUE(end.ok());

  // A partition the topic does not have.
  Positions bad_partition;
  SetNextOffset(&bad_partition, kPartitions + 3, 0);
  auto r = queue->OpenReader(bad_partition);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();

  // Past the end of a partition: stored positions from another topic.
  Positions beyond = *end;
  SetNextOffset(&beyond, 1, NextOffset(*end, 1) + 100);
  auto reader = queue->OpenReader(beyond);
  ASSERT_TRUE(reader.ok()) << reader.status();
  absl::Status err;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto b = (*reader)->Poll(100, absl::Milliseconds(100));
        if (!b.ok()) err = b.status();
        return !b.ok();
      },
      absl::Seconds(30)));
  EXPECT_EQ(err.code(), absl::StatusCode::kFailedPrecondition) << err;
  EXPECT_THAT(std::string(err.message()), HasSubstr("partition 1"));
  std::cout << "[ info ] " << err << "\n";
}

TEST_F(KafkaQueueTest, EventsDeletedBeforeReplayAreDataLoss) {
  // The mock keeps ~5 MiB per partition and drops older message sets, like
  // retention on a real topic: a reader starting below the log start must
  // fail loudly, never skip to what is left.
  auto queue = Open();
  ASSERT_NE(queue, nullptr);
  int32_t partition = -1;
  for (int b = 0; b < 16; ++b) {
    auto batch = MakeMessages("big", b * 500, 500, /*keys=*/1, /*payload_bytes=*/1000);
    auto p = queue->Append(batch);
    ASSERT_TRUE(p.ok()) << p.status();
    partition = (*p)[0].partition();
  }
  auto reader = queue->OpenReader({});
  ASSERT_TRUE(reader.ok()) << reader.status();
  absl::Status err;
  size_t read = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        auto b = (*reader)->Poll(1000, absl::Milliseconds(100));
        if (!b.ok()) {
          err = b.status();
          return true;
        }
        for (const auto& m : *b) {
          // Whatever is returned must not come from the trimmed partition.
          EXPECT_NE(m.position.partition(), partition) << "skipped to offset " << m.position.offset();
        }
        read += b->size();
        return false;
      },
      absl::Seconds(30)));
  EXPECT_EQ(err.code(), absl::StatusCode::kDataLoss) << err;
  EXPECT_THAT(std::string(err.message()), HasSubstr(absl::StrCat("partition ", partition)));
  EXPECT_EQ(read, 0u);
  std::cout << "[ info ] " << err << "\n";
}

}  // namespace
}  // namespace cutover::replay
