// PgQueue on the sandbox's control database: ordering, gap-free reads under
// concurrent appenders, resume, binary payloads, and a control-database
// restart with nothing acknowledged lost.
#include <atomic>
#include <set>
#include <thread>

#include "cutover/common/status.h"
#include "cutover/replay/pg_queue.h"
#include "cutover/testing/sandbox_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cutover::replay {
namespace {

class PgQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::FreshDatabases("pgqueue");
    ASSERT_FALSE(HasFailure());
  }
  PgQueueOptions Options(const std::string& name = "c1") { return {db_.control, name}; }
  testing::TestDb db_;
};

std::vector<QueuedMessage> ReadAll(QueueReader& r, size_t expect, absl::Duration timeout = absl::Seconds(60)) {
  std::vector<QueuedMessage> out;
  const absl::Time deadline = absl::Now() + timeout;
  while (out.size() < expect && absl::Now() < deadline) {
    auto batch = r.Poll(500, absl::Milliseconds(200));
    EXPECT_TRUE(batch.ok()) << batch.status();
    if (!batch.ok()) break;
    out.insert(out.end(), batch->begin(), batch->end());
  }
  return out;
}

TEST_F(PgQueueTest, AppendReadResume) {
  auto q = OpenPgQueue(Options());
  ASSERT_TRUE(q.ok()) << q.status();
  std::vector<QueueMessage> msgs;
  for (int i = 0; i < 10; ++i) msgs.push_back({"k" + std::to_string(i), std::string("\0payload\xff", 9) + char('0' + i)});
  auto pos = (*q)->Append(msgs);
  ASSERT_TRUE(pos.ok()) << pos.status();
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(pos->at(i).partition(), 0);
    EXPECT_EQ(pos->at(i).offset(), i);
  }
  auto end = (*q)->EndPositions();
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(NextOffset(*end, 0), 10);
  auto r = (*q)->OpenReader({});
  auto all = ReadAll(**r, 10);
  ASSERT_EQ(all.size(), 10u);
  EXPECT_EQ(all[3].payload, msgs[3].payload);  // binary-safe
  // Resume from the middle.
  Positions mid;
  SetNextOffset(&mid, 0, 7);
  auto r2 = (*q)->OpenReader(mid);
  auto rest = ReadAll(**r2, 3);
  ASSERT_EQ(rest.size(), 3u);
  EXPECT_EQ(rest[0].position.offset(), 7);
  // Queues are independent.
  auto other = OpenPgQueue(Options("c2"));
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(NextOffset(*(*other)->EndPositions(), 0), 0);
}

TEST_F(PgQueueTest, ConcurrentAppendersNeverLeaveAVisibleGap) {
  auto q = OpenPgQueue(Options());
  ASSERT_TRUE(q.ok()) << q.status();
  constexpr int kThreads = 4, kBatches = 100, kPerBatch = 5;
  std::atomic<bool> done{false};
  std::vector<int64_t> seen;
  std::thread reader([&] {
    auto r = (*q)->OpenReader({});
    ASSERT_TRUE(r.ok());
    int64_t expect = 0;
    while (expect < kThreads * kBatches * kPerBatch) {
      auto batch = (*r)->Poll(1000, absl::Milliseconds(100));
      ASSERT_TRUE(batch.ok()) << batch.status();
      for (const auto& m : *batch) {
        // Offsets arrive contiguous: a reader never skips an offset that a
        // slower appender commits later.
        ASSERT_EQ(m.position.offset(), expect);
        ++expect;
      }
      if (done && batch->empty() && expect < kThreads * kBatches * kPerBatch) {
        FAIL() << "appenders finished but only " << expect << " messages are readable";
      }
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      auto wq = OpenPgQueue(Options());  // own connection per appender
      ASSERT_TRUE(wq.ok());
      for (int b = 0; b < kBatches; ++b) {
        std::vector<QueueMessage> msgs;
        for (int i = 0; i < kPerBatch; ++i) msgs.push_back({"t" + std::to_string(t), "x"});
        ASSERT_TRUE((*wq)->Append(msgs).ok());
      }
    });
  }
  for (auto& w : writers) w.join();
  done = true;
  reader.join();
}

TEST_F(PgQueueTest, PollWakesOnAppend) {
  auto q = OpenPgQueue(Options());
  ASSERT_TRUE(q.ok());
  auto r = (*q)->OpenReader({});
  std::atomic<bool> appended{false};
  std::thread w([&] {
    auto wq = OpenPgQueue(Options());
    ASSERT_TRUE(testing::WaitFor([&] { return true; }, absl::Seconds(1)));
    ASSERT_TRUE((*wq)->Append({{"k", "v"}}).ok());
    appended = true;
  });
  std::vector<QueuedMessage> got;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (got.empty() && absl::Now() < deadline) {
    auto b = (*r)->Poll(10, absl::Seconds(30));
    ASSERT_TRUE(b.ok());
    got = *b;
  }
  w.join();
  ASSERT_EQ(got.size(), 1u);
}

TEST_F(PgQueueTest, ControlRestartLosesNothingAcknowledged) {
  auto q = OpenPgQueue(Options());
  ASSERT_TRUE(q.ok());
  std::set<int64_t> acked;
  for (int i = 0; i < 20; ++i) {
    auto p = (*q)->Append({{"k", std::to_string(i)}});
    ASSERT_TRUE(p.ok());
    acked.insert(p->at(0).offset());
  }
  ASSERT_TRUE(testing::SharedSandbox().RestartCluster("control", /*immediate=*/true).ok());
  // The old connection is gone: the first append may fail (retryable); the
  // queue reconnects on the next call.
  int failures = 0;
  for (int i = 20; i < 40; ++i) {
    auto p = (*q)->Append({{"k", std::to_string(i)}});
    if (!p.ok()) {
      EXPECT_TRUE(IsRetryable(p.status())) << p.status();
      ++failures;
      --i;
      ASSERT_LT(failures, 5);
      continue;
    }
    acked.insert(p->at(0).offset());
  }
  auto r = (*q)->OpenReader({});
  auto all = ReadAll(**r, acked.size());
  std::set<int64_t> read;
  for (const auto& m : all) read.insert(m.position.offset());
  for (int64_t a : acked) EXPECT_TRUE(read.count(a)) << "acknowledged offset " << a << " lost";
}

TEST_F(PgQueueTest, RejectsEmptyName) {
  EXPECT_EQ(OpenPgQueue({db_.control, ""}).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cutover::replay
