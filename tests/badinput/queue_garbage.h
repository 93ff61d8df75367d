// The "garbage in the queue" rows of the bad-input matrix, shared by the
// PostgreSQL queue (badinput_pgtest) and the Kafka queue (badinput_kafkatest):
// good revocations with bad messages between them, one row key so they share
// a partition and their order. The replayer must dead-letter every bad
// message with its reason and position, apply every good event around them,
// keep going, and leave the queue as it was (nothing lost, nothing skipped);
// a restarted replayer adds nothing.
#pragma once

#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cutover/replay/event.h"
#include "cutover/replay/queue.h"
#include "cutover/replay/replayer.h"
#include "cutover/replay/rules.h"
#include "cutover/testing/sandbox_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cutover::badinput {

namespace v1 = cutover::v1;

// The application table on green and its one capture rule.
inline void CreateTokens(const std::string& green_dsn) {
  cutover::testing::ExecOrDie(green_dsn,
                              "CREATE TABLE public.tokens (id bigint PRIMARY KEY, active boolean NOT NULL);"
                              "INSERT INTO public.tokens SELECT g, true FROM generate_series(1, 10) g");
}

inline std::vector<v1::CaptureRule> TokenRules() {
  v1::CaptureOptions o;
  o.set_profile("generic");
  v1::CaptureRule* r = o.add_rules();
  r->set_name("app.token.delete");
  r->set_table("public.tokens");
  r->set_on_delete(true);
  r->add_key_columns("id");
  r->add_apply("DELETE FROM public.tokens WHERE id = :id");
  auto rules = replay::ResolveRules(o);
  EXPECT_TRUE(rules.ok()) << rules.status();
  return rules.ok() ? *rules : std::vector<v1::CaptureRule>{};
}

inline v1::RevocationEvent TokenEvent(const std::string& cutover_id, const std::string& id) {
  v1::RevocationEvent e;
  e.set_format_version(replay::kEventFormatVersion);
  e.set_event_id(replay::IdGenerator::Default()->NewUuid());
  e.set_kind("app.token.delete");
  e.set_source_table("public.tokens");
  e.set_op(v1::ROW_OP_DELETE);
  (*e.mutable_key())["id"].set_text(id);
  e.set_capture_path(v1::CAPTURE_PATH_TRIGGER);
  e.set_direction(v1::DIRECTION_BLUE_TO_GREEN);
  e.set_cutover_id(cutover_id);
  return e;
}

struct QueueRow {
  std::string what;
  std::string payload;
  std::string reason;  // "" = a good event (must be applied)
};

// Good events for tokens 1, 3, 5, 7 with every kind of bad message between.
inline std::vector<QueueRow> GarbageRows(const std::string& cutover_id) {
  auto good = [&](const char* id) {
    return QueueRow{absl::StrCat("revoke token ", id), replay::EncodeEvent(TokenEvent(cutover_id, id)), ""};
  };
  v1::RevocationEvent future = TokenEvent(cutover_id, "2");
  future.set_format_version(99);
  v1::RevocationEvent unknown_kind = TokenEvent(cutover_id, "2");
  unknown_kind.set_kind("app.token.vanish");
  v1::RevocationEvent foreign = TokenEvent("some-other-cutover", "2");
  v1::RevocationEvent no_id = TokenEvent(cutover_id, "2");
  no_id.mutable_key()->clear();
  (*no_id.mutable_key())["signature"].set_text("2");
  v1::RevocationEvent bad_type = TokenEvent(cutover_id, "two");  // id is a bigint on green
  return {
      good("1"),
      {"random bytes", std::string("\x00\x01\x02\xff\xfe\x80garbage", 13), "undecodable"},
      {"text", "DELETE FROM tokens", "undecodable"},
      {"empty message", "", "empty message: not a RevocationEvent"},
      good("3"),
      {"future format", replay::EncodeEvent(future), "event.format_version is 99"},
      {"unknown kind", replay::EncodeEvent(unknown_kind), "unknown kind 'app.token.vanish'"},
      {"other cutover", replay::EncodeEvent(foreign), "belongs to cutover 'some-other-cutover'"},
      good("5"),
      {"missing key column", replay::EncodeEvent(no_id), "lacks column 'id'"},
      {"value of the wrong type", replay::EncodeEvent(bad_type), "apply failed on green"},
      good("7"),
  };
}

// Appends the rows (one key: one partition, in order), replays them into
// green twice (a second replayer from the stored positions) and checks the
// guarantees. `queue_rows` counts the messages the queue holds afterwards.
inline void ExpectGarbageDeadLetteredAndGoodEventsApplied(replay::RevocationQueue* queue,
                                                          const std::string& cutover_id,
                                                          const std::string& green_dsn) {
  namespace ct = cutover::testing;
  ASSERT_NO_FATAL_FAILURE(CreateTokens(green_dsn));
  const std::vector<QueueRow> rows = GarbageRows(cutover_id);
  std::vector<replay::QueueMessage> batch;
  for (const auto& r : rows) batch.push_back({"public.tokens|id=all", r.payload});
  auto positions = queue->Append(batch);
  ASSERT_TRUE(positions.ok()) << positions.status();
  ASSERT_EQ(positions->size(), rows.size());
  auto end = queue->EndPositions();
  ASSERT_TRUE(end.ok()) << end.status();

  replay::ReplayerOptions o;
  o.cutover_id = cutover_id;
  o.apply_dsn = green_dsn;
  o.batch_size = 4;  // bad messages at batch edges and inside batches
  o.poll_timeout = absl::Milliseconds(50);
  const std::vector<v1::CaptureRule> rules = TokenRules();
  for (int run = 0; run < 2; ++run) {
    SCOPED_TRACE(run == 0 ? "first replayer" : "restarted replayer");
    auto replayer = replay::Replayer::Create(o, rules, queue);
    ASSERT_TRUE(replayer.ok()) << replayer.status();
    absl::Status st = (*replayer)->DrainUntil(*end, absl::Now() + absl::Seconds(60));
    ASSERT_TRUE(st.ok()) << "bad messages must not stop the replayer: " << st;
    auto stored = (*replayer)->StoredPositions();
    ASSERT_TRUE(stored.ok()) << stored.status();
    EXPECT_TRUE(replay::Reached(*stored, *end)) << replay::FormatPositions(*stored);
    const replay::ReplayCounters c = (*replayer)->stats();
    EXPECT_EQ(c.applied, run == 0 ? 4 : 0);
    auto dead = (*replayer)->DeadLetters();
    ASSERT_TRUE(dead.ok()) << dead.status();
    EXPECT_EQ(*dead, 8) << "one dead letter per bad message, none twice";
  }
  // Good events around the bad ones applied; nothing else touched.
  EXPECT_EQ(ct::QueryScalar(green_dsn, "SELECT string_agg(id::text, ',' ORDER BY id) FROM public.tokens"),
            "2,4,6,8,9,10");
  // Each bad message is a dead letter at its own position with its reason.
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i].reason.empty()) continue;
    SCOPED_TRACE(rows[i].what);
    const v1::QueuePosition& p = (*positions)[i];
    const std::string where = absl::StrCat(" FROM cutover_replay.dead_letters WHERE cutover_id = '", cutover_id,
                                           "' AND partition = ", p.partition(), " AND \"offset\" = ", p.offset());
    EXPECT_THAT(ct::QueryScalar(green_dsn, "SELECT reason" + where), ::testing::HasSubstr(rows[i].reason));
    // The bytes are kept for inspection and applying by hand (hex, as
    // PostgreSQL prints bytea), also when the event decoded but its apply failed.
    std::string hex = "\\x";
    for (unsigned char ch : rows[i].payload) absl::StrAppend(&hex, absl::Hex(ch, absl::kZeroPad2));
    EXPECT_EQ(ct::QueryScalar(green_dsn, "SELECT payload" + where), hex);
  }
  // The queue still holds every message: replay consumed, never deleted.
  auto reader = queue->OpenReader({});
  ASSERT_TRUE(reader.ok()) << reader.status();
  size_t read = 0;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (read < rows.size() && absl::Now() < deadline) {
    auto got = (*reader)->Poll(100, absl::Milliseconds(200));
    ASSERT_TRUE(got.ok()) << got.status();
    for (const auto& m : *got) {
      ASSERT_LT(read, rows.size());
      EXPECT_EQ(m.payload, rows[read].payload) << "message " << read;
      ++read;
    }
  }
  EXPECT_EQ(read, rows.size());
}

}  // namespace cutover::badinput
