// Capture on real PostgreSQL (shared sandbox): the catalog check of the
// Hydra rules (1.11 blue, 2.x green), trigger capture of every Hydra
// revocation as Hydra 1.x issues it (tokens, refresh rotation, consent,
// login sessions, client deletion with its cascades), rollbacks, concurrent
// revokers, idempotent install, install under a held lock, removal leaving
// the schema as it was, a generic profile on a non-Hydra schema, and events
// never carrying secrets.
#include <atomic>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cutover/common/pg.h"
#include "cutover/common/proto_time.h"
#include "cutover/common/subprocess.h"
#include "cutover/hydra/dataset.h"
#include "cutover/replay/capture.h"
#include "cutover/replay/hydra_profile.h"
#include "cutover/replay/rules.h"
#include "cutover/testing/sandbox_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cutover::replay {
namespace {

using cutover::v1::CaptureRule;
using cutover::v1::RevocationEvent;
using ::testing::HasSubstr;
using ::testing::StartsWith;

#define ASSERT_OK(expr)                            \
  do {                                             \
    const absl::Status st_ = (expr);               \
    ASSERT_TRUE(st_.ok()) << #expr << ": " << st_; \
  } while (0)

hydra::DatasetSize SmallSize() {
  hydra::DatasetSize size = hydra::DatasetSize::AtScale(0.001);
  size.clients = 5;
  size.auth_codes = 40;
  size.logout_requests = 6;
  size.obfuscated_sessions = 7;
  size.jti_blacklist = 8;
  size.trust_grants = 3;
  return size;
}

std::unique_ptr<pg::Session> Connect(const std::string& dsn, const std::string& what,
                                     const std::string& app = "capture-pgtest") {
  auto s = pg::Session::Connect(dsn, what, app);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? std::move(*s) : nullptr;
}

class CapturePgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = testing::FreshDatabases("capture");
    ASSERT_FALSE(HasFailure());
    blue_ = Connect(db_.blue, "blue");
    green_ = Connect(db_.green, "green");
    ASSERT_TRUE(blue_ && green_);
    opts_.cutover_id = db_.name;
    opts_.direction = cutover::v1::DIRECTION_BLUE_TO_GREEN;
    opts_.lock_timeout = absl::Milliseconds(200);
    opts_.backoff = absl::Milliseconds(20);
  }
  void TearDown() override {
    blue_.reset();
    green_.reset();
    if (db_.name.empty()) return;
    auto& sb = testing::SharedSandbox();
    for (const char* c : {"blue", "green", "control"}) (void)sb.DropDatabase(c, db_.name);
  }

  // Hydra 1.11 with a small dataset on blue, empty 2.x on green.
  void SetUpHydra() {
    ASSERT_OK(hydra::CreateSchema11(*blue_));
    ASSERT_OK(hydra::CreateSchema2x(*green_));
    ASSERT_OK(hydra::Generate(*blue_, SmallSize()));
  }
  void InstallHydra() { ASSERT_OK(InstallCapture(*blue_, HydraRules(), opts_)); }

  std::string Q(const std::string& sql) { return testing::QueryScalar(db_.blue, sql); }
  int64_t N(const std::string& sql) { return std::stoll(Q(sql)); }
  void X(const std::string& sql) { testing::ExecOrDie(db_.blue, sql); }

  std::vector<RevocationEvent> Events() {
    std::vector<RevocationEvent> out;
    auto r = blue_->Exec(absl::StrCat("SELECT ", kOutboxColumns, " FROM cutover_capture.outbox ORDER BY id"));
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return out;
    for (const auto& row : *r) {
      auto o = OutboxRowFromPqxx(row);
      EXPECT_TRUE(o.ok()) << o.status();
      if (!o.ok()) continue;
      auto e = EventFromOutboxRow(*o);
      EXPECT_TRUE(e.ok()) << e.status();
      if (e.ok()) out.push_back(*e);
    }
    return out;
  }
  static std::map<std::string, int> ByKind(const std::vector<RevocationEvent>& events) {
    std::map<std::string, int> out;
    for (const auto& e : events) out[e.kind()]++;
    return out;
  }
  void ClearOutbox() { X("DELETE FROM cutover_capture.outbox"); }

  // A request id with an access token and an active refresh token.
  std::string GrantWithRefresh() {
    return Q(
        "SELECT a.request_id FROM hydra_oauth2_access a JOIN hydra_oauth2_refresh r USING (request_id) "
        "WHERE r.active GROUP BY a.request_id ORDER BY a.request_id LIMIT 1");
  }

  testing::TestDb db_;
  std::unique_ptr<pg::Session> blue_, green_;
  CaptureInstallOptions opts_;
};

// ---- the catalog check ----

TEST_F(CapturePgTest, HydraRulesPassTheCatalogCheck) {
  ASSERT_NO_FATAL_FAILURE(SetUpHydra());
  ASSERT_OK(CheckRulesAgainstCatalog(HydraRules(), *blue_, *green_));
  // Nothing was left prepared or changed on green.
  EXPECT_EQ(testing::QueryScalar(db_.green, "SELECT count(*) FROM hydra_oauth2_flow"), "0");
}

TEST_F(CapturePgTest, HydraRollbackRulesPassTheCatalogCheckFromGreenToBlue) {
  SetUpHydra();
  // Captured on green (2.x), applied on blue (1.11).
  ASSERT_OK(CheckRulesAgainstCatalog(HydraRollbackRules(), *green_, *blue_));
  // The forward rules do not fit that direction (consent tables differ).
  EXPECT_FALSE(CheckRulesAgainstCatalog(HydraRules(), *green_, *blue_).ok());
}

TEST_F(CapturePgTest, TheReplayersOwnWritesAreNotCaptured) {
  SetUpHydra();
  InstallHydra();
  const std::string first = Q("SELECT signature FROM hydra_oauth2_access ORDER BY signature LIMIT 1");
  const std::string second = Q("SELECT signature FROM hydra_oauth2_access ORDER BY signature OFFSET 1 LIMIT 1");
  // A replayer session (SET cutover.replaying = on) applying a revocation:
  // not captured, so it cannot echo back the other way.
  X(absl::StrCat("SET cutover.replaying = on; DELETE FROM hydra_oauth2_access WHERE signature = ",
                 pg::QuoteLiteral(first)));
  EXPECT_EQ(N("SELECT count(*) FROM cutover_capture.outbox"), 0);
  // Any other session is captured as before (also one that set it off).
  X(absl::StrCat("SET cutover.replaying = off; DELETE FROM hydra_oauth2_access WHERE signature = ",
                 pg::QuoteLiteral(second)));
  const std::vector<RevocationEvent> events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].key().at("signature").text(), second);
}

TEST_F(CapturePgTest, CatalogCheckNamesTheProblem) {
  ASSERT_NO_FATAL_FAILURE(SetUpHydra());
  auto base = [] {
    CaptureRule r;
    r.set_name("site.rule");
    r.set_table("public.hydra_oauth2_access");
    r.set_on_delete(true);
    r.add_key_columns("signature");
    r.add_apply("DELETE FROM hydra_oauth2_access WHERE signature = :signature");
    return r;
  };
  ASSERT_OK(CheckRulesAgainstCatalog({base()}, *blue_, *green_));

  CaptureRule r = base();
  r.set_table("public.hydra_nope");
  absl::Status st = CheckRulesAgainstCatalog({r}, *blue_, *green_);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(st.message(), "capture.rules[site.rule].table: public.hydra_nope does not exist on blue");

  r = base();
  r.add_extra_columns("nope");
  st = CheckRulesAgainstCatalog({r}, *blue_, *green_);
  EXPECT_EQ(st.message(),
            "capture.rules[site.rule].extra_columns: column nope does not exist in "
            "public.hydra_oauth2_access on blue");

  r = base();
  auto* u = r.add_on_update();
  u->set_column("active");
  u->set_value("maybe");
  st = CheckRulesAgainstCatalog({r}, *blue_, *green_);
  EXPECT_THAT(std::string(st.message()),
              StartsWith("capture.rules[site.rule].on_update[0].value: \"maybe\" is not a valid boolean"));

  r = base();
  r.set_apply(0, "DELETE FROM hydra_oauth2_access WHERE sig = :signature");
  st = CheckRulesAgainstCatalog({r}, *blue_, *green_);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(
      st.message(),
      "capture.rules[site.rule].apply[0]: invalid on green: column \"sig\" does not exist (SQLSTATE 42703)");

  // Valid on the 1.11 shape, not on green's 2.x shape.
  r = base();
  r.add_apply("DELETE FROM hydra_oauth2_consent_request WHERE challenge = :signature");
  st = CheckRulesAgainstCatalog({r}, *blue_, *green_);
  EXPECT_THAT(std::string(st.message()), StartsWith("capture.rules[site.rule].apply[1]: invalid on green: "));
  EXPECT_THAT(std::string(st.message()), HasSubstr("hydra_oauth2_consent_request"));
}

// ---- Hydra revocations ----

TEST_F(CapturePgTest, TokenRevocationAsHydraDoesIt) {
  ASSERT_NO_FATAL_FAILURE(SetUpHydra());
  ASSERT_NO_FATAL_FAILURE(InstallHydra());
  const std::string rid = GrantWithRefresh();
  ASSERT_FALSE(rid.empty());
  const std::string lit = pg::QuoteLiteral(rid);
  const int64_t access = N("SELECT count(*) FROM hydra_oauth2_access WHERE request_id = " + lit);
  const int64_t active = N("SELECT count(*) FROM hydra_oauth2_refresh WHERE active AND request_id = " + lit);
  const int64_t inactive =
      N("SELECT count(*) FROM hydra_oauth2_refresh WHERE NOT active AND request_id = " + lit);
  ASSERT_GE(access, 1);
  ASSERT_GE(active, 1);
  const std::string access_sigs =
      Q("SELECT string_agg(signature, ',' ORDER BY signature) FROM hydra_oauth2_access "
        "WHERE request_id = " +
        lit);

  X("DELETE FROM hydra_oauth2_access WHERE request_id = " + lit);
  X("UPDATE hydra_oauth2_refresh SET active = false WHERE request_id = " + lit);
  auto events = Events();
  auto kinds = ByKind(events);
  EXPECT_EQ(kinds["hydra.access.delete"], access);
  EXPECT_EQ(kinds["hydra.refresh.deactivate"], active)
      << "rows already inactive (" << inactive << ") must not count";
  EXPECT_EQ(events.size(), static_cast<size_t>(access + active));
  std::vector<std::string> sigs;
  std::set<std::string> ids;
  for (const auto& e : events) {
    ids.insert(e.event_id());
    EXPECT_EQ(e.extra().at("request_id").text(), rid);
    EXPECT_EQ(e.direction(), cutover::v1::DIRECTION_BLUE_TO_GREEN);
    EXPECT_EQ(e.cutover_id(), db_.name);
    EXPECT_EQ(e.revocation_class(), cutover::v1::REVOCATION_CLASS_TOKEN);
    EXPECT_GT(e.source_txid(), 0);
    if (e.kind() == "hydra.access.delete") {
      EXPECT_EQ(e.op(), cutover::v1::ROW_OP_DELETE);
      EXPECT_EQ(e.source_table(), "public.hydra_oauth2_access");
      sigs.push_back(e.key().at("signature").text());
    } else {
      EXPECT_EQ(e.op(), cutover::v1::ROW_OP_UPDATE);
      EXPECT_EQ(e.source_table(), "public.hydra_oauth2_refresh");
    }
    EXPECT_FALSE(e.extra().at("client_id").text().empty());
  }
  EXPECT_EQ(ids.size(), events.size()) << "event ids are unique";
  std::sort(sigs.begin(), sigs.end());
  EXPECT_EQ(absl::StrJoin(sigs, ","), access_sigs);

  // Updates that do not turn `active` to false capture nothing.
  ClearOutbox();
  X("UPDATE hydra_oauth2_refresh SET active = false WHERE request_id = " + lit);  // already false
  X("UPDATE hydra_oauth2_refresh SET scope = scope || ' x' WHERE request_id = " + lit);
  X("UPDATE hydra_oauth2_refresh SET active = true WHERE request_id = " + lit);  // re-activation
  X("UPDATE hydra_oauth2_access SET granted_scope = 'openid' WHERE client_id IN (SELECT id FROM "
    "hydra_client)");
  X("DELETE FROM hydra_oauth2_access WHERE request_id = 'no-such-request'");
  EXPECT_EQ(Events().size(), 0u);
  // The row re-activated above is deactivated again: that is a revocation.
  X("UPDATE hydra_oauth2_refresh SET active = false WHERE request_id = " + lit);
  EXPECT_EQ(Events().size(), static_cast<size_t>(active + inactive));
}

TEST_F(CapturePgTest, RefreshRotationIsCapturedLikeRevocation) {
  ASSERT_NO_FATAL_FAILURE(SetUpHydra());
  ASSERT_NO_FATAL_FAILURE(InstallHydra());
  const std::string rid = GrantWithRefresh();
  const std::string lit = pg::QuoteLiteral(rid);
  const int64_t access = N("SELECT count(*) FROM hydra_oauth2_access WHERE request_id = " + lit);
  const int64_t active = N("SELECT count(*) FROM hydra_oauth2_refresh WHERE active AND request_id = " + lit);
  // Hydra 1.x refresh grant: revoke the old pair, issue a new pair in one transaction.
  X("BEGIN;"
    "DELETE FROM hydra_oauth2_access WHERE request_id = " +
    lit +
    ";"
    "UPDATE hydra_oauth2_refresh SET active = false WHERE request_id = " +
    lit +
    ";"
    "INSERT INTO hydra_oauth2_access (signature, request_id, client_id, scope, granted_scope, form_data, "
    "  session_data, subject, challenge_id) "
    "  SELECT 'new-access-' || md5(signature), request_id, client_id, scope, granted_scope, form_data, "
    "session_data, "
    "  subject, challenge_id FROM hydra_oauth2_refresh WHERE request_id = " +
    lit +
    " LIMIT 1;"
    "INSERT INTO hydra_oauth2_refresh (signature, request_id, client_id, scope, granted_scope, form_data, "
    "  session_data, subject, challenge_id) "
    "  SELECT 'new-refresh-' || md5(signature), request_id, client_id, scope, granted_scope, form_data, "
    "session_data, "
    "  subject, challenge_id FROM hydra_oauth2_refresh WHERE request_id = " +
    lit +
    " LIMIT 1;"
    "COMMIT;");
  auto events = Events();
  auto kinds = ByKind(events);
  EXPECT_EQ(kinds["hydra.access.delete"], access);
  EXPECT_EQ(kinds["hydra.refresh.deactivate"], active);
  EXPECT_EQ(events.size(), static_cast<size_t>(access + active)) << "inserts are not captured";
  std::set<int64_t> txids;
  for (const auto& e : events) txids.insert(e.source_txid());
  EXPECT_EQ(txids.size(), 1u) << "one revoking transaction";
}

TEST_F(CapturePgTest, ConsentRevocationCapturesCascades) {
  ASSERT_NO_FATAL_FAILURE(SetUpHydra());
  ASSERT_NO_FATAL_FAILURE(InstallHydra());
  // A consent with the most tokens under it.
  const std::string ch =
      Q("SELECT challenge_id FROM hydra_oauth2_access WHERE challenge_id IS NOT NULL GROUP BY 1 ORDER BY "
        "count(*) DESC, "
        "1 LIMIT 1");
  ASSERT_FALSE(ch.empty());
  const std::string lit = pg::QuoteLiteral(ch);
  std::map<std::string, int64_t> tokens;
  for (const char* k : kHydraTokenKinds) {
    tokens[k] = N(absl::StrCat("SELECT count(*) FROM hydra_oauth2_", k, " WHERE challenge_id = ", lit));
  }
  ASSERT_GE(tokens["access"], 1);
  const std::string subject = Q("SELECT subject FROM hydra_oauth2_consent_request WHERE challenge = " + lit);
  const std::string client = Q("SELECT client_id FROM hydra_oauth2_consent_request WHERE challenge = " + lit);

  X("DELETE FROM hydra_oauth2_consent_request WHERE challenge = " + lit);
  auto events = Events();
  auto kinds = ByKind(events);
  EXPECT_EQ(kinds["hydra.consent.delete"], 1);
  EXPECT_EQ(kinds["hydra.consent_handled.delete"], 1);
  int64_t total = 2;
  for (const char* k : kHydraTokenKinds) {
    EXPECT_EQ(kinds[absl::StrCat("hydra.", k, ".delete")], tokens[k]) << k;
    total += tokens[k];
  }
  EXPECT_EQ(events.size(), static_cast<size_t>(total));
  for (const auto& e : events) {
    if (e.kind() == "hydra.consent.delete") {
      EXPECT_EQ(e.key().at("challenge").text(), ch);
      EXPECT_EQ(e.extra().at("subject").text(), subject);
      EXPECT_EQ(e.extra().at("client_id").text(), client);
      EXPECT_EQ(e.revocation_class(), cutover::v1::REVOCATION_CLASS_CONSENT);
    }
    if (e.kind() == "hydra.consent_handled.delete") {
      EXPECT_EQ(e.key().at("challenge").text(), ch);
    }
  }
}

TEST_F(CapturePgTest, LoginSessionRevocation) {
  ASSERT_NO_FATAL_FAILURE(SetUpHydra());
  ASSERT_NO_FATAL_FAILURE(InstallHydra());
  const std::string subject = Q(
      "SELECT subject FROM hydra_oauth2_authentication_session GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1");
  const std::string lit = pg::QuoteLiteral(subject);
  const int64_t sessions =
      N("SELECT count(*) FROM hydra_oauth2_authentication_session WHERE subject = " + lit);
  const int64_t consents_before = N("SELECT count(*) FROM hydra_oauth2_consent_request");
  // Hydra 1.x "revoke all login sessions of a subject".
  X("DELETE FROM hydra_oauth2_authentication_session WHERE subject = " + lit);
  auto events = Events();
  EXPECT_EQ(events.size(), static_cast<size_t>(sessions))
      << "login requests cascade but are not revocations; "
         "consents only lose their session link";
  for (const auto& e : events) {
    EXPECT_EQ(e.kind(), "hydra.login_session.delete");
    EXPECT_EQ(e.extra().at("subject").text(), subject);
    EXPECT_EQ(e.revocation_class(), cutover::v1::REVOCATION_CLASS_LOGIN_SESSION);
  }
  EXPECT_EQ(N("SELECT count(*) FROM hydra_oauth2_consent_request"), consents_before);
}

TEST_F(CapturePgTest, ClientDeletionCapturesEveryCascadedRowAndNoSecrets) {
  ASSERT_NO_FATAL_FAILURE(SetUpHydra());
  ASSERT_NO_FATAL_FAILURE(InstallHydra());
  const std::string client =
      Q("SELECT client_id FROM hydra_oauth2_access GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1");
  const std::string lit = pg::QuoteLiteral(client);
  std::map<std::string, int64_t> want;
  want["hydra.client.delete"] = 1;
  want["hydra.consent.delete"] =
      N("SELECT count(*) FROM hydra_oauth2_consent_request WHERE client_id = " + lit);
  want["hydra.consent_handled.delete"] =
      N("SELECT count(*) FROM hydra_oauth2_consent_request_handled h JOIN hydra_oauth2_consent_request c "
        "USING (challenge) WHERE c.client_id = " +
        lit);
  std::set<std::string> secrets;
  for (const char* k : kHydraTokenKinds) {
    const std::string where = absl::StrCat(
        " FROM hydra_oauth2_", k, " WHERE client_id = ", lit,
        " OR challenge_id IN (SELECT challenge FROM hydra_oauth2_consent_request WHERE client_id = ", lit,
        ")");
    want[absl::StrCat("hydra.", k, ".delete")] = N("SELECT count(*)" + where);
    for (const auto& s :
         absl::StrSplit(Q("SELECT string_agg(session_data || chr(1) || form_data, chr(1))" + where), '\x01',
                        absl::SkipEmpty())) {
      secrets.insert(std::string(s));
    }
  }
  secrets.insert(Q("SELECT client_secret FROM hydra_client WHERE id = " + lit));
  ASSERT_GE(want["hydra.access.delete"], 1);
  ASSERT_GE(want["hydra.consent.delete"], 1);

  X("DELETE FROM hydra_client WHERE id = " + lit);
  auto events = Events();
  auto kinds = ByKind(events);
  int64_t total = 0;
  for (const auto& [kind, n] : want) {
    if (n == 0) continue;
    EXPECT_EQ(kinds[kind], n) << kind;
    total += n;
  }
  EXPECT_EQ(events.size(), static_cast<size_t>(total)) << "no other events (login requests are not captured)";
  for (const auto& e : events) {
    if (e.kind() == "hydra.client.delete") {
      EXPECT_EQ(e.key().at("id").text(), client);
      EXPECT_EQ(e.revocation_class(), cutover::v1::REVOCATION_CLASS_CLIENT);
    }
  }
  // No secret column and no secret value anywhere in the outbox.
  EXPECT_EQ(
      Q("SELECT count(*) FROM cutover_capture.outbox WHERE key ?| array['session_data','form_data',"
        "'client_secret','keydata'] OR extra ?| array['session_data','form_data','client_secret','keydata']"),
      "0");
  const std::string dump = Q("SELECT string_agg(key::text || extra::text, '') FROM cutover_capture.outbox");
  for (const auto& s : secrets) {
    ASSERT_FALSE(s.empty());
    EXPECT_FALSE(absl::StrContains(dump, s)) << "secret value found in the outbox";
  }
}

TEST_F(CapturePgTest, TrustGrantAndKeyDeletion) {
  ASSERT_NO_FATAL_FAILURE(SetUpHydra());
  ASSERT_NO_FATAL_FAILURE(InstallHydra());
  const std::string id = Q("SELECT id::text FROM hydra_oauth2_trusted_jwt_bearer_issuer ORDER BY id LIMIT 1");
  ASSERT_FALSE(id.empty());
  X("DELETE FROM hydra_oauth2_trusted_jwt_bearer_issuer WHERE id = '" + id + "'");
  auto events = Events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind(), "hydra.trust_grant.delete");
  EXPECT_EQ(events[0].key().at("id").text(), id);
  EXPECT_EQ(events[0].revocation_class(), cutover::v1::REVOCATION_CLASS_TRUST_GRANT);
  ClearOutbox();
  // Deleting a trust grant's key cascades to the grant.
  const std::string kid = Q("SELECT key_id FROM hydra_oauth2_trusted_jwt_bearer_issuer ORDER BY id LIMIT 1");
  X("DELETE FROM hydra_jwk WHERE kid = " + pg::QuoteLiteral(kid));
  auto kinds = ByKind(Events());
  EXPECT_EQ(kinds["hydra.jwk.delete"], 1);
  EXPECT_EQ(kinds["hydra.trust_grant.delete"], 1);
}

TEST_F(CapturePgTest, RolledBackRevocationLeavesNothing) {
  ASSERT_NO_FATAL_FAILURE(SetUpHydra());
  ASSERT_NO_FATAL_FAILURE(InstallHydra());
  const std::string lit = pg::QuoteLiteral(GrantWithRefresh());
  const int64_t access = N("SELECT count(*) FROM hydra_oauth2_access WHERE request_id = " + lit);
  ASSERT_GE(access, 1);
  X("BEGIN; DELETE FROM hydra_oauth2_access WHERE request_id = " + lit +
    "; UPDATE hydra_oauth2_refresh SET active = false WHERE request_id = " + lit + "; ROLLBACK;");
  EXPECT_EQ(Events().size(), 0u);
  // A savepoint rolled back inside a committed transaction.
  const std::string client = Q("SELECT id FROM hydra_client ORDER BY id LIMIT 1");
  X("BEGIN; SAVEPOINT s; DELETE FROM hydra_client WHERE id = " + pg::QuoteLiteral(client) +
    "; ROLLBACK TO SAVEPOINT s; DELETE FROM hydra_oauth2_access WHERE request_id = " + lit + "; COMMIT;");
  auto kinds = ByKind(Events());
  EXPECT_EQ(kinds.size(), 1u) << "only the access rows deleted after the savepoint";
  EXPECT_EQ(kinds["hydra.access.delete"], access);
  EXPECT_EQ(N("SELECT count(*) FROM hydra_client WHERE id = " + pg::QuoteLiteral(client)), 1);
}

TEST_F(CapturePgTest, ConcurrentRevokersGetExactlyTheirEvents) {
  ASSERT_NO_FATAL_FAILURE(SetUpHydra());
  ASSERT_NO_FATAL_FAILURE(InstallHydra());
  auto r = blue_->Exec("SELECT request_id FROM hydra_oauth2_access GROUP BY 1 ORDER BY 1 LIMIT 160");
  ASSERT_TRUE(r.ok()) << r.status();
  std::vector<std::string> rids;
  for (const auto& row : *r) rids.push_back(row[0].as<std::string>());
  ASSERT_EQ(rids.size(), 160u);
  constexpr int kThreads = 4;
  struct Expect {
    int64_t access = 0, refresh = 0;
  };
  std::vector<std::map<std::string, Expect>> expected(kThreads);
  std::vector<std::string> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto s = pg::Session::Connect(db_.blue, "blue", "capture-pgtest-revoker");
      if (!s.ok()) {
        errors[t] = s.status().ToString();
        return;
      }
      for (size_t i = t; i < rids.size(); i += kThreads) {
        const bool rollback = i % 5 == 0;
        try {
          pqxx::work tx((*s)->conn());
          auto a = tx.exec_params("DELETE FROM hydra_oauth2_access WHERE request_id = $1", rids[i]);
          auto u = tx.exec_params(
              "UPDATE hydra_oauth2_refresh SET active = false WHERE request_id = $1 AND active", rids[i]);
          if (rollback) {
            tx.abort();
          } else {
            tx.commit();
            expected[t][rids[i]] = {static_cast<int64_t>(a.affected_rows()),
                                    static_cast<int64_t>(u.affected_rows())};
          }
        } catch (const std::exception& e) {
          errors[t] = e.what();
          return;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const auto& e : errors) ASSERT_EQ(e, "");
  std::map<std::string, Expect> got;
  for (const auto& e : Events()) {
    auto& g = got[e.extra().at("request_id").text()];
    (e.kind() == "hydra.access.delete" ? g.access : g.refresh)++;
  }
  size_t committed = 0;
  for (const auto& per : expected) {
    for (const auto& [rid, want] : per) {
      ++committed;
      EXPECT_EQ(got[rid].access, want.access) << rid;
      EXPECT_EQ(got[rid].refresh, want.refresh) << rid;
      got.erase(rid);
    }
  }
  EXPECT_EQ(committed, 128u);
  for (const auto& [rid, g] : got) {
    EXPECT_EQ(g.access + g.refresh, 0) << "events for rolled-back revocation " << rid;
  }
}

TEST_F(CapturePgTest, AppRoleWithoutCapturePrivilegesIsCaptured) {
  ASSERT_NO_FATAL_FAILURE(SetUpHydra());
  ASSERT_NO_FATAL_FAILURE(InstallHydra());
  const std::string role = testing::UniqueName("capture_app");
  X("CREATE ROLE " + role + " NOLOGIN; GRANT SELECT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO " +
    role);
  const std::string lit = pg::QuoteLiteral(GrantWithRefresh());
  auto st = testing::Exec(db_.blue,
                          "SET ROLE " + role + "; DELETE FROM hydra_oauth2_access WHERE request_id = " + lit +
                              "; UPDATE hydra_oauth2_refresh SET active = false WHERE request_id = " + lit);
  EXPECT_TRUE(st.ok()) << st;
  EXPECT_FALSE(
      testing::Exec(db_.blue, "SET ROLE " + role + "; SELECT count(*) FROM cutover_capture.outbox").ok())
      << "the app role has no access to the outbox itself";
  EXPECT_GE(Events().size(), 2u);
  X("DROP OWNED BY " + role + "; DROP ROLE " + role);
}

TEST_F(CapturePgTest, CallersSearchPathCannotHijackTheTriggers) {
  ASSERT_NO_FATAL_FAILURE(SetUpHydra());
  ASSERT_NO_FATAL_FAILURE(InstallHydra());
  // A hostile `=` for varchar first on the caller's search_path: the
  // SECURITY DEFINER functions must not pick it up (their names are qualified).
  X("CREATE SCHEMA evil;"
    "CREATE FUNCTION evil.eq(varchar, varchar) RETURNS boolean LANGUAGE sql AS 'SELECT true';"
    "CREATE OPERATOR evil.= (LEFTARG = varchar, RIGHTARG = varchar, FUNCTION = evil.eq);"
    "CREATE FUNCTION evil.jsonb_build_object(VARIADIC text[]) RETURNS jsonb LANGUAGE sql AS "
    "  $$SELECT '{\"evil\": \"x\"}'::jsonb$$;");
  // A grant with several refresh rows (a rotated-out one and the active one),
  // so a hijacked key join would pair rows that do not belong together.
  const std::string rid =
      Q("SELECT request_id FROM hydra_oauth2_refresh GROUP BY 1 HAVING count(*) >= 2 AND bool_or(active) "
        "ORDER BY 1 LIMIT 1");
  const std::string lit = pg::QuoteLiteral(rid);
  const int64_t rows = N("SELECT count(*) FROM hydra_oauth2_refresh WHERE request_id = " + lit);
  const int64_t active = N("SELECT count(*) FROM hydra_oauth2_refresh WHERE active AND request_id = " + lit);
  ASSERT_GE(rows, 2);
  ASSERT_OK(testing::Exec(db_.blue,
                          "SET search_path = evil, pg_catalog, public;"
                          // (the statement itself must not use the hostile `=` either)
                          "UPDATE public.hydra_oauth2_refresh SET active = false "
                          "WHERE request_id OPERATOR(pg_catalog.=) " +
                              lit));
  auto events = Events();
  EXPECT_EQ(events.size(), static_cast<size_t>(active));
  for (const auto& e : events) {
    EXPECT_FALSE(e.key().count("evil"));
    EXPECT_EQ(e.extra().at("request_id").text(), rid);
  }
}

TEST_F(CapturePgTest, TruncateIsRefusedWhileCapturing) {
  ASSERT_NO_FATAL_FAILURE(SetUpHydra());
  ASSERT_NO_FATAL_FAILURE(InstallHydra());
  auto st = testing::Exec(db_.blue, "TRUNCATE hydra_oauth2_pkce");
  ASSERT_FALSE(st.ok());
  EXPECT_THAT(std::string(st.message()), HasSubstr("TRUNCATE of public.hydra_oauth2_pkce refused"));
  ASSERT_OK(RemoveCapture(*blue_, opts_));
  ASSERT_OK(testing::Exec(db_.blue, "TRUNCATE hydra_oauth2_pkce"));
}

// ---- install / inspect / remove ----

int ExpectedTriggers(const std::vector<CaptureRule>& rules) {
  std::set<std::string> tables;
  int n = 0;
  for (const auto& r : rules) {
    n += r.on_delete() + !r.on_update().empty();
    tables.insert(r.table());
  }
  return n + static_cast<int>(tables.size());
}

TEST_F(CapturePgTest, InstallIsIdempotentAndKeepsTheOutbox) {
  ASSERT_NO_FATAL_FAILURE(SetUpHydra());
  ASSERT_NO_FATAL_FAILURE(InstallHydra());
  auto st1 = InspectCapture(*blue_);
  ASSERT_TRUE(st1.ok()) << st1.status();
  EXPECT_TRUE(st1->installed);
  EXPECT_EQ(st1->cutover_id, db_.name);
  EXPECT_EQ(st1->direction, cutover::v1::DIRECTION_BLUE_TO_GREEN);
  EXPECT_EQ(st1->triggers, ExpectedTriggers(HydraRules()));
  EXPECT_EQ(st1->rules.size(), HydraRules().size());
  EXPECT_EQ(st1->rules.front(), HydraRules().front().name());
  EXPECT_EQ(st1->outbox_rows, 0);
  EXPECT_FALSE(st1->oldest_captured_at.has_value());

  X("DELETE FROM hydra_oauth2_access WHERE request_id = " + pg::QuoteLiteral(GrantWithRefresh()));
  const size_t before = Events().size();
  ASSERT_GE(before, 1u);
  const std::string triggers_sql =
      "SELECT string_agg(tgrelid::regclass || ' ' || tgname || ' ' || tgfoid, ',' ORDER BY 1) FROM "
      "pg_trigger "
      "WHERE tgname LIKE 'cutover_capture%'";
  const std::string triggers = Q(triggers_sql);
  ASSERT_NO_FATAL_FAILURE(InstallHydra());
  EXPECT_EQ(Q(triggers_sql), triggers) << "same triggers, same functions (replaced in place)";
  auto st2 = InspectCapture(*blue_);
  ASSERT_TRUE(st2.ok());
  EXPECT_EQ(st2->triggers, st1->triggers);
  EXPECT_EQ(st2->outbox_rows, static_cast<int64_t>(before));
  ASSERT_TRUE(st2->oldest_captured_at.has_value());
  EXPECT_LE(*st2->oldest_captured_at, absl::Now() + absl::Seconds(5));
  EXPECT_EQ(Events().size(), before);

  // A disabled trigger is reported and re-enabled by the next install.
  X("ALTER TABLE hydra_oauth2_code DISABLE TRIGGER " + CaptureTriggerName("hydra.code.delete", 'd'));
  EXPECT_EQ(InspectCapture(*blue_)->disabled_triggers, 1);
  ASSERT_NO_FATAL_FAILURE(InstallHydra());
  EXPECT_EQ(InspectCapture(*blue_)->disabled_triggers, 0);

  // Fewer rules: the others' triggers and functions go.
  std::vector<CaptureRule> fewer(HydraRules().begin(), HydraRules().begin() + 2);
  ASSERT_OK(InstallCapture(*blue_, fewer, opts_));
  EXPECT_EQ(InspectCapture(*blue_)->triggers, ExpectedTriggers(fewer));
  EXPECT_EQ(N("SELECT count(*) FROM pg_proc WHERE pronamespace = 'cutover_capture'::regnamespace"), 3);
  EXPECT_EQ(Events().size(), before);

  // Another cutover's capture is refused.
  CaptureInstallOptions other = opts_;
  other.cutover_id = "someone-else";
  absl::Status st = InstallCapture(*blue_, HydraRules(), other);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(st.message()), HasSubstr(db_.name));
  st = RemoveCapture(*blue_, other, /*force=*/true);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(CapturePgTest, InstallRetriesBehindAHeldLockThenSucceeds) {
  ASSERT_NO_FATAL_FAILURE(SetUpHydra());
  auto holder = Connect(db_.blue, "blue", "capture-pgtest-holder");
  auto watcher = Connect(db_.blue, "blue", "capture-pgtest-watcher");
  ASSERT_TRUE(holder && watcher);
  const std::string rid = GrantWithRefresh();
  auto tx = std::make_unique<pqxx::work>(holder->conn());
  tx->exec("LOCK TABLE hydra_oauth2_refresh IN ACCESS EXCLUSIVE MODE");

  CaptureInstallOptions o = opts_;
  o.lock_timeout = absl::Milliseconds(100);
  o.backoff = absl::Milliseconds(10);
  o.max_attempts = 10000;
  absl::Status result = absl::UnknownError("not run");
  std::atomic<bool> done{false};
  std::thread installer([&] {
    auto s = pg::Session::Connect(db_.blue, "blue", "capture-pgtest-installer");
    result = s.ok() ? InstallCapture(**s, HydraRules(), o) : s.status();
    done = true;
  });
  // Each attempt is its own transaction: count the distinct ones seen waiting.
  std::set<std::string> attempts;
  const bool seen = testing::WaitFor(
      [&] {
        auto r = watcher->Exec(
            "SELECT xact_start::text FROM pg_stat_activity WHERE application_name = "
            "'capture-pgtest-installer' AND wait_event_type = 'Lock'");
        if (r.ok()) {
          for (const auto& row : *r) attempts.insert(row[0].as<std::string>());
        }
        return attempts.size() >= 3 || done;
      },
      absl::Seconds(60), absl::Milliseconds(5));
  EXPECT_TRUE(seen);
  EXPECT_FALSE(done) << result;
  // Writers on other tables were never blocked meanwhile: capture is already live there.
  X("DELETE FROM hydra_oauth2_access WHERE request_id = " + pg::QuoteLiteral(rid));
  tx->commit();
  tx.reset();
  installer.join();
  ASSERT_OK(result);
  EXPECT_GE(attempts.size(), 3u);
  EXPECT_EQ(InspectCapture(*blue_)->triggers, ExpectedTriggers(HydraRules()));
  EXPECT_GE(Events().size(), 1u);
}

TEST_F(CapturePgTest, InstallGivesUpAfterMaxAttemptsNamingTheTable) {
  ASSERT_NO_FATAL_FAILURE(SetUpHydra());
  auto holder = Connect(db_.blue, "blue", "capture-pgtest-holder");
  ASSERT_TRUE(holder);
  auto tx = std::make_unique<pqxx::work>(holder->conn());
  tx->exec("LOCK TABLE hydra_client IN ACCESS EXCLUSIVE MODE");

  CaptureInstallOptions o = opts_;
  o.lock_timeout = absl::Milliseconds(50);
  o.backoff = absl::Milliseconds(10);
  o.max_attempts = 3;
  const absl::Time t0 = absl::Now();
  absl::Status st = InstallCapture(*blue_, HydraRules(), o);
  EXPECT_EQ(st.code(), absl::StatusCode::kAborted) << st;
  EXPECT_THAT(std::string(st.message()), HasSubstr("public.hydra_client"));
  EXPECT_THAT(std::string(st.message()), HasSubstr("3 attempts"));
  EXPECT_LT(absl::Now() - t0, absl::Seconds(30));
  tx->abort();
  tx.reset();
  // Re-running completes the partial install.
  ASSERT_OK(InstallCapture(*blue_, HydraRules(), o));
  EXPECT_EQ(InspectCapture(*blue_)->triggers, ExpectedTriggers(HydraRules()));
}

TEST_F(CapturePgTest, RemoveLeavesTheSchemaAsBefore) {
  ASSERT_NO_FATAL_FAILURE(SetUpHydra());
  const std::string before = testing::SchemaDump(db_.blue);
  ASSERT_FALSE(before.empty());
  ASSERT_NO_FATAL_FAILURE(InstallHydra());
  EXPECT_NE(testing::SchemaDump(db_.blue), before);
  X("DELETE FROM hydra_client WHERE id = (SELECT id FROM hydra_client ORDER BY id LIMIT 1)");
  const int64_t rows = N("SELECT count(*) FROM cutover_capture.outbox");
  ASSERT_GE(rows, 1);

  absl::Status st = RemoveCapture(*blue_, opts_);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(st.message()), HasSubstr(absl::StrCat("still holds ", rows, " event(s)")));
  EXPECT_EQ(InspectCapture(*blue_)->triggers, ExpectedTriggers(HydraRules()))
      << "a refused removal changes nothing";

  ASSERT_OK(RemoveCapture(*blue_, opts_, /*force=*/true));
  EXPECT_EQ(testing::SchemaDump(db_.blue), before);
  auto status = InspectCapture(*blue_);
  ASSERT_TRUE(status.ok());
  EXPECT_FALSE(status->installed);
  EXPECT_EQ(status->triggers, 0);
  ASSERT_OK(RemoveCapture(*blue_, opts_));  // nothing installed: OK

  // Drained outbox: removal without force.
  ASSERT_NO_FATAL_FAILURE(InstallHydra());
  X("DELETE FROM hydra_oauth2_access WHERE request_id = " + pg::QuoteLiteral(GrantWithRefresh()));
  ClearOutbox();
  ASSERT_OK(RemoveCapture(*blue_, opts_));
  EXPECT_EQ(testing::SchemaDump(db_.blue), before);
}

TEST_F(CapturePgTest, RelaySelectReadsTheOutbox) {
  ASSERT_NO_FATAL_FAILURE(SetUpHydra());
  ASSERT_NO_FATAL_FAILURE(InstallHydra());
  X("DELETE FROM hydra_oauth2_access WHERE request_id = " + pg::QuoteLiteral(GrantWithRefresh()));
  // The relay's query, verbatim (no cutover_id column).
  absl::Status st = blue_->InTransaction([&](pqxx::work& tx) {
    auto r = tx.exec(
        "SELECT id, event_id, rule, revocation_class, op, source_table, key, extra, txid, captured_at, "
        "direction FROM cutover_capture.outbox ORDER BY id LIMIT 100 FOR UPDATE SKIP LOCKED");
    EXPECT_GE(r.size(), 1u);
    for (const auto& row : r) {
      auto o = OutboxRowFromPqxx(row);
      EXPECT_TRUE(o.ok()) << o.status();
      if (!o.ok()) continue;
      EXPECT_EQ(o->cutover_id, "");
      auto e = EventFromOutboxRow(*o);
      EXPECT_TRUE(e.ok()) << e.status();
      if (e.ok()) {
        EXPECT_LE(absl::Now() - FromProtoTime(e->captured_at()), absl::Minutes(5));
        EXPECT_GE(absl::Now() - FromProtoTime(e->captured_at()), absl::Seconds(-5));
      }
      tx.exec_params("DELETE FROM cutover_capture.outbox WHERE id = $1", o->id);
    }
    return absl::OkStatus();
  });
  ASSERT_OK(st);
  EXPECT_EQ(Events().size(), 0u);
}

TEST_F(CapturePgTest, ATriggerThatWouldFailNeverGoesLive) {
  // point has no `=` operator: the UPDATE rule's comparison cannot be planned.
  X("CREATE TABLE public.places (id int PRIMARY KEY, spot point NOT NULL, note text);"
    "INSERT INTO public.places VALUES (1, '(0,0)', 'a'), (2, '(1,1)', 'b')");
  CaptureRule ok;
  ok.set_name("places.delete");
  ok.set_table("public.places");
  ok.set_on_delete(true);
  ok.add_key_columns("id");
  ok.add_apply("DELETE FROM places WHERE id = :id");
  CaptureRule bad = ok;
  bad.set_name("places.moved");
  bad.set_on_delete(false);
  auto* u = bad.add_on_update();
  u->set_column("spot");
  u->set_value("(9,9)");
  ASSERT_OK(CheckRulesOnCaptureSide({ok, bad}, *blue_));
  absl::Status st = InstallCapture(*blue_, {ok, bad}, opts_);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_THAT(std::string(st.message()), HasSubstr("failed its self-test"));
  EXPECT_THAT(std::string(st.message()), HasSubstr("operator does not exist"));
  EXPECT_THAT(std::string(st.message()), HasSubstr(CaptureTriggerName("places.moved", 'u')));
  // The failing trigger does not exist; the table's writers are unaffected.
  EXPECT_EQ(
      N("SELECT count(*) FROM pg_trigger WHERE tgname = '" + CaptureTriggerName("places.moved", 'u') + "'"),
      0);
  ASSERT_OK(testing::Exec(db_.blue, "UPDATE public.places SET spot = '(9,9)', note = 'moved'"));
  ASSERT_OK(testing::Exec(db_.blue, "DELETE FROM public.places WHERE id = 1"));
  EXPECT_EQ(ByKind(Events())["places.delete"], 1) << "the rule installed before still captures";
  ASSERT_OK(RemoveCapture(*blue_, opts_, /*force=*/true));
}

// ---- a generic profile on a non-Hydra schema ----

constexpr char kAppSchema[] = R"sql(
CREATE SCHEMA app;
CREATE TABLE app.api_keys (
  tenant_id  int    NOT NULL,
  id         bigint NOT NULL,
  owner      text,
  status     text   NOT NULL DEFAULT 'active',
  secret_hash text  NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
CREATE TABLE app.sessions (
  id      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id bigint NOT NULL,
  token_hash text NOT NULL
);
)sql";

std::vector<CaptureRule> AppRules() {
  CaptureRule keys;
  keys.set_name("app.api_key.revoke");
  keys.set_table("app.api_keys");
  keys.set_revocation_class(cutover::v1::REVOCATION_CLASS_OTHER);
  auto* u = keys.add_on_update();
  u->set_column("status");
  u->set_value("revoked");
  keys.add_key_columns("tenant_id");
  keys.add_key_columns("id");
  keys.add_extra_columns("owner");
  keys.add_apply("UPDATE app.api_keys SET status = 'revoked' WHERE tenant_id = :tenant_id AND id = :id");
  CaptureRule sessions;
  sessions.set_name("app.session.delete");
  sessions.set_table("app.sessions");
  sessions.set_revocation_class(cutover::v1::REVOCATION_CLASS_LOGIN_SESSION);
  sessions.set_on_delete(true);
  sessions.add_key_columns("id");
  sessions.add_extra_columns("user_id");
  sessions.add_apply("DELETE FROM app.sessions WHERE id = :id");
  return {keys, sessions};
}

TEST_F(CapturePgTest, GenericProfileOnAnotherSchema) {
  testing::ExecOrDie(db_.blue, kAppSchema);
  testing::ExecOrDie(db_.green, kAppSchema);
  X("INSERT INTO app.api_keys (tenant_id, id, owner, status, secret_hash) "
    "SELECT t, i, CASE WHEN i % 3 = 0 THEN NULL ELSE 'owner' || i END, 'active', md5(i::text) "
    "FROM generate_series(1, 2) t, generate_series(1, 10) i;"
    "INSERT INTO app.sessions (user_id, token_hash) SELECT i % 4, md5('s' || i) FROM generate_series(1, 20) "
    "i;");
  cutover::v1::CaptureOptions options;
  options.set_profile("generic");
  for (const auto& r : AppRules()) *options.add_rules() = r;
  auto rules = ResolveRules(options);
  ASSERT_TRUE(rules.ok()) << rules.status();
  ASSERT_OK(CheckRulesAgainstCatalog(*rules, *blue_, *green_));
  ASSERT_OK(InstallCapture(*blue_, *rules, opts_));

  X("UPDATE app.api_keys SET status = 'revoked' WHERE tenant_id = 1 AND id IN (1, 2, 3)");  // 3 events
  X("UPDATE app.api_keys SET status = 'revoked' WHERE tenant_id = 1 AND id = 1");           // already revoked
  X("UPDATE app.api_keys SET owner = 'someone' WHERE tenant_id = 2");                       // other column
  X("UPDATE app.api_keys SET status = 'active' WHERE tenant_id = 1 AND id = 2");            // un-revoke
  X("UPDATE app.api_keys SET status = 'suspended' WHERE tenant_id = 2 AND id = 4");         // other value
  X("UPDATE app.api_keys SET status = 'revoked', owner = NULL WHERE tenant_id = 2 AND id IN (4, 5)");  // 2
                                                                                                       // events
  X("DELETE FROM app.api_keys WHERE tenant_id = 2 AND id = 6");  // no delete rule
  X("DELETE FROM app.sessions WHERE user_id = 1");               // 5 events
  auto events = Events();
  auto kinds = ByKind(events);
  EXPECT_EQ(kinds["app.api_key.revoke"], 5);
  EXPECT_EQ(kinds["app.session.delete"], 5);
  EXPECT_EQ(events.size(), 10u);
  std::set<std::string> revoked;
  for (const auto& e : events) {
    if (e.kind() == "app.api_key.revoke") {
      revoked.insert(absl::StrCat(e.key().at("tenant_id").text(), "/", e.key().at("id").text()));
      EXPECT_EQ(e.source_table(), "app.api_keys");
      EXPECT_EQ(e.op(), cutover::v1::ROW_OP_UPDATE);
      EXPECT_EQ(e.key().size(), 2u);
      EXPECT_FALSE(e.extra().count("secret_hash"));
      if (e.key().at("tenant_id").text() == "1" && e.key().at("id").text() == "3") {
        EXPECT_TRUE(e.extra().at("owner").null()) << "NULL extra -> null Datum";
      }
      if (e.key().at("tenant_id").text() == "2") {
        EXPECT_TRUE(e.extra().at("owner").null());
      }
    } else {
      EXPECT_EQ(e.extra().at("user_id").text(), "1");
      EXPECT_EQ(e.key().at("id").text().size(), 36u);
      EXPECT_FALSE(e.extra().count("token_hash"));
    }
  }
  EXPECT_EQ(revoked, (std::set<std::string>{"1/1", "1/2", "1/3", "2/4", "2/5"}));
  ClearOutbox();
  ASSERT_OK(RemoveCapture(*blue_, opts_));
}

}  // namespace
}  // namespace cutover::replay
