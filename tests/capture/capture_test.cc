// Hermetic tests of capture rules: ResolveRules, ValidateRules (exact field
// paths), ParseApply / ReplacePlaceholders (literals, casts, refused shapes),
// the built-in Hydra profile, and EventFromOutboxRow.
#include "cutover/replay/capture.h"

#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/civil_time.h"
#include "cutover/common/proto_time.h"
#include "cutover/replay/event.h"
#include "cutover/replay/hydra_profile.h"
#include "cutover/replay/rules.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cutover::replay {
namespace {

using cutover::v1::CaptureRule;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

CaptureRule TokenRule(const std::string& name = "app.token.delete") {
  CaptureRule r;
  r.set_name(name);
  r.set_table("public.tokens");
  r.set_revocation_class(cutover::v1::REVOCATION_CLASS_TOKEN);
  r.set_on_delete(true);
  r.add_key_columns("id");
  r.add_extra_columns("owner");
  r.add_apply("DELETE FROM tokens WHERE id = :id");
  return r;
}

std::string Err(const absl::Status& s) { return std::string(s.message()); }

// ---- ResolveRules ----

TEST(ResolveRollbackRules, HydraSwapsConsentForTheFlowRule) {
  cutover::v1::CaptureOptions o;
  o.set_profile("hydra");
  auto r = ResolveRollbackRules(o);
  ASSERT_TRUE(r.ok()) << r.status();
  std::set<std::string> names;
  for (const auto& rule : *r) names.insert(rule.name());
  EXPECT_TRUE(names.count("hydra.flow.delete"));
  EXPECT_TRUE(names.count("hydra.access.delete"));
  EXPECT_FALSE(names.count("hydra.consent.delete"));
  EXPECT_TRUE(ValidateRules(*r).ok());
}

TEST(ResolveRollbackRules, GenericDefaultsToTheRulesAndNamesItsOwnField) {
  cutover::v1::CaptureOptions o;
  o.set_profile("generic");
  auto* rule = o.add_rules();
  rule->set_name("t");
  rule->set_table("public.t");
  rule->set_on_delete(true);
  rule->add_key_columns("id");
  rule->add_apply("DELETE FROM public.t WHERE id = :id");
  auto r = ResolveRollbackRules(o);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].name(), "t");
  // Own rollback rules replace them, and their errors name rollback_rules.
  auto* bad = o.add_rollback_rules();
  *bad = *rule;
  bad->clear_key_columns();
  r = ResolveRollbackRules(o);
  ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("capture.rollback_rules[t].key_columns"));
  o.set_profile("nope");
  EXPECT_THAT(std::string(ResolveRollbackRules(o).status().message()), HasSubstr("capture.profile"));
}

TEST(ResolveRules, EmptyProfile) {
  cutover::v1::CaptureOptions o;
  auto r = ResolveRules(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Err(r.status()), "capture.profile is empty: expected \"hydra\" or \"generic\"");
}

TEST(ResolveRules, UnknownProfileIsNamed) {
  cutover::v1::CaptureOptions o;
  o.set_profile("keycloak");
  auto r = ResolveRules(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Err(r.status()), HasSubstr("\"keycloak\" is unknown"));
  EXPECT_THAT(Err(r.status()), HasSubstr("\"hydra\" or \"generic\""));
}

TEST(ResolveRules, GenericNeedsRules) {
  cutover::v1::CaptureOptions o;
  o.set_profile("generic");
  auto r = ResolveRules(o);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(Err(r.status()), StartsWith("capture.rules is empty"));
  *o.add_rules() = TokenRule();
  r = ResolveRules(o);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].name(), "app.token.delete");
}

TEST(ResolveRules, GenericRulesAreValidated) {
  cutover::v1::CaptureOptions o;
  o.set_profile("generic");
  *o.add_rules() = TokenRule();
  CaptureRule bad = TokenRule("second");
  bad.clear_key_columns();
  *o.add_rules() = bad;
  auto r = ResolveRules(o);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(Err(r.status()), StartsWith("capture.rules[second].key_columns: is empty"));
}

TEST(ResolveRules, HydraIsBuiltInPlusPlanRules) {
  cutover::v1::CaptureOptions o;
  o.set_profile("hydra");
  auto r = ResolveRules(o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->size(), HydraRules().size());
  *o.add_rules() = TokenRule("site.extra");
  r = ResolveRules(o);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), HydraRules().size() + 1);
  EXPECT_EQ(r->back().name(), "site.extra");
}

TEST(ResolveRules, HydraNameClash) {
  cutover::v1::CaptureOptions o;
  o.set_profile("hydra");
  *o.add_rules() = TokenRule("site.ok");
  *o.add_rules() = TokenRule("hydra.access.delete");
  auto r = ResolveRules(o);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(Err(r.status()),
              StartsWith("capture.rules[1].name: \"hydra.access.delete\" clashes with a built-in"));
}

// ---- ValidateRules ----

struct BadRuleCase {
  std::string label;
  std::function<void(CaptureRule*)> mutate;
  std::string error_prefix;
};

TEST(ValidateRules, GoodRulePasses) {
  EXPECT_TRUE(ValidateRules({TokenRule()}).ok());
  CaptureRule u = TokenRule("app.token.revoke");
  u.set_on_delete(false);
  auto* v = u.add_on_update();
  v->set_column("status");
  v->set_value("revoked");
  u.set_apply(
      0, "UPDATE tokens SET status = 'revoked', revoked_by = :owner WHERE id = :id AND status <> 'revoked';");
  EXPECT_TRUE(ValidateRules({TokenRule(), u}).ok()) << ValidateRules({u});
}

TEST(ValidateRules, BadRulesNameTheField) {
  const std::vector<BadRuleCase> cases = {
      {"empty name", [](CaptureRule* r) { r->set_name(""); }, "capture.rules[0].name: is empty"},
      {"bad name", [](CaptureRule* r) { r->set_name("Tokens Rule"); },
       "capture.rules[0].name: \"Tokens Rule\" is not a valid rule name: expected [a-z0-9_.-]+"},
      {"empty table", [](CaptureRule* r) { r->set_table(""); },
       "capture.rules[app.token.delete].table: is empty"},
      {"unqualified table", [](CaptureRule* r) { r->set_table("tokens"); },
       "capture.rules[app.token.delete].table: \"tokens\" is not a schema-qualified table"},
      {"three-part table", [](CaptureRule* r) { r->set_table("db.public.tokens"); },
       "capture.rules[app.token.delete].table: \"db.public.tokens\" is not a schema-qualified table"},
      {"upper-case table", [](CaptureRule* r) { r->set_table("public.Tokens"); },
       "capture.rules[app.token.delete].table: \"public.Tokens\""},
      {"no op", [](CaptureRule* r) { r->set_on_delete(false); },
       "capture.rules[app.token.delete]: neither on_delete nor on_update is set"},
      {"missing key", [](CaptureRule* r) { r->clear_key_columns(); },
       "capture.rules[app.token.delete].key_columns: is empty"},
      {"bad key column", [](CaptureRule* r) { r->set_key_columns(0, "id; drop"); },
       "capture.rules[app.token.delete].key_columns[0]: \"id; drop\" is not a column name"},
      {"bad extra column", [](CaptureRule* r) { r->add_extra_columns("Owner"); },
       "capture.rules[app.token.delete].extra_columns[1]: \"Owner\" is not a column name"},
      {"extra repeats key", [](CaptureRule* r) { r->add_extra_columns("id"); },
       "capture.rules[app.token.delete].extra_columns[1]: id is listed twice"},
      {"bad on_update column",
       [](CaptureRule* r) {
         auto* u = r->add_on_update();
         u->set_column("");
         u->set_value("x");
       },
       "capture.rules[app.token.delete].on_update[0].column: \"\" is not a column name"},
      {"empty on_update value",
       [](CaptureRule* r) {
         auto* u = r->add_on_update();
         u->set_column("active");
       },
       "capture.rules[app.token.delete].on_update[0].value: is empty"},
      {"no apply", [](CaptureRule* r) { r->clear_apply(); },
       "capture.rules[app.token.delete].apply: is empty"},
      {"insert", [](CaptureRule* r) { r->add_apply("INSERT INTO revoked (id) VALUES (:id)"); },
       "capture.rules[app.token.delete].apply[1]: INSERT is not allowed"},
      {"two statements",
       [](CaptureRule* r) {
         r->set_apply(0, "DELETE FROM tokens WHERE id = :id; DELETE FROM audit WHERE id = :id");
       },
       "capture.rules[app.token.delete].apply[0]: a semicolon inside the statement"},
      {"returning", [](CaptureRule* r) { r->set_apply(0, "DELETE FROM tokens WHERE id = :id RETURNING id"); },
       "capture.rules[app.token.delete].apply[0]: RETURNING is not allowed"},
      {"using", [](CaptureRule* r) { r->set_apply(0, "DELETE FROM tokens USING owners WHERE id = :id"); },
       "capture.rules[app.token.delete].apply[0]: USING is not allowed"},
      {"placeholder not a column",
       [](CaptureRule* r) { r->set_apply(0, "DELETE FROM tokens WHERE id = :token_id"); },
       "capture.rules[app.token.delete].apply[0]: placeholder :token_id does not name a key or extra column"},
  };
  for (const auto& c : cases) {
    CaptureRule r = TokenRule();
    c.mutate(&r);
    absl::Status st = ValidateRules({r});
    ASSERT_FALSE(st.ok()) << c.label;
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << c.label;
    EXPECT_THAT(Err(st), StartsWith(c.error_prefix)) << c.label;
  }
}

TEST(ValidateRules, DuplicateNamesUseIndexes) {
  absl::Status st = ValidateRules({TokenRule("a"), TokenRule("b"), TokenRule("a")});
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(Err(st),
            "capture.rules[2].name: \"a\" is already the name of capture.rules[0]: expected unique names");
}

TEST(ValidateRules, IndexPathForUnnamedRules) {
  CaptureRule r = TokenRule();
  r.set_name("");
  absl::Status st = ValidateRules({TokenRule("x"), TokenRule("y"), r});
  EXPECT_THAT(Err(st), StartsWith("capture.rules[2].name: is empty"));
  CaptureRule a = TokenRule("z");
  a.add_apply("SELECT 1");
  st = ValidateRules({TokenRule("x"), a});
  EXPECT_THAT(Err(st), StartsWith("capture.rules[z].apply[1]: SELECT is not allowed"));
}

// ---- ParseApply ----

TEST(ParseApply, Delete) {
  auto t = ParseApply("DELETE FROM hydra_oauth2_access WHERE signature = :signature");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->verb, "DELETE");
  EXPECT_EQ(t->table, "hydra_oauth2_access");
  EXPECT_EQ(t->set_clause, "");
  EXPECT_EQ(t->where_clause, "signature = :signature");
  EXPECT_THAT(t->params, ElementsAre("signature"));
}

TEST(ParseApply, UpdateCaseAndWhitespaceTolerant) {
  auto t = ParseApply(
      "  update\n\tpublic.hydra_oauth2_refresh   set active=false,\n note = :reason\n"
      "  Where signature=:signature AND request_id = :request_id AND note <> :reason ;  ");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->verb, "UPDATE");
  EXPECT_EQ(t->table, "public.hydra_oauth2_refresh");
  EXPECT_EQ(t->set_clause, "active=false,\n note = :reason");
  EXPECT_EQ(t->where_clause, "signature=:signature AND request_id = :request_id AND note <> :reason");
  EXPECT_THAT(t->params, ElementsAre("reason", "signature", "request_id"));
}

TEST(ParseApply, QuotedTableAndIdentifiers) {
  auto t = ParseApply("DELETE FROM \"App\".\"Token;s\" WHERE \"Id:x\" = :id");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_EQ(t->table, "\"App\".\"Token;s\"");
  EXPECT_THAT(t->params, ElementsAre("id"));
}

TEST(ParseApply, CastsAreNotPlaceholders) {
  auto t = ParseApply(
      "DELETE FROM t WHERE id = :id::uuid AND created < now()::timestamp with time zone "
      "AND x::text = :x");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(t->params, ElementsAre("id", "x"));
}

TEST(ParseApply, PlaceholdersInLiteralsAreIgnored) {
  auto t = ParseApply(
      "UPDATE t SET note = 'revoked at :time; really' WHERE id = :id AND tag <> E'it\\'s :not' "
      "AND body <> $q$ :nope; $q$ AND b <> $$:no$$ AND \"col:name\" IS DISTINCT FROM :owner");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_THAT(t->params, ElementsAre("id", "owner"));
  EXPECT_EQ(t->set_clause, "note = 'revoked at :time; really'");
}

TEST(ParseApply, DistinctFromIsAllowed) {
  auto t = ParseApply("UPDATE t SET active = false WHERE id = :id AND active IS DISTINCT FROM false");
  ASSERT_TRUE(t.ok()) << t.status();
}

TEST(ParseApply, RefusedShapes) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"", "empty statement"},
      {";", "empty statement"},
      {"INSERT INTO t (id) VALUES (:id)", "INSERT is not allowed"},
      {"insert into t select 1", "INSERT is not allowed"},
      {"SELECT pg_terminate_backend(1)", "SELECT is not allowed"},
      {"TRUNCATE t", "TRUNCATE is not allowed"},
      {"WITH x AS (DELETE FROM t RETURNING 1) DELETE FROM u WHERE id = :id",
       "WITH (common table expressions)"},
      {"DELETE t WHERE id = :id", "DELETE must be followed by FROM"},
      {"DELETE FROM WHERE id = :id", "expected a table name"},
      {"DELETE FROM ONLY t WHERE id = :id", "ONLY is not supported"},
      {"DELETE FROM t", "the statement ends after the table"},
      {"DELETE FROM t AS x WHERE x.id = :id", "aliases are not supported"},
      {"DELETE FROM t x WHERE x.id = :id", "aliases are not supported"},
      {"DELETE FROM t USING u WHERE t.id = u.id", "USING is not allowed"},
      {"DELETE FROM t WHERE id IN (SELECT id FROM u)", "nested SELECT is not allowed"},
      {"DELETE FROM t WHERE ts > extract(epoch FROM now())", "FROM is not allowed"},
      {"DELETE FROM t WHERE id = :id RETURNING *", "RETURNING is not allowed"},
      {"DELETE FROM t WHERE id = :id; DELETE FROM u WHERE id = :id", "a semicolon inside the statement"},
      {"DELETE FROM t WHERE id = :id;;", "a semicolon inside the statement"},
      {"DELETE FROM t WHERE id = :id -- trailing", "comments are not allowed"},
      {"DELETE FROM t WHERE id = :id /* x */", "comments are not allowed"},
      {"DELETE FROM t WHERE id = $1", "positional parameter $1 is not allowed"},
      {"DELETE FROM t WHERE id = 'open", "unterminated string literal"},
      {"DELETE FROM t WHERE \"id = :id", "unterminated quoted identifier"},
      {"DELETE FROM t WHERE id = $x$ :id", "unterminated dollar-quoted string"},
      {"DELETE FROM t WHERE", "WHERE has no condition"},
      {"DELETE FROM a.b.c WHERE id = :id", "too many name parts"},
      {"UPDATE t SET a = 1", "UPDATE without WHERE"},
      {"UPDATE t SET WHERE id = :id", "SET has no assignments"},
      {"UPDATE t WHERE id = :id", "expected SET"},
      {"UPDATE t SET a = 1 FROM u WHERE t.id = u.id", "FROM is not allowed"},
      {"UPDATE t SET a = u.b FROM u WHERE t.id = :id", "FROM is not allowed"},
      {"UPDATE t SET a = (DELETE FROM u WHERE x = 1) WHERE id = :id", "nested DELETE is not allowed"},
      {"UPDATE t SET a = 1 WHERE id = :id RETURNING a", "RETURNING is not allowed"},
      {"MERGE INTO t USING u ON true WHEN MATCHED THEN DELETE", "MERGE is not allowed"},
      {"DELETE FROM t WHERE id = :id WHERE x = 1", "WHERE appears twice"},
  };
  for (const auto& [sql, want] : cases) {
    auto t = ParseApply(sql);
    ASSERT_FALSE(t.ok()) << "accepted: " << sql;
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument) << sql;
    EXPECT_THAT(Err(t.status()), HasSubstr(want)) << sql;
  }
}

TEST(ReplacePlaceholders, BindsOutsideLiterals) {
  std::map<std::string, int> idx = {{"id", 1}, {"owner", 2}};
  auto s =
      ReplacePlaceholders("DELETE FROM t WHERE id = :id::uuid AND note <> ':id' AND o = :owner AND p = :id;",
                          [&](const std::string& n) { return absl::StrCat("$", idx[n]); });
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, "DELETE FROM t WHERE id = $1::uuid AND note <> ':id' AND o = $2 AND p = $1;");
  EXPECT_FALSE(ReplacePlaceholders("x = 'open", [](const std::string&) { return ""; }).ok());
}

// ---- the Hydra profile ----

TEST(HydraProfile, RulesAreValid) {
  ASSERT_TRUE(ValidateRules(HydraRules()).ok()) << ValidateRules(HydraRules());
}

TEST(HydraProfile, CoversEveryRevocationClassWeClaim) {
  std::set<std::string> names;
  for (const auto& r : HydraRules()) names.insert(r.name());
  for (const char* kind : kHydraTokenKinds) {
    EXPECT_TRUE(names.count(absl::StrCat("hydra.", kind, ".delete"))) << kind;
    EXPECT_TRUE(names.count(absl::StrCat("hydra.", kind, ".deactivate"))) << kind;
  }
  for (const char* n : {"hydra.consent.delete", "hydra.consent_handled.delete", "hydra.login_session.delete",
                        "hydra.client.delete", "hydra.trust_grant.delete", "hydra.jwk.delete"}) {
    EXPECT_TRUE(names.count(n)) << n;
  }
}

TEST(HydraProfile, TokenRulesShape) {
  for (const auto& r : HydraRules()) {
    if (r.name() == "hydra.access.delete") {
      EXPECT_EQ(r.table(), "public.hydra_oauth2_access");
      EXPECT_TRUE(r.on_delete());
      EXPECT_EQ(r.revocation_class(), cutover::v1::REVOCATION_CLASS_TOKEN);
      EXPECT_THAT(r.key_columns(), ElementsAre("signature"));
      EXPECT_THAT(r.extra_columns(), ElementsAre("request_id", "client_id", "subject"));
      EXPECT_THAT(r.apply(), ElementsAre("DELETE FROM hydra_oauth2_access WHERE signature = :signature"));
    }
    if (r.name() == "hydra.refresh.deactivate") {
      EXPECT_FALSE(r.on_delete());
      ASSERT_EQ(r.on_update_size(), 1);
      EXPECT_EQ(r.on_update(0).column(), "active");
      EXPECT_EQ(r.on_update(0).value(), "false");
      EXPECT_THAT(r.apply(),
                  ElementsAre("UPDATE hydra_oauth2_refresh SET active = false WHERE signature = :signature"));
    }
    if (r.name() == "hydra.consent.delete") {
      EXPECT_EQ(r.revocation_class(), cutover::v1::REVOCATION_CLASS_CONSENT);
      EXPECT_THAT(r.apply(),
                  ElementsAre("DELETE FROM hydra_oauth2_flow WHERE consent_challenge_id = :challenge"));
    }
  }
}

TEST(HydraProfile, NeverCarriesSecrets) {
  const std::set<std::string> secret = {"session_data",
                                        "form_data",
                                        "client_secret",
                                        "keydata",
                                        "verifier",
                                        "csrf",
                                        "session_access_token",
                                        "session_id_token",
                                        "jwks",
                                        "registration_access_token_signature"};
  for (const auto& r : HydraRules()) {
    for (const auto& c : r.key_columns()) EXPECT_FALSE(secret.count(c)) << r.name() << " " << c;
    for (const auto& c : r.extra_columns()) EXPECT_FALSE(secret.count(c)) << r.name() << " " << c;
  }
}

TEST(CaptureNames, DeterministicAndShort) {
  const std::string long_name(200, 'a');
  for (const auto& n : {std::string("hydra.access.delete"), long_name}) {
    EXPECT_LE(CaptureTriggerName(n, 'd').size(), 63u);
    EXPECT_LE(CaptureFunctionName(n, 'u').size(), 63u);
    EXPECT_EQ(CaptureTriggerName(n, 'd'), CaptureTriggerName(n, 'd'));
  }
  // Names that sanitize alike still differ.
  EXPECT_NE(CaptureTriggerName("a.b", 'd'), CaptureTriggerName("a_b", 'd'));
  EXPECT_NE(CaptureTriggerName("a.b", 'd'), CaptureTriggerName("a.b", 'u'));
}

// ---- EventFromOutboxRow ----

OutboxRow GoodRow() {
  OutboxRow r;
  r.id = 42;
  r.event_id = "6F1C2D3E-4A5B-4C6D-8E9F-0A1B2C3D4E5F";
  r.rule = "hydra.access.delete";
  r.revocation_class = cutover::v1::REVOCATION_CLASS_TOKEN;
  r.op = "DELETE";
  r.source_table = "public.hydra_oauth2_access";
  r.key = R"({"signature": "sig-1"})";
  r.extra = R"({"subject": null, "client_id": "c1", "request_id": "r1"})";
  r.txid = 123456;
  r.captured_at = "2024-05-01 12:34:56.123456+00";
  r.direction = cutover::v1::DIRECTION_BLUE_TO_GREEN;
  r.cutover_id = "cut-1";
  return r;
}

TEST(EventFromOutboxRow, BuildsAValidEvent) {
  auto e = EventFromOutboxRow(GoodRow());
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->format_version(), kEventFormatVersion);
  EXPECT_EQ(e->event_id(), "6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f");
  EXPECT_EQ(e->kind(), "hydra.access.delete");
  EXPECT_EQ(e->revocation_class(), cutover::v1::REVOCATION_CLASS_TOKEN);
  EXPECT_EQ(e->op(), cutover::v1::ROW_OP_DELETE);
  EXPECT_EQ(e->source_table(), "public.hydra_oauth2_access");
  ASSERT_EQ(e->key().size(), 1u);
  EXPECT_EQ(e->key().at("signature").text(), "sig-1");
  EXPECT_FALSE(e->key().at("signature").null());
  EXPECT_EQ(e->extra().at("client_id").text(), "c1");
  EXPECT_TRUE(e->extra().at("subject").null());
  EXPECT_EQ(e->source_txid(), 123456);
  EXPECT_EQ(e->capture_path(), cutover::v1::CAPTURE_PATH_TRIGGER);
  EXPECT_EQ(e->direction(), cutover::v1::DIRECTION_BLUE_TO_GREEN);
  EXPECT_EQ(e->cutover_id(), "cut-1");
  const absl::Time want = absl::FromCivil(absl::CivilSecond(2024, 5, 1, 12, 34, 56), absl::UTCTimeZone()) +
                          absl::Microseconds(123456);
  EXPECT_EQ(FromProtoTime(e->captured_at()), want);
  EXPECT_TRUE(ValidateEvent(*e).ok());
  // Round trip through the wire format.
  auto back = DecodeEvent(EncodeEvent(*e));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->extra().at("request_id").text(), "r1");
}

TEST(EventFromOutboxRow, Update) {
  OutboxRow r = GoodRow();
  r.op = "UPDATE";
  r.rule = "hydra.refresh.deactivate";
  auto e = EventFromOutboxRow(r);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->op(), cutover::v1::ROW_OP_UPDATE);
}

TEST(EventFromOutboxRow, BadRows) {
  struct Case {
    std::function<void(OutboxRow*)> mutate;
    std::string want;
  };
  const std::vector<Case> cases = {
      {[](OutboxRow* r) { r->op = "INSERT"; }, "op 'INSERT' is not DELETE or UPDATE"},
      {[](OutboxRow* r) { r->key = "not json"; }, "key is not a JSON object"},
      {[](OutboxRow* r) { r->key = R"({"signature": 5})"; }, "key[signature] is not a string or null"},
      {[](OutboxRow* r) { r->key = R"({"signature": null})"; }, "is NULL: key columns must have values"},
      {[](OutboxRow* r) { r->key = "{}"; }, "event.key is empty"},
      {[](OutboxRow* r) { r->event_id = "nope"; }, "is not a UUID"},
      {[](OutboxRow* r) { r->captured_at = "yesterday"; }, "is not an ISO timestamptz"},
      {[](OutboxRow* r) { r->direction = 99; }, "direction 99 is not a Direction"},
      {[](OutboxRow* r) { r->direction = 0; }, "event.direction is unset"},
      {[](OutboxRow* r) { r->revocation_class = 77; }, "revocation_class 77"},
      {[](OutboxRow* r) { r->source_table = "tokens"; }, "not schema-qualified"},
  };
  for (const auto& c : cases) {
    OutboxRow r = GoodRow();
    c.mutate(&r);
    auto e = EventFromOutboxRow(r);
    ASSERT_FALSE(e.ok()) << c.want;
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << c.want;
    EXPECT_THAT(Err(e.status()), HasSubstr(c.want));
    EXPECT_THAT(Err(e.status()), HasSubstr("outbox row 42"));
  }
}

TEST(ParsePgTimestamptz, Forms) {
  const absl::Time base = absl::FromCivil(absl::CivilSecond(2024, 5, 1, 12, 0, 0), absl::UTCTimeZone());
  struct Case {
    std::string text;
    absl::Time want;
  };
  const std::vector<Case> cases = {
      {"2024-05-01 12:00:00+00", base},
      {"2024-05-01T12:00:00Z", base},
      {"2024-05-01 12:00:00.5+00", base + absl::Milliseconds(500)},
      {"2024-05-01 14:00:00+02", base},
      {"2024-05-01 17:30:00.000001+05:30", base + absl::Microseconds(1)},
      {"2024-05-01 08:59:50-03:00:10", base},
  };
  for (const auto& c : cases) {
    auto t = ParsePgTimestamptz(c.text);
    ASSERT_TRUE(t.ok()) << c.text << ": " << t.status();
    EXPECT_EQ(*t, c.want) << c.text;
  }
  for (const char* bad : {"", "2024-05-01", "2024-05-01 12:00:00", "2024-13-01 12:00:00+00",
                          "Wed May 01 12:00:00 2024 UTC", "2024-05-01 12:00:00+00 extra", "infinity"}) {
    EXPECT_FALSE(ParsePgTimestamptz(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace cutover::replay
