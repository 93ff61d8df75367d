#include "cutover/common/pg.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace cutover::pg {
namespace {

struct ConninfoDeleter {
  void operator()(PQconninfoOption* o) const { PQconninfoFree(o); }
};

bool ContainsAny(absl::string_view text, std::initializer_list<absl::string_view> needles) {
  for (auto n : needles) {
    if (absl::StrContains(text, n)) return true;
  }
  return false;
}

std::string TrimMessage(absl::string_view m) {
  std::string s(m);
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  absl::StrReplaceAll({{"\n", " "}, {"\t", " "}}, &s);
  return s;
}

// Where a password's value may lie in `dsn`: from after "password=" to the
// next " key=" (key=value form) or '&' (URI query), or its closing quote.
// Deliberately wide: `password=se cret` counts "se cret".
absl::string_view PasswordRegion(absl::string_view dsn) {
  const std::string lower = absl::AsciiStrToLower(dsn);
  size_t i = lower.find("password");
  if (i == std::string::npos) return {};
  i = dsn.find('=', i);
  if (i == absl::string_view::npos) return dsn.substr(lower.find("password"));
  ++i;
  while (i < dsn.size() && dsn[i] == ' ') ++i;
  if (i < dsn.size() && dsn[i] == '\'') {
    const size_t close = dsn.find('\'', i + 1);
    return dsn.substr(i, close == absl::string_view::npos ? absl::string_view::npos : close - i + 1);
  }
  size_t end = i;
  while (end < dsn.size() && dsn[end] != '&') {
    if (dsn[end] == ' ') {
      // " key=" starts the next option; any other word still belongs here.
      size_t k = end;
      while (k < dsn.size() && dsn[k] == ' ') ++k;
      size_t w = k;
      while (w < dsn.size() && (absl::ascii_isalnum(dsn[w]) || dsn[w] == '_')) ++w;
      while (w < dsn.size() && dsn[w] == ' ') ++w;
      if (w > k && w < dsn.size() && dsn[w] == '=') break;
    }
    ++end;
  }
  return dsn.substr(i, end - i);
}

// libpq's parse errors quote the offending part of the DSN, which may be
// (part of) a password: `password=se cret` gives 'missing "=" after "cret"',
// a bad URI may be quoted whole. Errors never carry secrets, so a quoted
// fragment that lies in the password's value or overlaps a URI's user-info
// ("user:pass@") becomes "***"; option names and punctuation stay.
std::string ScrubParseError(std::string msg, absl::string_view dsn) {
  const absl::string_view after_password = PasswordRegion(dsn);
  absl::string_view userinfo;
  if (size_t scheme = dsn.find("://"); scheme != absl::string_view::npos) {
    const size_t at = dsn.find('@', scheme + 3);
    if (at != absl::string_view::npos) userinfo = dsn.substr(scheme + 3, at - scheme - 3);
  }
  std::string out;
  size_t i = 0;
  while (i < msg.size()) {
    const size_t open = msg.find('"', i);
    const size_t close = open == std::string::npos ? std::string::npos : msg.find('"', open + 1);
    if (close == std::string::npos) break;
    const absl::string_view frag = absl::string_view(msg).substr(open + 1, close - open - 1);
    const bool word = std::any_of(frag.begin(), frag.end(), [](char c) { return absl::ascii_isalnum(c); });
    const bool in_userinfo = absl::StrContains(userinfo, ':') &&
                             (absl::StrContains(frag, userinfo) || absl::StrContains(userinfo, frag));
    const bool secret = word && ((!after_password.empty() && absl::StrContains(after_password, frag)) || in_userinfo);
    absl::StrAppend(&out, msg.substr(i, open + 1 - i), secret ? "***" : frag, "\"");
    i = close + 1;
  }
  absl::StrAppend(&out, msg.substr(std::min(i, msg.size())));
  return out;
}

}  // namespace

absl::StatusOr<DsnOptions> ParseDsn(absl::string_view dsn, absl::string_view what) {
  if (dsn.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is empty: expected a libpq connection string such as "
                           "'host=127.0.0.1 port=5432 dbname=hydra user=cutover' or a postgresql:// URI"));
  }
  char* err = nullptr;
  std::unique_ptr<PQconninfoOption, ConninfoDeleter> opts(PQconninfoParse(std::string(dsn).c_str(), &err));
  if (!opts) {
    std::string msg = err ? ScrubParseError(TrimMessage(err), dsn) : "unparseable";
    if (err) PQfreemem(err);
    return absl::InvalidArgumentError(absl::StrCat(
        what, " is malformed (", msg,
        "): expected a libpq connection string such as 'host=127.0.0.1 port=5432 dbname=hydra' "
        "or a postgresql:// URI"));
  }
  DsnOptions out;
  for (PQconninfoOption* o = opts.get(); o->keyword != nullptr; ++o) {
    if (o->val != nullptr) out[o->keyword] = o->val;
  }
  return out;
}

std::string FormatDsn(const DsnOptions& options) {
  std::string out;
  for (const auto& [k, v] : options) {
    if (!out.empty()) out += ' ';
    std::string escaped = absl::StrReplaceAll(v, {{"\\", "\\\\"}, {"'", "\\'"}});
    absl::StrAppend(&out, k, "='", escaped, "'");
  }
  return out;
}

std::string RedactDsn(absl::string_view dsn) {
  auto parsed = ParseDsn(dsn, "DSN");
  if (!parsed.ok()) return "<malformed DSN>";
  if (parsed->count("password")) (*parsed)["password"] = "***";
  return FormatDsn(*parsed);
}

std::string DescribeDsn(absl::string_view dsn) {
  auto parsed = ParseDsn(dsn, "DSN");
  if (!parsed.ok()) return "<malformed DSN>";
  auto get = [&](const char* k, const char* def) {
    auto it = parsed->find(k);
    return it == parsed->end() || it->second.empty() ? std::string(def) : it->second;
  };
  std::string host = get("host", get("hostaddr", "localhost").c_str());
  std::string port = get("port", "5432");
  std::string db = get("dbname", get("user", "").c_str());
  return absl::StrCat(host, ":", port, "/", db);
}

absl::StatusOr<std::string> PrepareDsn(absl::string_view dsn, absl::string_view what,
                                       absl::string_view application_name) {
  ASSIGN_OR_RETURN(DsnOptions opts, ParseDsn(dsn, what));
  if (!opts.count("connect_timeout")) opts["connect_timeout"] = "10";
  if (!opts.count("application_name")) opts["application_name"] = std::string(application_name);
  return FormatDsn(opts);
}

absl::Status StatusFromSqlState(absl::string_view sqlstate, absl::string_view message) {
  std::string msg = TrimMessage(message);
  if (!sqlstate.empty()) msg = absl::StrCat(msg, " (SQLSTATE ", sqlstate, ")");
  auto cls = sqlstate.substr(0, std::min<size_t>(2, sqlstate.size()));
  if (cls == "08" || cls == "53" || sqlstate == "57P01" || sqlstate == "57P02" || sqlstate == "57P03")
    return absl::UnavailableError(msg);
  if (sqlstate == "40001" || sqlstate == "40P01" || sqlstate == "55P03") return absl::AbortedError(msg);
  if (sqlstate == "57014") return absl::CancelledError(msg);
  if (cls == "28") return absl::UnauthenticatedError(msg);
  if (sqlstate == "42501") return absl::PermissionDeniedError(msg);
  if (sqlstate == "3D000") return absl::NotFoundError(msg);
  if (sqlstate == "25006") return absl::FailedPreconditionError(msg);  // read-only transaction
  if (cls == "42" || cls == "22" || cls == "23" || cls == "0A" || cls == "55" || cls == "2B")
    return absl::FailedPreconditionError(msg);
  return absl::InternalError(msg);
}

absl::Status ConnectError(absl::string_view what, absl::string_view dsn, absl::string_view libpq_message) {
  std::string where = DescribeDsn(dsn);
  std::string msg = TrimMessage(libpq_message);
  std::string head = absl::StrCat("cannot connect to ", what, " at ", where, ": ", msg);
  if (ContainsAny(msg, {"password authentication failed", "no password supplied",
                        "SCRAM authentication", "authentication failed"})) {
    return absl::UnauthenticatedError(absl::StrCat(head, " (check the user and password of the ", what, " DSN)"));
  }
  if (ContainsAny(msg, {"does not exist"})) {
    return absl::NotFoundError(head);
  }
  if (ContainsAny(msg, {"permission denied", "no pg_hba.conf entry", "not permitted to log in"})) {
    return absl::PermissionDeniedError(head);
  }
  if (ContainsAny(msg, {"invalid connection option", "invalid integer value", "invalid sslmode",
                        "invalid port number", "missing \"=\""})) {
    return absl::InvalidArgumentError(head);
  }
  // Refused, unresolvable host, timeout, server starting up or shutting down:
  // all may clear on their own.
  return absl::UnavailableError(head);
}

absl::Status StatusFromException(const std::exception& e, absl::string_view context) {
  if (const auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    return Annotate(StatusFromSqlState(sql->sqlstate(), sql->what()), context);
  }
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr ||
      dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) {
    return absl::UnavailableError(absl::StrCat(context, ": connection lost: ", TrimMessage(e.what())));
  }
  if (dynamic_cast<const pqxx::usage_error*>(&e) != nullptr ||
      dynamic_cast<const pqxx::conversion_error*>(&e) != nullptr) {
    return absl::InternalError(absl::StrCat(context, ": ", TrimMessage(e.what())));
  }
  return absl::InternalError(absl::StrCat(context, ": ", TrimMessage(e.what())));
}

std::string QuoteIdent(absl::string_view ident) {
  return absl::StrCat("\"", absl::StrReplaceAll(ident, {{"\"", "\"\""}}), "\"");
}

std::string QuoteLiteral(absl::string_view value) {
  return absl::StrCat("'", absl::StrReplaceAll(value, {{"'", "''"}}), "'");
}

std::string QualifiedName(absl::string_view schema, absl::string_view table) {
  return absl::StrCat(QuoteIdent(schema), ".", QuoteIdent(table));
}

// ---- Session ----

Session::Session(std::unique_ptr<pqxx::connection> conn, std::string what, std::string dsn)
    : conn_(std::move(conn)), what_(std::move(what)), dsn_(std::move(dsn)) {}

absl::StatusOr<std::unique_ptr<Session>> Session::Connect(absl::string_view dsn, absl::string_view what,
                                                          absl::string_view application_name) {
  ASSIGN_OR_RETURN(std::string prepared, PrepareDsn(dsn, absl::StrCat(what, " DSN"), application_name));
  try {
    auto conn = std::make_unique<pqxx::connection>(prepared);
    return std::unique_ptr<Session>(new Session(std::move(conn), std::string(what), std::string(dsn)));
  } catch (const std::exception& e) {
    return ConnectError(what, dsn, e.what());
  }
}

absl::StatusOr<pqxx::result> Session::Exec(absl::string_view sql) {
  try {
    pqxx::nontransaction tx(*conn_);
    return tx.exec(std::string(sql));
  } catch (const std::exception& e) {
    return StatusFromException(e, what_);
  }
}

absl::Status Session::InTransaction(const std::function<absl::Status(pqxx::work&)>& body) {
  try {
    pqxx::work tx(*conn_);
    absl::Status st = body(tx);
    if (!st.ok()) {
      tx.abort();
      return st;
    }
    tx.commit();
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return StatusFromException(e, what_);
  }
}

int Session::server_version() const { return conn_->server_version(); }

// ---- RawConn ----

absl::StatusOr<RawConn> RawConn::Connect(absl::string_view dsn, absl::string_view what,
                                         absl::string_view application_name) {
  ASSIGN_OR_RETURN(std::string prepared, PrepareDsn(dsn, absl::StrCat(what, " DSN"), application_name));
  PgConnPtr conn(PQconnectdb(prepared.c_str()));
  if (!conn) return absl::ResourceExhaustedError("libpq could not allocate a connection");
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    return ConnectError(what, dsn, PQerrorMessage(conn.get()));
  }
  return RawConn(std::move(conn), std::string(what));
}

absl::Status RawConn::ResultError(const PGresult* result) const {
  const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  const char* msg = result ? PQresultErrorMessage(result) : nullptr;
  if ((msg == nullptr || *msg == '\0')) msg = PQerrorMessage(conn_.get());
  if (state == nullptr && PQstatus(conn_.get()) == CONNECTION_BAD) {
    return absl::UnavailableError(absl::StrCat(what_, ": connection lost: ", TrimMessage(msg)));
  }
  return Annotate(StatusFromSqlState(state ? state : "", msg ? msg : ""), what_);
}

absl::Status RawConn::ConnError(absl::string_view context) const {
  std::string msg = TrimMessage(PQerrorMessage(conn_.get()));
  if (PQstatus(conn_.get()) == CONNECTION_BAD) {
    return absl::UnavailableError(absl::StrCat(what_, ": ", context, ": connection lost: ", msg));
  }
  return absl::InternalError(absl::StrCat(what_, ": ", context, ": ", msg));
}

absl::Status RawConn::Exec(absl::string_view sql) {
  if (!PQsendQuery(conn_.get(), std::string(sql).c_str())) return ConnError("send query");
  absl::Status first_error;
  while (PGresult* raw = PQgetResult(conn_.get())) {
    PgResultPtr res(raw);
    auto st = PQresultStatus(raw);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_EMPTY_QUERY && first_error.ok()) {
      first_error = ResultError(raw);
    }
  }
  if (first_error.ok() && PQstatus(conn_.get()) == CONNECTION_BAD) return ConnError("exec");
  return first_error;
}

absl::StatusOr<PgResultPtr> RawConn::Query(absl::string_view sql) {
  PgResultPtr res(PQexec(conn_.get(), std::string(sql).c_str()));
  if (!res) return ConnError("query");
  auto st = PQresultStatus(res.get());
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) return ResultError(res.get());
  return res;
}

}  // namespace cutover::pg
