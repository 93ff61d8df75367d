#include "cutover/replay/rollback_sweep.h"

#include <map>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cutover/common/proto_time.h"
#include "cutover/common/status.h"
#include "cutover/replay/replayer.h"
#include "cutover/replay/rules.h"
#include "pqxx/pqxx"

namespace cutover::replay {
namespace {

using cutover::v1::CaptureRule;
using cutover::v1::RollbackSweep;

// A target with the column types it is compared and written with.
struct Resolved {
  SweepTarget target;
  std::string blue_table;   // quoted
  std::string green_table;  // quoted
  std::vector<std::string> key_types;         // blue
  std::vector<std::string> target_key_types;  // green
  std::vector<std::string> set_types;         // blue, per `set`
};

absl::StatusOr<TableInfo> Lookup(pg::Session& s, const std::string& table) {
  std::string schema, name;
  if (!SplitTable(table, &schema, &name)) {
    return absl::InvalidArgumentError(absl::StrCat(table, " is not a schema-qualified table"));
  }
  return LookupTable(s, schema, name);
}

std::string Qualified(const std::string& table) {
  std::string schema, name;
  (void)SplitTable(table, &schema, &name);
  return pg::QualifiedName(schema, name);
}

// Column types of `columns` in `info`, or FailedPrecondition naming `field`.
absl::StatusOr<std::vector<std::string>> TypesOf(const TableInfo& info, const std::vector<std::string>& columns,
                                                 const std::string& table, const std::string& field,
                                                 const std::string& side) {
  std::vector<std::string> types;
  for (const std::string& c : columns) {
    auto it = info.columns.find(c);
    if (it == info.columns.end()) {
      return absl::FailedPreconditionError(
          absl::StrCat(field, ": column ", c, " does not exist in ", table, " on ", side));
    }
    types.push_back(it->second);
  }
  return types;
}

absl::StatusOr<std::vector<Resolved>> Resolve(const std::vector<CaptureRule>& rules, pg::Session* blue,
                                              pg::Session& green) {
  std::vector<Resolved> out;
  for (SweepTarget& t : SweepTargets(rules)) {
    Resolved r;
    ASSIGN_OR_RETURN(TableInfo g, Annotate(Lookup(green, t.target_table), t.path));
    if (!g.exists) {
      return absl::FailedPreconditionError(absl::StrCat(
          t.path, ".target_table: ", t.target_table, " does not exist on ", green.what(),
          " (the rollback sweep looks up blue's rows of ", t.table,
          " there; set target_table and target_key_columns to the table and columns that hold them)"));
    }
    ASSIGN_OR_RETURN(r.target_key_types, TypesOf(g, t.target_key_columns, t.target_table,
                                                 absl::StrCat(t.path, ".target_key_columns"), green.what()));
    if (blue != nullptr) {
      ASSIGN_OR_RETURN(TableInfo b, Annotate(Lookup(*blue, t.table), t.path));
      if (!b.exists) {
        return absl::FailedPreconditionError(
            absl::StrCat(t.path, ".table: ", t.table, " does not exist on ", blue->what()));
      }
      ASSIGN_OR_RETURN(r.key_types,
                       TypesOf(b, t.key_columns, t.table, absl::StrCat(t.path, ".key_columns"), blue->what()));
      std::vector<std::string> set_columns;
      for (const auto& [c, v] : t.set) set_columns.push_back(c);
      ASSIGN_OR_RETURN(r.set_types,
                       TypesOf(b, set_columns, t.table, absl::StrCat(t.path, ".on_update"), blue->what()));
    }
    r.blue_table = Qualified(t.table);
    r.green_table = Qualified(t.target_table);
    r.target = std::move(t);
    out.push_back(std::move(r));
  }
  return out;
}

// "u.c1::type1, u.c2::type2" over unnest's columns c1..cn.
std::string CastColumns(const std::vector<std::string>& types) {
  std::vector<std::string> out;
  for (size_t i = 0; i < types.size(); ++i) out.push_back(absl::StrCat("u.c", i + 1, "::", types[i]));
  return absl::StrJoin(out, ", ");
}

// "unnest($1::text[], $2::text[]) AS u(c1, c2)" (with ORDINALITY when `ordinal`).
std::string Unnest(size_t n, bool ordinal) {
  std::vector<std::string> arrays, cols;
  for (size_t i = 0; i < n; ++i) {
    arrays.push_back(absl::StrCat("$", i + 1, "::text[]"));
    cols.push_back(absl::StrCat("c", i + 1));
  }
  if (ordinal) cols.push_back("i");
  return absl::StrCat("unnest(", absl::StrJoin(arrays, ", "), ")", ordinal ? " WITH ORDINALITY" : "", " AS u(",
                      absl::StrJoin(cols, ", "), ")");
}

std::string QuotedColumns(const std::vector<std::string>& columns, absl::string_view prefix = "") {
  std::vector<std::string> out;
  for (const std::string& c : columns) out.push_back(absl::StrCat(prefix, pg::QuoteIdent(c)));
  return absl::StrJoin(out, ", ");
}

// The candidates of one table: rows whose xmin the copy snapshot did not see.
// xmin is a 32-bit xid; it is widened to xid8 with the epoch of the current
// snapshot's xmax (an xid above xmax's low half belongs to the previous
// epoch). Frozen and bootstrap xids (< 3) predate any snapshot.
std::string CandidateQuery(const Resolved& r) {
  std::vector<std::string> text_keys, not_null;
  for (const std::string& c : r.target.key_columns) {
    text_keys.push_back(absl::StrCat("t.", pg::QuoteIdent(c), "::text"));
    not_null.push_back(absl::StrCat("t.", pg::QuoteIdent(c), " IS NOT NULL"));
  }
  return absl::StrCat(
      "WITH ref AS (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS cur) "
      "SELECT ",
      absl::StrJoin(text_keys, ", "), " FROM ", r.blue_table, " t, ref WHERE ", absl::StrJoin(not_null, " AND "),
      " AND t.xmin::text::bigint >= 3 AND NOT pg_visible_in_snapshot(("
      "(ref.cur - ref.cur % 4294967296) + t.xmin::text::bigint - "
      "CASE WHEN t.xmin::text::bigint > ref.cur % 4294967296 THEN 4294967296 ELSE 0 END)::text::xid8, $1::pg_snapshot)");
}

}  // namespace

std::vector<SweepTarget> SweepTargets(const std::vector<CaptureRule>& rules) {
  std::vector<SweepTarget> out;
  std::map<std::string, size_t> by_table;
  for (size_t i = 0; i < rules.size(); ++i) {
    const CaptureRule& r = rules[i];
    auto it = by_table.find(r.table());
    if (it == by_table.end()) {
      SweepTarget t;
      t.path = RulePath(r, i);
      t.table = r.table();
      t.key_columns.assign(r.key_columns().begin(), r.key_columns().end());
      t.target_table = r.target_table().empty() ? r.table() : r.target_table();
      if (r.target_key_columns().empty()) {
        t.target_key_columns = t.key_columns;
      } else {
        t.target_key_columns.assign(r.target_key_columns().begin(), r.target_key_columns().end());
      }
      by_table[r.table()] = out.size();
      out.push_back(std::move(t));
      it = by_table.find(r.table());
    }
    SweepTarget& t = out[it->second];
    if (r.on_delete()) t.delete_rows = true;
    if (t.set.empty()) {
      for (const auto& u : r.on_update()) t.set.emplace_back(u.column(), u.value());
    }
  }
  return out;
}

absl::Status CheckSweepTargets(const std::vector<CaptureRule>& rules, pg::Session& green) {
  return Resolve(rules, nullptr, green).status();
}

absl::StatusOr<RollbackSweep> SweepRowsMissingOnGreen(const std::vector<CaptureRule>& rules,
                                                      const std::string& blue_xid_snapshot, pg::Session& blue,
                                                      pg::Session& green, const SweepOptions& options) {
  const absl::Time start = absl::Now();
  if (blue_xid_snapshot.empty()) {
    return absl::InvalidArgumentError("copy_report.blue_xid_snapshot is empty: expected the copy's snapshot");
  }
  if (auto valid = blue.ExecParams("SELECT $1::pg_snapshot", blue_xid_snapshot); !valid.ok()) {
    if (valid.status().code() == absl::StatusCode::kUnavailable) return valid.status();
    return absl::InvalidArgumentError(absl::StrCat("copy_report.blue_xid_snapshot \"", blue_xid_snapshot.substr(0, 80),
                                                   "\" is not a pg_snapshot (xmin:xmax:xip,...): ",
                                                   valid.status().message()));
  }
  ASSIGN_OR_RETURN(std::vector<Resolved> targets, Resolve(rules, &blue, green));
  const int batch = options.batch > 0 ? options.batch : 1000;
  auto log = [&](const std::string& line) {
    if (options.log) options.log(line);
  };

  // Blue is fenced for everyone but us; blue's own capture (if still there)
  // must not take the sweep for revocations made on blue.
  RETURN_IF_ERROR(blue.Exec("SET cutover.replaying = on; SET default_transaction_read_only = off").status());
  RollbackSweep out;
  RETURN_IF_ERROR(blue.InTransaction([&](pqxx::work& tx) -> absl::Status {
    out.Clear();
    tx.exec(absl::StrCat("SET LOCAL lock_timeout = ", absl::ToInt64Milliseconds(options.lock_timeout)));
    for (const Resolved& r : targets) {
      const size_t n = r.target.key_columns.size();
      RollbackSweep::Table* t = out.add_tables();
      t->set_table(r.target.table);
      t->set_target_table(r.target.target_table);
      t->set_action(r.target.delete_rows ? "delete" : "update");

      // Missing on green: the candidates' ordinals with no target row.
      std::vector<std::string> conds;
      for (size_t k = 0; k < n; ++k) {
        conds.push_back(absl::StrCat("g.", pg::QuoteIdent(r.target.target_key_columns[k]), " = u.c", k + 1,
                                     "::", r.target_key_types[k]));
      }
      const std::string missing_sql =
          absl::StrCat("SELECT u.i FROM ", Unnest(n, true), " WHERE NOT EXISTS (SELECT 1 FROM ", r.green_table,
                       " g WHERE ", absl::StrJoin(conds, " AND "), ") ORDER BY u.i");
      std::string revoke_sql;
      const std::string in_keys = absl::StrCat("(", QuotedColumns(r.target.key_columns), ") IN (SELECT ",
                                               CastColumns(r.key_types), " FROM ", Unnest(n, false), ")");
      if (r.target.delete_rows) {
        revoke_sql = absl::StrCat("DELETE FROM ", r.blue_table, " WHERE ", in_keys);
      } else {
        std::vector<std::string> sets, same;
        for (size_t k = 0; k < r.target.set.size(); ++k) {
          const std::string col = pg::QuoteIdent(r.target.set[k].first);
          const std::string val = absl::StrCat(pg::QuoteLiteral(r.target.set[k].second), "::", r.set_types[k]);
          sets.push_back(absl::StrCat(col, " = ", val));
          same.push_back(absl::StrCat(col, " IS NOT DISTINCT FROM ", val));
        }
        revoke_sql = absl::StrCat("UPDATE ", r.blue_table, " SET ", absl::StrJoin(sets, ", "), " WHERE ", in_keys,
                                  " AND NOT (", absl::StrJoin(same, " AND "), ")");
      }

      tx.exec_params(absl::StrCat("DECLARE cutover_sweep NO SCROLL CURSOR FOR ", CandidateQuery(r)),
                     blue_xid_snapshot);
      for (;;) {
        pqxx::result rows = tx.exec(absl::StrCat("FETCH ", batch, " FROM cutover_sweep"));
        if (rows.empty()) break;
        t->set_candidates(t->candidates() + static_cast<int64_t>(rows.size()));
        std::vector<std::vector<std::optional<std::string>>> cols(n);
        for (const auto& row : rows) {
          for (size_t k = 0; k < n; ++k) cols[k].emplace_back(row[static_cast<int>(k)].as<std::string>());
        }
        std::vector<std::string> lits;
        for (const auto& c : cols) lits.push_back(TextArrayLiteral(c));
        absl::StatusOr<pqxx::result> missing =
            green.ExecParams(missing_sql, pqxx::prepare::make_dynamic_params(lits));
        RETURN_IF_ERROR(missing.status());
        if (missing->empty()) continue;
        std::vector<std::vector<std::optional<std::string>>> gone(n);
        for (const auto& m : *missing) {
          const size_t i = m[0].as<size_t>() - 1;
          for (size_t k = 0; k < n; ++k) gone[k].push_back(cols[k][i]);
        }
        std::vector<std::string> gone_lits;
        for (const auto& c : gone) gone_lits.push_back(TextArrayLiteral(c));
        pqxx::result done = tx.exec_params(revoke_sql, pqxx::prepare::make_dynamic_params(gone_lits));
        t->set_revoked(t->revoked() + done.affected_rows());
      }
      tx.exec("CLOSE cutover_sweep");
      out.set_revoked(out.revoked() + t->revoked());
      log(absl::StrCat(r.target.table, ": ", t->candidates(), " row(s) written on blue after the copy snapshot, ",
                       t->revoked(), " not on green (", r.target.target_table, ") ",
                       r.target.delete_rows ? "deleted" : "revoked", " on blue"));
    }
    return absl::OkStatus();
  }));
  out.set_done(true);
  *out.mutable_duration() = ToProto(absl::Now() - start);
  return out;
}

}  // namespace cutover::replay
