#include "pg_side.h"

#include <cctype>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cutover/check/check.h"
#include "cutover/common/status.h"

namespace cutover::check {
namespace {

// Decodes one field of COPY's text format in place ("\N" is NULL, handled
// by the caller).
void Unescape(absl::string_view in, std::string* out) {
  out->clear();
  if (in.find('\\') == absl::string_view::npos) {
    out->assign(in.data(), in.size());
    return;
  }
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c != '\\' || i + 1 == in.size()) {
      out->push_back(c);
      continue;
    }
    char e = in[++i];
    switch (e) {
      case 'b':
        out->push_back('\b');
        break;
      case 'f':
        out->push_back('\f');
        break;
      case 'n':
        out->push_back('\n');
        break;
      case 'r':
        out->push_back('\r');
        break;
      case 't':
        out->push_back('\t');
        break;
      case 'v':
        out->push_back('\v');
        break;
      case 'x': {
        int v = 0, n = 0;
        while (n < 2 && i + 1 < in.size() && std::isxdigit(static_cast<unsigned char>(in[i + 1]))) {
          char h = in[++i];
          v = v * 16 + (h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
          ++n;
        }
        out->push_back(static_cast<char>(v));
        break;
      }
      default:
        if (e >= '0' && e <= '7') {
          int v = e - '0', n = 1;
          while (n < 3 && i + 1 < in.size() && in[i + 1] >= '0' && in[i + 1] <= '7') {
            v = v * 8 + (in[++i] - '0');
            ++n;
          }
          out->push_back(static_cast<char>(v));
        } else {
          out->push_back(e);
        }
    }
  }
}

// A COPY (SELECT ...) TO STDOUT stream of one entity on one side.
class CopyRowSource : public RowSource {
 public:
  CopyRowSource(pg::RawConn* conn, std::string what, std::string table)
      : conn_(conn),
        what_(std::move(what)),
        source_(what_ == "blue" ? ErrorSource::kBlue : ErrorSource::kGreen),
        table_(std::move(table)) {}

  absl::Status Start(const std::string& sql) {
    pg::PgResultPtr res(PQexec(conn_->get(), sql.c_str()));
    if (PQresultStatus(res.get()) != PGRES_COPY_OUT) {
      return Annotate(conn_->ResultError(res.get()), absl::StrCat("reading ", table_));
    }
    return absl::OkStatus();
  }

  absl::StatusOr<bool> Next(Row* row) override {
    absl::StatusOr<bool> r = NextRow(row);
    if (!r.ok()) return WithSource(r.status(), source_);
    return r;
  }

 private:
  absl::StatusOr<bool> NextRow(Row* row) {
    for (;;) {
      if (done_) return false;
      char* buf = nullptr;
      const int n = PQgetCopyData(conn_->get(), &buf, /*async=*/0);
      if (n == -1) {
        done_ = true;
        pg::PgResultPtr res(PQgetResult(conn_->get()));
        if (PQresultStatus(res.get()) != PGRES_COMMAND_OK) {
          return Annotate(conn_->ResultError(res.get()), absl::StrCat("reading ", table_));
        }
        while (PGresult* r = PQgetResult(conn_->get())) PQclear(r);
        return false;
      }
      if (n < 0) return conn_->ConnError(absl::StrCat("reading ", table_));
      std::unique_ptr<char, decltype(&PQfreemem)> owned(buf, &PQfreemem);
      absl::string_view line(buf, static_cast<size_t>(n));
      if (!line.empty() && line.back() == '\n') line.remove_suffix(1);
      RETURN_IF_ERROR(Parse(line, row));
      if (has_prev_) {
        const int cmp = absl::string_view(row->key).compare(prev_);
        if (cmp == 0) continue;  // one key in several networks (2.x): compared once
        if (cmp < 0) {
          return absl::InternalError(absl::StrCat(what_, ": ", table_, " rows came out of key order (",
                                                  row->key, " after ", prev_, ")"));
        }
      }
      prev_ = row->key;
      has_prev_ = true;
      return true;
    }
  }

  absl::Status Parse(absl::string_view line, Row* row) {
    absl::string_view f[7];
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= line.size(); ++i) {
      if (i == line.size() || line[i] == '\t') {
        if (n == 7) break;
        f[n++] = line.substr(start, i - start);
        start = i + 1;
      }
    }
    if (n != 7) {
      return absl::InternalError(absl::StrCat(what_, ": ", table_, ": unexpected COPY row"));
    }
    auto text = [&](absl::string_view v, std::string* out) {
      if (v == "\\N") {
        out->clear();
      } else {
        Unescape(v, out);
      }
    };
    text(f[0], &row->key);
    row->active = f[1] == "t";
    text(f[2], &row->request_id);
    text(f[3], &row->challenge_id);
    text(f[4], &row->client_id);
    row->created_before_snapshot = f[5] == "t";
    row->created_at_or_after_cutoff = f[6] == "t";
    return absl::OkStatus();
  }

  pg::RawConn* conn_;
  std::string what_;
  ErrorSource source_;
  std::string table_;
  bool done_ = false;
  std::string prev_;
  bool has_prev_ = false;
};

}  // namespace

EntityQuery QueryFor(Entity entity, hydra::Shape shape) {
  const bool v2 = shape == hydra::Shape::kHydra2x;
  switch (entity) {
    case Entity::kAccess:
    case Entity::kRefresh:
    case Entity::kCode:
    case Entity::kOidc:
    case Entity::kPkce:
      return {absl::StrCat("hydra_oauth2_", EntityName(entity)),
              "signature",
              "active",
              "request_id",
              "challenge_id",
              "client_id",
              "requested_at",
              ""};
    case Entity::kConsent:
      if (v2) {
        return {"hydra_oauth2_flow",
                "consent_challenge_id",
                "true",
                "NULL",
                "NULL",
                "client_id",
                "requested_at",
                "consent_challenge_id IS NOT NULL"};
      }
      return {"hydra_oauth2_consent_request",
              "challenge",
              "true",
              "NULL",
              "NULL",
              "client_id",
              "requested_at",
              ""};
    case Entity::kLoginSession:
      return {"hydra_oauth2_authentication_session",
              "id",
              "true",
              "NULL",
              "NULL",
              "NULL",
              "authenticated_at",
              ""};
    case Entity::kClient:
      return {"hydra_client", "id", "true", "NULL", "NULL", "id", "created_at", ""};
  }
  return {};
}

std::string SqlTimestamp(absl::Time t) {
  return absl::StrCat("'", absl::FormatTime("%Y-%m-%d %H:%M:%E6S", t, absl::UTCTimeZone()), "'::timestamp");
}

std::string ArrayLiteral(const std::vector<std::string>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out.push_back(',');
    out.push_back('"');
    for (char c : values[i]) {
      if (c == '"' || c == '\\') out.push_back('\\');
      out.push_back(c);
    }
    out.push_back('"');
  }
  out.push_back('}');
  return out;
}

absl::StatusOr<std::unique_ptr<PgSide>> PgSide::Open(const std::string& dsn, const std::string& what) {
  hydra::Shape shape;
  {
    ASSIGN_OR_RETURN(auto session, pg::Session::Connect(dsn, what, "cutover-check"));
    // DetectShape names the side (the session's `what`).
    ASSIGN_OR_RETURN(shape, hydra::DetectShape(*session));
  }
  ASSIGN_OR_RETURN(pg::RawConn conn, pg::RawConn::Connect(dsn, what, "cutover-check"));
  // The snapshot is taken by the first statement after BEGIN; every entity
  // and look-up of this side then sees the same instant.
  RETURN_IF_ERROR(conn.Exec(
      "SET statement_timeout = 0; SET idle_in_transaction_session_timeout = 0; SET work_mem = '64MB'; "
      "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT 1;"));
  return std::unique_ptr<PgSide>(new PgSide(std::move(conn), what, shape));
}

void PgSide::Close() { (void)conn_.Exec("ROLLBACK"); }

absl::StatusOr<std::unique_ptr<RowSource>> PgSide::Stream(Entity entity,
                                                          std::optional<absl::Time> snapshot_at,
                                                          std::optional<absl::Time> cutoff) {
  const EntityQuery q = QueryFor(entity, shape_);
  // A NULL creation time counts as "in the snapshot" and "before the
  // cutoff": the row is compared, never waved through.
  std::string before =
      snapshot_at ? absl::StrCat("COALESCE(", q.created, " < ", SqlTimestamp(*snapshot_at), ", true)")
                  : "false";
  std::string after =
      cutoff ? absl::StrCat("COALESCE(", q.created, " >= ", SqlTimestamp(*cutoff), ", false)") : "false";
  std::string sql = absl::StrCat("COPY (SELECT ", q.key, ", ", q.active, ", ", q.request_id, ", ",
                                 q.challenge_id, ", ", q.client_id, ", ", before, ", ", after, " FROM ",
                                 q.table, q.where.empty() ? "" : absl::StrCat(" WHERE ", q.where),
                                 " ORDER BY ", q.key, " COLLATE \"C\") TO STDOUT");
  auto source = std::make_unique<CopyRowSource>(&conn_, what_, q.table);
  RETURN_IF_ERROR(source->Start(sql));
  return std::unique_ptr<RowSource>(std::move(source));
}

absl::StatusOr<pg::PgResultPtr> PgSide::QueryParams(const std::string& sql,
                                                    const std::vector<std::string>& params) {
  std::vector<const char*> values;
  values.reserve(params.size());
  for (const auto& p : params) values.push_back(p.c_str());
  pg::PgResultPtr res(PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(values.size()), nullptr,
                                   values.data(), nullptr, nullptr, 0));
  if (PQresultStatus(res.get()) != PGRES_TUPLES_OK) return conn_.ResultError(res.get());
  return res;
}

absl::StatusOr<std::vector<std::string>> PgSide::RefreshRequestIds(
    const std::vector<std::string>& signatures) {
  std::vector<std::string> out;
  if (signatures.empty()) return out;
  ASSIGN_OR_RETURN(
      pg::PgResultPtr res,
      QueryParams("SELECT DISTINCT request_id FROM hydra_oauth2_refresh WHERE signature = ANY($1::text[])",
                  {ArrayLiteral(signatures)}));
  for (int i = 0; i < PQntuples(res.get()); ++i) out.emplace_back(PQgetvalue(res.get(), i, 0));
  return out;
}

absl::StatusOr<std::vector<LedgerHit>> PgSide::LedgerTargets(LedgerKind kind,
                                                             const std::vector<std::string>& keys,
                                                             const std::vector<absl::Time>& at) {
  std::vector<LedgerHit> out;
  if (keys.empty()) return out;
  std::vector<std::string> idx, times;
  idx.reserve(keys.size());
  times.reserve(keys.size());
  for (size_t i = 0; i < keys.size(); ++i) {
    idx.push_back(absl::StrCat(i));
    times.push_back(absl::FormatTime("%Y-%m-%d %H:%M:%E6S", at[i], absl::UTCTimeZone()));
  }
  const std::string from = "unnest($1::bigint[], $2::text[], $3::timestamp[]) AS l(i, k, at)";
  std::string sql;
  if (kind == LedgerKind::kToken) {
    // Rows issued after the revocation (a later grant reusing the id) are
    // not the revocation's business.
    sql = absl::StrCat("SELECT l.i, t.tbl, t.signature, t.active FROM ", from,
                       " JOIN LATERAL (SELECT 'hydra_oauth2_access' AS tbl, signature, active, requested_at"
                       " FROM hydra_oauth2_access WHERE request_id = l.k"
                       " UNION ALL SELECT 'hydra_oauth2_refresh', signature, active, requested_at"
                       " FROM hydra_oauth2_refresh WHERE request_id = l.k) AS t ON t.requested_at < l.at"
                       " ORDER BY l.i, t.active DESC, t.tbl, t.signature COLLATE \"C\"");
  } else {
    Entity entity = kind == LedgerKind::kRefresh        ? Entity::kRefresh
                    : kind == LedgerKind::kConsent      ? Entity::kConsent
                    : kind == LedgerKind::kLoginSession ? Entity::kLoginSession
                                                        : Entity::kClient;
    const EntityQuery q = QueryFor(entity, shape_);
    const std::string active = q.active == "true" ? "true" : absl::StrCat("x.", q.active);
    sql = absl::StrCat("SELECT l.i, '", q.table, "', x.", q.key, ", ", active, " FROM ", from, " JOIN ",
                       q.table, " AS x ON x.", q.key, " = l.k ORDER BY l.i, 4 DESC");
  }
  ASSIGN_OR_RETURN(pg::PgResultPtr res,
                   QueryParams(sql, {ArrayLiteral(idx), ArrayLiteral(keys), ArrayLiteral(times)}));
  for (int r = 0; r < PQntuples(res.get()); ++r) {
    LedgerHit h;
    h.index = std::strtoll(PQgetvalue(res.get(), r, 0), nullptr, 10);
    h.table = PQgetvalue(res.get(), r, 1);
    h.key = PQgetvalue(res.get(), r, 2);
    h.active = PQgetvalue(res.get(), r, 3)[0] == 't';
    out.push_back(std::move(h));
  }
  return out;
}

}  // namespace cutover::check
