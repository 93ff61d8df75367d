#include "cutover/hydra/dataset.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <memory>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/synchronization/mutex.h"
#include "cutover/common/status.h"

namespace cutover::hydra {
namespace {

// Rows per INSERT ... SELECT: large enough to amortize the statement, small
// enough for steady progress reports and short transactions.
constexpr int64_t kChunkRows = 100'000;

// Random-looking text comes from slices of one pool of base64url characters
// (1536 SHA-512 digests, 86 characters each once padding and line breaks are
// dropped), built once per statement. Slicing a bytea is O(1), so a 600-byte
// session_data costs no more than its copy; md5/sha512 per value would cost
// microseconds each. Per-row uniqueness comes from md5 of the row number.
constexpr int64_t kPoolDigests = 1536;
constexpr int64_t kPoolChars = kPoolDigests * 86;
constexpr int64_t kMaxSlice = 4096;

const char kWithPool[] = R"sql(WITH pool AS MATERIALIZED (
  SELECT convert_to(translate(string_agg(encode(sha512(convert_to('cutover-pool:' || g, 'UTF8')), 'base64'),
                                         '' ORDER BY g), E'+/=\n', '-_'), 'UTF8') AS b
  FROM generate_series(1, {POOL_DIGESTS}) AS g)
)sql";

// Hydra-ish start of the generated history; everything happens in the 30
// days after it.
const char kT0[] = "timestamp '2023-11-01 00:00:00'";

// A non-negative pseudo-random bigint (< 2^53) from an integer expression.
std::string Hash(absl::string_view x, int seed) {
  return absl::StrCat("(hashint8extended((", x, ")::bigint, ", seed, ") & 9007199254740991)");
}

// `len` characters of the pool at a pseudo-random offset derived from `x`.
std::string Pool(absl::string_view x, int seed, absl::string_view len) {
  return absl::StrCat("convert_from(substring(pool.b from (", Hash(x, seed), " % ", kPoolChars - kMaxSlice,
                      ")::int + 1 for (", len, ")::int), 'UTF8')");
}
std::string Pool(absl::string_view x, int seed, int64_t len) { return Pool(x, seed, absl::StrCat(len)); }

// Identifiers as Hydra stores them, each a pure function of an index.
std::string ClientId(absl::string_view k) { return absl::StrCat("md5('client:' || (", k, "))::uuid::text"); }
std::string SubjectId(absl::string_view u) {
  return absl::StrCat("md5('subject:' || (", u, "))::uuid::text");
}
std::string SessionId(absl::string_view s) { return absl::StrCat("md5('ls:' || (", s, "))"); }
std::string LoginChallenge(absl::string_view l) { return absl::StrCat("md5('lc:' || (", l, "))"); }
std::string ConsentChallenge(absl::string_view c) { return absl::StrCat("md5('cc:' || (", c, "))"); }
// fosite request ids are uuids; one per grant, shared along a refresh chain.
std::string RequestId(absl::string_view p) { return absl::StrCat("md5('rq:' || (", p, "))::uuid::text"); }
// 86 characters, like a base64url SHA-512 signature.
std::string Signature(absl::string_view prefix, absl::string_view x, int seed) {
  return absl::StrCat("md5('", prefix, ":' || (", x, ")) || ", Pool(x, seed, 54));
}

// Derived columns every flow/token statement needs, from the login index
// `l` (see README.md "Generated data"): client index k (skewed towards low
// indices, so some clients own many flows), subject index u, and whether
// the login has a login session (9 in 10 do) with index s.
struct Derive {
  const DatasetSize& size;
  int64_t S() const { return std::max<int64_t>(size.login_sessions, 1); }
  int64_t U() const { return Subjects(size); }
  static int64_t Subjects(const DatasetSize& size) {
    return std::max<int64_t>(size.login_sessions * 4 / 5, 1);
  }
  std::string ClientOfLogin(absl::string_view l) const {
    std::string h = absl::StrCat("(", Hash(l, 11), " % 1000003)");
    return absl::StrCat("((", h, " * ", h, " / 1000003) * ", size.clients, " / 1000003)");
  }
  std::string SessionOfLogin(absl::string_view l) const { return absl::StrCat("((", l, ") % ", S(), ")"); }
  std::string HasSession(absl::string_view l) const {
    if (size.login_sessions <= 0) {
      return "false";
    }
    return absl::StrCat("((", l, ") % 10 <> 9)");
  }
  std::string SubjectOfLogin(absl::string_view l) const {
    return absl::StrCat("(", SessionOfLogin(l), " % ", U(), ")");
  }
  // When login l was requested: spread evenly over 30 days.
  std::string LoginTime(absl::string_view l) const {
    return absl::StrCat("(", kT0, " + ((", l, ")::float8 * 2592000 / ",
                        std::max<int64_t>(size.login_requests, 1), ") * interval '1 second')");
  }
};

// A list-valued column: pipe-delimited text in 1.x, a JSON array in 2.x.
// `items` are SQL text expressions.
std::string List(bool json, const std::vector<std::string>& items) {
  if (!json) {
    return absl::StrJoin(items, " || '|' || ");
  }
  return absl::StrCat("'[\"' || ", absl::StrJoin(items, " || '\",\"' || "), " || '\"]'");
}

std::string Fill(absl::string_view tmpl, std::vector<std::pair<std::string, std::string>> vars) {
  vars.emplace_back("{WITH_POOL}",
                    absl::StrReplaceAll(kWithPool, {{"{POOL_DIGESTS}", absl::StrCat(kPoolDigests)}}));
  vars.emplace_back("{T0}", kT0);
  return absl::StrReplaceAll(tmpl, vars);
}

// One table's rows, produced by statements over index ranges [lo, hi).
struct Step {
  std::string table;
  int64_t rows = 0;   // rows written
  int64_t range = 0;  // index range to cover (>= rows when some indices are skipped)
  std::function<std::string(int64_t lo, int64_t hi)> sql;
};

class Planner {
 public:
  Planner(Shape shape, const DatasetSize& size) : v2_(shape == Shape::kHydra2x), size_(size), d_{size_} {}
  Planner(const Planner&) = delete;  // steps capture `this`

  std::vector<Step> Steps() const {
    std::vector<Step> steps;
    steps.push_back({"hydra_client", size_.clients, size_.clients,
                     [this](int64_t lo, int64_t hi) { return Clients(lo, hi); }});
    steps.push_back({"hydra_jwk", Jwks(), Jwks(), [this](int64_t lo, int64_t hi) { return Jwk(lo, hi); }});
    steps.push_back({"hydra_oauth2_authentication_session", size_.login_sessions, size_.login_sessions,
                     [this](int64_t lo, int64_t hi) { return Sessions(lo, hi); }});
    if (v2_) {
      steps.push_back({"hydra_oauth2_flow", size_.login_requests, size_.login_requests,
                       [this](int64_t lo, int64_t hi) { return Flows(lo, hi); }});
    } else {
      steps.push_back({"hydra_oauth2_authentication_request", size_.login_requests, size_.login_requests,
                       [this](int64_t lo, int64_t hi) { return LoginRequests(lo, hi); }});
      steps.push_back({"hydra_oauth2_authentication_request_handled", size_.login_requests,
                       size_.login_requests,
                       [this](int64_t lo, int64_t hi) { return LoginHandled(lo, hi); }});
      steps.push_back({"hydra_oauth2_consent_request", size_.consent_requests, size_.consent_requests,
                       [this](int64_t lo, int64_t hi) { return ConsentRequests(lo, hi); }});
      steps.push_back({"hydra_oauth2_consent_request_handled", size_.consent_requests, size_.consent_requests,
                       [this](int64_t lo, int64_t hi) { return ConsentHandled(lo, hi); }});
    }
    steps.push_back({"hydra_oauth2_access", size_.access_tokens, size_.access_tokens,
                     [this](int64_t lo, int64_t hi) { return Access(lo, hi); }});
    steps.push_back({"hydra_oauth2_refresh", size_.refresh_tokens, size_.refresh_tokens,
                     [this](int64_t lo, int64_t hi) { return Refresh(lo, hi); }});
    for (const char* t : {"code", "oidc", "pkce"}) {
      std::string table = absl::StrCat("hydra_oauth2_", t);
      int64_t rows = std::string(t) == "pkce" ? PkceRows(size_.auth_codes) : size_.auth_codes;
      steps.push_back({table, rows, size_.auth_codes,
                       [this, t = std::string(t)](int64_t lo, int64_t hi) { return Codes(t, lo, hi); }});
    }
    steps.push_back({"hydra_oauth2_obfuscated_authentication_session", size_.obfuscated_sessions,
                     size_.obfuscated_sessions,
                     [this](int64_t lo, int64_t hi) { return Obfuscated(lo, hi); }});
    steps.push_back({"hydra_oauth2_logout_request", size_.logout_requests, size_.logout_requests,
                     [this](int64_t lo, int64_t hi) { return Logouts(lo, hi); }});
    steps.push_back({"hydra_oauth2_jti_blacklist", size_.jti_blacklist, size_.jti_blacklist,
                     [this](int64_t lo, int64_t hi) { return Jti(lo, hi); }});
    steps.push_back({"hydra_oauth2_trusted_jwt_bearer_issuer", size_.trust_grants, size_.trust_grants,
                     [this](int64_t lo, int64_t hi) { return Trust(lo, hi); }});
    return steps;
  }

  // Hydra's own signing keys (ID token and JWT access token, private and
  // public each) plus one public key per trust grant.
  int64_t Jwks() const { return 4 + size_.trust_grants; }
  static int64_t PkceRows(int64_t codes) { return (codes + 4) / 5; }

 private:
  std::string NidCol() const { return v2_ ? ", nid" : ""; }
  std::string NidVal() const { return v2_ ? ", net.id" : ""; }
  std::string NetFrom() const { return v2_ ? ", (SELECT id FROM networks) AS net" : ""; }
  std::vector<std::pair<std::string, std::string>> Common(int64_t lo, int64_t hi) const {
    return {{"{lo}", absl::StrCat(lo)},
            {"{hi}", absl::StrCat(hi - 1)},
            {"{NID_COL}", NidCol()},
            {"{NID_VAL}", NidVal()},
            {"{NET}", NetFrom()},
            {"{K}", absl::StrCat(size_.clients)},
            {"{S}", absl::StrCat(d_.S())},
            {"{U}", absl::StrCat(d_.U())},
            {"{L}", absl::StrCat(std::max<int64_t>(size_.login_requests, 1))},
            {"{C}", absl::StrCat(std::max<int64_t>(size_.consent_requests, 1))},
            {"{A}", absl::StrCat(std::max<int64_t>(size_.access_tokens, 1))}};
  }

  std::string Clients(int64_t lo, int64_t hi) const {
    auto url = [](absl::string_view path) {
      return absl::StrCat("'https://app-' || k || '.example.com", path, "'");
    };
    std::string tmpl =
        absl::StrCat(R"sql({WITH_POOL}
INSERT INTO hydra_client (id, client_name, client_secret, redirect_uris, grant_types, response_types, scope,
  owner, policy_uri, tos_uri, client_uri, logo_uri, contacts, client_secret_expires_at, sector_identifier_uri,
  jwks, jwks_uri, request_uris, token_endpoint_auth_method, request_object_signing_alg,
  userinfo_signed_response_alg, subject_type, allowed_cors_origins, audience, created_at, updated_at,
  frontchannel_logout_uri, frontchannel_logout_session_required, post_logout_redirect_uris,
  backchannel_logout_uri, backchannel_logout_session_required, metadata, token_endpoint_auth_signing_alg{NID_COL})
SELECT )sql",
                     ClientId("k"), R"sql(, 'Example app ' || k, '$2a$10$' || )sql", Pool("k", 1, 53),
                     ",\n  ", List(v2_, {url("/callback"), url("/silent-renew")}), ",\n  ",
                     List(v2_, {"'authorization_code'", "'refresh_token'", "'client_credentials'"}), ",\n  ",
                     List(v2_, {"'code'", "'code id_token'"}), R"sql(,
  'openid offline_access profile email api:read api:write', 'team-' || (k % 20),
  )sql",
                     url("/privacy"), ", ", url("/terms"), ", ", url(""), ", ", url("/logo.png"), ",\n  ",
                     List(v2_, {"'ops@app-' || k || '.example.com'"}), R"sql(,
  0, '', '{}', '', )sql",
                     v2_ ? "'[]'" : "''", R"sql(,
  CASE WHEN k % 10 = 0 THEN 'private_key_jwt' ELSE 'client_secret_basic' END, '', 'none',
  CASE WHEN k % 10 = 5 THEN 'pairwise' ELSE 'public' END, )sql",
                     List(v2_, {url("")}), ", ", List(v2_, {"'https://api.example.com'"}), R"sql(,
  {T0} - (({K} - k) * interval '1 hour'), {T0} - (({K} - k) * interval '1 hour'),
  '', false, )sql",
                     List(v2_, {url("/logged-out")}), R"sql(, '', false,
  '{"tier":"' || (CASE WHEN k % 7 = 0 THEN 'internal' ELSE 'partner' END) || '"}',
  CASE WHEN k % 10 = 0 THEN 'RS256' ELSE '' END{NID_VAL}
FROM pool{NET}, generate_series({lo}, {hi}) AS k)sql");
    return Fill(tmpl, Common(lo, hi));
  }

  std::string Jwk(int64_t lo, int64_t hi) const {
    // Index < 4: Hydra's own keys; then one key per trust grant g = i - 4.
    std::string tmpl = absl::StrCat(
        R"sql({WITH_POOL}
INSERT INTO hydra_jwk ()sql",
        v2_ ? "pk, pk_deprecated, " : "", R"sql(sid, kid, version, keydata, created_at{NID_COL})
SELECT )sql",
        v2_ ? "md5('jwk:' || i)::uuid, i + 1, " : "", R"sql(
  CASE WHEN i < 2 THEN 'hydra.openid.id-token' WHEN i < 4 THEN 'hydra.jwt.access-token'
       ELSE 'https://issuer-' || ((i - 4) % 10) || '.example.com' END,
  CASE WHEN i < 4 THEN (CASE WHEN i % 2 = 0 THEN 'private:' ELSE 'public:' END) || md5('kid:' || (i / 2))::uuid::text
       ELSE md5('tgk:' || (i - 4))::uuid::text END,
  0, )sql",
        Pool("i", 2, absl::StrCat("CASE WHEN i < 4 AND i % 2 = 0 THEN 3300 ELSE 1100 END")), R"sql(,
  {T0} - interval '90 days' + i * interval '1 minute'{NID_VAL}
FROM pool{NET}, generate_series({lo}, {hi}) AS i)sql");
    return Fill(tmpl, Common(lo, hi));
  }

  std::string Sessions(int64_t lo, int64_t hi) const {
    std::string tmpl =
        absl::StrCat(R"sql(
INSERT INTO hydra_oauth2_authentication_session (id, authenticated_at, subject, remember{NID_COL})
SELECT )sql",
                     SessionId("s"), R"sql(, {T0} + (s::float8 * 2592000 / {S}) * interval '1 second', )sql",
                     SubjectId("s % {U}"), R"sql(, s % 3 <> 0{NID_VAL}
FROM generate_series({lo}, {hi}) AS s{NET})sql");
    return Fill(tmpl, Common(lo, hi));
  }

  // Columns shared by the 1.x login/consent tables and the 2.x flow, from
  // login index l: k client, u subject, s session, hs has-session, t time.
  std::string FlowBase() const {
    return absl::StrCat("SELECT l, ", d_.ClientOfLogin("l"), " AS k, ", d_.SubjectOfLogin("l"), " AS u, ",
                        d_.SessionOfLogin("l"), " AS s, ", d_.HasSession("l"), " AS hs, ", d_.LoginTime("l"),
                        " AS t FROM generate_series({lo}, {hi}) AS l OFFSET 0");
  }
  std::string AuthUrl() const {
    return absl::StrCat(
        "'https://auth.example.com/oauth2/auth?client_id=' || ", ClientId("x.k"),
        " || '&redirect_uri=https%3A%2F%2Fapp-' || x.k || "
        "'.example.com%2Fcallback&response_type=code&scope=openid+offline_access+profile+email"
        "&state=' || ",
        Pool("x.l", 3, 32), " || '&nonce=' || ", Pool("x.l", 4, 24));
  }

  std::string LoginRequests(int64_t lo, int64_t hi) const {
    std::string tmpl =
        absl::StrCat(R"sql({WITH_POOL}
INSERT INTO hydra_oauth2_authentication_request (challenge, requested_scope, verifier, csrf, subject,
  request_url, skip, client_id, requested_at, authenticated_at, oidc_context, login_session_id,
  requested_at_audience)
SELECT )sql",
                     LoginChallenge("x.l"), ", 'openid|offline_access|profile|email', md5('lv:' || x.l), ",
                     Pool("x.l", 5, 32), ", ", SubjectId("x.u"), ",\n  ", AuthUrl(), R"sql(,
  x.l % 4 = 0, )sql",
                     ClientId("x.k"), R"sql(, x.t, x.t + interval '5 seconds', '{}',
  CASE WHEN x.hs THEN )sql",
                     SessionId("x.s"), R"sql( END, ''
FROM pool, ()sql",
                     FlowBase(), ") AS x");
    return Fill(tmpl, Common(lo, hi));
  }

  std::string LoginHandled(int64_t lo, int64_t hi) const {
    std::string tmpl = absl::StrCat(R"sql(
INSERT INTO hydra_oauth2_authentication_request_handled (challenge, subject, remember, remember_for, error,
  acr, requested_at, authenticated_at, was_used, forced_subject_identifier, context)
SELECT )sql",
                                    LoginChallenge("x.l"), ", ", SubjectId("x.u"), R"sql(, x.l % 3 <> 0,
  CASE WHEN x.l % 3 <> 0 THEN 2592000 ELSE 0 END, '{}', '', x.t, x.t + interval '5 seconds', true, '',
  '{"amr":["pwd"]}'
FROM ()sql",
                                    FlowBase(), ") AS x");
    return Fill(tmpl, Common(lo, hi));
  }

  // Consent c follows login l = c (consent_requests <= login_requests).
  std::string ConsentRequests(int64_t lo, int64_t hi) const {
    std::string tmpl = absl::StrCat(R"sql({WITH_POOL}
INSERT INTO hydra_oauth2_consent_request (challenge, verifier, client_id, subject, request_url, skip,
  requested_scope, csrf, authenticated_at, requested_at, oidc_context, forced_subject_identifier,
  login_session_id, login_challenge, requested_at_audience, acr, context)
SELECT )sql",
                                    ConsentChallenge("x.l"), ", md5('cv:' || x.l), ", ClientId("x.k"), ", ",
                                    SubjectId("x.u"), ",\n  ", AuthUrl(),
                                    " || '&login_verifier=' || md5('lv:' || x.l)", R"sql(,
  x.l % 4 = 0, 'openid|offline_access|profile|email', )sql",
                                    Pool("x.l", 6, 32), R"sql(,
  x.t + interval '5 seconds', x.t + interval '20 seconds', '{}', '',
  CASE WHEN x.hs THEN )sql",
                                    SessionId("x.s"), " END, ", LoginChallenge("x.l"), R"sql(, '', '', '{}'
FROM pool, ()sql",
                                    FlowBase(), ") AS x");
    return Fill(tmpl, Common(lo, hi));
  }

  std::string SessionAccessToken() const {
    return R"sql('{"tenant":"t-' || (x.k % 17) || '","roles":["user"]}')sql";
  }
  std::string SessionIdToken() const {
    return R"sql('{"email":"user-' || x.u || '@example.com","email_verified":true,"name":"User ' || x.u || '"}')sql";
  }

  std::string ConsentHandled(int64_t lo, int64_t hi) const {
    std::string tmpl = absl::StrCat(R"sql(
INSERT INTO hydra_oauth2_consent_request_handled (challenge, granted_scope, remember, remember_for, error,
  requested_at, session_access_token, session_id_token, authenticated_at, was_used, granted_at_audience,
  handled_at)
SELECT )sql",
                                    ConsentChallenge("x.l"),
                                    R"sql(, 'openid|offline_access|profile|email', x.l % 2 = 0, 0, '{}',
  x.t + interval '20 seconds', )sql",
                                    SessionAccessToken(), ", ", SessionIdToken(), R"sql(,
  x.t + interval '5 seconds', true, '', x.t + interval '25 seconds'
FROM ()sql",
                                    FlowBase(), ") AS x");
    return Fill(tmpl, Common(lo, hi));
  }

  // 2.x: one row per login; logins l < consent_requests went on to a handled
  // and used consent (state 6), the others stopped after login (3 or 2).
  std::string Flows(int64_t lo, int64_t hi) const {
    std::string tmpl = absl::StrCat(R"sql({WITH_POOL}
INSERT INTO hydra_oauth2_flow (login_challenge, login_verifier, login_csrf, subject, request_url, login_skip,
  client_id, requested_at, login_initialized_at, oidc_context, login_session_id, requested_scope,
  requested_at_audience, state, login_remember, login_remember_for, login_error, acr, amr,
  login_authenticated_at, login_was_used, forced_subject_identifier, context, consent_challenge_id,
  consent_skip, consent_verifier, consent_csrf, granted_scope, granted_at_audience, consent_remember,
  consent_remember_for, consent_handled_at, consent_error, session_access_token, session_id_token,
  consent_was_used, nid)
SELECT )sql",
                                    LoginChallenge("x.l"), ", md5('lv:' || x.l), ", Pool("x.l", 5, 32), ", ",
                                    SubjectId("x.u"), ",\n  ", AuthUrl(), ", x.l % 4 = 0, ", ClientId("x.k"),
                                    R"sql(, x.t, x.t, '{}',
  CASE WHEN x.hs THEN )sql",
                                    SessionId("x.s"), R"sql( END,
  '["openid","offline_access","profile","email"]', '[]',
  CASE WHEN x.l < {C} THEN 6 WHEN x.l % 2 = 0 THEN 3 ELSE 2 END,
  x.l % 3 <> 0, CASE WHEN x.l % 3 <> 0 THEN 2592000 ELSE 0 END, NULL, '', '["pwd"]',
  x.t + interval '5 seconds', x.l < {C} OR x.l % 2 = 0, '', '{"amr":["pwd"]}',
  CASE WHEN x.l < {C} THEN )sql",
                                    ConsentChallenge("x.l"), R"sql( END,
  x.l < {C} AND x.l % 4 = 0,
  CASE WHEN x.l < {C} THEN md5('cv:' || x.l) END,
  CASE WHEN x.l < {C} THEN )sql",
                                    Pool("x.l", 6, 32), R"sql( END,
  CASE WHEN x.l < {C} THEN '["openid","offline_access","profile","email"]' ELSE '[]' END::jsonb, '[]',
  x.l < {C} AND x.l % 2 = 0, CASE WHEN x.l < {C} THEN 0 END,
  CASE WHEN x.l < {C} THEN x.t + interval '25 seconds' END, NULL,
  CASE WHEN x.l < {C} THEN )sql",
                                    SessionAccessToken(), R"sql( ELSE '{}' END::jsonb,
  CASE WHEN x.l < {C} THEN )sql",
                                    SessionIdToken(), R"sql( ELSE '{}' END::jsonb,
  x.l < {C}, net.id
FROM pool{NET}, ()sql",
                                    FlowBase(), ") AS x");
    return Fill(tmpl, Common(lo, hi));
  }

  // Token columns from a grant index p (an access token's index): c = the
  // consent (and login) it was issued under, cc = client_credentials grant
  // (every 4th), k client, u subject, t issue time.
  std::string GrantBase(absl::string_view index_col, absl::string_view p_expr,
                        absl::string_view extra_cols) const {
    std::string c = "(p % {C})";
    return absl::StrCat("SELECT *, ", c, " AS c, p % 4 = 3 AS cc, ", d_.ClientOfLogin(c), " AS k, ",
                        d_.SubjectOfLogin(c), " AS u, ", d_.LoginTime(c),
                        " + interval '30 seconds' + (p / {C}) * interval '1 hour' AS t FROM (SELECT ",
                        index_col, ", ", p_expr, " AS p", extra_cols, " FROM generate_series({lo}, {hi}) AS ",
                        index_col, " OFFSET 0) AS g OFFSET 0");
  }

  std::string TokenInsert(absl::string_view table) const {
    return absl::StrCat("{WITH_POOL}\nINSERT INTO ", table,
                        " (signature, request_id, requested_at, client_id, scope, granted_scope, form_data,\n"
                        "  session_data, subject, active, requested_audience, granted_audience, challenge_id",
                        v2_ ? ", nid, expires_at" : "", ")\n");
  }
  std::string Scope() const {
    return "CASE WHEN x.cc THEN 'api:read|api:write' ELSE 'openid|offline_access|profile|email' END";
  }
  std::string TokenTail(absl::string_view ttl) const {
    return absl::StrCat(R"sql(
  CASE WHEN x.cc THEN )sql",
                        ClientId("x.k"), " ELSE ", SubjectId("x.u"), R"sql( END, {ACTIVE},
  CASE WHEN x.cc THEN 'https://api.example.com' ELSE '' END,
  CASE WHEN x.cc THEN 'https://api.example.com' ELSE '' END,
  CASE WHEN x.cc THEN NULL ELSE )sql",
                        ConsentChallenge("x.c"), " END",
                        v2_ ? absl::StrCat(", net.id, x.tt + interval '", ttl, "'") : "");
  }

  std::string Access(int64_t lo, int64_t hi) const {
    std::string tmpl = absl::StrCat(
        TokenInsert("hydra_oauth2_access"), "SELECT ", Signature("at", "x.i", 21), ", ", RequestId("x.p"),
        ", x.tt, ", ClientId("x.k"), ", ", Scope(), ", ", Scope(),
        R"sql(,
  CASE WHEN x.cc THEN 'grant_type=client_credentials&scope=api%3Aread+api%3Awrite&audience=https%3A%2F%2Fapi.example.com'
       ELSE 'grant_type=authorization_code&code=ory_ac_' || )sql",
        Pool("x.i", 22, "43 + x.i % 44"),
        R"sql( || '&redirect_uri=https%3A%2F%2Fapp-' || x.k || '.example.com%2Fcallback&code_verifier=' || )sql",
        Pool("x.i", 23, 43), R"sql( END,
  )sql",
        Pool("x.i", 24, absl::StrCat("300 + ", Hash("x.i", 25), " % 301")), ",", TokenTail("1 hour"),
        "\nFROM pool{NET}, (SELECT *, t AS tt FROM (", GrantBase("i", "i", ""), ") AS y) AS x");
    auto vars = Common(lo, hi);
    vars.emplace_back("{ACTIVE}", "true");
    return Fill(tmpl, vars);
  }

  // Refresh token j belongs to grant p0 = j mod A. Grants p0 = 3 (mod 4) are
  // client_credentials and get no refresh token: their j becomes the
  // rotated-out predecessor (inactive, an hour older) of grant p0 - 1. Any
  // j >= A is an older rotation of its grant, inactive too.
  std::string Refresh(int64_t lo, int64_t hi) const {
    std::string p = "(j % {A}) - CASE WHEN (j % {A}) % 4 = 3 THEN 1 ELSE 0 END";
    std::string extra =
        ", (j % {A}) % 4 = 3 OR j >= {A} AS rotated, (j / {A}) + CASE WHEN (j % {A}) % 4 = 3 THEN 1 ELSE 0 "
        "END AS age";
    std::string tmpl = absl::StrCat(
        TokenInsert("hydra_oauth2_refresh"), "SELECT ", Signature("rt", "x.j", 31), ", ", RequestId("x.p"),
        ", x.tt, ", ClientId("x.k"), ", ", Scope(), ", ", Scope(),
        R"sql(,
  'grant_type=refresh_token&refresh_token=ory_rt_' || )sql",
        Pool("x.j", 32, 86), R"sql( || '&scope=openid+offline_access+profile+email',
  )sql",
        Pool("x.j", 34, absl::StrCat("300 + ", Hash("x.j", 35), " % 301")), ",", TokenTail("720 hours"),
        "\nFROM pool{NET}, (SELECT *, t - age * interval '1 hour' AS tt FROM (", GrantBase("j", p, extra),
        ") AS y) AS x");
    auto vars = Common(lo, hi);
    vars.emplace_back("{ACTIVE}", "NOT x.rotated");
    return Fill(tmpl, vars);
  }

  // Authorization code n was exchanged for grant p = 4n mod A (moved off
  // client_credentials grants). hydra_oauth2_code and hydra_oauth2_oidc
  // hold every code (codes exchanged already are inactive); pkce rows exist
  // for the codes not exchanged yet (n % 5 = 0), all three keyed by the
  // code's signature.
  std::string Codes(const std::string& kind, int64_t lo, int64_t hi) const {
    std::string p = "((4 * n) % {A}) - CASE WHEN ((4 * n) % {A}) % 4 = 3 THEN 1 ELSE 0 END";
    std::string active = kind == "code" ? "x.n % 5 = 0" : "true";
    std::string form =
        absl::StrCat("'response_type=code&client_id=' || ", ClientId("x.k"),
                     " || '&redirect_uri=https%3A%2F%2Fapp-' || x.k || '.example.com%2Fcallback"
                     "&scope=openid+offline_access+profile+email&state=' || ",
                     Pool("x.n", 42, 32), " || '&code_challenge=' || ", Pool("x.n", 43, 43),
                     " || '&code_challenge_method=S256'");
    std::string tmpl = absl::StrCat(
        TokenInsert(absl::StrCat("hydra_oauth2_", kind)), "SELECT ", Signature("ac", "x.n", 41), ", ",
        RequestId("x.p"), ", x.tt, ", ClientId("x.k"), ", ", Scope(), ", ", Scope(), ",\n  ", form, ",\n  ",
        Pool("x.n", 44, absl::StrCat("300 + ", Hash("x.n", 45), " % 301")), ",", TokenTail("10 minutes"),
        "\nFROM pool{NET}, (SELECT *, t - interval '10 seconds' AS tt FROM (", GrantBase("n", p, ""),
        ") AS y) AS x", kind == "pkce" ? "\nWHERE x.n % 5 = 0" : "");
    auto vars = Common(lo, hi);
    vars.emplace_back("{ACTIVE}", active);
    return Fill(tmpl, vars);
  }

  // Pairwise identifiers: row o is (subject o mod U, client (o / U) mod K),
  // unique while obfuscated_sessions <= U * K.
  std::string Obfuscated(int64_t lo, int64_t hi) const {
    std::string tmpl = absl::StrCat(R"sql(
INSERT INTO hydra_oauth2_obfuscated_authentication_session (subject, client_id, subject_obfuscated{NID_COL})
SELECT )sql",
                                    SubjectId("o % {U}"), ", ", ClientId("(o / {U}) % {K}"),
                                    R"sql(, encode(sha256(convert_to('obf:' || o, 'UTF8')), 'hex'){NID_VAL}
FROM generate_series({lo}, {hi}) AS o{NET})sql");
    return Fill(tmpl, Common(lo, hi));
  }

  std::string Logouts(int64_t lo, int64_t hi) const {
    std::string tmpl = absl::StrCat(R"sql(
INSERT INTO hydra_oauth2_logout_request (challenge, verifier, subject, sid, client_id, request_url, redir_url,
  was_used, accepted, rejected, rp_initiated{NID_COL}{LOGOUT_V2_COLS})
SELECT md5('lo:' || o), md5('lov:' || o), )sql",
                                    SubjectId("(o % {S}) % {U}"), ", ", SessionId("o % {S}"), R"sql(,
  CASE WHEN o % 2 = 0 THEN )sql",
                                    ClientId("o % {K}"), R"sql( END,
  'https://auth.example.com/oauth2/sessions/logout?state=' || md5('los:' || o),
  'https://app-' || (o % {K}) || '.example.com/logged-out', true, true, false, o % 2 = 0{NID_VAL}{LOGOUT_V2_VALS}
FROM generate_series({lo}, {hi}) AS o{NET})sql");
    auto vars = Common(lo, hi);
    vars.emplace_back("{LOGOUT_V2_COLS}", v2_ ? ", requested_at, expires_at" : "");
    vars.emplace_back("{LOGOUT_V2_VALS}", v2_ ? absl::StrCat(", ", kT0, " + o * interval '1 minute', ", kT0,
                                                             " + o * interval '1 minute' + interval '1 hour'")
                                              : "");
    return Fill(tmpl, vars);
  }

  std::string Jti(int64_t lo, int64_t hi) const {
    std::string tmpl = R"sql(
INSERT INTO hydra_oauth2_jti_blacklist (signature, expires_at{NID_COL})
SELECT encode(sha256(convert_to('jti:' || o, 'UTF8')), 'hex'), {T0} + interval '30 days' + o * interval '1 minute'{NID_VAL}
FROM generate_series({lo}, {hi}) AS o{NET})sql";
    return Fill(tmpl, Common(lo, hi));
  }

  // Trust grant g uses the key hydra_jwk row 4 + g; one in five allows any
  // subject (subject '').
  std::string Trust(int64_t lo, int64_t hi) const {
    std::string tmpl = absl::StrCat(R"sql(
INSERT INTO hydra_oauth2_trusted_jwt_bearer_issuer (id, issuer, subject, allow_any_subject, scope, key_set,
  key_id, created_at, expires_at{NID_COL})
SELECT md5('tg:' || g)::uuid, 'https://issuer-' || (g % 10) || '.example.com',
  CASE WHEN g % 5 = 0 THEN '' ELSE )sql",
                                    SubjectId("g % {U}"), R"sql( END, g % 5 = 0, 'api:read|api:write',
  'https://issuer-' || (g % 10) || '.example.com', md5('tgk:' || g)::uuid::text,
  {T0} - interval '60 days' + g * interval '1 minute', {T0} + interval '365 days'{NID_VAL}
FROM generate_series({lo}, {hi}) AS g{NET})sql");
    return Fill(tmpl, Common(lo, hi));
  }

  bool v2_;
  DatasetSize size_;
  Derive d_;
};

// One statement of a generation run; `weight` counts towards progress.
struct Job {
  std::string step;
  std::string context;
  std::string sql;
  double weight = 0;
};

// Serializes progress reports from the generator threads.
class Progress {
 public:
  Progress(ProgressFn fn, double total) : fn_(std::move(fn)), total_(total) {}
  // Reports `step` as the end of the run (fraction 1).
  void Finish(absl::string_view step) {
    absl::MutexLock l(&mu_);
    if (fn_) {
      fn_(step, 1.0);
    }
  }
  void Done(const Job& job) {
    absl::MutexLock l(&mu_);
    done_ += job.weight;
    if (fn_) {
      fn_(job.step, total_ <= 0 ? 1.0 : std::min(done_ / total_, 1.0));
    }
  }

 private:
  ProgressFn fn_;
  const double total_;
  absl::Mutex mu_;
  double done_ ABSL_GUARDED_BY(mu_) = 0;
};

// Runs `jobs` in order on up to sessions.size() threads (one per session),
// each job in its own autocommit transaction. Stops handing out jobs at the
// first error and returns it.
absl::Status RunJobs(const std::vector<pg::Session*>& sessions, const std::vector<Job>& jobs,
                     Progress& progress) {
  std::atomic<size_t> next{0};
  absl::Mutex mu;
  absl::Status first;
  auto work = [&](pg::Session* s) {
    while (true) {
      {
        absl::MutexLock l(&mu);
        if (!first.ok()) {
          return;
        }
      }
      size_t i = next.fetch_add(1);
      if (i >= jobs.size()) {
        return;
      }
      absl::Status st = Annotate(s->Exec(jobs[i].sql).status(), jobs[i].context);
      if (!st.ok()) {
        absl::MutexLock l(&mu);
        if (first.ok()) {
          first = st;
        }
        return;
      }
      progress.Done(jobs[i]);
    }
  };
  std::vector<std::thread> threads;
  for (size_t t = 1; t < sessions.size() && t < jobs.size(); ++t) {
    threads.emplace_back(work, sessions[t]);
  }
  work(sessions[0]);
  for (auto& t : threads) {
    t.join();
  }
  absl::MutexLock l(&mu);
  return first;
}

// Secondary (non-unique) indexes and foreign keys of a shape's tables, as
// statements that recreate them. Loading without them and building them
// afterwards is several times faster than maintaining them row by row; the
// primary keys and unique indexes stay, so duplicates still fail at once.
struct Deferred {
  std::vector<std::pair<std::string, std::string>> indexes;       // table, CREATE INDEX
  std::vector<std::pair<std::string, std::string>> foreign_keys;  // table, ALTER TABLE ADD CONSTRAINT
};

absl::StatusOr<Deferred> DropDeferred(pg::Session& session, Shape shape) {
  std::vector<std::string> names;
  for (const auto& t : Tables(shape)) {
    names.push_back(pg::QuoteLiteral(t));
  }
  const std::string rels = absl::StrCat("(SELECT to_regclass(t) FROM unnest(ARRAY[",
                                        absl::StrJoin(names, ", "), "]::text[]) AS t)");
  Deferred out;
  std::vector<std::string> drops;
  ASSIGN_OR_RETURN(pqxx::result fks,
                   session.Exec(absl::StrCat(
                       "SELECT conrelid::regclass::text, format('ALTER TABLE %s ADD CONSTRAINT %I %s', "
                       "conrelid::regclass, conname, pg_get_constraintdef(oid)), "
                       "format('ALTER TABLE %s DROP CONSTRAINT %I', conrelid::regclass, conname) "
                       "FROM pg_constraint WHERE contype = 'f' AND conrelid IN ",
                       rels, " ORDER BY conrelid, conname")));
  for (const auto& row : fks) {
    out.foreign_keys.emplace_back(row[0].as<std::string>(), row[1].as<std::string>());
    drops.push_back(row[2].as<std::string>());
  }
  ASSIGN_OR_RETURN(pqxx::result idx, session.Exec(absl::StrCat(
                                         "SELECT i.indrelid::regclass::text, pg_get_indexdef(i.indexrelid), "
                                         "format('DROP INDEX %s', i.indexrelid::regclass) "
                                         "FROM pg_index i "
                                         "WHERE NOT i.indisunique AND NOT i.indisprimary AND i.indrelid IN ",
                                         rels, " ORDER BY i.indexrelid")));
  for (const auto& row : idx) {
    out.indexes.emplace_back(row[0].as<std::string>(), row[1].as<std::string>());
    drops.push_back(row[2].as<std::string>());
  }
  RETURN_IF_ERROR(Annotate(session.InTransaction([&](pqxx::work& tx) {
    for (const auto& d : drops) {
      tx.exec(d);
    }
    return absl::OkStatus();
  }),
                           "drop secondary indexes and foreign keys before loading"));
  return out;
}

absl::Status ValidateSize(const DatasetSize& s) {
  const std::pair<const char*, int64_t> all[] = {
      {"clients", s.clients},
      {"login_sessions", s.login_sessions},
      {"login_requests", s.login_requests},
      {"consent_requests", s.consent_requests},
      {"access_tokens", s.access_tokens},
      {"refresh_tokens", s.refresh_tokens},
      {"auth_codes", s.auth_codes},
      {"logout_requests", s.logout_requests},
      {"obfuscated_sessions", s.obfuscated_sessions},
      {"jti_blacklist", s.jti_blacklist},
      {"trust_grants", s.trust_grants},
  };
  for (const auto& [name, n] : all) {
    if (n < 0) {
      return absl::InvalidArgumentError(absl::StrCat("dataset size: ", name, " is negative (", n, ")"));
    }
  }
  auto need = [](bool ok, absl::string_view what) {
    return ok ? absl::OkStatus() : absl::InvalidArgumentError(absl::StrCat("dataset size: ", what));
  };
  RETURN_IF_ERROR(need(s.login_requests == 0 || s.clients > 0, "login_requests need at least one client"));
  RETURN_IF_ERROR(need(s.consent_requests <= s.login_requests,
                       "consent_requests must not exceed login_requests (each consent follows one login)"));
  RETURN_IF_ERROR(
      need(s.access_tokens == 0 || s.consent_requests > 0, "access_tokens need at least one consent"));
  RETURN_IF_ERROR(need(s.refresh_tokens == 0 || s.access_tokens > 0, "refresh_tokens need access_tokens"));
  RETURN_IF_ERROR(need(s.auth_codes == 0 || s.access_tokens > 0, "auth_codes need access_tokens"));
  RETURN_IF_ERROR(need(s.logout_requests == 0 || (s.clients > 0 && s.login_sessions > 0),
                       "logout_requests need clients and login_sessions"));
  RETURN_IF_ERROR(need(s.obfuscated_sessions == 0 ||
                           (s.clients > 0 && s.obfuscated_sessions <= s.clients * Derive::Subjects(s)),
                       "obfuscated_sessions need clients and must not exceed clients * subjects "
                       "(subjects = login_sessions * 4 / 5)"));
  return absl::OkStatus();
}

absl::Status CreateSchema(pg::Session& session, absl::string_view sql, absl::string_view name) {
  absl::Status st = session.InTransaction([&](pqxx::work& tx) {
    tx.exec(std::string(sql));
    return absl::OkStatus();
  });
  return Annotate(st, absl::StrCat("create Hydra ", name, " schema"));
}

absl::StatusOr<int64_t> ScalarInt(pg::Session& session, absl::string_view sql) {
  ASSIGN_OR_RETURN(pqxx::result r, session.Exec(sql));
  if (r.empty() || r[0][0].is_null()) {
    return absl::InternalError(absl::StrCat("no value from: ", sql));
  }
  return r[0][0].as<int64_t>();
}

}  // namespace

std::string ShapeName(Shape shape) { return shape == Shape::kHydra2x ? "2.x" : "1.11"; }

const std::vector<std::string>& Tables(Shape shape) {
  static const std::vector<std::string> k111 = {
      "schema_migration",
      "hydra_client",
      "hydra_jwk",
      "hydra_oauth2_authentication_session",
      "hydra_oauth2_authentication_request",
      "hydra_oauth2_authentication_request_handled",
      "hydra_oauth2_consent_request",
      "hydra_oauth2_consent_request_handled",
      "hydra_oauth2_access",
      "hydra_oauth2_refresh",
      "hydra_oauth2_code",
      "hydra_oauth2_oidc",
      "hydra_oauth2_pkce",
      "hydra_oauth2_obfuscated_authentication_session",
      "hydra_oauth2_logout_request",
      "hydra_oauth2_jti_blacklist",
      "hydra_oauth2_trusted_jwt_bearer_issuer",
  };
  static const std::vector<std::string> k2x = {
      "schema_migration",
      "networks",
      "hydra_client",
      "hydra_jwk",
      "hydra_oauth2_authentication_session",
      "hydra_oauth2_flow",
      "hydra_oauth2_access",
      "hydra_oauth2_refresh",
      "hydra_oauth2_code",
      "hydra_oauth2_oidc",
      "hydra_oauth2_pkce",
      "hydra_oauth2_obfuscated_authentication_session",
      "hydra_oauth2_logout_request",
      "hydra_oauth2_jti_blacklist",
      "hydra_oauth2_trusted_jwt_bearer_issuer",
  };
  return shape == Shape::kHydra2x ? k2x : k111;
}

absl::Status CreateSchema11(pg::Session& session) { return CreateSchema(session, Schema11Sql(), "1.11"); }
absl::Status CreateSchema2x(pg::Session& session) { return CreateSchema(session, Schema2xSql(), "2.x"); }

absl::StatusOr<Shape> DetectShape(pg::Session& session) {
  ASSIGN_OR_RETURN(pqxx::result r, session.Exec("SELECT to_regclass('hydra_oauth2_flow') IS NOT NULL, "
                                                "to_regclass('hydra_oauth2_consent_request') IS NOT NULL"));
  if (r[0][0].as<bool>()) {
    return Shape::kHydra2x;
  }
  if (r[0][1].as<bool>()) {
    return Shape::kHydra111;
  }
  return absl::FailedPreconditionError(
      absl::StrCat(session.what(),
                   ": no Hydra schema in the current schema (neither hydra_oauth2_flow nor "
                   "hydra_oauth2_consent_request exists); create one first"));
}

DatasetSize DatasetSize::AtScale(double scale) {
  auto n = [scale](double at_one, int64_t min) {
    return std::max<int64_t>(min, static_cast<int64_t>(std::llround(at_one * scale)));
  };
  DatasetSize s;
  s.clients = n(1'000, 1);
  s.login_sessions = n(100'000, 1);
  s.login_requests = n(200'000, 1);
  s.consent_requests = n(200'000, 1);
  s.access_tokens = n(1'000'000, 0);
  s.refresh_tokens = n(1'000'000, 0);
  s.auth_codes = n(20'000, 0);
  s.logout_requests = n(1'000, 0);
  s.obfuscated_sessions = std::min(n(1'000, 0), s.clients * Derive::Subjects(s));
  s.jti_blacklist = n(1'000, 0);
  s.trust_grants = n(100, 0);
  return s;
}

std::map<std::string, int64_t> ExpectedRows(Shape shape, const DatasetSize& size) {
  std::map<std::string, int64_t> out;
  for (const auto& t : Tables(shape)) {
    out[t] = 0;
  }
  Planner planner(shape, size);
  for (const Step& step : planner.Steps()) {
    out[step.table] = step.rows;
  }
  out["schema_migration"] = 1;
  if (shape == Shape::kHydra2x) {
    out["networks"] = 1;
  }
  return out;
}

absl::Status Generate(pg::Session& session, const DatasetSize& size, ProgressFn progress) {
  RETURN_IF_ERROR(ValidateSize(size));
  ASSIGN_OR_RETURN(Shape shape, DetectShape(session));
  ASSIGN_OR_RETURN(int64_t clients,
                   ScalarInt(session, "SELECT count(*) FROM (SELECT 1 FROM hydra_client LIMIT 1) AS x"));
  if (clients != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(session.what(), ": hydra_client already has rows; Generate needs an empty schema"));
  }
  if (shape == Shape::kHydra2x) {
    ASSIGN_OR_RETURN(int64_t networks, ScalarInt(session, "SELECT count(*) FROM networks"));
    if (networks != 1) {
      return absl::FailedPreconditionError(absl::StrCat(session.what(), ": networks has ", networks,
                                                        " rows; the 2.x shape needs exactly one"));
    }
  }

  // A second connection doubles throughput on two cores. It gets the
  // caller's search_path so it sees the same tables; when it cannot connect,
  // everything runs on the caller's session.
  std::vector<pg::Session*> sessions = {&session};
  std::unique_ptr<pg::Session> helper;
  {
    ASSIGN_OR_RETURN(pqxx::result r, session.Exec("SELECT current_setting('search_path')"));
    const std::string search_path = r[0][0].as<std::string>();
    auto second =
        pg::Session::Connect(session.dsn(), absl::StrCat(session.what(), " (generator)"), "cutover-datagen");
    if (second.ok() && (*second)
                           ->Exec(absl::StrCat("SELECT set_config('search_path', ",
                                               pg::QuoteLiteral(search_path), ", false)"))
                           .ok()) {
      helper = std::move(*second);
      sessions.push_back(helper.get());
    }
  }

  Planner planner(shape, size);
  const std::vector<Step> steps = planner.Steps();
  std::vector<Job> load;
  for (const Step& s : steps) {
    for (int64_t lo = 0; lo < s.range; lo += kChunkRows) {
      int64_t hi = std::min(s.range, lo + kChunkRows);
      load.push_back({s.table, absl::StrCat("generate ", s.table, " rows ", lo, "..", hi - 1), s.sql(lo, hi),
                      static_cast<double>(hi - lo)});
    }
  }
  ASSIGN_OR_RETURN(Deferred deferred, DropDeferred(session, shape));
  // Measured at scale 1.0 on two cores: loading takes about 70% of the time,
  // building indexes 22%, validating foreign keys and ANALYZE the rest.
  double load_rows = 0;
  for (const Job& j : load) {
    load_rows += j.weight;
  }
  Progress tracker(std::move(progress), load_rows / 0.70);
  absl::Status st = RunJobs(sessions, load, tracker);
  // Put the indexes and constraints back even when loading failed, so the
  // schema stays whole; the first error wins. Biggest tables first, so the
  // two connections finish together.
  std::map<std::string, int64_t> bytes;
  if (auto r = session.Exec(absl::StrCat(
          "SELECT t, pg_relation_size(to_regclass(t)) FROM unnest(ARRAY[",
          absl::StrJoin(Tables(shape), ", ",
                        [](std::string* out, const std::string& t) { out->append(pg::QuoteLiteral(t)); }),
          "]::text[]) AS t"));
      r.ok()) {
    for (const auto& row : *r) {
      bytes[row[0].as<std::string>()] = row[1].as<int64_t>();
    }
  }
  std::stable_sort(deferred.indexes.begin(), deferred.indexes.end(),
                   [&](const auto& a, const auto& b) { return bytes[a.first] > bytes[b.first]; });
  std::vector<Job> indexes;
  for (const auto& [table, sql] : deferred.indexes) {
    indexes.push_back({"indexes", absl::StrCat("create index on ", table), sql,
                       load_rows * 0.22 / 0.70 / static_cast<double>(deferred.indexes.size())});
  }
  absl::Status idx = RunJobs(sessions, indexes, tracker);
  std::vector<Job> fks;
  for (const auto& [table, sql] : deferred.foreign_keys) {
    fks.push_back({"foreign keys", absl::StrCat("add foreign key to ", table), sql,
                   load_rows * 0.05 / 0.70 / static_cast<double>(deferred.foreign_keys.size())});
  }
  // Validating a foreign key locks both tables: one at a time.
  absl::Status fk = RunJobs({&session}, fks, tracker);
  RETURN_IF_ERROR(st);
  RETURN_IF_ERROR(idx);
  RETURN_IF_ERROR(fk);

  std::vector<std::string> tables;
  for (const auto& t : Tables(shape)) {
    tables.push_back(pg::QuoteIdent(t));
  }
  RETURN_IF_ERROR(Annotate(session.Exec(absl::StrCat("ANALYZE ", absl::StrJoin(tables, ", "))).status(),
                           "analyze generated tables"));
  tracker.Finish("analyze");
  return absl::OkStatus();
}

int64_t DatasetCounts::Rows(absl::string_view table) const {
  auto it = rows.find(std::string(table));
  return it == rows.end() ? 0 : it->second;
}

int64_t DatasetCounts::Total() const {
  int64_t sum = 0;
  for (const auto& [t, n] : rows) {
    sum += n;
  }
  return sum;
}

absl::StatusOr<DatasetCounts> Count(pg::Session& session) {
  ASSIGN_OR_RETURN(Shape shape, DetectShape(session));
  std::vector<std::string> parts;
  for (const auto& t : Tables(shape)) {
    parts.push_back(absl::StrCat("SELECT ", pg::QuoteLiteral(t), ", count(*) FROM ", pg::QuoteIdent(t)));
  }
  ASSIGN_OR_RETURN(pqxx::result r, session.Exec(absl::StrJoin(parts, " UNION ALL ")));
  DatasetCounts out;
  out.shape = shape;
  for (const auto& row : r) {
    out.rows[row[0].as<std::string>()] = row[1].as<int64_t>();
  }
  return out;
}

}  // namespace cutover::hydra
