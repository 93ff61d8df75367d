// Raw COPY streaming and content hashing through libpq, no row parsing.
//
// A blue "snapshot connection" runs one REPEATABLE READ READ ONLY transaction
// that imported the coordinator's exported snapshot; it may serve many tables
// one after the other. Green side: each table is TRUNCATE + COPY ... FREEZE
// in one transaction, so a retried or crashed table never leaves half data.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "cutover/common/pg.h"
#include "cutover/copy/catalog.h"

namespace cutover::copy {

// Opens a connection to blue and imports `snapshot_id` into a new
// REPEATABLE READ READ ONLY transaction, with the session settings that make
// row text identical on blue and green (see HashSettings()).
absl::StatusOr<pg::RawConn> OpenSnapshotConn(const std::string& blue_dsn, const std::string& snapshot_id,
                                             const std::string& application_name);

// Session settings applied on both sides before hashing, so `row::text` is
// the same text on blue and green.
const char* HashSettings();

struct StreamResult {
  int64_t rows = 0;   // from green's COPY command tag: exact
  int64_t bytes = 0;  // COPY stream bytes moved
};

// Called every ~1 MB of stream with the rows/bytes since the last call; a
// non-OK return cancels the table (green transaction rolled back).
using StreamProgress = std::function<absl::Status(int64_t rows, int64_t bytes)>;

// Streams `table` from blue (snapshot connection) to green in binary format:
// BEGIN; TRUNCATE ONLY; COPY FROM STDIN (FORMAT binary, FREEZE); COMMIT.
absl::StatusOr<StreamResult> StreamTable(pg::RawConn& blue, pg::RawConn& green, const TableInfo& table,
                                         const StreamProgress& progress);

struct TableHash {
  int64_t rows = 0;
  std::string hash;  // decimal sum of 64-bit row hashes (numeric, no overflow)
};

// SQL computing a table's row count and order-independent content hash
// (or only the count when `with_hash` is false).
std::string HashQuery(const TableInfo& table, bool with_hash);

// Runs HashQuery on blue and green at the same time (one query each, sent
// asynchronously) and returns both results.
absl::Status HashBoth(pg::RawConn& blue, pg::RawConn& green, const TableInfo& table, bool with_hash,
                      TableHash* blue_out, TableHash* green_out);

}  // namespace cutover::copy
