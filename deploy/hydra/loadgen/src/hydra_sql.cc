#include "hydra_sql.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cutover/common/pg.h"

namespace cutover::loadgen::sql {
namespace {

using pg::QuoteLiteral;

// Below this many rows a table is shuffled whole; above, sampled by pages.
constexpr double kWholeTableRows = 50'000;

const char kScope[] = "openid|offline_access|profile|email";
// Hydra stores UTC wall-clock times in `timestamp without time zone`
// columns, whatever the server's TimeZone (cutover-check reads them as UTC).
const char kNowUtc[] = "(now() AT TIME ZONE 'UTC')";

std::string InsertToken(absl::string_view table, Schema schema, const NewToken& t, absl::string_view nid,
                        absl::string_view ttl) {
  const bool v2 = schema == Schema::k2x;
  return absl::StrCat(
      "INSERT INTO ", table,
      " (signature, request_id, requested_at, client_id, scope, granted_scope, form_data, session_data, "
      "subject, active, requested_audience, granted_audience, challenge_id",
      v2 ? ", nid, expires_at" : "", ") VALUES (", QuoteLiteral(t.signature), ", ",
      QuoteLiteral(t.request_id), ", ", kNowUtc, ", ", QuoteLiteral(t.client_id), ", '", kScope, "', '",
      kScope, "', ", QuoteLiteral(t.form_data), ", ", QuoteLiteral(t.session_data), ", ",
      QuoteLiteral(t.subject), ", true, '', '', ", QuoteLiteral(t.challenge_id),
      v2 ? absl::StrCat(", ", QuoteLiteral(nid), ", ", kNowUtc, " + interval '", ttl, "'") : "", ")");
}

// "<table> AS <alias>", sampled by pages when the table is large.
std::string From(absl::string_view table, absl::string_view alias, double estimate, int want) {
  std::string from = absl::StrCat(table, " AS ", alias);
  if (estimate >= kWholeTableRows) {
    const double percent = std::clamp(100.0 * 4.0 * want / estimate, 0.001, 100.0);
    absl::StrAppendFormat(&from, " TABLESAMPLE SYSTEM (%.4f)", percent);
  }
  return from;
}

}  // namespace

std::string BeginAndDetect(bool read_only) {
  return absl::StrCat(read_only ? "BEGIN READ ONLY" : "BEGIN",
                      "; SELECT to_regclass('hydra_oauth2_flow') IS NOT NULL, "
                      "to_regclass('hydra_oauth2_consent_request') IS NOT NULL");
}

std::string InsertAccess(Schema schema, const NewToken& t, absl::string_view nid) {
  return InsertToken("hydra_oauth2_access", schema, t, nid, "1 hour");
}

std::string InsertRefresh(Schema schema, const NewToken& t, absl::string_view nid) {
  return InsertToken("hydra_oauth2_refresh", schema, t, nid, "720 hours");
}

std::string LockGrantParents(Schema schema, absl::string_view client_id, absl::string_view challenge) {
  const std::string c = QuoteLiteral(client_id);
  const std::string x = QuoteLiteral(challenge);
  if (schema == Schema::k2x) {
    return absl::StrCat("SELECT nid FROM hydra_client WHERE id = ", c, " FOR KEY SHARE; ",
                        "SELECT nid FROM hydra_oauth2_flow WHERE consent_challenge_id = ", x,
                        " FOR KEY SHARE");
  }
  return absl::StrCat("SELECT 1 FROM hydra_client WHERE id = ", c, " FOR KEY SHARE; ",
                      "SELECT 1 FROM hydra_oauth2_consent_request WHERE challenge = ", x, " FOR KEY SHARE; ",
                      "SELECT 1 FROM hydra_oauth2_consent_request_handled WHERE challenge = ", x,
                      " FOR KEY SHARE");
}

std::string DeactivateRefresh(absl::string_view signature) {
  return absl::StrCat("UPDATE hydra_oauth2_refresh SET active = false WHERE signature = ",
                      QuoteLiteral(signature), " AND active");
}

std::string DeleteAccessByRequest(absl::string_view request_id) {
  return absl::StrCat("DELETE FROM hydra_oauth2_access WHERE request_id = ", QuoteLiteral(request_id));
}

std::string DeactivateRefreshByRequest(absl::string_view request_id) {
  return absl::StrCat("UPDATE hydra_oauth2_refresh SET active = false WHERE request_id = ",
                      QuoteLiteral(request_id), " AND active");
}

std::string DeleteConsent(Schema schema, absl::string_view challenge) {
  if (schema == Schema::k2x) {
    return absl::StrCat("DELETE FROM hydra_oauth2_flow WHERE consent_challenge_id = ",
                        QuoteLiteral(challenge));
  }
  return absl::StrCat("DELETE FROM hydra_oauth2_consent_request WHERE challenge = ", QuoteLiteral(challenge));
}

std::string DeleteLoginSession(absl::string_view id) {
  return absl::StrCat("DELETE FROM hydra_oauth2_authentication_session WHERE id = ", QuoteLiteral(id));
}

std::string DeleteClient(absl::string_view id) {
  return absl::StrCat("DELETE FROM hydra_client WHERE id = ", QuoteLiteral(id));
}

const char* const* SampledTables(Schema schema) {
  static const char* const k1x[kSampledTables] = {"hydra_client", "hydra_oauth2_authentication_session",
                                                  "hydra_oauth2_consent_request", "hydra_oauth2_access",
                                                  "hydra_oauth2_refresh"};
  static const char* const k2x[kSampledTables] = {"hydra_client", "hydra_oauth2_authentication_session",
                                                  "hydra_oauth2_flow", "hydra_oauth2_access",
                                                  "hydra_oauth2_refresh"};
  return schema == Schema::k2x ? k2x : k1x;
}

std::string TableEstimates(Schema schema) {
  std::string names;
  const char* const* tables = SampledTables(schema);
  for (int i = 0; i < kSampledTables; ++i) {
    absl::StrAppend(&names, i ? ", " : "", QuoteLiteral(tables[i]));
  }
  return absl::StrCat(
      "SELECT t.name, coalesce((SELECT c.reltuples::float8 FROM pg_class c WHERE c.oid = "
      "to_regclass(t.name)), -1) "
      "FROM unnest(ARRAY[",
      names, "]::text[]) WITH ORDINALITY AS t(name, n) ORDER BY t.n");
}

std::string SampleClients(Schema schema, int want) {
  const char* consents =
      schema == Schema::k2x
          ? "SELECT client_id, count(*) AS n FROM hydra_oauth2_flow "
            "WHERE consent_challenge_id IS NOT NULL GROUP BY client_id"
          : "SELECT client_id, count(*) AS n FROM hydra_oauth2_consent_request GROUP BY client_id";
  return absl::StrCat("SELECT c.id FROM hydra_client AS c LEFT JOIN (", consents,
                      ") AS x ON x.client_id = c.id ORDER BY coalesce(x.n, 0), c.id LIMIT ", want);
}

std::string SampleSessions(double estimate, int want) {
  return absl::StrCat("SELECT s.id FROM ", From("hydra_oauth2_authentication_session", "s", estimate, want),
                      " ORDER BY random() LIMIT ", want);
}

std::string SampleConsents(Schema schema, double estimate, int want) {
  if (schema == Schema::k2x) {
    return absl::StrCat("SELECT f.consent_challenge_id, f.client_id, f.subject FROM ",
                        From("hydra_oauth2_flow", "f", estimate, want),
                        " WHERE f.consent_challenge_id IS NOT NULL AND f.state = 6 ORDER BY random() LIMIT ",
                        want);
  }
  return absl::StrCat("SELECT r.challenge, r.client_id, r.subject FROM ",
                      From("hydra_oauth2_consent_request", "r", estimate, want),
                      " JOIN hydra_oauth2_consent_request_handled h ON h.challenge = r.challenge "
                      "ORDER BY random() LIMIT ",
                      want);
}

std::string SampleTokens(double estimate, int want) {
  return absl::StrCat("SELECT a.request_id, coalesce(a.challenge_id, ''), a.client_id FROM ",
                      From("hydra_oauth2_access", "a", estimate, want), " ORDER BY random() LIMIT ", want);
}

std::string SampleRefresh(double estimate, int want) {
  return absl::StrCat("SELECT r.signature, r.request_id, r.client_id, r.subject, r.challenge_id FROM ",
                      From("hydra_oauth2_refresh", "r", estimate, want),
                      " WHERE r.active AND r.challenge_id IS NOT NULL ORDER BY random() LIMIT ", want);
}

}  // namespace cutover::loadgen::sql
