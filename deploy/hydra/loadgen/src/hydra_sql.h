// The statements cutover-loadgen sends, per Hydra shape: what Ory Hydra
// (fosite's SQL storage) runs for each operation, plus the row locks the
// workload takes first so its own transactions never deadlock each other.
// Values are inlined as quoted literals: several statements go in one
// simple-protocol round trip, which transaction pooling accepts as is.
//
// Internal to cutover::loadgen; pure functions, safe from any thread.
#pragma once

#include <string>

#include "absl/strings/string_view.h"
#include "cutover/loadgen/ledger.h"

namespace cutover::loadgen::sql {

// Opens the transaction and asks which shape it runs on, in one round trip:
// two results (BEGIN, then one row: hydra_oauth2_flow exists,
// hydra_oauth2_consent_request exists).
std::string BeginAndDetect(bool read_only);

// A token row to insert into hydra_oauth2_access / hydra_oauth2_refresh.
struct NewToken {
  std::string signature;
  std::string request_id;
  std::string client_id;
  std::string subject;
  std::string challenge_id;
  std::string form_data;
  std::string session_data;
};
// INSERT of one token; `nid` is required for 2.x (the consent flow's nid).
// Access tokens expire after an hour, refresh tokens after 30 days (2.x
// expires_at; 1.x has no such column).
std::string InsertAccess(Schema schema, const NewToken& t, absl::string_view nid);
std::string InsertRefresh(Schema schema, const NewToken& t, absl::string_view nid);

// Row locks on the rows a new token will reference, parents first (client,
// then the consent rows), FOR KEY SHARE: a concurrent revocation of the
// consent or client then waits for this transaction instead of making its
// INSERT fail, and a lock that finds no row tells the target is gone.
// 1.x: three statements (client, consent request, handled consent), each
// returning one row when present. 2.x: two (client, flow), each returning
// the row's nid.
std::string LockGrantParents(Schema schema, absl::string_view client_id, absl::string_view challenge);

// Rotation: deactivates the old refresh token if still active (one
// statement; 1 row when it was active).
std::string DeactivateRefresh(absl::string_view signature);
// Revokes a grant's access tokens (fosite RevokeAccessToken: DELETE by
// request_id); part of both a rotation and a revocation.
std::string DeleteAccessByRequest(absl::string_view request_id);
// fosite RevokeRefreshToken (Hydra 1.x-2.2: deactivate by request_id); only
// rows still active, so the row count says whether anything was revoked.
std::string DeactivateRefreshByRequest(absl::string_view request_id);
// 1.x: DELETE the consent request (cascades to its handled row and tokens);
// 2.x: DELETE the flow by consent_challenge_id (cascades to tokens).
std::string DeleteConsent(Schema schema, absl::string_view challenge);
std::string DeleteLoginSession(absl::string_view id);
std::string DeleteClient(absl::string_view id);

// The target sampler (one read-only transaction, after BeginAndDetect):
// row estimates of the sampled tables, one row per table (name, reltuples,
// -1 when never analyzed), in the order of SampledTables(schema).
std::string TableEstimates(Schema schema);
// hydra_client, hydra_oauth2_authentication_session, the consent table
// (hydra_oauth2_consent_request or hydra_oauth2_flow), hydra_oauth2_access,
// hydra_oauth2_refresh.
const char* const* SampledTables(Schema schema);
constexpr int kSampledTables = 5;

// Up to `want` random rows. Small tables (estimate under 50k rows) are read
// whole and shuffled; larger ones through TABLESAMPLE SYSTEM with about four
// times `want` rows, then shuffled and cut (a few milliseconds at 1M rows).
// Columns:
//   SampleClients:   id  (every client up to want, fewest consents first:
//                         the cheapest to delete, as abandoned test apps are)
//   SampleSessions:  id
//   SampleConsents:  challenge, client_id, subject        (handled / used consents)
//   SampleTokens:    request_id, challenge_id or '', client_id (from access tokens)
//   SampleRefresh:   signature, request_id, client_id, subject, challenge_id
//                    (active refresh tokens issued under a consent)
std::string SampleClients(Schema schema, int want);
std::string SampleSessions(double estimate, int want);
std::string SampleConsents(Schema schema, double estimate, int want);
std::string SampleTokens(double estimate, int want);
std::string SampleRefresh(double estimate, int want);

}  // namespace cutover::loadgen::sql
