#include "cutover/copy/stream.h"

#include <cstdlib>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace cutover::copy {

const char* HashSettings() {
  return "SET DateStyle = 'ISO, MDY'; SET IntervalStyle = 'postgres'; SET TimeZone = 'UTC'; "
         "SET extra_float_digits = 1; SET bytea_output = 'hex'; SET lc_monetary = 'C'; "
         "SET statement_timeout = 0; SET idle_in_transaction_session_timeout = 0;";
}

absl::StatusOr<pg::RawConn> OpenSnapshotConn(const std::string& blue_dsn, const std::string& snapshot_id,
                                             const std::string& application_name) {
  ASSIGN_OR_RETURN(pg::RawConn conn, pg::RawConn::Connect(blue_dsn, "blue", application_name));
  RETURN_IF_ERROR(conn.Exec(absl::StrCat(HashSettings(),
                                         "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; "
                                         "SET TRANSACTION SNAPSHOT ",
                                         pg::QuoteLiteral(snapshot_id), ";")));
  return conn;
}

absl::StatusOr<StreamResult> StreamTable(pg::RawConn& blue, pg::RawConn& green, const TableInfo& table,
                                         const StreamProgress& progress) {
  const std::string name = table.QualifiedName();
  RETURN_IF_ERROR(green.Exec(absl::StrCat("BEGIN; TRUNCATE ONLY ", name, ";")));
  // Start both sides of the stream.
  pg::PgResultPtr res(PQexec(green.get(), absl::StrCat("COPY ", name, " FROM STDIN (FORMAT binary, FREEZE)").c_str()));
  if (PQresultStatus(res.get()) != PGRES_COPY_IN) {
    absl::Status st = green.ResultError(res.get());
    (void)green.Exec("ROLLBACK");
    return st;
  }
  res.reset(PQexec(blue.get(), absl::StrCat("COPY ", name, " TO STDOUT (FORMAT binary)").c_str()));
  if (PQresultStatus(res.get()) != PGRES_COPY_OUT) {
    absl::Status st = blue.ResultError(res.get());
    PQputCopyEnd(green.get(), "blue COPY failed");
    while (PGresult* r = PQgetResult(green.get())) PQclear(r);
    (void)green.Exec("ROLLBACK");
    return st;
  }

  StreamResult result;
  int64_t rows_since = 0, bytes_since = 0;
  absl::Status failure;
  while (true) {
    char* buf = nullptr;
    const int n = PQgetCopyData(blue.get(), &buf, /*async=*/0);
    if (n == -1) break;  // end of COPY OUT
    if (n == -2) {
      failure = blue.ConnError(absl::StrCat("reading COPY of ", table.DisplayName()));
      break;
    }
    const int put = PQputCopyData(green.get(), buf, n);
    PQfreemem(buf);
    if (put != 1) {
      failure = green.ConnError(absl::StrCat("writing COPY of ", table.DisplayName()));
      break;
    }
    ++rows_since;
    bytes_since += n;
    if (bytes_since >= (1 << 20)) {
      result.bytes += bytes_since;
      if (progress) failure = progress(rows_since, bytes_since);
      rows_since = bytes_since = 0;
      if (!failure.ok()) break;
    }
  }
  result.bytes += bytes_since;
  if (failure.ok() && progress && bytes_since > 0) failure = progress(rows_since, bytes_since);

  // Blue's COPY result.
  if (failure.ok()) {
    while (PGresult* r = PQgetResult(blue.get())) {
      pg::PgResultPtr owned(r);
      if (PQresultStatus(r) != PGRES_COMMAND_OK && failure.ok()) failure = blue.ResultError(r);
    }
  }
  if (!failure.ok()) {
    PQputCopyEnd(green.get(), std::string(failure.message()).substr(0, 200).c_str());
    while (PGresult* r = PQgetResult(green.get())) PQclear(r);
    (void)green.Exec("ROLLBACK");
    return failure;
  }
  if (PQputCopyEnd(green.get(), nullptr) != 1) return green.ConnError("ending COPY");
  absl::Status green_status;
  while (PGresult* r = PQgetResult(green.get())) {
    pg::PgResultPtr owned(r);
    if (PQresultStatus(r) == PGRES_COMMAND_OK) {
      int64_t rows = 0;
      if (absl::SimpleAtoi(PQcmdTuples(r), &rows)) result.rows = rows;
    } else if (green_status.ok()) {
      green_status = green.ResultError(r);
    }
  }
  if (!green_status.ok()) {
    (void)green.Exec("ROLLBACK");
    return green_status;
  }
  RETURN_IF_ERROR(green.Exec("COMMIT"));
  return result;
}

std::string HashQuery(const TableInfo& table, bool with_hash) {
  if (!with_hash) return absl::StrCat("SELECT count(*), '' FROM ONLY ", table.QualifiedName());
  return absl::StrCat("SELECT count(*), coalesce(sum(hashtextextended(ROW(cutover_row.*)::text, 0)::numeric), 0)::text "
                      "FROM ONLY ", table.QualifiedName(), " AS cutover_row");
}

namespace {

absl::StatusOr<TableHash> CollectHash(pg::RawConn& conn) {
  TableHash out;
  absl::Status st;
  bool got = false;
  while (PGresult* r = PQgetResult(conn.get())) {
    pg::PgResultPtr owned(r);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
      if (!absl::SimpleAtoi(PQgetvalue(r, 0, 0), &out.rows)) st = absl::InternalError("bad count(*) result");
      out.hash = PQgetvalue(r, 0, 1);
      got = true;
    } else if (st.ok() && PQresultStatus(r) != PGRES_TUPLES_OK) {
      st = conn.ResultError(r);
    }
  }
  if (!st.ok()) return st;
  if (!got) return conn.ConnError("hash query returned no row");
  return out;
}

}  // namespace

absl::Status HashBoth(pg::RawConn& blue, pg::RawConn& green, const TableInfo& table, bool with_hash,
                      TableHash* blue_out, TableHash* green_out) {
  const std::string sql = HashQuery(table, with_hash);
  if (!PQsendQuery(blue.get(), sql.c_str())) return blue.ConnError("sending hash query");
  if (!PQsendQuery(green.get(), sql.c_str())) {
    (void)CollectHash(blue);
    return green.ConnError("sending hash query");
  }
  auto b = CollectHash(blue);
  auto g = CollectHash(green);
  if (!b.ok()) return Annotate(b.status(), absl::StrCat("hashing ", table.DisplayName(), " on blue"));
  if (!g.ok()) return Annotate(g.status(), absl::StrCat("hashing ", table.DisplayName(), " on green"));
  *blue_out = *b;
  *green_out = *g;
  return absl::OkStatus();
}

}  // namespace cutover::copy
