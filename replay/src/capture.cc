#include "cutover/replay/capture.h"

#include <algorithm>
#include <map>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/civil_time.h"
#include "cutover/common/proto_time.h"
#include "cutover/replay/event.h"
#include "cutover/replay/rules.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace cutover::replay {
namespace {

using cutover::v1::CaptureRule;

// No CHECK constraint on purpose: PostgreSQL rebuilds a table's CHECK
// expressions at every executor start, which cost a quarter of the capture
// trigger's CPU on single-row revocations; only our trigger functions write
// here, and EventFromOutboxRow refuses an op other than DELETE/UPDATE.
constexpr char kOutboxDdl[] = R"sql(
CREATE SCHEMA IF NOT EXISTS cutover_capture;
CREATE TABLE IF NOT EXISTS cutover_capture.outbox (
  id               bigserial   PRIMARY KEY,
  event_id         uuid        NOT NULL DEFAULT gen_random_uuid(),
  cutover_id       text        NOT NULL,
  rule             text        NOT NULL,
  revocation_class int         NOT NULL,
  op               text        NOT NULL,
  source_table     text        NOT NULL,
  key              jsonb       NOT NULL,
  extra            jsonb       NOT NULL,
  txid             bigint      NOT NULL DEFAULT txid_current(),
  captured_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  direction        int         NOT NULL
);
CREATE TABLE IF NOT EXISTS cutover_capture.installed (
  cutover_id   text        PRIMARY KEY,
  direction    int         NOT NULL,
  installed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  rules        jsonb       NOT NULL
);
)sql";

constexpr char kTruncateGuardFn[] = "refuse_truncate";
constexpr char kTruncateGuardTrigger[] = "cutover_capture_truncate_guard";

// Every trigger whose function lives in cutover_capture: (table as regclass
// text, trigger name, enabled flag, function name).
constexpr char kOurTriggers[] =
    "SELECT c.oid::regclass::text, t.tgname::text, t.tgenabled::text, p.proname::text, "
    "       n2.nspname::text, c.relname::text "
    "FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
    "JOIN pg_namespace n ON n.oid = p.pronamespace "
    "JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n2 ON n2.oid = c.relnamespace "
    "WHERE n.nspname = 'cutover_capture' AND NOT t.tgisinternal ORDER BY 1, 2";

uint32_t Fnv1a(absl::string_view s) {
  uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

std::string Sanitized(const std::string& name, size_t max) {
  std::string out;
  for (char c : name) {
    out.push_back(absl::ascii_isalnum(static_cast<unsigned char>(c)) ? c : '_');
    if (out.size() == max) break;
  }
  return out;
}

std::string FirstLine(absl::string_view s) {
  s = absl::StripAsciiWhitespace(s);
  if (auto nl = s.find('\n'); nl != absl::string_view::npos) s = s.substr(0, nl);
  if (absl::StartsWith(s, "ERROR:")) s = absl::StripLeadingAsciiWhitespace(s.substr(6));
  return std::string(s);
}

// A dollar-quote tag that does not occur in `body`.
std::string DollarTag(absl::string_view body) {
  for (int i = 0;; ++i) {
    std::string tag = absl::StrCat("$cutover", i, "$");
    if (!absl::StrContains(body, tag)) return tag;
  }
}

struct TriggerSpec {
  std::string table;      // "schema.table" as in the rule
  std::string qualified;  // quoted
  std::string name;
  std::string function;      // unqualified, in cutover_capture
  std::string function_ddl;  // CREATE OR REPLACE FUNCTION (empty for the TRUNCATE guard)
  std::string ddl;           // CREATE OR REPLACE TRIGGER
  std::string probe;         // a statement touching no row that fires the trigger (self-test)
};

std::string JsonObject(const CaptureRule& r, const google::protobuf::RepeatedPtrField<std::string>& cols,
                       const char* alias) {
  if (cols.empty()) return "'{}'::pg_catalog.jsonb";
  std::vector<std::string> parts;
  for (const auto& c : cols) {
    parts.push_back(
        absl::StrCat(pg::QuoteLiteral(c), ", ", alias, ".", pg::QuoteIdent(c), "::pg_catalog.text"));
  }
  return absl::StrCat("pg_catalog.jsonb_build_object(", absl::StrJoin(parts, ", "), ")");
}

std::string QualifiedTable(const std::string& table) {
  std::vector<std::string> parts = absl::StrSplit(table, absl::MaxSplits('.', 1));
  return pg::QualifiedName(parts[0], parts.size() > 1 ? parts[1] : "");
}

// SECURITY DEFINER without a function-level SET search_path: that SET
// costs a GUC push, parse and pop on every call (about a fifth of the
// trigger's CPU), so instead every name in the body is schema-qualified
// (functions, operators, types, the outbox) and the transition tables are
// named relations that no schema can shadow. Keep it that way when editing.
std::string FunctionDdl(const std::string& fn, const std::string& select) {
  const std::string body = absl::StrCat(
      "\nBEGIN\n"
      // The replayer's own writes (SET cutover.replaying = on) are not
      // captured: a replayed revocation must not echo back the other way.
      "  IF pg_catalog.current_setting('cutover.replaying', true) OPERATOR(pg_catalog.=) 'on' THEN\n"
      "    RETURN NULL;\n  END IF;\n"
      "  INSERT INTO cutover_capture.outbox "
      "(cutover_id, rule, revocation_class, op, source_table, key, extra, direction)\n  ",
      select, ";\n  RETURN NULL;\nEND\n");
  const std::string tag = DollarTag(body);
  return absl::StrCat("CREATE OR REPLACE FUNCTION cutover_capture.", pg::QuoteIdent(fn),
                      "() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS ", tag, body, tag);
}

// Trigger specs (with their functions) and the static functions.
void Plan(const std::vector<CaptureRule>& rules, const CaptureInstallOptions& o,
          std::vector<std::string>* functions, std::vector<TriggerSpec>* triggers,
          std::set<std::string>* function_names) {
  std::set<std::string> guarded;
  for (const auto& r : rules) {
    const std::string head = absl::StrCat(pg::QuoteLiteral(o.cutover_id), ", ", pg::QuoteLiteral(r.name()),
                                          ", ", static_cast<int>(r.revocation_class()));
    const std::string tail = absl::StrCat(", ", static_cast<int>(o.direction));
    const std::string qualified = QualifiedTable(r.table());
    if (r.on_delete()) {
      const std::string fn = CaptureFunctionName(r.name(), 'd');
      const std::string select =
          absl::StrCat("SELECT ", head, ", 'DELETE', ", pg::QuoteLiteral(r.table()), ", ",
                       JsonObject(r, r.key_columns(), "o"), ", ", JsonObject(r, r.extra_columns(), "o"), tail,
                       " FROM cutover_old o");
      function_names->insert(fn);
      TriggerSpec t{r.table(), qualified, CaptureTriggerName(r.name(), 'd'), fn, FunctionDdl(fn, select),
                    "",        ""};
      t.probe = absl::StrCat("DELETE FROM ", qualified, " WHERE false");
      t.ddl =
          absl::StrCat("CREATE OR REPLACE TRIGGER ", pg::QuoteIdent(t.name), " AFTER DELETE ON ", qualified,
                       " REFERENCING OLD TABLE AS cutover_old FOR EACH STATEMENT EXECUTE FUNCTION "
                       "cutover_capture.",
                       pg::QuoteIdent(fn), "()");
      triggers->push_back(std::move(t));
    }
    if (!r.on_update().empty()) {
      const std::string fn = CaptureFunctionName(r.name(), 'u');
      std::vector<std::string> join, turned;
      for (const auto& k : r.key_columns()) {
        join.push_back(
            absl::StrCat("o.", pg::QuoteIdent(k), " OPERATOR(pg_catalog.=) n.", pg::QuoteIdent(k)));
      }
      for (const auto& u : r.on_update()) {
        const std::string c = pg::QuoteIdent(u.column());
        const std::string v = pg::QuoteLiteral(u.value());
        // (x = v) IS NOT TRUE is x IS DISTINCT FROM v for a non-NULL v, with a
        // qualified operator (IS DISTINCT FROM would look `=` up by search_path).
        turned.push_back(absl::StrCat("((o.", c, " OPERATOR(pg_catalog.=) ", v, ") IS NOT TRUE AND (n.", c,
                                      " OPERATOR(pg_catalog.=) ", v, ") IS TRUE)"));
      }
      const std::string select =
          absl::StrCat("SELECT ", head, ", 'UPDATE', ", pg::QuoteLiteral(r.table()), ", ",
                       JsonObject(r, r.key_columns(), "n"), ", ", JsonObject(r, r.extra_columns(), "n"), tail,
                       " FROM cutover_new n JOIN cutover_old o ON ", absl::StrJoin(join, " AND "), " WHERE ",
                       absl::StrJoin(turned, " OR "));
      function_names->insert(fn);
      TriggerSpec t{r.table(), qualified, CaptureTriggerName(r.name(), 'u'), fn, FunctionDdl(fn, select),
                    "",        ""};
      const std::string col = pg::QuoteIdent(r.on_update(0).column());
      t.probe = absl::StrCat("UPDATE ", qualified, " SET ", col, " = ", col, " WHERE false");
      t.ddl =
          absl::StrCat("CREATE OR REPLACE TRIGGER ", pg::QuoteIdent(t.name), " AFTER UPDATE ON ", qualified,
                       " REFERENCING OLD TABLE AS cutover_old NEW TABLE AS cutover_new FOR EACH STATEMENT "
                       "EXECUTE FUNCTION cutover_capture.",
                       pg::QuoteIdent(fn), "()");
      triggers->push_back(std::move(t));
    }
    if (guarded.insert(r.table()).second) {
      TriggerSpec t{r.table(), qualified, kTruncateGuardTrigger, kTruncateGuardFn, "", "", ""};
      t.ddl =
          absl::StrCat("CREATE OR REPLACE TRIGGER ", kTruncateGuardTrigger, " BEFORE TRUNCATE ON ", qualified,
                       " FOR EACH STATEMENT EXECUTE FUNCTION cutover_capture.", kTruncateGuardFn, "()");
      triggers->push_back(std::move(t));
    }
  }
  function_names->insert(kTruncateGuardFn);
  functions->push_back(
      absl::StrCat("CREATE OR REPLACE FUNCTION cutover_capture.", kTruncateGuardFn,
                   "() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $cutover$\n"
                   "BEGIN\n"
                   "  RAISE EXCEPTION 'TRUNCATE of %.% refused: cutover capture is installed and TRUNCATE "
                   "would remove rows "
                   "without capturing their revocations', TG_TABLE_SCHEMA, TG_TABLE_NAME\n"
                   "    USING ERRCODE = 'object_not_in_prerequisite_state',\n"
                   "          HINT = 'Delete the rows with DELETE, or remove the capture first (it is "
                   "removed when the cutover "
                   "completes or aborts).';\n"
                   "END\n$cutover$"));
}

using TxBody = std::function<absl::Status(pqxx::work&)>;

// Runs `body` in its own transaction with SET LOCAL lock_timeout, retrying
// lock timeouts and deadlocks with backoff. `what` names the object for errors.
absl::Status WithLockRetry(pg::Session& s, const CaptureInstallOptions& o, const std::string& what,
                           const TxBody& body) {
  Clock* clock = o.clock != nullptr ? o.clock : Clock::Real();
  const int attempts = std::max(1, o.max_attempts);
  const int64_t timeout_ms = std::max<int64_t>(1, absl::ToInt64Milliseconds(o.lock_timeout));
  absl::Duration delay = o.backoff;
  std::string last;
  for (int attempt = 1; attempt <= attempts; ++attempt) {
    try {
      pqxx::work tx(s.conn());
      tx.exec(absl::StrCat("SET LOCAL lock_timeout = ", timeout_ms));
      absl::Status st = body(tx);
      if (!st.ok()) {
        tx.abort();
        return st;
      }
      tx.commit();
      return absl::OkStatus();
    } catch (const pqxx::sql_error& e) {
      if (e.sqlstate() != "55P03" && e.sqlstate() != "40P01") {
        return pg::StatusFromException(e, absl::StrCat(what, " on ", s.what()));
      }
      last = FirstLine(e.what());
    } catch (const std::exception& e) {
      return pg::StatusFromException(e, absl::StrCat(what, " on ", s.what()));
    }
    if (attempt < attempts && delay > absl::ZeroDuration()) {
      clock->SleepFor(delay);
      delay = std::min(delay * 2, o.backoff * 8);
    }
  }
  return absl::AbortedError(absl::StrCat(what, ": could not take its lock on ", s.what(), " in ", attempts,
                                         " attempts (lock_timeout ", timeout_ms,
                                         "ms each; a long transaction holds a conflicting lock?): ", last));
}

struct ExistingTrigger {
  std::string regclass;
  std::string name;
  std::string enabled;
  std::string function;
  std::string schema;
  std::string table;
};

absl::StatusOr<std::vector<ExistingTrigger>> OurTriggers(pg::Session& s) {
  ASSIGN_OR_RETURN(pqxx::result res, s.Exec(kOurTriggers));
  std::vector<ExistingTrigger> out;
  for (const auto& row : res) {
    out.push_back({row[0].as<std::string>(), row[1].as<std::string>(), row[2].as<std::string>(),
                   row[3].as<std::string>(), row[4].as<std::string>(), row[5].as<std::string>()});
  }
  return out;
}

absl::StatusOr<bool> SchemaExists(pg::Session& s) {
  ASSIGN_OR_RETURN(pqxx::result r,
                   s.Exec("SELECT count(*) FROM pg_namespace WHERE nspname = 'cutover_capture'"));
  return r[0][0].as<int64_t>() > 0;
}

absl::StatusOr<bool> TableExists(pg::Session& s, const char* table) {
  ASSIGN_OR_RETURN(pqxx::result r, s.ExecParams("SELECT to_regclass($1) IS NOT NULL", std::string(table)));
  return r[0][0].as<bool>();
}

std::string RulesJson(const std::vector<CaptureRule>& rules) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  std::vector<std::string> items;
  for (const auto& r : rules) {
    std::string j;
    (void)google::protobuf::util::MessageToJsonString(r, &j, opts);
    items.push_back(std::move(j));
  }
  return absl::StrCat("[", absl::StrJoin(items, ","), "]");
}

absl::Status DropTrigger(pg::Session& s, const CaptureInstallOptions& o, const ExistingTrigger& t) {
  return WithLockRetry(s, o, absl::StrCat("drop trigger ", t.name, " on ", t.regclass), [&](pqxx::work& tx) {
    tx.exec(absl::StrCat("DROP TRIGGER IF EXISTS ", pg::QuoteIdent(t.name), " ON ",
                         pg::QualifiedName(t.schema, t.table)));
    return absl::OkStatus();
  });
}

}  // namespace

std::string CaptureTriggerName(const std::string& rule_name, char op) {
  return absl::StrFormat("cutover_capture_%s_%08x_%c", Sanitized(rule_name, 34), Fnv1a(rule_name), op);
}

std::string CaptureFunctionName(const std::string& rule_name, char op) {
  return absl::StrFormat("capture_%s_%08x_%c", Sanitized(rule_name, 40), Fnv1a(rule_name), op);
}

absl::Status InstallCapture(pg::Session& side, const std::vector<CaptureRule>& rules,
                            const CaptureInstallOptions& options) {
  if (options.cutover_id.empty() || options.cutover_id.size() > 200) {
    return absl::InvalidArgumentError("capture install: cutover_id must be 1 to 200 characters");
  }
  if (options.direction != cutover::v1::DIRECTION_BLUE_TO_GREEN &&
      options.direction != cutover::v1::DIRECTION_GREEN_TO_BLUE) {
    return absl::InvalidArgumentError(
        "capture install: direction is unset: expected BLUE_TO_GREEN or GREEN_TO_BLUE");
  }
  if (rules.empty()) return absl::InvalidArgumentError("capture install: no capture rules");
  if (side.server_version() < 140000) {
    return absl::FailedPreconditionError(absl::StrCat("capture install: ", side.what(), " runs PostgreSQL ",
                                                      side.server_version() / 10000,
                                                      "; capture needs 14 or later (CREATE OR REPLACE "
                                                      "TRIGGER, statement triggers with transition tables)"));
  }
  RETURN_IF_ERROR(ValidateRules(rules));
  RETURN_IF_ERROR(CheckRulesOnCaptureSide(rules, side));

  std::vector<std::string> functions;
  std::vector<TriggerSpec> triggers;
  std::set<std::string> function_names;
  Plan(rules, options, &functions, &triggers, &function_names);

  // 1. Schema, tables, the install record and the static functions: no table locks.
  const std::string rules_json = RulesJson(rules);
  RETURN_IF_ERROR(
      WithLockRetry(side, options, "capture install: schema cutover_capture", [&](pqxx::work& tx) {
        tx.exec("SELECT pg_advisory_xact_lock(hashtext('cutover_capture.install'))");
        tx.exec(kOutboxDdl);
        pqxx::result cur = tx.exec("SELECT cutover_id, direction FROM cutover_capture.installed");
        for (const auto& row : cur) {
          const std::string id = row[0].as<std::string>();
          const int dir = row[1].as<int>();
          if (id != options.cutover_id || dir != static_cast<int>(options.direction)) {
            return absl::FailedPreconditionError(absl::StrCat(
                "capture install: ", side.what(), " already has the capture of cutover '", id,
                "' (direction ", cutover::v1::Direction_Name(static_cast<cutover::v1::Direction>(dir)),
                ") installed: remove it first (RemoveCapture)"));
          }
        }
        tx.exec_params(
            "INSERT INTO cutover_capture.installed (cutover_id, direction, rules) VALUES ($1, $2, $3::jsonb) "
            "ON CONFLICT (cutover_id) DO UPDATE SET rules = EXCLUDED.rules, updated_at = clock_timestamp()",
            options.cutover_id, static_cast<int>(options.direction), rules_json);
        for (const auto& f : functions) tx.exec(f);
        return absl::OkStatus();
      }));

  // 2. Each trigger in one short transaction with its function: replace the
  // function, create the trigger when missing or not enabled (present and
  // enabled ones are kept, so a reinstall takes no SHARE ROW EXCLUSIVE lock),
  // then fire it once with a statement that touches no row, inside a
  // savepoint: a function that fails to plan or run never goes live.
  ASSIGN_OR_RETURN(std::vector<ExistingTrigger> existing, OurTriggers(side));
  std::map<std::pair<std::string, std::string>, const ExistingTrigger*> by_key;
  for (const auto& e : existing) by_key[{absl::StrCat(e.schema, ".", e.table), e.name}] = &e;
  std::set<std::pair<std::string, std::string>> wanted;
  for (const auto& t : triggers) {
    wanted.insert({t.table, t.name});
    auto it = by_key.find({t.table, t.name});
    const bool keep = it != by_key.end() && it->second->function == t.function && it->second->enabled == "O";
    if (keep && t.function_ddl.empty()) continue;
    const std::string what = absl::StrCat("capture install: trigger ", t.name, " on ", t.table);
    RETURN_IF_ERROR(WithLockRetry(side, options, what, [&](pqxx::work& tx) -> absl::Status {
      if (!t.function_ddl.empty()) tx.exec(t.function_ddl);
      if (!keep) {
        tx.exec(t.ddl);
        if (it != by_key.end() && it->second->enabled != "O") {
          tx.exec(absl::StrCat("ALTER TABLE ", t.qualified, " ENABLE TRIGGER ", pg::QuoteIdent(t.name)));
        }
      }
      if (t.probe.empty()) return absl::OkStatus();
      tx.exec("SAVEPOINT cutover_capture_probe");
      try {
        tx.exec(t.probe);
      } catch (const pqxx::sql_error& e) {
        if (e.sqlstate() == "55P03" || e.sqlstate() == "40P01") throw;
        return absl::FailedPreconditionError(absl::StrCat(what, " on ", side.what(),
                                                          ": the trigger failed its self-test (", t.probe,
                                                          "): ", FirstLine(e.what())));
      }
      tx.exec("ROLLBACK TO SAVEPOINT cutover_capture_probe");
      return absl::OkStatus();
    }));
  }

  // 3. Triggers and functions of rules no longer installed.
  for (const auto& e : existing) {
    if (wanted.count({absl::StrCat(e.schema, ".", e.table), e.name})) continue;
    RETURN_IF_ERROR(Annotate(DropTrigger(side, options, e), "capture install: stale trigger"));
  }
  ASSIGN_OR_RETURN(pqxx::result fns, side.Exec("SELECT p.proname::text FROM pg_proc p JOIN pg_namespace n ON "
                                               "n.oid = p.pronamespace WHERE n.nspname = 'cutover_capture'"));
  for (const auto& row : fns) {
    const std::string fn = row[0].as<std::string>();
    if (function_names.count(fn)) continue;
    RETURN_IF_ERROR(WithLockRetry(
        side, options, absl::StrCat("capture install: drop function ", fn), [&](pqxx::work& tx) {
          tx.exec(absl::StrCat("DROP FUNCTION IF EXISTS cutover_capture.", pg::QuoteIdent(fn), "()"));
          return absl::OkStatus();
        }));
  }
  return absl::OkStatus();
}

absl::Status RemoveCapture(pg::Session& side, const CaptureInstallOptions& options, bool force) {
  ASSIGN_OR_RETURN(bool schema, SchemaExists(side));
  if (!schema) return absl::OkStatus();  // no schema, no functions, so no triggers of ours
  auto count_outbox = [&]() -> absl::StatusOr<int64_t> {
    ASSIGN_OR_RETURN(bool has, TableExists(side, "cutover_capture.outbox"));
    if (!has) return int64_t{0};
    ASSIGN_OR_RETURN(pqxx::result r, side.Exec("SELECT count(*) FROM cutover_capture.outbox"));
    return r[0][0].as<int64_t>();
  };
  ASSIGN_OR_RETURN(bool has_installed, TableExists(side, "cutover_capture.installed"));
  if (has_installed) {
    ASSIGN_OR_RETURN(pqxx::result cur, side.Exec("SELECT cutover_id FROM cutover_capture.installed"));
    for (const auto& row : cur) {
      if (row[0].as<std::string>() != options.cutover_id) {
        return absl::FailedPreconditionError(absl::StrCat("capture remove: the capture on ", side.what(),
                                                          " belongs to cutover '", row[0].as<std::string>(),
                                                          "', not '", options.cutover_id, "'"));
      }
    }
  }
  ASSIGN_OR_RETURN(int64_t rows, count_outbox());
  if (rows > 0 && !force) {
    return absl::FailedPreconditionError(absl::StrCat(
        "capture remove: cutover_capture.outbox on ", side.what(), " still holds ", rows,
        " event(s) not yet relayed: drain it first, or force the removal (those events are lost)"));
  }
  ASSIGN_OR_RETURN(std::vector<ExistingTrigger> existing, OurTriggers(side));
  for (const auto& e : existing) {
    RETURN_IF_ERROR(Annotate(DropTrigger(side, options, e), "capture remove"));
  }
  return WithLockRetry(side, options, "capture remove: schema cutover_capture", [&](pqxx::work& tx) {
    if (!force) {
      // Rows written between the first check and the last trigger's removal.
      pqxx::result r = tx.exec(
          "SELECT CASE WHEN to_regclass('cutover_capture.outbox') IS NULL THEN 0 "
          "ELSE (SELECT count(*) FROM cutover_capture.outbox) END");
      const int64_t late = r[0][0].as<int64_t>();
      if (late > 0) {
        return absl::FailedPreconditionError(absl::StrCat(
            "capture remove: ", late, " event(s) reached cutover_capture.outbox on ", side.what(),
            " while the triggers were being removed (the triggers are gone; the outbox is kept): drain it, "
            "then "
            "remove again"));
      }
    }
    tx.exec("DROP SCHEMA cutover_capture CASCADE");
    return absl::OkStatus();
  });
}

absl::StatusOr<CaptureStatus> InspectCapture(pg::Session& side) {
  CaptureStatus st;
  ASSIGN_OR_RETURN(bool schema, SchemaExists(side));
  if (!schema) return st;
  ASSIGN_OR_RETURN(std::vector<ExistingTrigger> existing, OurTriggers(side));
  st.triggers = static_cast<int>(existing.size());
  for (const auto& e : existing) {
    if (e.enabled == "D") ++st.disabled_triggers;
  }
  ASSIGN_OR_RETURN(bool has_installed, TableExists(side, "cutover_capture.installed"));
  if (has_installed) {
    ASSIGN_OR_RETURN(pqxx::result r,
                     side.Exec("SELECT cutover_id, direction, extract(epoch FROM installed_at)::float8, "
                               "(SELECT coalesce(array_agg(e->>'name' ORDER BY o), '{}') FROM "
                               "jsonb_array_elements(rules) WITH ORDINALITY AS x(e, o)) "
                               "FROM cutover_capture.installed LIMIT 1"));
    if (!r.empty()) {
      st.installed = true;
      st.cutover_id = r[0][0].as<std::string>();
      st.direction = static_cast<cutover::v1::Direction>(r[0][1].as<int>());
      st.installed_at = absl::FromUnixMicros(static_cast<int64_t>(r[0][2].as<double>() * 1e6));
      auto arr = r[0][3].as_array();
      for (auto item = arr.get_next(); item.first != pqxx::array_parser::done; item = arr.get_next()) {
        if (item.first == pqxx::array_parser::string_value) st.rules.push_back(item.second);
      }
    }
  }
  ASSIGN_OR_RETURN(bool has_outbox, TableExists(side, "cutover_capture.outbox"));
  if (has_outbox) {
    ASSIGN_OR_RETURN(
        pqxx::result r,
        side.Exec("SELECT count(*), (SELECT (extract(epoch FROM captured_at) * 1000000)::bigint "
                  "FROM cutover_capture.outbox ORDER BY id LIMIT 1) FROM cutover_capture.outbox"));
    st.outbox_rows = r[0][0].as<int64_t>();
    if (!r[0][1].is_null()) st.oldest_captured_at = absl::FromUnixMicros(r[0][1].as<int64_t>());
  }
  return st;
}

absl::StatusOr<absl::Time> ParsePgTimestamptz(absl::string_view text) {
  const std::string original(text);
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("captured_at '", original.substr(0, 64), "' is not an ISO timestamptz: ", why));
  };
  text = absl::StripAsciiWhitespace(text);
  auto num = [&](size_t n, int* out) -> bool {
    if (text.size() < n) return false;
    for (size_t i = 0; i < n; ++i) {
      if (!absl::ascii_isdigit(static_cast<unsigned char>(text[i]))) return false;
    }
    *out = std::stoi(std::string(text.substr(0, n)));
    text.remove_prefix(n);
    return true;
  };
  auto lit = [&](char c) -> bool {
    if (text.empty() || text[0] != c) return false;
    text.remove_prefix(1);
    return true;
  };
  int y, mo, d, h, mi, s;
  if (!num(4, &y) || !lit('-') || !num(2, &mo) || !lit('-') || !num(2, &d)) return bad("expected YYYY-MM-DD");
  if (!lit(' ') && !lit('T')) return bad("expected ' ' or 'T' after the date");
  if (!num(2, &h) || !lit(':') || !num(2, &mi) || !lit(':') || !num(2, &s)) return bad("expected HH:MM:SS");
  int64_t nanos = 0;
  if (lit('.')) {
    int digits = 0;
    while (!text.empty() && absl::ascii_isdigit(static_cast<unsigned char>(text[0]))) {
      if (digits < 9) {
        nanos = nanos * 10 + (text[0] - '0');
        ++digits;
      }
      text.remove_prefix(1);
    }
    if (digits == 0) return bad("expected digits after '.'");
    for (int k = digits; k < 9; ++k) nanos *= 10;
  }
  int offset_s = 0;
  if (lit('Z')) {
  } else if (!text.empty() && (text[0] == '+' || text[0] == '-')) {
    const int sign = text[0] == '-' ? -1 : 1;
    text.remove_prefix(1);
    int oh = 0, om = 0, os = 0;
    if (!num(2, &oh)) return bad("expected a +HH offset");
    if (lit(':') && !num(2, &om)) return bad("expected +HH:MM");
    if (lit(':') && !num(2, &os)) return bad("expected +HH:MM:SS");
    offset_s = sign * (oh * 3600 + om * 60 + os);
  } else {
    return bad("expected a UTC offset (+HH or Z)");
  }
  if (!text.empty()) return bad("unexpected text after the offset");
  const absl::CivilSecond cs(y, mo, d, h, mi, s);
  if (cs.year() != y || cs.month() != mo || cs.day() != d || cs.hour() != h || cs.minute() != mi ||
      cs.second() != s) {
    return bad("date or time out of range");
  }
  return absl::FromCivil(cs, absl::UTCTimeZone()) - absl::Seconds(offset_s) + absl::Nanoseconds(nanos);
}

absl::StatusOr<OutboxRow> OutboxRowFromPqxx(const pqxx::row& row) {
  OutboxRow out;
  auto text = [&](const char* col, bool required, std::string* dst) -> absl::Status {
    pqxx::row::size_type idx;
    try {
      idx = row.column_number(col);
    } catch (const std::exception&) {
      if (!required) return absl::OkStatus();
      return absl::InvalidArgumentError(
          absl::StrCat("outbox row: column ", col, " is missing from the SELECT"));
    }
    if (row[idx].is_null()) {
      if (!required) return absl::OkStatus();
      return absl::InvalidArgumentError(absl::StrCat("outbox row: column ", col, " is NULL"));
    }
    *dst = row[idx].c_str();
    return absl::OkStatus();
  };
  std::string id, cls, txid, dir;
  RETURN_IF_ERROR(text("id", true, &id));
  RETURN_IF_ERROR(text("event_id", true, &out.event_id));
  RETURN_IF_ERROR(text("rule", true, &out.rule));
  RETURN_IF_ERROR(text("revocation_class", true, &cls));
  RETURN_IF_ERROR(text("op", true, &out.op));
  RETURN_IF_ERROR(text("source_table", true, &out.source_table));
  RETURN_IF_ERROR(text("key", true, &out.key));
  RETURN_IF_ERROR(text("extra", true, &out.extra));
  RETURN_IF_ERROR(text("txid", true, &txid));
  RETURN_IF_ERROR(text("captured_at", true, &out.captured_at));
  RETURN_IF_ERROR(text("direction", true, &dir));
  RETURN_IF_ERROR(text("cutover_id", false, &out.cutover_id));
  if (!absl::SimpleAtoi(id, &out.id) || !absl::SimpleAtoi(cls, &out.revocation_class) ||
      !absl::SimpleAtoi(txid, &out.txid) || !absl::SimpleAtoi(dir, &out.direction)) {
    return absl::InvalidArgumentError(absl::StrCat("outbox row ", id,
                                                   ": id, revocation_class, txid or direction is "
                                                   "not an integer"));
  }
  return out;
}

namespace {

absl::Status FillDatums(const std::string& json, const char* field, int64_t id,
                        google::protobuf::Map<std::string, cutover::v1::Datum>* out) {
  google::protobuf::Struct st;
  auto parsed = google::protobuf::util::JsonStringToMessage(json, &st);
  if (!parsed.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("outbox row ", id, ": ", field,
                                                   " is not a JSON object: ", std::string(parsed.message())));
  }
  for (const auto& [col, value] : st.fields()) {
    cutover::v1::Datum d;
    switch (value.kind_case()) {
      case google::protobuf::Value::kNullValue:
        d.set_null(true);
        break;
      case google::protobuf::Value::kStringValue:
        d.set_text(value.string_value());
        break;
      default:
        return absl::InvalidArgumentError(absl::StrCat("outbox row ", id, ": ", field, "[", col,
                                                       "] is not a string or null (expected column text)"));
    }
    (*out)[col] = d;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<cutover::v1::RevocationEvent> EventFromOutboxRow(const OutboxRow& row) {
  cutover::v1::RevocationEvent e;
  e.set_format_version(kEventFormatVersion);
  e.set_event_id(absl::AsciiStrToLower(row.event_id));
  e.set_kind(row.rule);
  if (!cutover::v1::RevocationClass_IsValid(row.revocation_class)) {
    return absl::InvalidArgumentError(absl::StrCat("outbox row ", row.id, ": revocation_class ",
                                                   row.revocation_class, " is not a RevocationClass"));
  }
  e.set_revocation_class(static_cast<cutover::v1::RevocationClass>(row.revocation_class));
  e.set_source_table(row.source_table);
  if (row.op == "DELETE") {
    e.set_op(cutover::v1::ROW_OP_DELETE);
  } else if (row.op == "UPDATE") {
    e.set_op(cutover::v1::ROW_OP_UPDATE);
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("outbox row ", row.id, ": op '", row.op.substr(0, 32), "' is not DELETE or UPDATE"));
  }
  RETURN_IF_ERROR(FillDatums(row.key, "key", row.id, e.mutable_key()));
  RETURN_IF_ERROR(FillDatums(row.extra, "extra", row.id, e.mutable_extra()));
  e.set_source_txid(row.txid);
  ASSIGN_OR_RETURN(absl::Time at,
                   Annotate(ParsePgTimestamptz(row.captured_at), absl::StrCat("outbox row ", row.id)));
  *e.mutable_captured_at() = ToProtoTime(at);
  e.set_capture_path(cutover::v1::CAPTURE_PATH_TRIGGER);
  if (!cutover::v1::Direction_IsValid(row.direction)) {
    return absl::InvalidArgumentError(
        absl::StrCat("outbox row ", row.id, ": direction ", row.direction, " is not a Direction"));
  }
  e.set_direction(static_cast<cutover::v1::Direction>(row.direction));
  e.set_cutover_id(row.cutover_id);
  RETURN_IF_ERROR(Annotate(ValidateEvent(e), absl::StrCat("outbox row ", row.id)));
  return e;
}

}  // namespace cutover::replay
