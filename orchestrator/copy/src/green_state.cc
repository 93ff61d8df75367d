#include "cutover/copy/green_state.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace cutover::copy {
namespace {

constexpr char kUserNamespace[] =
    "n.nspname NOT IN ('pg_catalog', 'information_schema', 'cutover_replay') "
    "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'";

}  // namespace

absl::StatusOr<GreenState> InspectGreen(pg::Session& green) {
  GreenState state;
  const std::string objects = absl::StrCat(
      "SELECT n.nspname || '.' || c.relname || ' (' || CASE c.relkind WHEN 'r' THEN 'table' "
      "  WHEN 'p' THEN 'partitioned table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' "
      "  WHEN 'S' THEN 'sequence' WHEN 'i' THEN 'index' WHEN 'f' THEN 'foreign table' ELSE 'relation' END || ')' "
      "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE ", kUserNamespace,
      " UNION ALL SELECT n.nspname || '.' || p.proname || ' (function)' FROM pg_proc p "
      "  JOIN pg_namespace n ON n.oid = p.pronamespace WHERE ", kUserNamespace,
      " UNION ALL SELECT n.nspname || '.' || t.typname || ' (type)' FROM pg_type t "
      "  JOIN pg_namespace n ON n.oid = t.typnamespace WHERE ", kUserNamespace,
      "  AND t.typrelid = 0 AND t.typcategory <> 'A'"
      " UNION ALL SELECT e.extname || ' (extension)' FROM pg_extension e WHERE e.extname <> 'plpgsql'");
  ASSIGN_OR_RETURN(pqxx::result count, green.Exec(absl::StrCat("SELECT count(*) FROM (", objects, ") o")));
  state.object_count = count[0][0].as<int64_t>();
  if (state.object_count > 0) {
    ASSIGN_OR_RETURN(pqxx::result sample, green.Exec(absl::StrCat("SELECT * FROM (", objects, ") o LIMIT 5")));
    for (const auto& r : sample) state.sample.push_back(r[0].as<std::string>());
  }
  ASSIGN_OR_RETURN(pqxx::result schemas,
                   green.Exec("SELECT nspname FROM pg_namespace n WHERE nspname NOT IN "
                              "('pg_catalog', 'information_schema', 'public', 'cutover_replay') "
                              "AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp%' ORDER BY 1"));
  for (const auto& r : schemas) state.schemas.push_back(r[0].as<std::string>());

  ASSIGN_OR_RETURN(pqxx::result has_marker,
                   green.Exec("SELECT to_regclass('cutover_replay.copy_attempt') IS NOT NULL"));
  if (has_marker[0][0].as<bool>()) {
    ASSIGN_OR_RETURN(pqxx::result last,
                     green.Exec("SELECT id, cutover_id, snapshot_id, state, started_at::text, "
                                // to_jsonb: a marker table from before the column existed still reads.
                                "coalesce(to_jsonb(a) ->> 'blue_xid_snapshot', '') "
                                "FROM cutover_replay.copy_attempt a ORDER BY id DESC LIMIT 1"));
    if (!last.empty()) {
      state.last_attempt = CopyAttempt{last[0][0].as<int64_t>(), last[0][1].as<std::string>(),
                                       last[0][2].as<std::string>(), last[0][3].as<std::string>(),
                                       last[0][4].as<std::string>(), last[0][5].as<std::string>()};
    }
  }
  return state;
}

absl::Status CheckGreenUsable(const GreenState& state) {
  if (state.last_attempt && !state.resettable()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "green already holds a ", state.last_attempt->state, " copy (attempt ", state.last_attempt->id,
        " of cutover '", state.last_attempt->cutover_id, "', started ", state.last_attempt->started_at,
        "); a finished copy is never overwritten: use an empty green database"));
  }
  if (!state.empty() && !state.resettable()) {
    std::vector<std::string> what = state.sample;
    for (const auto& s : state.schemas) what.push_back(absl::StrCat(s, " (schema)"));
    if (what.size() > 5) what.resize(5);
    return absl::FailedPreconditionError(absl::StrCat(
        "green is not empty: ", state.object_count, " objects outside the system schemas, e.g. ",
        absl::StrJoin(what, ", "), "; cutover copies only into an empty database"));
  }
  return absl::OkStatus();
}

absl::Status EnsureMarker(pg::Session& green) {
  return green
      .Exec("CREATE SCHEMA IF NOT EXISTS cutover_replay; "
            "CREATE TABLE IF NOT EXISTS cutover_replay.copy_attempt ("
            "  id bigserial PRIMARY KEY, cutover_id text NOT NULL, snapshot_id text NOT NULL,"
            "  blue text NOT NULL, state text NOT NULL"
            "    CHECK (state IN ('running', 'copied', 'verified', 'failed', 'reset')),"
            "  detail text, started_at timestamptz NOT NULL DEFAULT now(),"
            "  updated_at timestamptz NOT NULL DEFAULT now()); "
            "ALTER TABLE cutover_replay.copy_attempt ADD COLUMN IF NOT EXISTS blue_xid_snapshot text")
      .status();
}

absl::Status ResetGreen(pg::Session& green) {
  return green.InTransaction([&](pqxx::work& tx) -> absl::Status {
    std::string sql;
    auto schemas = tx.exec(
        "SELECT nspname FROM pg_namespace WHERE nspname NOT IN "
        "('pg_catalog', 'information_schema', 'cutover_replay') "
        "AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp%'");
    for (const auto& r : schemas) {
      absl::StrAppend(&sql, "DROP SCHEMA ", pg::QuoteIdent(r[0].as<std::string>()), " CASCADE;\n");
    }
    auto exts = tx.exec("SELECT extname FROM pg_extension WHERE extname <> 'plpgsql'");
    for (const auto& r : exts) {
      absl::StrAppend(&sql, "DROP EXTENSION IF EXISTS ", pg::QuoteIdent(r[0].as<std::string>()), " CASCADE;\n");
    }
    // PostgreSQL 15's default public schema.
    absl::StrAppend(&sql,
                    "CREATE SCHEMA public AUTHORIZATION pg_database_owner;\n"
                    "GRANT USAGE ON SCHEMA public TO PUBLIC;\n"
                    "COMMENT ON SCHEMA public IS 'standard public schema';\n");
    auto replay_tables = tx.exec(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'cutover_replay' AND c.relkind = 'r' AND c.relname <> 'copy_attempt'");
    for (const auto& r : replay_tables) {
      absl::StrAppend(&sql, "TRUNCATE cutover_replay.", pg::QuoteIdent(r[0].as<std::string>()), ";\n");
    }
    absl::StrAppend(&sql,
                    "UPDATE cutover_replay.copy_attempt SET state = 'reset', updated_at = now(), "
                    "detail = coalesce(detail || '; ', '') || 'green reset before a new attempt' "
                    "WHERE state IN ('running', 'failed');\n");
    tx.exec(sql);
    return absl::OkStatus();
  });
}

absl::StatusOr<int64_t> BeginAttempt(pg::Session& green, const std::string& cutover_id,
                                     const std::string& snapshot_id, const std::string& blue_description,
                                     const std::string& blue_xid_snapshot) {
  ASSIGN_OR_RETURN(pqxx::result r,
                   green.ExecParams("INSERT INTO cutover_replay.copy_attempt "
                                    "(cutover_id, snapshot_id, blue, state, blue_xid_snapshot) "
                                    "VALUES ($1, $2, $3, 'running', $4) RETURNING id",
                                    cutover_id, snapshot_id, blue_description, blue_xid_snapshot));
  return r[0][0].as<int64_t>();
}

absl::Status SetAttemptState(pg::Session& green, int64_t attempt_id, const std::string& state,
                             const std::string& detail) {
  return green
      .ExecParams("UPDATE cutover_replay.copy_attempt SET state = $2, updated_at = now(), "
                  "detail = NULLIF($3, '') WHERE id = $1",
                  attempt_id, state, detail)
      .status();
}

}  // namespace cutover::copy
