// PostgreSQL helpers: DSN checking and redaction, error classification, a
// libpqxx session for ordinary statements and a raw libpq connection for what
// libpqxx has no API for (binary COPY streaming).
//
// Thread-safety: a Session or RawConn belongs to one thread at a time; the
// free functions are thread-safe. Destructors close the connection and do
// not block beyond libpq's own socket close.
#pragma once

#include <libpq-fe.h>

#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cutover/common/status.h"
#include "pqxx/pqxx"

namespace cutover::pg {

// Parsed connection options (keyword -> value) of a libpq DSN or URI.
using DsnOptions = std::map<std::string, std::string>;

// Parses `dsn`; InvalidArgument naming `what` ("blue DSN") when malformed.
absl::StatusOr<DsnOptions> ParseDsn(absl::string_view dsn, absl::string_view what);

// Rebuilds a keyword=value DSN from options, quoting values as libpq expects.
std::string FormatDsn(const DsnOptions& options);

// `dsn` with its password replaced by "***", for logs and errors. A DSN that
// does not parse is replaced entirely by "<malformed DSN>".
std::string RedactDsn(absl::string_view dsn);

// "host:port/dbname" of a DSN, for error messages (never the password).
std::string DescribeDsn(absl::string_view dsn);

// Normalizes a DSN for connecting: parses it (InvalidArgument naming `what`),
// adds connect_timeout=10 and the application_name when absent.
absl::StatusOr<std::string> PrepareDsn(absl::string_view dsn, absl::string_view what,
                                       absl::string_view application_name);

// Maps a SQLSTATE and message to a status code per common/status.h:
// class 08 / 57P0x / 53xxx -> Unavailable, 40001 / 40P01 / 55P03 -> Aborted,
// 28xxx -> Unauthenticated, 42501 -> PermissionDenied, 3D000 -> NotFound,
// 42xxx / 22xxx / 23xxx -> FailedPrecondition, 57014 -> Cancelled, else Internal.
absl::Status StatusFromSqlState(absl::string_view sqlstate, absl::string_view message);

// Maps a libpq connection failure message to a status with a clear sentence
// naming `what` and where (host:port/dbname).
absl::Status ConnectError(absl::string_view what, absl::string_view dsn, absl::string_view libpq_message);

// Converts an exception thrown by libpqxx into a status (context prepended).
absl::Status StatusFromException(const std::exception& e, absl::string_view context);

// Quotes an identifier ("schema"."table" parts are quoted separately by the caller).
std::string QuoteIdent(absl::string_view ident);
// Quotes a string literal with standard_conforming_strings on.
std::string QuoteLiteral(absl::string_view value);
// "schema.table" -> "\"schema\".\"table\"".
std::string QualifiedName(absl::string_view schema, absl::string_view table);

// A libpqxx connection that reports errors as statuses.
class Session {
 public:
  // Connects; errors are classified (ConnectError) and name `what`.
  static absl::StatusOr<std::unique_ptr<Session>> Connect(absl::string_view dsn, absl::string_view what,
                                                          absl::string_view application_name = "cutover");

  // Runs `sql` outside any explicit transaction (autocommit).
  absl::StatusOr<pqxx::result> Exec(absl::string_view sql);
  // Runs a parameterized statement (autocommit).
  template <typename... Args>
  absl::StatusOr<pqxx::result> ExecParams(absl::string_view sql, Args&&... args) {
    try {
      pqxx::nontransaction tx(*conn_);
      return tx.exec_params(std::string(sql), std::forward<Args>(args)...);
    } catch (const std::exception& e) {
      return StatusFromException(e, what_);
    }
  }
  // Runs `body` inside one transaction; commits when it returns OK, rolls back
  // otherwise (also when it throws a libpqxx exception, which becomes a status).
  absl::Status InTransaction(const std::function<absl::Status(pqxx::work&)>& body);

  pqxx::connection& conn() { return *conn_; }
  const std::string& what() const { return what_; }
  const std::string& dsn() const { return dsn_; }
  // Server version as an integer (150004 for 15.4).
  int server_version() const;

 private:
  Session(std::unique_ptr<pqxx::connection> conn, std::string what, std::string dsn);
  std::unique_ptr<pqxx::connection> conn_;
  std::string what_;
  std::string dsn_;
};

struct PGconnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
struct PGresultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
// Ownership: the unique_ptr owns the handle; raw pointers obtained with get()
// must not outlive it.
using PgConnPtr = std::unique_ptr<PGconn, PGconnDeleter>;
using PgResultPtr = std::unique_ptr<PGresult, PGresultDeleter>;

// A raw libpq connection, for COPY streaming and other protocol-level work.
class RawConn {
 public:
  static absl::StatusOr<RawConn> Connect(absl::string_view dsn, absl::string_view what,
                                         absl::string_view application_name = "cutover");
  RawConn(RawConn&&) = default;
  RawConn& operator=(RawConn&&) = default;

  // Runs one or more statements; OK when every result is COMMAND_OK/TUPLES_OK.
  absl::Status Exec(absl::string_view sql);
  // Runs one query and returns its result (TUPLES_OK expected).
  absl::StatusOr<PgResultPtr> Query(absl::string_view sql);
  // Status of a failed result (SQLSTATE classified), prefixed by what().
  absl::Status ResultError(const PGresult* result) const;
  // Status for a connection-level failure (PQerrorMessage), prefixed by what().
  absl::Status ConnError(absl::string_view context) const;

  PGconn* get() const { return conn_.get(); }
  const std::string& what() const { return what_; }

 private:
  RawConn(PgConnPtr conn, std::string what) : conn_(std::move(conn)), what_(std::move(what)) {}
  PgConnPtr conn_;
  std::string what_;
};

}  // namespace cutover::pg
