#include "cutover/replay/hydra_profile.h"

#include <initializer_list>
#include <string>

#include "absl/strings/str_cat.h"

namespace cutover::replay {
namespace {

using cutover::v1::CaptureRule;
using cutover::v1::RevocationClass;

CaptureRule Rule(const std::string& name, const std::string& table, RevocationClass cls,
                 std::initializer_list<const char*> key, std::initializer_list<const char*> extra,
                 std::initializer_list<const char*> apply) {
  CaptureRule r;
  r.set_name(name);
  r.set_table(absl::StrCat("public.", table));
  r.set_revocation_class(cls);
  for (const char* k : key) r.add_key_columns(k);
  for (const char* e : extra) r.add_extra_columns(e);
  for (const char* a : apply) r.add_apply(a);
  return r;
}

std::vector<CaptureRule> Build() {
  std::vector<CaptureRule> rules;
  // Tokens. Hydra 1.x revokes a grant with
  //   DELETE FROM hydra_oauth2_access WHERE request_id = $1
  //   UPDATE hydra_oauth2_refresh SET active = false WHERE request_id = $1
  // (refresh rotation runs the same statements), deactivates a code when it is
  // exchanged, and deletes oidc / pkce sessions. Replayed per row by signature,
  // which 2.x keeps unchanged.
  for (const char* kind : kHydraTokenKinds) {
    const std::string table = absl::StrCat("hydra_oauth2_", kind);
    CaptureRule del =
        Rule(absl::StrCat("hydra.", kind, ".delete"), table, cutover::v1::REVOCATION_CLASS_TOKEN,
             {"signature"}, {"request_id", "client_id", "subject"}, {});
    del.set_on_delete(true);
    del.add_apply(absl::StrCat("DELETE FROM ", table, " WHERE signature = :signature"));
    rules.push_back(std::move(del));

    CaptureRule deact =
        Rule(absl::StrCat("hydra.", kind, ".deactivate"), table, cutover::v1::REVOCATION_CLASS_TOKEN,
             {"signature"}, {"request_id", "client_id", "subject"}, {});
    auto* u = deact.add_on_update();
    u->set_column("active");
    u->set_value("false");
    deact.add_apply(absl::StrCat("UPDATE ", table, " SET active = false WHERE signature = :signature"));
    rules.push_back(std::move(deact));
  }

  // Consent withdrawal: 1.x deletes the consent request, which cascades to
  // its handled row and every token issued under it. On 2.x the consent is
  // the flow row whose consent_challenge_id is the 1.x challenge; deleting
  // it cascades to green's tokens. Both halves are captured: either one
  // disappearing means the consent is gone.
  {
    CaptureRule r = Rule("hydra.consent.delete", "hydra_oauth2_consent_request",
                         cutover::v1::REVOCATION_CLASS_CONSENT, {"challenge"}, {"subject", "client_id"},
                         {"DELETE FROM hydra_oauth2_flow WHERE consent_challenge_id = :challenge"});
    r.set_on_delete(true);
    // On green the consent is the flow row carrying the 1.x challenge.
    r.set_target_table("public.hydra_oauth2_flow");
    r.add_target_key_columns("consent_challenge_id");
    rules.push_back(std::move(r));
  }
  {
    CaptureRule r = Rule("hydra.consent_handled.delete", "hydra_oauth2_consent_request_handled",
                         cutover::v1::REVOCATION_CLASS_CONSENT, {"challenge"}, {},
                         {"DELETE FROM hydra_oauth2_flow WHERE consent_challenge_id = :challenge"});
    r.set_on_delete(true);
    // On green the consent is the flow row carrying the 1.x challenge.
    r.set_target_table("public.hydra_oauth2_flow");
    r.add_target_key_columns("consent_challenge_id");
    rules.push_back(std::move(r));
  }
  // Login sessions (logout, "revoke login sessions of a subject").
  {
    CaptureRule r = Rule("hydra.login_session.delete", "hydra_oauth2_authentication_session",
                         cutover::v1::REVOCATION_CLASS_LOGIN_SESSION, {"id"}, {"subject"},
                         {"DELETE FROM hydra_oauth2_authentication_session WHERE id = :id"});
    r.set_on_delete(true);
    rules.push_back(std::move(r));
  }
  // Clients: green's foreign keys cascade to the client's flows and tokens.
  {
    CaptureRule r = Rule("hydra.client.delete", "hydra_client", cutover::v1::REVOCATION_CLASS_CLIENT, {"id"},
                         {}, {"DELETE FROM hydra_client WHERE id = :id"});
    r.set_on_delete(true);
    rules.push_back(std::move(r));
  }
  // RFC 7523 trust grants (JWT bearer issuers).
  {
    CaptureRule r = Rule("hydra.trust_grant.delete", "hydra_oauth2_trusted_jwt_bearer_issuer",
                         cutover::v1::REVOCATION_CLASS_TRUST_GRANT, {"id"}, {"issuer", "subject"},
                         {"DELETE FROM hydra_oauth2_trusted_jwt_bearer_issuer WHERE id = :id"});
    r.set_on_delete(true);
    rules.push_back(std::move(r));
  }
  // Deleted JSON Web Keys (a compromised signing key or a trust grant's
  // issuer key): identified by (sid, kid), never by key data.
  {
    CaptureRule r = Rule("hydra.jwk.delete", "hydra_jwk", cutover::v1::REVOCATION_CLASS_OTHER, {"sid", "kid"},
                         {}, {"DELETE FROM hydra_jwk WHERE sid = :sid AND kid = :kid"});
    r.set_on_delete(true);
    rules.push_back(std::move(r));
  }
  return rules;
}

}  // namespace

// Rollback (2.x on green captured, 1.x on blue applied). Tokens, login
// sessions, clients, trust grants and keys keep their tables and keys in
// 2.x, so those rules read the same both ways. Consent differs: 2.x keeps
// it in hydra_oauth2_flow; a deleted flow row with a consent challenge is a
// withdrawn consent, applied on 1.x by deleting the consent request (which
// cascades to the handled row and the tokens issued under it).
std::vector<CaptureRule> BuildRollback() {
  std::vector<CaptureRule> rules;
  for (const CaptureRule& r : HydraRules()) {
    if (r.revocation_class() != cutover::v1::REVOCATION_CLASS_CONSENT) rules.push_back(r);
  }
  CaptureRule flow = Rule("hydra.flow.delete", "hydra_oauth2_flow", cutover::v1::REVOCATION_CLASS_CONSENT,
                          {"login_challenge"}, {"consent_challenge_id", "subject", "client_id"},
                          {"DELETE FROM hydra_oauth2_consent_request WHERE challenge = :consent_challenge_id"});
  flow.set_on_delete(true);
  rules.push_back(std::move(flow));
  return rules;
}

const std::vector<CaptureRule>& HydraRules() {
  static const std::vector<CaptureRule>* rules = new std::vector<CaptureRule>(Build());
  return *rules;
}

const std::vector<CaptureRule>& HydraRollbackRules() {
  static const std::vector<CaptureRule>* rules = new std::vector<CaptureRule>(BuildRollback());
  return *rules;
}

}  // namespace cutover::replay
