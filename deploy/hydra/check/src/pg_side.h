// One side (blue or green) of a check: a libpq connection holding one
// REPEATABLE READ READ ONLY transaction for the whole run, the detected
// Hydra shape, row streams per entity (COPY ... TO STDOUT, sorted by key in
// the "C" collation) and the small batched look-ups the ledger check needs.
// Private to cutover::check.
//
// Thread-safety: a PgSide and its streams belong to one thread; a side runs
// one stream at a time (a COPY occupies the connection until it ends).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cutover/check/compare.h"
#include "cutover/common/pg.h"
#include "cutover/hydra/dataset.h"

namespace cutover::check {

// Where an entity lives in one shape.
struct EntityQuery {
  std::string table;       // e.g. "hydra_oauth2_flow"
  std::string key;         // key column
  std::string active;      // boolean expression
  std::string request_id;  // text expression or NULL
  std::string challenge_id;
  std::string client_id;
  std::string created;  // creation-time column
  std::string where;    // extra condition, or ""
};
EntityQuery QueryFor(Entity entity, hydra::Shape shape);

// A row the ledger check found on green for a ledger entry.
struct LedgerHit {
  int64_t index = 0;  // into the batch passed in
  std::string table;
  std::string key;
  bool active = false;
};

class PgSide {
 public:
  // Connects, detects the shape and opens the snapshot transaction. Errors
  // name `what` ("blue" / "green").
  static absl::StatusOr<std::unique_ptr<PgSide>> Open(const std::string& dsn, const std::string& what);

  hydra::Shape shape() const { return shape_; }
  const std::string& what() const { return what_; }

  // Rows of `entity`, creation flags computed against the two times.
  absl::StatusOr<std::unique_ptr<RowSource>> Stream(Entity entity, std::optional<absl::Time> snapshot_at,
                                                    std::optional<absl::Time> cutoff);

  // Distinct request ids of the refresh rows with these signatures.
  absl::StatusOr<std::vector<std::string>> RefreshRequestIds(const std::vector<std::string>& signatures);

  // Rows answering the ledger entries of one kind (keys[i], at[i]): for
  // kToken the access and refresh rows with that request_id created before
  // `at`; for the other kinds the row the key names.
  absl::StatusOr<std::vector<LedgerHit>> LedgerTargets(LedgerKind kind, const std::vector<std::string>& keys,
                                                       const std::vector<absl::Time>& at);

  // Ends the transaction (read only: nothing to keep).
  void Close();

 private:
  PgSide(pg::RawConn conn, std::string what, hydra::Shape shape)
      : conn_(std::move(conn)), what_(std::move(what)), shape_(shape) {}
  absl::StatusOr<pg::PgResultPtr> QueryParams(const std::string& sql, const std::vector<std::string>& params);

  pg::RawConn conn_;
  std::string what_;
  hydra::Shape shape_;
};

// 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC, as a SQL timestamp literal.
std::string SqlTimestamp(absl::Time t);
// A PostgreSQL array literal of the values ({"a","b\"c"}).
std::string ArrayLiteral(const std::vector<std::string>& values);

}  // namespace cutover::check
