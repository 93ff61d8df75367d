// The Hydra-shaped dataset used by the quickstart, the tests and the
// benchmarks: Ory Hydra's PostgreSQL schema as 1.11 has it (what blue runs)
// and as 2.x has it (what green must end up as), and a fast, deterministic,
// foreign-key-consistent data generator that runs server-side.
// Shapes, generated values and sizes: deploy/hydra/README.md.
//
// Thread-safety: free functions without shared state; each uses only the
// Session it is given, which must not be used by another thread meanwhile.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cutover/common/pg.h"

namespace cutover::hydra {

enum class Shape {
  kHydra111,  // deploy/hydra/schema-1.11.sql
  kHydra2x,   // deploy/hydra/schema-2.x.sql
};

// "1.11" or "2.x".
std::string ShapeName(Shape shape);

// The DDL of each shape, verbatim from deploy/hydra/schema-*.sql (embedded
// at build time).
absl::string_view Schema11Sql();
absl::string_view Schema2xSql();

// Tables of a shape, parents before children (creation and load order).
const std::vector<std::string>& Tables(Shape shape);

// Create every table, index and constraint of the shape in the session's
// current schema, in one transaction: either all of it exists afterwards or
// nothing. FailedPrecondition when a table of the same name already exists.
absl::Status CreateSchema11(pg::Session& session);
absl::Status CreateSchema2x(pg::Session& session);

// Which shape the session's current schema holds: kHydra2x when
// hydra_oauth2_flow exists, kHydra111 when hydra_oauth2_consent_request
// does; FailedPrecondition when neither.
absl::StatusOr<Shape> DetectShape(pg::Session& session);

// How many rows Generate writes. The first six members are the knobs;
// the rest are small side tables that AtScale derives from them.
struct DatasetSize {
  int64_t clients = 0;
  int64_t login_sessions = 0;
  int64_t login_requests = 0;    // each one handled
  int64_t consent_requests = 0;  // each one handled; at most login_requests
  int64_t access_tokens = 0;
  int64_t refresh_tokens = 0;  // needs access_tokens > 0
  // Authorization codes: as many hydra_oauth2_code and hydra_oauth2_oidc
  // rows, and one hydra_oauth2_pkce row per not-yet-exchanged code (1 in 5).
  int64_t auth_codes = 0;
  int64_t logout_requests = 0;
  int64_t obfuscated_sessions = 0;  // at most clients * distinct subjects
  int64_t jti_blacklist = 0;
  int64_t trust_grants = 0;  // each with its own key in hydra_jwk

  // scale 1.0: 1,000 clients, 100k login sessions, 200k login and 200k
  // consent requests, 1M access and 1M refresh tokens, 20k codes, about
  // 3.0 GB with indexes (pg_database_size; 1.6 GB is about scale 0.5).
  // Every count scales linearly; parents never go below 1.
  static DatasetSize AtScale(double scale);
};

// Progress of Generate: the step (a table name, or "analyze") and the
// fraction of the whole run done so far, in [0, 1].
using ProgressFn = std::function<void(absl::string_view step, double fraction)>;

// Fills the (empty) tables of the shape found by DetectShape with `size`
// rows, generated server-side with INSERT ... SELECT over generate_series,
// at most 100k rows per statement, then ANALYZEs them. Scale 1.0 takes 2-3
// minutes on two cores.
//
// Values are a pure function of the row numbers and `size` (no random()),
// so two runs with one size produce identical rows, except the 2.x nid,
// which is the id of the single `networks` row. Both shapes get the same
// signatures, request ids, challenges, client ids and subjects, as a 1.11 ->
// 2.x migration keeps them. Foreign keys hold: every token's client and
// consent exist; refresh tokens share their request_id with an access token
// of the same grant (rotated-out ones are inactive); one access token in four
// is a client_credentials token without consent (challenge_id NULL).
//
// Meant for a database nobody else uses meanwhile: for speed, the shape's
// non-unique indexes and foreign keys are dropped while loading and then
// rebuilt from their own definitions (the foreign keys validated), also
// after a failed load; committed chunks of a failed run stay. A second
// connection to session.dsn() (with the session's search_path) loads in
// parallel when it can be opened; `progress` may be called from its
// thread, never concurrently.
//
// InvalidArgument for inconsistent sizes, FailedPrecondition when no Hydra
// schema is present or hydra_client already has rows.
absl::Status Generate(pg::Session& session, const DatasetSize& size, ProgressFn progress = nullptr);

// Rows per table of a shape that Generate(size) writes into an empty schema
// (including schema_migration's and networks' own rows).
std::map<std::string, int64_t> ExpectedRows(Shape shape, const DatasetSize& size);

struct DatasetCounts {
  Shape shape = Shape::kHydra111;
  std::map<std::string, int64_t> rows;  // table -> exact count(*)
  // Rows of `table`; 0 when the table is not part of the shape.
  int64_t Rows(absl::string_view table) const;
  int64_t Total() const;
};

// Exact row counts of every table of the detected shape.
absl::StatusOr<DatasetCounts> Count(pg::Session& session);

}  // namespace cutover::hydra
