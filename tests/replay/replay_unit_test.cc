// Unit tests of replay/ pieces that need no database: the event codec and
// its field-level validation, positions, the in-memory queue's contract and
// fault injection, and the API capture path.
#include <thread>

#include "cutover/replay/api_capture.h"
#include "cutover/replay/event.h"
#include "cutover/replay/memory_queue.h"
#include "cutover/replay/queue.h"
#include "cutover/replay/replayer.h"
#include "cutover/replay/rules.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cutover::replay {
namespace {

using ::testing::HasSubstr;

cutover::v1::RevocationEvent SampleEvent() {
  cutover::v1::RevocationEvent e;
  e.set_format_version(kEventFormatVersion);
  e.set_event_id("3f2b8c1e-9a4d-4e2f-8b6a-0c1d2e3f4a5b");
  e.set_kind("hydra.access.delete");
  e.set_source_table("public.hydra_oauth2_access");
  e.set_op(cutover::v1::ROW_OP_DELETE);
  (*e.mutable_key())["signature"].set_text("sig-1");
  (*e.mutable_extra())["request_id"].set_text("req-1");
  (*e.mutable_extra())["subject"].set_null(true);
  e.set_capture_path(cutover::v1::CAPTURE_PATH_TRIGGER);
  e.set_direction(cutover::v1::DIRECTION_BLUE_TO_GREEN);
  e.set_cutover_id("c1");
  return e;
}

TEST(Event, RoundTrip) {
  const auto e = SampleEvent();
  const std::string bytes = EncodeEvent(e);
  EXPECT_EQ(bytes, EncodeEvent(e));  // deterministic
  auto back = DecodeEvent(bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->key().at("signature").text(), "sig-1");
  EXPECT_TRUE(back->extra().at("subject").null());
}

TEST(Event, RejectsGarbageAndUnknownVersions) {
  EXPECT_THAT(std::string(DecodeEvent("").status().message()), HasSubstr("empty message"));
  EXPECT_THAT(std::string(DecodeEvent("\xff\xff\xff garbage").status().message()), HasSubstr("undecodable"));
  auto e = SampleEvent();
  e.set_format_version(99);
  EXPECT_THAT(std::string(DecodeEvent(EncodeEvent(e)).status().message()),
              HasSubstr("event.format_version is 99: expected 1"));
}

TEST(Event, FieldLevelErrors) {
  struct Case {
    std::function<void(cutover::v1::RevocationEvent*)> mutate;
    std::string expect;
  };
  std::vector<Case> cases = {
      {[](auto* e) { e->set_event_id("nope"); }, "event.event_id 'nope' is not a UUID"},
      {[](auto* e) { e->set_kind(""); }, "event.kind is empty"},
      {[](auto* e) { e->set_op(cutover::v1::ROW_OP_UNSPECIFIED); }, "event.op is unset"},
      {[](auto* e) { e->set_source_table("access"); }, "event.source_table 'access' is not schema-qualified"},
      {[](auto* e) { e->clear_key(); }, "event.key is empty"},
      {[](auto* e) { (*e->mutable_key())["signature"].set_null(true); }, "event.key[signature] is NULL"},
      {[](auto* e) { e->set_capture_path(cutover::v1::CAPTURE_PATH_UNSPECIFIED); }, "event.capture_path is unset"},
      {[](auto* e) { e->set_direction(cutover::v1::DIRECTION_UNSPECIFIED); }, "event.direction is unset"},
      // PostgreSQL text cannot hold a NUL; libpq would cut the bound array there.
      {[](auto* e) { (*e->mutable_key())["signature"].set_text(std::string("sig\0-1", 6)); },
       "event.key[signature] contains a NUL byte"},
      {[](auto* e) { (*e->mutable_extra())[std::string("req\0", 4)].set_text("x"); },
       "event.extra[req\\000] contains a NUL byte"},
  };
  for (const auto& c : cases) {
    auto e = SampleEvent();
    c.mutate(&e);
    absl::Status st = ValidateEvent(e);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(st.message()), HasSubstr(c.expect));
  }
}

TEST(Event, UuidsAndPartitionKeys) {
  auto gen = NewSeededIdGenerator(7);
  const std::string a = gen->NewUuid(), b = gen->NewUuid();
  EXPECT_TRUE(IsUuid(a));
  EXPECT_NE(a, b);
  EXPECT_EQ(a[14], '4');  // version 4
  EXPECT_EQ(NewSeededIdGenerator(7)->NewUuid(), a);
  EXPECT_TRUE(IsUuid(IdGenerator::Default()->NewUuid()));
  auto e = SampleEvent();
  EXPECT_EQ(PartitionKey(e), "public.hydra_oauth2_access|signature=sig-1");
  (*e.mutable_key())["a_first"].set_text("x");
  EXPECT_EQ(PartitionKey(e), "public.hydra_oauth2_access|a_first=x|signature=sig-1");
}

TEST(Positions, NextReachedFormat) {
  Positions p;
  SetNextOffset(&p, 2, 10);
  SetNextOffset(&p, 0, 5);
  SetNextOffset(&p, 2, 11);
  EXPECT_EQ(FormatPositions(p), "p0:5 p2:11");
  EXPECT_EQ(NextOffset(p, 1), 0);
  Positions seal;
  SetNextOffset(&seal, 0, 5);
  SetNextOffset(&seal, 2, 11);
  EXPECT_TRUE(Reached(p, seal));
  SetNextOffset(&seal, 1, 1);
  EXPECT_FALSE(Reached(p, seal));
}

TEST(MemoryQueue, OrderedPerKeyAndResumable) {
  MemoryQueue q(4);
  std::vector<QueueMessage> msgs;
  for (int i = 0; i < 100; ++i) msgs.push_back({"key" + std::to_string(i % 7), std::to_string(i)});
  auto pos = q.Append(msgs);
  ASSERT_TRUE(pos.ok());
  ASSERT_EQ(pos->size(), 100u);
  auto end = q.EndPositions();
  int64_t total = 0;
  for (const auto& p : *end) total += p.offset();
  EXPECT_EQ(total, 100);
  auto reader = q.OpenReader({});
  std::vector<QueuedMessage> all;
  while (true) {
    auto batch = (*reader)->Poll(13, absl::Milliseconds(1));
    ASSERT_TRUE(batch.ok());
    if (batch->empty()) break;
    all.insert(all.end(), batch->begin(), batch->end());
  }
  ASSERT_EQ(all.size(), 100u);
  // Same key, same partition, in append order.
  std::map<std::string, int> last;
  for (const auto& m : all) {
    const int v = std::stoi(m.payload);
    if (last.count(m.key)) {
      EXPECT_LT(last[m.key], v);
    }
    last[m.key] = v;
  }
  // A reader from the end positions sees nothing old, then new messages.
  auto tail = q.OpenReader(*end);
  EXPECT_TRUE((*tail)->Poll(10, absl::Milliseconds(1))->empty());
  ASSERT_TRUE(q.Append({{"k", "new"}}).ok());
  auto fresh = (*tail)->Poll(10, absl::Seconds(5));
  ASSERT_EQ(fresh->size(), 1u);
  EXPECT_EQ(fresh->at(0).payload, "new");
}

TEST(MemoryQueue, PollWakesOnAppend) {
  MemoryQueue q(1);
  auto reader = q.OpenReader({});
  std::thread writer([&] { ASSERT_TRUE(q.Append({{"k", "v"}}).ok()); });
  auto got = (*reader)->Poll(10, absl::Seconds(30));
  writer.join();
  ASSERT_TRUE(got.ok());
  // Either the append landed before the poll or woke it; never a 30 s wait.
  if (got->empty()) got = (*reader)->Poll(10, absl::Seconds(30));
  EXPECT_EQ(got->size(), 1u);
}

TEST(MemoryQueue, FaultInjection) {
  MemoryQueue q(1);
  q.FailAppends(1, absl::UnavailableError("broker down"));
  EXPECT_EQ(q.Append({{"k", "a"}}).status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(q.size(), 0);
  q.FailAppends(1, absl::DeadlineExceededError("ack lost"), /*after_store=*/true);
  EXPECT_FALSE(q.Append({{"k", "b"}}).ok());
  EXPECT_EQ(q.size(), 1);  // stored although the caller saw an error
  q.SetDuplicateDelivery(true);
  auto r = q.OpenReader({});
  EXPECT_EQ((*r)->Poll(10, absl::Milliseconds(1))->size(), 2u);
}

cutover::v1::CaptureRule AccessRule() {
  cutover::v1::CaptureRule r;
  r.set_name("hydra.access.delete");
  r.set_table("public.hydra_oauth2_access");
  r.set_revocation_class(cutover::v1::REVOCATION_CLASS_TOKEN);
  r.set_on_delete(true);
  r.add_key_columns("signature");
  r.add_extra_columns("request_id");
  r.add_apply("DELETE FROM hydra_oauth2_access WHERE signature = :signature");
  return r;
}

TEST(ApiCapture, CompletesAndAppends) {
  MemoryQueue q(2);
  SimulatedClock clock;
  auto ids = NewSeededIdGenerator(1);
  ApiCapture api("c1", cutover::v1::DIRECTION_BLUE_TO_GREEN, {AccessRule()}, &q, ids.get(), &clock);
  cutover::v1::RevocationEvent e;
  e.set_kind("hydra.access.delete");
  (*e.mutable_key())["signature"].set_text("sig-9");
  (*e.mutable_extra())["request_id"].set_text("req-9");
  auto resp = api.Record(e);
  ASSERT_TRUE(resp.ok()) << resp.status();
  EXPECT_TRUE(IsUuid(resp->event_id()));
  auto reader = q.OpenReader({});
  auto got = (*reader)->Poll(10, absl::Milliseconds(1));
  ASSERT_EQ(got->size(), 1u);
  auto decoded = DecodeEvent(got->at(0).payload);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->capture_path(), cutover::v1::CAPTURE_PATH_API);
  EXPECT_EQ(decoded->source_table(), "public.hydra_oauth2_access");
  EXPECT_EQ(decoded->op(), cutover::v1::ROW_OP_DELETE);
  EXPECT_EQ(decoded->cutover_id(), "c1");
  EXPECT_EQ(decoded->revocation_class(), cutover::v1::REVOCATION_CLASS_TOKEN);
  EXPECT_EQ(decoded->captured_at().seconds(), absl::ToUnixSeconds(clock.Now()));
}

TEST(ApiCapture, FieldLevelErrors) {
  MemoryQueue q(1);
  ApiCapture api("c1", cutover::v1::DIRECTION_BLUE_TO_GREEN, {AccessRule()}, &q);
  auto base = [] {
    cutover::v1::RevocationEvent e;
    e.set_kind("hydra.access.delete");
    (*e.mutable_key())["signature"].set_text("s");
    return e;
  };
  auto e = base();
  e.set_kind("hydra.nope");
  EXPECT_THAT(std::string(api.Record(e).status().message()),
              HasSubstr("event.kind 'hydra.nope' is not a capture rule of this cutover (expected one of: "
                        "hydra.access.delete)"));
  e = base();
  e.clear_key();
  EXPECT_THAT(std::string(api.Record(e).status().message()), HasSubstr("event.key.signature is missing"));
  e = base();
  (*e.mutable_key())["other"].set_text("x");
  EXPECT_THAT(std::string(api.Record(e).status().message()), HasSubstr("event.key.other is not a key column"));
  e = base();
  (*e.mutable_extra())["session_data"].set_text("secret");
  EXPECT_THAT(std::string(api.Record(e).status().message()),
              HasSubstr("event.extra.session_data is not an extra column"));
  e = base();
  e.set_event_id("123");
  EXPECT_THAT(std::string(api.Record(e).status().message()), HasSubstr("event.event_id '123' is not a UUID"));
  e = base();
  e.set_source_table("public.other");
  EXPECT_THAT(std::string(api.Record(e).status().message()), HasSubstr("event.source_table 'public.other'"));
  e = base();
  e.set_cutover_id("c2");
  EXPECT_THAT(std::string(api.Record(e).status().message()), HasSubstr("event.cutover_id 'c2' is not this cutover"));
  EXPECT_EQ(q.size(), 0);  // nothing appended for any of them
}

TEST(Replayer, TextArrayLiteralEscapes) {
  EXPECT_EQ(TextArrayLiteral({std::string("a"), std::nullopt, std::string("q\"u\\o,te}")}),
            "{\"a\",NULL,\"q\\\"u\\\\o,te}\"}");
  EXPECT_EQ(TextArrayLiteral({}), "{}");
}

TEST(Replayer, SetBasedRewrite) {
  auto del = ParseApply("DELETE FROM hydra_oauth2_access WHERE signature = :signature");
  ASSERT_TRUE(del.ok()) << del.status();
  auto sql = SetBasedSql(*del, {"character varying"});
  ASSERT_TRUE(sql.ok());
  EXPECT_EQ(*sql,
            "WITH cutover_batch AS (SELECT * FROM unnest($1::text[], $2::character varying[]) AS "
            "u(cutover_event_id, p_signature)) DELETE FROM hydra_oauth2_access USING cutover_batch WHERE "
            "(signature = cutover_batch.p_signature) RETURNING cutover_batch.cutover_event_id");
  auto upd = ParseApply("UPDATE t SET active = false, note = ':not_a_param' WHERE id = :id::uuid AND k = :k");
  ASSERT_TRUE(upd.ok()) << upd.status();
  sql = SetBasedSql(*upd, {"uuid", "text"});
  ASSERT_TRUE(sql.ok());
  EXPECT_THAT(*sql, HasSubstr("UPDATE t SET active = false, note = ':not_a_param' FROM cutover_batch WHERE "
                              "(id = cutover_batch.p_id::uuid AND k = cutover_batch.p_k)"));
}

TEST(Replayer, PlanBatchDecidesDeadLettersAndDuplicates) {
  std::map<std::string, CompiledRule> rules;
  rules["hydra.access.delete"] = {"hydra.access.delete", {{{"signature"}, "sql"}}, {"signature"}};
  auto good = SampleEvent();
  good.set_kind("hydra.access.delete");
  auto unknown = SampleEvent();
  unknown.set_kind("nope");
  unknown.set_event_id("00000000-0000-4000-8000-000000000001");
  auto foreign = SampleEvent();
  foreign.set_cutover_id("other");
  foreign.set_event_id("00000000-0000-4000-8000-000000000002");
  auto reverse = SampleEvent();
  reverse.set_direction(cutover::v1::DIRECTION_GREEN_TO_BLUE);
  reverse.set_event_id("00000000-0000-4000-8000-000000000003");
  auto missing = SampleEvent();
  missing.set_event_id("00000000-0000-4000-8000-000000000004");
  missing.mutable_key()->clear();
  (*missing.mutable_key())["other"].set_text("x");
  std::vector<QueuedMessage> msgs;
  auto add = [&](int32_t p, int64_t off, const std::string& payload) {
    QueuedMessage m;
    m.position.set_partition(p);
    m.position.set_offset(off);
    m.payload = payload;
    msgs.push_back(m);
  };
  add(0, 0, EncodeEvent(good));
  add(0, 1, EncodeEvent(good));  // duplicate within the batch
  add(1, 7, "garbage");
  add(1, 8, EncodeEvent(unknown));
  add(2, 3, EncodeEvent(foreign));
  add(2, 4, EncodeEvent(reverse));
  add(2, 5, EncodeEvent(missing));
  BatchPlan plan = PlanBatch(msgs, rules, "c1", cutover::v1::DIRECTION_BLUE_TO_GREEN);
  ASSERT_EQ(plan.by_rule["hydra.access.delete"].size(), 1u);
  EXPECT_EQ(plan.by_rule["hydra.access.delete"][0].values.at("signature"), "sig-1");
  EXPECT_EQ(plan.duplicates_in_batch, 1);
  ASSERT_EQ(plan.dead.size(), 5u);
  EXPECT_THAT(plan.dead[0].reason, HasSubstr("undecodable"));
  EXPECT_THAT(plan.dead[1].reason, HasSubstr("unknown kind 'nope'"));
  EXPECT_THAT(plan.dead[2].reason, HasSubstr("belongs to cutover 'other'"));
  EXPECT_THAT(plan.dead[3].reason, HasSubstr("direction DIRECTION_GREEN_TO_BLUE"));
  EXPECT_THAT(plan.dead[4].reason, HasSubstr("lacks column 'signature'"));
  EXPECT_EQ(FormatPositions(plan.next), "p0:2 p1:9 p2:6");
}

}  // namespace
}  // namespace cutover::replay
