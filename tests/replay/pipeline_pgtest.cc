// The replay pipeline end to end on the sandbox: Hydra 1.11 blue with
// capture installed -> relay -> queue -> replayer -> Hydra 2.x green.
// Every committed revocation on blue must be in effect on green exactly once,
// whatever crashes in between; rolled-back revocations produce nothing; bad
// events become dead letters without stopping anything.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <random>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cutover/common/pg.h"
#include "cutover/hydra/dataset.h"
#include "cutover/replay/capture.h"
#include "cutover/replay/event.h"
#include "cutover/replay/kafka_mock.h"
#include "cutover/replay/kafka_queue.h"
#include "cutover/replay/memory_queue.h"
#include "cutover/replay/pg_queue.h"
#include "cutover/replay/relay.h"
#include "cutover/replay/replayer.h"
#include "cutover/replay/rules.h"
#include "cutover/testing/sandbox_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cutover::replay {
namespace {

using testing::ExecOrDie;
using testing::QueryScalar;

constexpr char kTokenTables[][24] = {"hydra_oauth2_access", "hydra_oauth2_refresh", "hydra_oauth2_code",
                                     "hydra_oauth2_oidc", "hydra_oauth2_pkce"};

std::vector<cutover::v1::CaptureRule> HydraProfile() {
  cutover::v1::CaptureOptions o;
  o.set_profile("hydra");
  auto rules = ResolveRules(o);
  EXPECT_TRUE(rules.ok()) << rules.status();
  return rules.ok() ? *rules : std::vector<cutover::v1::CaptureRule>{};
}

class PipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::FreshDatabases("pipe");
    ASSERT_FALSE(HasFailure());
    cutover_id_ = db_.name;
    hydra::DatasetSize size = hydra::DatasetSize::AtScale(0.002);
    {
      auto blue = pg::Session::Connect(db_.blue, "blue");
      ASSERT_TRUE(blue.ok());
      ASSERT_TRUE(hydra::CreateSchema11(**blue).ok());
      ASSERT_TRUE(hydra::Generate(**blue, size).ok());
      auto green = pg::Session::Connect(db_.green, "green");
      ASSERT_TRUE(green.ok());
      ASSERT_TRUE(hydra::CreateSchema2x(**green).ok());
      ASSERT_TRUE(hydra::Generate(**green, size).ok());
      rules_ = HydraProfile();
      CaptureInstallOptions opts;
      opts.cutover_id = cutover_id_;
      opts.direction = cutover::v1::DIRECTION_BLUE_TO_GREEN;
      auto st = InstallCapture(**blue, rules_, opts);
      ASSERT_TRUE(st.ok()) << st;
    }
  }

  RelayOptions RelayOpts() { return {cutover_id_, db_.blue, "blue", 200, absl::Milliseconds(5)}; }
  ReplayerOptions ReplayOpts() {
    ReplayerOptions o;
    o.cutover_id = cutover_id_;
    o.apply_dsn = db_.green;
    o.batch_size = 300;
    o.poll_timeout = absl::Milliseconds(50);
    return o;
  }

  // Moves everything captured so far to green: relay drains the outbox, the
  // queue end is the seal, the replayer drains to it.
  void DrainAll(RevocationQueue* q, Replayer* replayer = nullptr) {
    auto relay = Relay::Create(RelayOpts(), q);
    ASSERT_TRUE(relay.ok()) << relay.status();
    auto moved = (*relay)->Drain(absl::Now() + absl::Seconds(60));
    ASSERT_TRUE(moved.ok()) << moved.status();
    auto seal = q->EndPositions();
    ASSERT_TRUE(seal.ok());
    std::unique_ptr<Replayer> own;
    if (replayer == nullptr) {
      auto r = Replayer::Create(ReplayOpts(), rules_, q);
      ASSERT_TRUE(r.ok()) << r.status();
      own = std::move(*r);
      replayer = own.get();
    }
    auto st = replayer->DrainUntil(*seal, absl::Now() + absl::Seconds(120));
    ASSERT_TRUE(st.ok()) << st;
  }

  // Green agrees with blue on every revocable thing: token rows present and
  // their active flags, consents, login sessions, clients.
  void ExpectGreenMatchesBlue() {
    for (const char* t : kTokenTables) {
      const std::string q = absl::StrCat("SELECT count(*) || ':' || coalesce(sum(hashtext(signature || active::text)), 0) FROM ", t);
      EXPECT_EQ(QueryScalar(db_.green, q), QueryScalar(db_.blue, q)) << t;
    }
    EXPECT_EQ(QueryScalar(db_.green, "SELECT count(*) || ':' || coalesce(sum(hashtext(consent_challenge_id)), 0) "
                                     "FROM hydra_oauth2_flow WHERE consent_challenge_id IS NOT NULL"),
              QueryScalar(db_.blue, "SELECT count(*) || ':' || coalesce(sum(hashtext(challenge)), 0) "
                                    "FROM hydra_oauth2_consent_request"));
    const char* sessions = "SELECT count(*) || ':' || coalesce(sum(hashtext(id)), 0) FROM hydra_oauth2_authentication_session";
    EXPECT_EQ(QueryScalar(db_.green, sessions), QueryScalar(db_.blue, sessions));
    const char* clients = "SELECT count(*) || ':' || coalesce(sum(hashtext(id)), 0) FROM hydra_client";
    EXPECT_EQ(QueryScalar(db_.green, clients), QueryScalar(db_.blue, clients));
  }

  // -1 when the query fails (QueryScalar has recorded the failure).
  int64_t Count(const std::string& dsn, const std::string& sql) {
    const std::string v = QueryScalar(dsn, sql);
    int64_t n = -1;
    return absl::SimpleAtoi(v, &n) ? n : -1;
  }

  testing::TestDb db_;
  std::string cutover_id_;
  std::vector<cutover::v1::CaptureRule> rules_;
};

// One revocation of each Hydra kind, the way Hydra 1.x issues them.
TEST_F(PipelineTest, HydraRevocationsReachGreen) {
  const std::string rid = QueryScalar(db_.blue, "SELECT request_id FROM hydra_oauth2_refresh WHERE active ORDER BY signature LIMIT 1");
  ASSERT_FALSE(rid.empty());
  // Token revoke by request_id: access deleted, refresh deactivated.
  ExecOrDie(db_.blue, absl::StrCat("BEGIN; DELETE FROM hydra_oauth2_access WHERE request_id = '", rid,
                                   "'; UPDATE hydra_oauth2_refresh SET active = false WHERE request_id = '", rid,
                                   "'; COMMIT;"));
  // Refresh rotation: the same statements for another grant, plus a new pair (not captured).
  const std::string rot = QueryScalar(db_.blue, "SELECT request_id FROM hydra_oauth2_refresh WHERE active ORDER BY signature LIMIT 1 OFFSET 5");
  ExecOrDie(db_.blue, absl::StrCat("BEGIN; DELETE FROM hydra_oauth2_access WHERE request_id = '", rot,
                                   "'; UPDATE hydra_oauth2_refresh SET active = false WHERE request_id = '", rot,
                                   "'; COMMIT;"));
  // Consent revoke: cascades to handled and to tokens.
  const std::string challenge = QueryScalar(db_.blue, "SELECT challenge_id FROM hydra_oauth2_access WHERE challenge_id IS NOT NULL ORDER BY signature LIMIT 1 OFFSET 10");
  ASSERT_FALSE(challenge.empty());
  ExecOrDie(db_.blue, absl::StrCat("DELETE FROM hydra_oauth2_consent_request WHERE challenge = '", challenge, "'"));
  // Login session revoke.
  const std::string session = QueryScalar(db_.blue, "SELECT id FROM hydra_oauth2_authentication_session ORDER BY id LIMIT 1");
  ExecOrDie(db_.blue, absl::StrCat("DELETE FROM hydra_oauth2_authentication_session WHERE id = '", session, "'"));
  // Client delete: cascades to its tokens and flows.
  const std::string client = QueryScalar(db_.blue, "SELECT id FROM hydra_client ORDER BY id LIMIT 1");
  ExecOrDie(db_.blue, absl::StrCat("DELETE FROM hydra_client WHERE id = '", client, "'"));
  // A revocation that rolls back leaves nothing.
  ExecOrDie(db_.blue, "BEGIN; DELETE FROM hydra_oauth2_access; ROLLBACK;");

  auto q = OpenPgQueue({db_.control, cutover_id_});
  ASSERT_TRUE(q.ok()) << q.status();
  ASSERT_NO_FATAL_FAILURE(DrainAll(q->get()));

  EXPECT_EQ(Count(db_.green, absl::StrCat("SELECT count(*) FROM hydra_oauth2_access WHERE request_id = '", rid, "'")), 0);
  EXPECT_EQ(Count(db_.green, absl::StrCat("SELECT count(*) FROM hydra_oauth2_refresh WHERE request_id = '", rid, "' AND active")), 0);
  EXPECT_GT(Count(db_.green, absl::StrCat("SELECT count(*) FROM hydra_oauth2_refresh WHERE request_id = '", rid, "'")), 0)
      << "refresh rows are deactivated, not deleted";
  EXPECT_EQ(Count(db_.green, absl::StrCat("SELECT count(*) FROM hydra_oauth2_flow WHERE consent_challenge_id = '", challenge, "'")), 0);
  EXPECT_EQ(Count(db_.green, absl::StrCat("SELECT count(*) FROM hydra_oauth2_access WHERE challenge_id = '", challenge, "'")), 0);
  EXPECT_EQ(Count(db_.green, absl::StrCat("SELECT count(*) FROM hydra_oauth2_authentication_session WHERE id = '", session, "'")), 0);
  EXPECT_EQ(Count(db_.green, absl::StrCat("SELECT count(*) FROM hydra_client WHERE id = '", client, "'")), 0);
  EXPECT_EQ(Count(db_.green, absl::StrCat("SELECT count(*) FROM hydra_oauth2_access WHERE client_id = '", client, "'")), 0);
  ExpectGreenMatchesBlue();
  EXPECT_EQ(Count(db_.green, "SELECT count(*) FROM cutover_replay.dead_letters"), 0);
  EXPECT_EQ(Count(db_.blue, "SELECT count(*) FROM cutover_capture.outbox"), 0);
}

// Random revocations (some rolled back) from several threads while relay and
// replayer run, with crashes injected at the worst points, duplicated and
// reordered delivery, and a green restart.
class Load {
 public:
  Load(std::string dsn, int threads) : dsn_(std::move(dsn)) {
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this, t] {
        auto s = pg::Session::Connect(dsn_, "blue-load");
        ASSERT_TRUE(s.ok());
        std::mt19937 rng(1234 + t);
        while (!stop_) {
          const int kind = static_cast<int>(rng() % 100);
          std::string sql;
          if (kind < 70) {
            sql = "WITH r AS (SELECT request_id FROM hydra_oauth2_refresh WHERE active ORDER BY random() LIMIT 1), "
                  "d AS (DELETE FROM hydra_oauth2_access WHERE request_id IN (SELECT request_id FROM r)) "
                  "UPDATE hydra_oauth2_refresh SET active = false WHERE request_id IN (SELECT request_id FROM r)";
          } else if (kind < 85) {
            sql = "DELETE FROM hydra_oauth2_consent_request WHERE challenge = "
                  "(SELECT challenge FROM hydra_oauth2_consent_request ORDER BY random() LIMIT 1)";
          } else if (kind < 95) {
            sql = "DELETE FROM hydra_oauth2_authentication_session WHERE id = "
                  "(SELECT id FROM hydra_oauth2_authentication_session ORDER BY random() LIMIT 1)";
          } else {
            sql = "DELETE FROM hydra_oauth2_access WHERE signature = "
                  "(SELECT signature FROM hydra_oauth2_access ORDER BY random() LIMIT 1)";
          }
          const bool rollback = rng() % 10 == 0;
          auto r = (*s)->Exec(absl::StrCat("BEGIN; ", sql, "; ", rollback ? "ROLLBACK" : "COMMIT", ";"));
          if (!r.ok()) (void)(*s)->Exec("ROLLBACK");  // deadlock between revokers: fine
          ++done_;
        }
      });
    }
  }
  void WaitFor(int64_t n) {
    ASSERT_TRUE(testing::WaitFor([&] { return done_ >= n; }, absl::Seconds(120)));
  }
  void Stop() {
    stop_ = true;
    for (auto& t : threads_) t.join();
    threads_.clear();
  }
  ~Load() {
    if (!threads_.empty()) Stop();
  }

 private:
  std::string dsn_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> done_{0};
  std::vector<std::thread> threads_;
};

TEST_F(PipelineTest, ExactlyOnceUnderCrashesDuplicatesAndGreenRestart) {
  MemoryQueue q(3);
  q.SetDuplicateDelivery(true);
  q.SetReverseBatches(true);
  Load load(db_.blue, 3);
  auto relay = Relay::Create(RelayOpts(), &q);
  ASSERT_TRUE(relay.ok());
  auto replayer = Replayer::Create(ReplayOpts(), rules_, &q);
  ASSERT_TRUE(replayer.ok()) << replayer.status();

  for (int round = 0; round < 6; ++round) {
    load.WaitFor((round + 1) * 40);
    // Relay dies after the queue acknowledged a batch: it re-sends it.
    (*relay)->CrashAfterAppendForTest();
    auto crashed = (*relay)->Step();
    // An empty outbox appends nothing, so the hook stays armed for the drain
    // below (which retries past it).
    if (crashed.ok()) {
      EXPECT_EQ(*crashed, 0);
    }
    ASSERT_TRUE((*relay)->Drain(absl::Now() + absl::Seconds(30)).ok());
    // Replayer dies after applying, before commit: a new one resumes from
    // the positions stored in green.
    (*replayer)->CrashBeforeCommitForTest();
    auto n = (*replayer)->Step(absl::Seconds(1));
    if (n.ok() && *n == 0) continue;  // nothing was pending
    EXPECT_FALSE(n.ok());
    replayer = Replayer::Create(ReplayOpts(), rules_, &q);
    ASSERT_TRUE(replayer.ok()) << replayer.status();
    ASSERT_TRUE((*replayer)->Step(absl::Seconds(1)).ok());
    if (round == 3) {
      ASSERT_TRUE(testing::SharedSandbox().RestartCluster("green", /*immediate=*/true).ok());
    }
  }
  load.Stop();
  ASSERT_NO_FATAL_FAILURE(DrainAll(&q, replayer->get()));
  ExpectGreenMatchesBlue();
  const auto c = (*replayer)->stats();
  EXPECT_GT(c.duplicates, 0);
  EXPECT_EQ(Count(db_.green, "SELECT count(*) FROM cutover_replay.dead_letters"), 0);
  // The ledger holds each event once.
  EXPECT_EQ(Count(db_.green, "SELECT count(*) - count(DISTINCT event_id) FROM cutover_replay.applied"), 0);
}

// A real kill -9 of a process running relay and replayer, several times,
// under load; then a clean drain.
TEST_F(PipelineTest, SurvivesKillNineOfRelayAndReplayer) {
  auto q = OpenPgQueue({db_.control, cutover_id_});
  ASSERT_TRUE(q.ok());
  {
    // The child's replayer creates it too; create it first so the parent's
    // progress queries never race that.
    auto green = pg::Session::Connect(db_.green, "green");
    ASSERT_TRUE(green.ok());
    ASSERT_TRUE(EnsureReplaySchema(**green).ok());
  }
  Load load(db_.blue, 2);
  std::mt19937 rng(99);
  for (int round = 0; round < 4; ++round) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      // Child: its own connections; runs until killed.
      auto cq = OpenPgQueue({db_.control, cutover_id_});
      auto relay = Relay::Create(RelayOpts(), cq->get());
      auto replayer = Replayer::Create(ReplayOpts(), rules_, cq->get());
      if (!relay.ok() || !replayer.ok()) _exit(3);
      std::thread t([&] { (*relay)->Run(); });
      (*replayer)->Run();
      _exit(0);
    }
    // Let it get some work done, then kill it mid-flight.
    load.WaitFor((round + 1) * 30);
    const int64_t applied_before = Count(db_.green, "SELECT count(*) FROM cutover_replay.applied");
    const bool progressed = testing::WaitFor(
        [&] { return Count(db_.green, "SELECT count(*) FROM cutover_replay.applied") > applied_before; },
        absl::Seconds(60));
    if (!progressed) {
      kill(pid, SIGKILL);  // never leave the child running past a failure
      waitpid(pid, nullptr, 0);
      FAIL() << "the relay/replayer child made no progress in 60 s";
    }
    absl::SleepFor(absl::Milliseconds(rng() % 50));  // a random point in the stream, not synchronization
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited on its own with " << status;
  }
  load.Stop();
  ASSERT_NO_FATAL_FAILURE(DrainAll(q->get()));
  ExpectGreenMatchesBlue();
  EXPECT_EQ(Count(db_.green, "SELECT count(*) FROM cutover_replay.dead_letters"), 0);
}

// The Kafka backend under load, with brokers taken down mid-stream (the
// leader of some partitions, then all of them) and a leader change.
TEST_F(PipelineTest, KafkaBrokersDownMidStream) {
  auto mock = MockKafkaCluster::Start(3);
  ASSERT_TRUE(mock.ok()) << mock.status();
  ASSERT_TRUE((*mock)->CreateTopic("revocations", 6).ok());
  KafkaQueueOptions ko;
  ko.bootstrap_servers = (*mock)->bootstrap_servers();
  ko.topic = "revocations";
  ko.append_timeout = absl::Seconds(5);
  auto q = OpenKafkaQueue(ko);
  ASSERT_TRUE(q.ok()) << q.status();
  Load load(db_.blue, 2);
  auto relay = Relay::Create(RelayOpts(), q->get());
  ASSERT_TRUE(relay.ok());
  auto replayer = Replayer::Create(ReplayOpts(), rules_, q->get());
  ASSERT_TRUE(replayer.ok()) << replayer.status();
  std::thread relay_thread([&] { (*relay)->Run(); });
  std::thread replay_thread([&] { (*replayer)->Run(); });
  auto applied = [&] { return (*replayer)->stats().applied + (*replayer)->stats().noops; };
  load.WaitFor(40);
  ASSERT_TRUE(testing::WaitFor([&] { return applied() > 0; }, absl::Seconds(60)));
  // One broker down (leads partitions 0 and 3), load continues.
  ASSERT_TRUE((*mock)->SetBrokerDown(1, true).ok());
  int64_t mark = applied();
  load.WaitFor(80);
  ASSERT_TRUE((*mock)->SetBrokerDown(1, false).ok());
  ASSERT_TRUE(testing::WaitFor([&] { return applied() > mark; }, absl::Seconds(60)));
  // Every broker down: appends fail (relay retries, outbox keeps the rows).
  ASSERT_TRUE((*mock)->SetBrokerDown(-1, true).ok());
  load.WaitFor(120);
  ASSERT_TRUE((*mock)->SetBrokerDown(-1, false).ok());
  ASSERT_TRUE((*mock)->SetPartitionLeader("revocations", 2, 1).ok());
  load.WaitFor(160);
  load.Stop();
  (*relay)->Stop();
  (*replayer)->Stop();
  relay_thread.join();
  replay_thread.join();
  ASSERT_NO_FATAL_FAILURE(DrainAll(q->get(), replayer->get()));
  ExpectGreenMatchesBlue();
  EXPECT_EQ(Count(db_.green, "SELECT count(*) FROM cutover_replay.dead_letters"), 0);
  EXPECT_EQ(Count(db_.blue, "SELECT count(*) FROM cutover_capture.outbox"), 0);
}

TEST_F(PipelineTest, BadEventsAreDeadLetteredWithoutStoppingReplay) {
  MemoryQueue q(1);
  q.AppendRaw(0, "k", "\x01\x02 not protobuf");
  cutover::v1::RevocationEvent unknown;
  unknown.set_format_version(kEventFormatVersion);
  unknown.set_event_id(IdGenerator::Default()->NewUuid());
  unknown.set_kind("hydra.unknown.delete");
  unknown.set_source_table("public.x");
  unknown.set_op(cutover::v1::ROW_OP_DELETE);
  (*unknown.mutable_key())["id"].set_text("1");
  unknown.set_capture_path(cutover::v1::CAPTURE_PATH_API);
  unknown.set_direction(cutover::v1::DIRECTION_BLUE_TO_GREEN);
  q.AppendRaw(0, "k", EncodeEvent(unknown));
  // A real revocation after the bad ones still reaches green.
  const std::string sig = QueryScalar(db_.blue, "SELECT signature FROM hydra_oauth2_access ORDER BY signature LIMIT 1");
  ExecOrDie(db_.blue, absl::StrCat("DELETE FROM hydra_oauth2_access WHERE signature = '", sig, "'"));
  auto replayer = Replayer::Create(ReplayOpts(), rules_, &q);
  ASSERT_TRUE(replayer.ok());
  ASSERT_NO_FATAL_FAILURE(DrainAll(&q, replayer->get()));
  EXPECT_EQ(Count(db_.green, absl::StrCat("SELECT count(*) FROM hydra_oauth2_access WHERE signature = '", sig, "'")), 0);
  auto dead = (*replayer)->DeadLetters();
  ASSERT_TRUE(dead.ok());
  EXPECT_EQ(*dead, 2);
  EXPECT_THAT(QueryScalar(db_.green, "SELECT string_agg(reason, ' | ' ORDER BY \"offset\") FROM cutover_replay.dead_letters"),
              ::testing::AllOf(::testing::HasSubstr("undecodable"), ::testing::HasSubstr("unknown kind 'hydra.unknown.delete'")));
  // Replaying the same positions again (a restarted replayer) adds nothing.
  auto again = Replayer::Create(ReplayOpts(), rules_, &q);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*(*again)->DeadLetters(), 2);
}

TEST_F(PipelineTest, AbsentRowsAreNoops) {
  MemoryQueue q(1);
  // Revoke on blue a row that green does not have (created after the snapshot).
  ExecOrDie(db_.green, "DELETE FROM hydra_oauth2_access WHERE signature = (SELECT min(signature) FROM hydra_oauth2_access)");
  const std::string sig = QueryScalar(db_.blue, "SELECT min(signature) FROM hydra_oauth2_access");
  ExecOrDie(db_.blue, absl::StrCat("DELETE FROM hydra_oauth2_access WHERE signature = '", sig, "'"));
  auto replayer = Replayer::Create(ReplayOpts(), rules_, &q);
  ASSERT_TRUE(replayer.ok());
  ASSERT_NO_FATAL_FAILURE(DrainAll(&q, replayer->get()));
  EXPECT_EQ((*replayer)->stats().noops, 1);
  EXPECT_EQ((*replayer)->stats().applied, 0);
  EXPECT_EQ(QueryScalar(db_.green, "SELECT outcome FROM cutover_replay.applied"), "noop");
}

// The flip waits on the running replayer (WaitUntil) instead of stopping it:
// it returns once the running thread has committed up to the seal, and times
// out (without stepping itself) when nothing runs.
TEST_F(PipelineTest, WaitUntilFollowsTheRunningReplayer) {
  MemoryQueue q(1);
  auto replayer = Replayer::Create(ReplayOpts(), rules_, &q);
  ASSERT_TRUE(replayer.ok());
  ExecOrDie(db_.blue, "DELETE FROM hydra_oauth2_access WHERE signature IN "
                      "(SELECT signature FROM hydra_oauth2_access ORDER BY signature LIMIT 5)");
  auto relay = Relay::Create(RelayOpts(), &q);
  ASSERT_TRUE(relay.ok());
  ASSERT_TRUE((*relay)->Drain(absl::Now() + absl::Seconds(30)).ok());
  auto seal = q.EndPositions();
  ASSERT_TRUE(seal.ok());
  // Nobody runs it: WaitUntil does not step on its own.
  absl::Status idle = (*replayer)->WaitUntil(*seal, absl::Now() + absl::Milliseconds(300));
  EXPECT_EQ(idle.code(), absl::StatusCode::kDeadlineExceeded) << idle;
  std::thread runner([&] { (*replayer)->Run(); });
  absl::Status st = (*replayer)->WaitUntil(*seal, absl::Now() + absl::Seconds(60));
  (*replayer)->Stop();
  runner.join();
  ASSERT_TRUE(st.ok()) << st;
  EXPECT_EQ((*replayer)->stats().applied, 5);
  EXPECT_EQ(Count(db_.green, "SELECT count(*) FROM cutover_replay.applied"), 5);
}

}  // namespace
}  // namespace cutover::replay
