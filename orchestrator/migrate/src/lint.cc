#include "cutover/migrate/lint.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <sstream>
#include <system_error>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "google/protobuf/message.h"
#include "google/protobuf/reflection.h"
#include "sql_source.h"

namespace cutover::migrate {
namespace {

namespace pq = pg_query;
namespace fs = std::filesystem;
using internal::SqlSource;
using internal::Statement;
using internal::Token;

constexpr absl::string_view kSyntaxError = "syntax-error";
constexpr absl::string_view kCreateIndex = "create-index-not-concurrently";
constexpr absl::string_view kVolatileDefault = "add-column-volatile-default";
constexpr absl::string_view kTypeRewrite = "column-type-rewrite";
constexpr absl::string_view kSetNotNull = "set-not-null-without-check";
constexpr absl::string_view kForeignKey = "foreign-key-not-valid";
constexpr absl::string_view kCheckNotValid = "check-constraint-not-valid";
constexpr absl::string_view kValidateSameTx = "validate-in-same-transaction";
constexpr absl::string_view kSelectStar = "select-star";
constexpr absl::string_view kNonTransactional = "non-transactional-in-transaction";
constexpr absl::string_view kLockTimeout = "lock-timeout-missing";

constexpr absl::string_view kAllowPrefix = "cutover:allow";

// ----- parse-tree helpers -----

std::string Lower(absl::string_view s) { return absl::AsciiStrToLower(s); }

// The last String of a name list ("pg_catalog"."varchar" -> "varchar").
std::string LastName(const google::protobuf::RepeatedPtrField<pq::Node>& names) {
  for (auto it = names.rbegin(); it != names.rend(); ++it) {
    if (it->has_string()) return Lower(it->string().sval());
  }
  return "";
}

// Calls `visit` on `m` and every message below it, depth first.
void Walk(const google::protobuf::Message& m,
          const std::function<void(const google::protobuf::Message&)>& visit) {
  visit(m);
  const google::protobuf::Reflection* r = m.GetReflection();
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  for (const auto* f : fields) {
    if (f->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(m, f); ++i) Walk(r->GetRepeatedMessage(m, f, i), visit);
    } else {
      Walk(r->GetMessage(m, f), visit);
    }
  }
}

// A table as a statement names it. Unqualified names match any schema:
// the linter does not know the search_path.
struct Rel {
  std::string schema;
  std::string name;

  bool Matches(const Rel& o) const {
    return name == o.name && (schema.empty() || o.schema.empty() || schema == o.schema);
  }
  std::string ToString() const { return schema.empty() ? name : absl::StrCat(schema, ".", name); }
};

Rel RelOf(const pq::RangeVar& r) { return Rel{r.schemaname(), r.relname()}; }

// DROP's object names: a List of Strings per object.
Rel RelOfNameList(const pq::Node& n) {
  Rel rel;
  if (!n.has_list()) return rel;
  std::vector<std::string> parts;
  for (const pq::Node& item : n.list().items()) {
    if (item.has_string()) parts.push_back(item.string().sval());
  }
  if (!parts.empty()) rel.name = parts.back();
  if (parts.size() >= 2) rel.schema = parts[parts.size() - 2];
  return rel;
}

// A column's declared type, enough to tell binary-coercible changes.
struct ColType {
  std::string name;       // "varchar", "numeric", "text", "int4", ...
  std::vector<int> mods;  // varchar(20) -> {20}; numeric(10,2) -> {10, 2}
  bool array = false;

  bool operator==(const ColType& o) const { return name == o.name && mods == o.mods && array == o.array; }
  std::string ToString() const {
    std::string s = name;
    if (!mods.empty()) absl::StrAppend(&s, "(", absl::StrJoin(mods, ","), ")");
    if (array) s += "[]";
    return s;
  }
};

ColType TypeOf(const pq::TypeName& t) {
  ColType c;
  c.name = LastName(t.names());
  if (c.name == "decimal") c.name = "numeric";
  if (c.name == "integer" || c.name == "int") c.name = "int4";
  for (const pq::Node& m : t.typmods()) {
    if (m.has_a_const() && m.a_const().has_ival()) c.mods.push_back(m.a_const().ival().ival());
  }
  c.array = t.array_bounds_size() > 0;
  return c;
}

enum class TypeChange { kNoRewrite, kRewrite, kUtcOnly };

// PostgreSQL skips the rewrite when the old type is binary-coercible to the
// new one and the new typmod cannot reject an old value.
TypeChange ClassifyTypeChange(const ColType& from, const ColType& to) {
  if (from == to) return TypeChange::kNoRewrite;
  if (from.array || to.array) return TypeChange::kRewrite;
  if (from.name == "varchar") {
    if (to.name == "text") return TypeChange::kNoRewrite;
    if (to.name == "varchar" && to.mods.empty()) return TypeChange::kNoRewrite;
    if (to.name == "varchar" && !from.mods.empty() && to.mods.size() == 1 && to.mods[0] >= from.mods[0]) {
      return TypeChange::kNoRewrite;
    }
  }
  if (from.name == "text" && to.name == "varchar" && to.mods.empty()) return TypeChange::kNoRewrite;
  if (from.name == "numeric" && to.name == "numeric") {
    if (to.mods.empty()) return TypeChange::kNoRewrite;
    if (!from.mods.empty()) {
      const int from_scale = from.mods.size() > 1 ? from.mods[1] : 0;
      const int to_scale = to.mods.size() > 1 ? to.mods[1] : 0;
      if (to_scale == from_scale && to.mods[0] >= from.mods[0]) return TypeChange::kNoRewrite;
    }
  }
  if (from.name == "cidr" && to.name == "inet" && to.mods.empty()) return TypeChange::kNoRewrite;
  if (from.name == "timestamp" && to.name == "timestamptz" && from.mods == to.mods)
    return TypeChange::kUtcOnly;
  return TypeChange::kRewrite;
}

// New types some old type converts to without a rewrite: with the old type
// unknown, a change to one of these may be safe.
bool MaybeBinaryCoercibleTarget(const ColType& to) {
  static const auto* names =
      new absl::flat_hash_set<std::string>{"text", "varchar", "numeric", "inet", "timestamptz"};
  return !to.array && names->contains(to.name);
}

// Built-in and common extension functions that are VOLATILE (from pg_proc of
// PostgreSQL 15, plus uuid-ossp and pgcrypto).
bool IsVolatileFunction(const std::string& name) {
  static const auto* names = new absl::flat_hash_set<std::string>{
      "random",           "random_normal",   "setseed",          "gen_random_uuid",
      "gen_random_bytes", "gen_salt",        "uuid_generate_v1", "uuid_generate_v1mc",
      "uuid_generate_v4", "clock_timestamp", "timeofday",        "nextval",
      "currval",          "lastval",         "setval",           "set_config",
      "current_query",    "txid_status",     "query_to_xml",     "cursor_to_xml"};
  return names->contains(name);
}

// STABLE or IMMUTABLE functions common in column defaults. Anything neither
// here nor in the volatile list has a volatility the linter cannot know
// (a user-defined function defaults to VOLATILE).
bool IsKnownNonVolatileFunction(const std::string& name) {
  static const auto* names = new absl::flat_hash_set<std::string>{"now",
                                                                  "transaction_timestamp",
                                                                  "statement_timestamp",
                                                                  "current_setting",
                                                                  "to_timestamp",
                                                                  "to_date",
                                                                  "to_char",
                                                                  "to_number",
                                                                  "date_trunc",
                                                                  "date_part",
                                                                  "extract",
                                                                  "timezone",
                                                                  "make_date",
                                                                  "make_time",
                                                                  "make_timestamp",
                                                                  "make_timestamptz",
                                                                  "make_interval",
                                                                  "age",
                                                                  "lower",
                                                                  "upper",
                                                                  "trim",
                                                                  "btrim",
                                                                  "ltrim",
                                                                  "rtrim",
                                                                  "concat",
                                                                  "concat_ws",
                                                                  "substring",
                                                                  "substr",
                                                                  "replace",
                                                                  "length",
                                                                  "md5",
                                                                  "sha256",
                                                                  "encode",
                                                                  "decode",
                                                                  "abs",
                                                                  "round",
                                                                  "floor",
                                                                  "ceil",
                                                                  "ceiling",
                                                                  "jsonb_build_object",
                                                                  "jsonb_build_array",
                                                                  "json_build_object",
                                                                  "json_build_array",
                                                                  "to_jsonb",
                                                                  "to_json",
                                                                  "array_fill",
                                                                  "uuid_nil",
                                                                  "uuid_generate_v3",
                                                                  "uuid_generate_v5",
                                                                  "inet_client_addr",
                                                                  "pg_backend_pid",
                                                                  "txid_current",
                                                                  "pg_current_xact_id",
                                                                  "current_database",
                                                                  "current_schema",
                                                                  "session_user",
                                                                  "current_user",
                                                                  "format",
                                                                  "int4",
                                                                  "int8",
                                                                  "text"};
  return names->contains(name);
}

enum class Volatility { kNone, kUnknown, kVolatile };

// The worst volatility of the functions an expression calls; `culprit` names
// the function that decided it.
Volatility ExpressionVolatility(const pq::Node& expr, std::string* culprit) {
  Volatility worst = Volatility::kNone;
  Walk(expr, [&](const google::protobuf::Message& m) {
    const auto* call = dynamic_cast<const pq::FuncCall*>(&m);
    if (call == nullptr || worst == Volatility::kVolatile) return;
    const std::string name = LastName(call->funcname());
    if (IsVolatileFunction(name)) {
      worst = Volatility::kVolatile;
      *culprit = name;
    } else if (!IsKnownNonVolatileFunction(name) && worst == Volatility::kNone) {
      worst = Volatility::kUnknown;
      *culprit = name;
    }
  });
  return worst;
}

// A CHECK expression of the form `col IS NOT NULL`: the column, else "".
std::string NotNullCheckColumn(const pq::Constraint& c) {
  if (c.contype() != pq::CONSTR_CHECK || !c.raw_expr().has_null_test()) return "";
  const pq::NullTest& t = c.raw_expr().null_test();
  if (t.nulltesttype() != pq::IS_NOT_NULL || !t.arg().has_column_ref()) return "";
  const auto& fields = t.arg().column_ref().fields();
  if (fields.size() != 1 || !fields[0].has_string()) return "";
  return fields[0].string().sval();
}

// "SELECT *" / "SELECT t.*" in any SELECT list of the tree, or "".
std::string FindSelectStar(const google::protobuf::Message& tree) {
  std::string found;
  Walk(tree, [&](const google::protobuf::Message& m) {
    const auto* sel = dynamic_cast<const pq::SelectStmt*>(&m);
    if (sel == nullptr || !found.empty()) return;
    for (const pq::Node& t : sel->target_list()) {
      if (!t.has_res_target() || !t.res_target().val().has_column_ref()) continue;
      const auto& fields = t.res_target().val().column_ref().fields();
      if (fields.empty() || !fields[fields.size() - 1].has_a_star()) continue;
      found = fields.size() == 1 ? "SELECT *" : absl::StrCat("SELECT ", fields[0].string().sval(), ".*");
      return;
    }
  });
  return found;
}

// The same, by tokens, for bodies the grammar cannot take whole (PL/pgSQL):
// a `*` right after SELECT/DISTINCT/ALL/`,`, or `x.*` in that place.
std::string FindSelectStarByTokens(const std::string& body) {
  absl::StatusOr<std::vector<Token>> tokens = internal::ScanSql(body);
  if (!tokens.ok()) return "";
  std::vector<Token> code;
  for (const Token& t : *tokens) {
    if (!t.IsComment()) code.push_back(t);
  }
  auto starts_list = [](const Token& t) {
    return t.kind == pq::SELECT || t.kind == pq::DISTINCT || t.kind == pq::ALL || t.kind == pq::ASCII_44;
  };
  for (size_t i = 1; i < code.size(); ++i) {
    if (code[i].kind != pq::ASCII_42) continue;
    if (starts_list(code[i - 1])) return "SELECT *";
    if (i >= 3 && code[i - 1].kind == pq::ASCII_46 && code[i - 2].kind > 255 && starts_list(code[i - 3])) {
      return absl::StrCat("SELECT ", body.substr(code[i - 2].start, code[i - 2].end - code[i - 2].start),
                          ".*");
    }
  }
  return "";
}

// ----- the linter -----

struct Allow {
  int line;
  std::vector<std::string> rules;
};

class Linter {
 public:
  explicit Linter(const LintOptions& options) : options_(options) {}

  void LintFile(const SqlFile& file) {
    report_.set_files(report_.files() + 1);
    file_ = &file;
    created_here_.clear();
    new_table_fks_.clear();
    not_valid_here_.clear();
    allows_.clear();
    lock_timeout_set_ = false;
    lock_timeout_warned_ = false;
    in_transaction_ = RunsInTransaction(file.body);
    explicit_tx_open_ = false;

    absl::StatusOr<SqlSource> src = SqlSource::Parse(file.body);
    if (!src.ok()) {
      int line = 1;
      absl::string_view msg = src.status().message();
      if (absl::ConsumePrefix(&msg, "line ")) {
        (void)absl::SimpleAtoi(msg.substr(0, msg.find(':')), &line);
        msg.remove_prefix(std::min(msg.size(), msg.find(": ") + 2));
      }
      Emit(line, kSyntaxError, v1::LINT_SEVERITY_ERROR,
           absl::StrCat("PostgreSQL's lexer refuses this file (", msg,
                        "), so nothing in it was checked; psql would fail on it too"));
      return;
    }
    CollectAllows(*src);
    const auto& stmts = src->statements();
    report_.set_statements(report_.statements() + static_cast<int>(stmts.size()));
    for (size_t i = 0; i < stmts.size(); ++i) {
      stmt_ = &stmts[i];
      last_statement_ = i + 1 == stmts.size();
      if (stmt_->tree) NoteLaterStatement(*stmt_->tree);
      if (!stmt_->tree && stmt_->beyond_linter_limits) {
        Emit(stmt_->line, kSyntaxError, v1::LINT_SEVERITY_ERROR,
             absl::StrCat("the linter cannot check this statement: ", stmt_->error));
        continue;
      }
      if (!stmt_->tree) {
        Emit(stmt_->line, kSyntaxError, v1::LINT_SEVERITY_ERROR,
             absl::StrCat("PostgreSQL's grammar refuses this statement (", stmt_->error,
                          "); psql would stop here. Fix it so the statement can be checked"));
        continue;
      }
      LintStatement(*stmt_->tree);
    }
    ReportNewTableForeignKeys();
  }

  v1::MigrationLintReport Finish() {
    std::stable_sort(report_.mutable_findings()->begin(), report_.mutable_findings()->end(),
                     [&](const v1::MigrationLintFinding& a, const v1::MigrationLintFinding& b) {
                       if (a.file() != b.file()) return file_order_[a.file()] < file_order_[b.file()];
                       return a.line() < b.line();
                     });
    return std::move(report_);
  }

 private:
  // ----- findings -----

  void Emit(int line, absl::string_view rule, v1::LintSeverity severity, std::string message) {
    if (options_.allowed_rules.contains(rule) || AllowedByComment(line, rule)) {
      report_.set_suppressed(report_.suppressed() + 1);
      return;
    }
    file_order_.try_emplace(file_->name, static_cast<int>(file_order_.size()));
    v1::MigrationLintFinding* f = report_.add_findings();
    f->set_file(file_->name);
    f->set_line(line);
    f->set_rule(std::string(rule));
    f->set_severity(severity);
    f->set_message(std::move(message));
    if (severity == v1::LINT_SEVERITY_ERROR) {
      report_.set_errors(report_.errors() + 1);
    } else {
      report_.set_warnings(report_.warnings() + 1);
    }
  }
  void Error(absl::string_view rule, std::string message) {
    Emit(stmt_->line, rule, v1::LINT_SEVERITY_ERROR, std::move(message));
  }
  void Warn(absl::string_view rule, std::string message) {
    Emit(stmt_->line, rule, v1::LINT_SEVERITY_WARNING, std::move(message));
  }

  // `-- cutover:allow rule-a, rule-b` (or /* ... */) on a statement's first
  // line or the line above it.
  void CollectAllows(const SqlSource& src) {
    for (const Token& t : src.tokens()) {
      if (!t.IsComment()) continue;
      absl::string_view text = src.TextOf(t);
      if (!absl::ConsumePrefix(&text, "--")) {
        absl::ConsumePrefix(&text, "/*");
        absl::ConsumeSuffix(&text, "*/");
      }
      text = absl::StripAsciiWhitespace(text);
      if (!absl::ConsumePrefix(&text, kAllowPrefix)) continue;
      Allow a{src.LineOf(t.start), {}};
      for (absl::string_view id : absl::StrSplit(text, absl::ByAnyChar(" \t,"), absl::SkipEmpty())) {
        a.rules.emplace_back(id);
      }
      allows_.push_back(std::move(a));
    }
  }
  bool AllowedByComment(int line, absl::string_view rule) const {
    for (const Allow& a : allows_) {
      if ((a.line == line || a.line == line - 1) &&
          std::find(a.rules.begin(), a.rules.end(), rule) != a.rules.end()) {
        return true;
      }
    }
    return false;
  }

  // ----- state -----

  bool CreatedHere(const Rel& r) const {
    return std::any_of(created_here_.begin(), created_here_.end(),
                       [&](const Rel& c) { return c.Matches(r); });
  }
  static std::string ColumnKey(const Rel& r, absl::string_view col) { return absl::StrCat(r.name, ".", col); }

  // The first statement of a file that waits for an ACCESS EXCLUSIVE lock
  // without a lock_timeout gets one warning.
  void TakesAccessExclusive(const Rel& rel, absl::string_view what) {
    if (lock_timeout_set_ || lock_timeout_warned_ || CreatedHere(rel)) return;
    lock_timeout_warned_ = true;
    Warn(kLockTimeout,
         absl::StrCat(
             what, " waits for an ACCESS EXCLUSIVE lock on ", rel.ToString(),
             " and no lock_timeout is set earlier in this file: behind a long-running transaction it "
             "waits, and every query on ",
             rel.ToString(),
             " queues behind it. Start the file with SET lock_timeout = '5s' (and retry on timeout)"));
  }

  void NonTransactional(absl::string_view what) {
    if (!in_transaction_ && !explicit_tx_open_) return;
    if (explicit_tx_open_) {
      Error(kNonTransactional,
            absl::StrCat(what,
                         " cannot run inside a transaction block, and this one is inside the file's own "
                         "BEGIN ... COMMIT: move it out of the explicit transaction"));
      return;
    }
    Error(kNonTransactional,
          absl::StrCat(what,
                       " cannot run inside a transaction block, and this file runs in one (psql -1): put it "
                       "in a file of its own with a line `-- ",
                       kNoTransactionMarker, "`"));
  }

  // ----- statements -----

  void LintStatement(const pq::Node& n) {
    switch (n.node_case()) {
      case pq::Node::kCreateStmt:
        return OnCreateTable(n.create_stmt());
      case pq::Node::kCreateTableAsStmt: {
        const auto& s = n.create_table_as_stmt();
        created_here_.push_back(RelOf(s.into().rel()));
        created_in_set_.push_back(RelOf(s.into().rel()));
        if (s.objtype() == pq::OBJECT_MATVIEW) {
          SelectStar(absl::StrCat("CREATE MATERIALIZED VIEW ", RelOf(s.into().rel()).ToString()), s.query());
        }
        return;
      }
      case pq::Node::kViewStmt:
        return SelectStar(absl::StrCat("CREATE VIEW ", RelOf(n.view_stmt().view()).ToString()),
                          n.view_stmt().query());
      case pq::Node::kCreateFunctionStmt:
        return OnCreateFunction(n.create_function_stmt());
      case pq::Node::kIndexStmt:
        return OnCreateIndex(n.index_stmt());
      case pq::Node::kAlterTableStmt:
        return OnAlterTable(n.alter_table_stmt());
      case pq::Node::kDropStmt:
        return OnDrop(n.drop_stmt());
      case pq::Node::kRenameStmt:
        if (n.rename_stmt().has_relation()) {
          TakesAccessExclusive(RelOf(n.rename_stmt().relation()), "ALTER ... RENAME");
        }
        return;
      case pq::Node::kTruncateStmt:
        for (const pq::Node& r : n.truncate_stmt().relations()) {
          if (r.has_range_var()) TakesAccessExclusive(RelOf(r.range_var()), "TRUNCATE");
        }
        return;
      case pq::Node::kReindexStmt:
        return OnReindex(n.reindex_stmt());
      case pq::Node::kVacuumStmt:
        if (n.vacuum_stmt().is_vacuumcmd()) NonTransactional("VACUUM");
        return;
      case pq::Node::kAlterSystemStmt:
        return NonTransactional("ALTER SYSTEM");
      case pq::Node::kCreatedbStmt:
        return NonTransactional("CREATE DATABASE");
      case pq::Node::kDropdbStmt:
        return NonTransactional("DROP DATABASE");
      case pq::Node::kCreateTableSpaceStmt:
        return NonTransactional("CREATE TABLESPACE");
      case pq::Node::kDropTableSpaceStmt:
        return NonTransactional("DROP TABLESPACE");
      case pq::Node::kAlterEnumStmt: {
        const auto& s = n.alter_enum_stmt();
        if (!s.new_val().empty() && s.old_val().empty() && options_.server_major_version < 12) {
          NonTransactional(
              absl::StrCat("ALTER TYPE ", LastName(s.type_name()), " ADD VALUE (before PostgreSQL 12)"));
        }
        return;
      }
      case pq::Node::kTransactionStmt:
        return OnTransaction(n.transaction_stmt());
      case pq::Node::kVariableSetStmt: {
        const auto& s = n.variable_set_stmt();
        // SET LOCAL outside psql -1 lasts for this statement only.
        if (Lower(s.name()) == "lock_timeout") {
          lock_timeout_set_ =
              s.kind() == pq::VAR_SET_VALUE && !IsZero(s) && (in_transaction_ || !s.is_local());
        }
        return;
      }
      default:
        return;
    }
  }

  static bool IsZero(const pq::VariableSetStmt& s) {
    if (s.args_size() != 1 || !s.args(0).has_a_const()) return false;
    const pq::A_Const& c = s.args(0).a_const();
    return (c.has_ival() && c.ival().ival() == 0) || (c.has_sval() && c.sval().sval() == "0");
  }

  void OnCreateTable(const pq::CreateStmt& s) {
    const Rel rel = RelOf(s.relation());
    created_here_.push_back(rel);
    created_in_set_.push_back(rel);
    for (const pq::Node& e : s.table_elts()) {
      if (e.has_column_def()) {
        const pq::ColumnDef& col = e.column_def();
        column_types_[ColumnKey(rel, col.colname())] = TypeOf(col.type_name());
        not_null_[ColumnKey(rel, col.colname())] = DeclaredNotNull(col);
        for (const pq::Node& cn : col.constraints()) {
          if (cn.has_constraint() && cn.constraint().contype() == pq::CONSTR_FOREIGN) {
            NewTableForeignKey(rel, cn.constraint(), /*from_create=*/true);
          }
        }
      } else if (e.has_constraint()) {
        const pq::Constraint& c = e.constraint();
        if (c.contype() == pq::CONSTR_PRIMARY) {
          for (const std::string& k : ConstraintKeys(c)) not_null_[ColumnKey(rel, k)] = true;
        } else if (c.contype() == pq::CONSTR_FOREIGN) {
          NewTableForeignKey(rel, c, /*from_create=*/true);
        }
      }
    }
  }

  static bool DeclaredNotNull(const pq::ColumnDef& col) {
    if (col.is_not_null()) return true;
    for (const pq::Node& cn : col.constraints()) {
      if (!cn.has_constraint()) continue;
      if (cn.constraint().contype() == pq::CONSTR_NOTNULL ||
          cn.constraint().contype() == pq::CONSTR_PRIMARY) {
        return true;
      }
    }
    return false;
  }

  static std::vector<std::string> ConstraintKeys(const pq::Constraint& c) {
    std::vector<std::string> keys;
    for (const pq::Node& k : c.keys()) {
      if (k.has_string()) keys.push_back(k.string().sval());
    }
    return keys;
  }

  bool CreatedInSet(const Rel& r) const {
    return std::any_of(created_in_set_.begin(), created_in_set_.end(),
                       [&](const Rel& c) { return c.Matches(r); });
  }

  // A foreign key declared on a table created in this file. Creating it
  // takes SHARE ROW EXCLUSIVE on the referenced table, held until the file's
  // transaction commits: writes to that table wait for everything the file
  // does after it. Reported when the file ends (ReportNewTableForeignKeys),
  // once it is known what follows. Only a referenced table that the set did
  // not create counts: nobody else writes to one the set created (the
  // application that uses it is not running before the set is applied).
  void NewTableForeignKey(const Rel& table, const pq::Constraint& c, bool from_create) {
    if (!in_transaction_ && !explicit_tx_open_) return;  // commits on its own right away
    const Rel referenced = RelOf(c.pktable());
    if (CreatedInSet(referenced)) return;
    new_table_fks_.push_back(NewTableFk{table, referenced, stmt_->line, from_create,
                                        c.conname().empty() ? "" : " " + c.conname()});
  }

  // Called with every statement before it is linted: what follows each
  // pending new-table foreign key in the same transaction.
  void NoteLaterStatement(const pq::Node& n) {
    if (new_table_fks_.empty()) return;
    switch (n.node_case()) {
      case pq::Node::kVariableSetStmt:
      case pq::Node::kVariableShowStmt:
      case pq::Node::kTransactionStmt:
      case pq::Node::kCommentStmt:
        return;  // instant, takes no lock
      default:
        break;
    }
    std::vector<Rel> written;
    if (n.has_copy_stmt() && n.copy_stmt().is_from() && n.copy_stmt().has_relation()) {
      written.push_back(RelOf(n.copy_stmt().relation()));
    }
    Walk(n, [&](const google::protobuf::Message& m) {
      if (const auto* i = dynamic_cast<const pq::InsertStmt*>(&m)) written.push_back(RelOf(i->relation()));
      if (const auto* u = dynamic_cast<const pq::UpdateStmt*>(&m)) written.push_back(RelOf(u->relation()));
      if (const auto* g = dynamic_cast<const pq::MergeStmt*>(&m)) written.push_back(RelOf(g->relation()));
    });
    for (NewTableFk& fk : new_table_fks_) {
      fk.further = true;
      if (std::any_of(written.begin(), written.end(), [&](const Rel& w) { return w.Matches(fk.table); })) {
        fk.fills = true;
      }
    }
  }

  void ReportNewTableForeignKeys() {
    for (const NewTableFk& fk : new_table_fks_) {
      const std::string what =
          fk.from_create
              ? absl::StrCat("CREATE TABLE ", fk.table.ToString(),
                             " declares a FOREIGN KEY to existing table ", fk.referenced.ToString())
              : absl::StrCat("ADD CONSTRAINT", fk.name, " FOREIGN KEY on new table ", fk.table.ToString(),
                             " references existing table ", fk.referenced.ToString());
      const std::string lock =
          absl::StrCat(": that takes a SHARE ROW EXCLUSIVE lock on ", fk.referenced.ToString(),
                       ", held until this file's transaction commits, so every write to ",
                       fk.referenced.ToString(), " waits for ");
      const std::string safe =
          ". Create the table without the foreign key, fill it, then ADD CONSTRAINT ... FOREIGN KEY ... NOT "
          "VALID as the file's last statement and VALIDATE CONSTRAINT it in a later file";
      if (fk.fills) {
        Emit(fk.line, kForeignKey, v1::LINT_SEVERITY_ERROR,
             absl::StrCat(what, lock, "the statements after it, which fill ", fk.table.ToString(), safe));
      } else if (fk.further && fk.from_create) {
        Emit(fk.line, kForeignKey, v1::LINT_SEVERITY_WARNING,
             absl::StrCat(what, lock, "the rest of the file", safe,
                          " (or put the CREATE TABLE last in its file, or alone)"));
      }
    }
  }

  void OnCreateIndex(const pq::IndexStmt& s) {
    const Rel rel = RelOf(s.relation());
    const std::string kind = s.unique() ? "CREATE UNIQUE INDEX" : "CREATE INDEX";
    if (s.unique() && !s.idxname().empty()) {
      IndexInfo info{rel, {}};
      for (const pq::Node& p : s.index_params()) {
        if (p.has_index_elem() && !p.index_elem().name().empty())
          info.columns.push_back(p.index_elem().name());
      }
      unique_indexes_[s.idxname()] = std::move(info);
    }
    if (s.concurrent()) return NonTransactional(absl::StrCat(kind, " CONCURRENTLY"));
    if (CreatedHere(rel)) return;
    Error(kCreateIndex,
          absl::StrCat(kind, s.idxname().empty() ? "" : " " + s.idxname(), " on existing table ",
                       rel.ToString(), " holds a SHARE lock for the whole build: every write to ",
                       rel.ToString(), " waits. Use ", kind, " CONCURRENTLY, in a file marked `-- ",
                       kNoTransactionMarker, "`"));
  }

  void OnReindex(const pq::ReindexStmt& s) {
    bool concurrently = false;
    for (const pq::Node& p : s.params()) {
      if (p.has_def_elem() && Lower(p.def_elem().defname()) == "concurrently") concurrently = true;
    }
    if (concurrently) return NonTransactional("REINDEX CONCURRENTLY");
    if (s.kind() == pq::REINDEX_OBJECT_SCHEMA || s.kind() == pq::REINDEX_OBJECT_DATABASE ||
        s.kind() == pq::REINDEX_OBJECT_SYSTEM) {
      NonTransactional("REINDEX SCHEMA/DATABASE/SYSTEM");
    }
  }

  void OnDrop(const pq::DropStmt& s) {
    if (s.concurrent()) return NonTransactional("DROP INDEX CONCURRENTLY");
    switch (s.remove_type()) {
      case pq::OBJECT_TABLE:
      case pq::OBJECT_INDEX:
      case pq::OBJECT_VIEW:
      case pq::OBJECT_MATVIEW:
      case pq::OBJECT_SEQUENCE:
      case pq::OBJECT_FOREIGN_TABLE:
        for (const pq::Node& o : s.objects()) TakesAccessExclusive(RelOfNameList(o), "DROP");
        return;
      default:
        return;
    }
  }

  void OnTransaction(const pq::TransactionStmt& s) {
    const bool begin = s.kind() == pq::TRANS_STMT_BEGIN || s.kind() == pq::TRANS_STMT_START;
    const bool end = s.kind() == pq::TRANS_STMT_COMMIT || s.kind() == pq::TRANS_STMT_ROLLBACK;
    if (!begin && !end) return;
    if (!in_transaction_) {
      if (begin) {
        Error(kNonTransactional,
              absl::StrCat("this file is marked `", kNoTransactionMarker,
                           "` (run statement by statement) but opens its own transaction: statements that "
                           "need the marker fail inside BEGIN ... COMMIT. Move the transactional statements "
                           "to a file without the marker (which runs as one transaction anyway)"));
      }
      explicit_tx_open_ = begin;
      return;
    }
    // psql -1: BEGIN only warns; COMMIT/ROLLBACK ends the file's transaction.
    if (end && !last_statement_) {
      Error(kNonTransactional,
            "this file runs as one transaction (psql -1), and this COMMIT/ROLLBACK ends it early: the "
            "statements after it run outside any transaction and are not undone if the file fails. "
            "Remove the explicit BEGIN/COMMIT, or split the file");
    }
  }

  void OnCreateFunction(const pq::CreateFunctionStmt& s) {
    const std::string what =
        absl::StrCat(s.is_procedure() ? "procedure " : "function ", LastName(s.funcname()));
    if (s.has_sql_body()) return SelectStar(what, s.sql_body());
    std::string language = "sql";
    std::string body;
    for (const pq::Node& o : s.options()) {
      if (!o.has_def_elem()) continue;
      const pq::DefElem& d = o.def_elem();
      if (d.defname() == "language" && d.arg().has_string()) language = Lower(d.arg().string().sval());
      if (d.defname() == "as" && d.arg().has_list() && d.arg().list().items_size() > 0 &&
          d.arg().list().items(0).has_string()) {
        body = d.arg().list().items(0).string().sval();
      }
    }
    std::string star;
    if (language == "sql") {
      absl::StatusOr<pq::ParseResult> tree = internal::ParseSql(body);
      star = tree.ok() ? FindSelectStar(*tree) : FindSelectStarByTokens(body);
    } else if (language == "plpgsql") {
      star = FindSelectStarByTokens(body);
    }
    if (!star.empty()) ReportSelectStar(what, star);
  }

  void SelectStar(const std::string& what, const pq::Node& query) {
    const std::string star = FindSelectStar(query);
    if (!star.empty()) ReportSelectStar(what, star);
  }

  void ReportSelectStar(const std::string& what, const std::string& star) {
    const bool view = absl::StrContains(what, "VIEW");
    Error(kSelectStar,
          absl::StrCat(what, " uses ", star, ": ",
                       view ? "PostgreSQL expands it once, at creation, so columns added later never appear "
                              "and dropping or retyping one is refused or breaks the view"
                            : "its result follows the table's columns, so the function breaks or returns "
                              "another row shape when a migration adds, drops or reorders a column (old and "
                              "new application versions run side by side during the cutover)",
                       ". List the columns"));
  }

  // ----- ALTER TABLE -----

  void OnAlterTable(const pq::AlterTableStmt& s) {
    const Rel rel = RelOf(s.relation());
    const bool existing = !CreatedHere(rel);
    const bool table = s.objtype() == pq::OBJECT_TABLE;
    bool needs_exclusive = false;
    for (const pq::Node& n : s.cmds()) {
      if (!n.has_alter_table_cmd()) continue;
      const pq::AlterTableCmd& c = n.alter_table_cmd();
      // VALIDATE CONSTRAINT takes SHARE UPDATE EXCLUSIVE; everything else
      // a migration does here is ACCESS EXCLUSIVE (or close enough to queue).
      if (c.subtype() != pq::AT_ValidateConstraint) needs_exclusive = true;
      if (!table) continue;
      switch (c.subtype()) {
        case pq::AT_AddColumn:
          OnAddColumn(rel, c.def().column_def(), existing);
          break;
        case pq::AT_AlterColumnType:
          OnAlterColumnType(rel, c.name(), c.def().column_def(), existing);
          break;
        case pq::AT_SetNotNull:
          if (existing && !not_null_proven_.contains(ColumnKey(rel, c.name()))) {
            Error(
                kSetNotNull,
                absl::StrCat("SET NOT NULL on ", rel.ToString(), ".", c.name(),
                             " scans the whole table under an ACCESS EXCLUSIVE lock. Online: ADD CONSTRAINT ",
                             rel.name, "_", c.name(), "_not_null CHECK (", c.name(),
                             " IS NOT NULL) NOT VALID, VALIDATE CONSTRAINT it in a later transaction, then "
                             "SET NOT NULL (PostgreSQL 12+ uses the check and skips the scan) and drop the "
                             "CHECK"));
          }
          not_null_[ColumnKey(rel, c.name())] = true;
          break;
        case pq::AT_DropNotNull:
          not_null_[ColumnKey(rel, c.name())] = false;
          break;
        case pq::AT_AddConstraint:
          if (c.def().has_constraint()) OnAddConstraint(rel, c.def().constraint(), existing);
          break;
        case pq::AT_ValidateConstraint:
          OnValidate(rel, c.name());
          break;
        default:
          break;
      }
    }
    if (needs_exclusive) TakesAccessExclusive(rel, AlterWhat(s.objtype()));
  }

  static std::string AlterWhat(pq::ObjectType t) {
    switch (t) {
      case pq::OBJECT_INDEX:
        return "ALTER INDEX";
      case pq::OBJECT_VIEW:
        return "ALTER VIEW";
      case pq::OBJECT_MATVIEW:
        return "ALTER MATERIALIZED VIEW";
      case pq::OBJECT_SEQUENCE:
        return "ALTER SEQUENCE";
      default:
        return "ALTER TABLE";
    }
  }

  void OnAddColumn(const Rel& rel, const pq::ColumnDef& col, bool existing) {
    const ColType type = TypeOf(col.type_name());
    column_types_[ColumnKey(rel, col.colname())] = type;
    not_null_[ColumnKey(rel, col.colname())] = DeclaredNotNull(col);
    if (!existing) return;
    const std::string where =
        absl::StrCat("ADD COLUMN ", col.colname(), " on existing table ", rel.ToString());
    const std::string rewrite = " rewrites the whole table under an ACCESS EXCLUSIVE lock";
    if (type.name == "serial" || type.name == "bigserial" || type.name == "smallserial" ||
        type.name == "serial2" || type.name == "serial4" || type.name == "serial8") {
      Error(kVolatileDefault,
            absl::StrCat(where, " as ", type.name,
                         " fills every row from a sequence (nextval() is volatile) and", rewrite,
                         ". Add the column without a default, set the default for new rows, and "
                         "backfill existing rows in batches"));
      return;
    }
    for (const pq::Node& cn : col.constraints()) {
      if (!cn.has_constraint()) continue;
      const pq::Constraint& c = cn.constraint();
      if (c.contype() == pq::CONSTR_IDENTITY) {
        Error(kVolatileDefault,
              absl::StrCat(where, " as an identity column fills every row from a sequence and", rewrite,
                           ". Add a plain column, backfill in batches, then attach the identity"));
      } else if (c.contype() == pq::CONSTR_GENERATED) {
        Error(kVolatileDefault,
              absl::StrCat(where, " as a STORED generated column computes every row and", rewrite,
                           ". Add a plain column, keep it filled with a trigger, backfill in batches"));
      } else if (c.contype() == pq::CONSTR_DEFAULT && c.has_raw_expr()) {
        OnAddColumnDefault(where, rewrite, c.raw_expr());
      }
    }
  }

  void OnAddColumnDefault(const std::string& where, const std::string& rewrite, const pq::Node& expr) {
    if (expr.has_a_const() && expr.a_const().isnull()) return;  // DEFAULT NULL
    const std::string backfill =
        ". Add the column without a default (or with a constant one), SET DEFAULT for new rows, and "
        "backfill existing rows in batches";
    if (options_.server_major_version < 11) {
      Error(kVolatileDefault,
            absl::StrCat(where, " with a DEFAULT: before PostgreSQL 11 any default", rewrite, backfill));
      return;
    }
    std::string culprit;
    switch (ExpressionVolatility(expr, &culprit)) {
      case Volatility::kNone:
        return;
      case Volatility::kVolatile:
        Error(kVolatileDefault,
              absl::StrCat(where, " with DEFAULT ", culprit,
                           "(): a volatile default is computed for every row and", rewrite,
                           " (constants and STABLE functions like now() are stored once instead)", backfill));
        return;
      case Volatility::kUnknown:
        Warn(kVolatileDefault,
             absl::StrCat(where, " with DEFAULT ", culprit,
                          "(): the linter does not know its volatility; if it is VOLATILE (the default for "
                          "user functions) the ADD COLUMN",
                          rewrite, backfill,
                          ". If it is STABLE or IMMUTABLE, allow this with `-- cutover:allow ",
                          kVolatileDefault, "`"));
        return;
    }
  }

  void OnAlterColumnType(const Rel& rel, const std::string& col, const pq::ColumnDef& def, bool existing) {
    const ColType to = TypeOf(def.type_name());
    const std::string key = ColumnKey(rel, col);
    auto known = column_types_.find(key);
    std::optional<ColType> from;
    if (known != column_types_.end()) from = known->second;
    column_types_[key] = to;
    if (!existing) return;
    const std::string where =
        absl::StrCat("ALTER COLUMN ", col, " TYPE ", to.ToString(), " on ", rel.ToString());
    const std::string safe =
        ". Online: add a new column of the new type, keep it in sync with a trigger, backfill in batches, "
        "then switch readers and drop the old column";
    if (def.has_raw_default()) {  // USING expr
      Error(kTypeRewrite, absl::StrCat(where,
                                       " with USING rewrites the table and its indexes under an "
                                       "ACCESS EXCLUSIVE lock",
                                       safe));
      return;
    }
    if (!from) {
      if (MaybeBinaryCoercibleTarget(to)) {
        Warn(kTypeRewrite,
             absl::StrCat(where,
                          ": the column's current type is not created in these migrations, so the "
                          "linter cannot tell whether this is binary-coercible (varchar(n) to a longer "
                          "varchar or text, numeric(p,s) to a larger precision, cidr to inet: no rewrite) "
                          "or rewrites the table under an ACCESS EXCLUSIVE lock",
                          safe));
      } else {
        Error(kTypeRewrite,
              absl::StrCat(where,
                           " rewrites the table and its indexes under an ACCESS EXCLUSIVE lock "
                           "(only binary-coercible changes such as varchar(n) to a longer varchar or "
                           "text are free)",
                           safe));
      }
      return;
    }
    switch (ClassifyTypeChange(*from, to)) {
      case TypeChange::kNoRewrite:
        return;
      case TypeChange::kUtcOnly:
        Error(kTypeRewrite,
              absl::StrCat(where, " (from ", from->ToString(),
                           "): PostgreSQL 12+ skips the rewrite only when "
                           "the session TimeZone is UTC; otherwise the whole table is rewritten under an "
                           "ACCESS EXCLUSIVE lock. If the file sets TimeZone to UTC, allow this with "
                           "`-- cutover:allow ",
                           kTypeRewrite, "`", safe));
        return;
      case TypeChange::kRewrite:
        Error(kTypeRewrite,
              absl::StrCat(where, " (from ", from->ToString(),
                           ") rewrites the table and its indexes under an ACCESS EXCLUSIVE lock", safe));
        return;
    }
  }

  void OnAddConstraint(const Rel& rel, const pq::Constraint& c, bool existing) {
    const std::string col = NotNullCheckColumn(c);
    const std::string name = !c.conname().empty() ? c.conname() : absl::StrCat(rel.name, "_", col, "_check");
    if (c.skip_validation()) not_valid_here_.push_back(ColumnKey(rel, name));
    if (!col.empty()) {
      if (c.skip_validation()) {
        pending_checks_[ColumnKey(rel, name)] = col;
      } else {
        not_null_proven_.insert(ColumnKey(rel, col));
      }
    }
    if (!existing) {
      if (c.contype() == pq::CONSTR_FOREIGN) NewTableForeignKey(rel, c, /*from_create=*/false);
      if (c.contype() == pq::CONSTR_PRIMARY) {
        for (const std::string& k : KeyColumns(rel, c)) not_null_[ColumnKey(rel, k)] = true;
      }
      return;
    }
    const std::string con = c.conname().empty() ? "" : " " + c.conname();
    if (c.contype() == pq::CONSTR_PRIMARY) PrimaryKeyNotNull(rel, c, con);
    switch (c.contype()) {
      case pq::CONSTR_FOREIGN:
        if (!c.skip_validation()) {
          Error(kForeignKey,
                absl::StrCat("ADD CONSTRAINT", con, " FOREIGN KEY on existing table ", rel.ToString(),
                             " checks every row while holding SHARE ROW EXCLUSIVE locks on ", rel.ToString(),
                             " and ", RelOf(c.pktable()).ToString(),
                             " (writes to both wait). Add it NOT VALID, then VALIDATE CONSTRAINT in a later "
                             "transaction (that takes only SHARE UPDATE EXCLUSIVE)"));
        }
        return;
      case pq::CONSTR_CHECK:
        if (!c.skip_validation()) {
          Error(kCheckNotValid,
                absl::StrCat("ADD CONSTRAINT", con, " CHECK on existing table ", rel.ToString(),
                             " checks every row under an ACCESS EXCLUSIVE lock. Add it NOT VALID, then "
                             "VALIDATE CONSTRAINT in a later transaction (that takes only SHARE UPDATE "
                             "EXCLUSIVE)"));
        }
        return;
      case pq::CONSTR_PRIMARY:
      case pq::CONSTR_UNIQUE:
        if (c.indexname().empty()) {
          const std::string kind = c.contype() == pq::CONSTR_PRIMARY ? "PRIMARY KEY" : "UNIQUE";
          Error(kCreateIndex,
                absl::StrCat("ADD CONSTRAINT", con, " ", kind, " on existing table ", rel.ToString(),
                             " builds its index under an ACCESS EXCLUSIVE lock. Build it first with CREATE "
                             "UNIQUE INDEX CONCURRENTLY (in a file marked `-- ",
                             kNoTransactionMarker, "`), then ADD CONSTRAINT ... ", kind, " USING INDEX"));
        }
        return;
      default:
        return;
    }
  }

  // The key columns of a PRIMARY KEY / UNIQUE constraint: listed, or those of
  // the index it attaches (empty when that index is not created in the set).
  std::vector<std::string> KeyColumns(const Rel& rel, const pq::Constraint& c) const {
    if (c.indexname().empty()) return ConstraintKeys(c);
    auto it = unique_indexes_.find(c.indexname());
    if (it == unique_indexes_.end() || !it->second.table.Matches(rel)) return {};
    return it->second.columns;
  }

  // ADD PRIMARY KEY on an existing table sets every key column NOT NULL; for
  // a column not already NOT NULL that is SET NOT NULL's full scan under
  // ACCESS EXCLUSIVE (PostgreSQL does not use a validated CHECK here unless
  // the column was SET NOT NULL first).
  void PrimaryKeyNotNull(const Rel& rel, const pq::Constraint& c, const std::string& con) {
    std::vector<std::string> cols = KeyColumns(rel, c);
    std::vector<std::string> nullable, unknown;
    for (const std::string& col : cols) {
      const std::string key = ColumnKey(rel, col);
      auto it = not_null_.find(key);
      if (not_null_proven_.contains(key) || (it != not_null_.end() && it->second)) {
        // already NOT NULL
      } else if (it != not_null_.end()) {
        nullable.push_back(col);
      } else {
        unknown.push_back(col);
      }
      not_null_[key] = true;
    }
    const std::string what = absl::StrCat("ADD CONSTRAINT", con, " PRIMARY KEY on ", rel.ToString());
    auto safe = [&](const std::vector<std::string>& cs) {
      std::vector<std::string> checks;
      for (const std::string& col : cs) checks.push_back(absl::StrCat("CHECK (", col, " IS NOT NULL)"));
      return absl::StrCat("first add ", absl::StrJoin(checks, ", "),
                          " NOT VALID, VALIDATE it in a later file, SET NOT NULL, then add the key");
    };
    if (!nullable.empty()) {
      Error(kSetNotNull,
            absl::StrCat(what, ": the primary key makes column", nullable.size() > 1 ? "s " : " ",
                         absl::StrJoin(nullable, ", "),
                         " NOT NULL, which scans the table under ACCESS EXCLUSIVE; ", safe(nullable),
                         unknown.empty() ? ""
                                         : absl::StrCat(" (and make sure ", absl::StrJoin(unknown, ", "),
                                                        " is already NOT NULL)")));
    } else if (!unknown.empty() || (cols.empty() && !c.indexname().empty())) {
      const std::string which = cols.empty() ? absl::StrCat("the columns of index ", c.indexname())
                                             : absl::StrCat("column", unknown.size() > 1 ? "s " : " ",
                                                            absl::StrJoin(unknown, ", "));
      Warn(kSetNotNull,
           absl::StrCat(
               what, ": the primary key makes ", which, " NOT NULL, and these migrations do not say whether ",
               unknown.size() == 1 ? "it already is" : "they already are",
               "; if not, that scans the table under ACCESS EXCLUSIVE. Make sure ",
               unknown.size() == 1 ? "it is" : "they are", " already NOT NULL (if not",
               cols.empty() ? ": first add CHECK (col IS NOT NULL) NOT VALID, VALIDATE it in a later "
                              "file, SET NOT NULL, then add the key"
                            : ": " + safe(unknown),
               ")"));
    }
  }

  void OnValidate(const Rel& rel, const std::string& name) {
    const std::string key = ColumnKey(rel, name);
    if (auto it = pending_checks_.find(key); it != pending_checks_.end()) {
      not_null_proven_.insert(ColumnKey(rel, it->second));
    }
    if (in_transaction_ &&
        std::find(not_valid_here_.begin(), not_valid_here_.end(), key) != not_valid_here_.end()) {
      Error(kValidateSameTx,
            absl::StrCat("VALIDATE CONSTRAINT ", name,
                         " runs in the same transaction (psql -1) that added it NOT "
                         "VALID, so the strong lock ADD CONSTRAINT took is still held during the validating "
                         "scan: the NOT VALID step gains nothing. Move the VALIDATE to a later file (or mark "
                         "this one `-- ",
                         kNoTransactionMarker, "`)"));
    }
  }

  const LintOptions& options_;
  v1::MigrationLintReport report_;
  absl::flat_hash_map<std::string, int> file_order_;

  // Across files.
  absl::flat_hash_map<std::string, ColType> column_types_;        // "table.col"
  absl::flat_hash_map<std::string, std::string> pending_checks_;  // "table.constraint" -> col (NOT VALID)
  absl::flat_hash_set<std::string> not_null_proven_;  // "table.col" with a valid IS NOT NULL check
  // "table.col" -> declared NOT NULL, for columns these migrations declared
  // (CREATE TABLE, ADD COLUMN) or changed (SET/DROP NOT NULL, PRIMARY KEY).
  absl::flat_hash_map<std::string, bool> not_null_;
  struct IndexInfo {
    Rel table;
    std::vector<std::string> columns;  // plain columns only (no expressions)
  };
  absl::flat_hash_map<std::string, IndexInfo> unique_indexes_;  // by index name
  std::vector<Rel> created_in_set_;

  // The current file and statement.
  const SqlFile* file_ = nullptr;
  const Statement* stmt_ = nullptr;
  bool last_statement_ = false;
  std::vector<Rel> created_here_;
  struct NewTableFk {
    Rel table;       // created in this file
    Rel referenced;  // not created in the set
    int line;
    bool from_create;      // declared in CREATE TABLE (else ALTER TABLE ADD CONSTRAINT)
    std::string name;      // " conname" or ""
    bool further = false;  // a statement that takes time or locks follows, same transaction
    bool fills = false;    // a later statement writes rows into `table`
  };
  std::vector<NewTableFk> new_table_fks_;
  std::vector<std::string> not_valid_here_;  // "table.constraint"
  std::vector<Allow> allows_;
  bool in_transaction_ = true;
  bool explicit_tx_open_ = false;
  bool lock_timeout_set_ = false;
  bool lock_timeout_warned_ = false;
};

}  // namespace

const std::vector<RuleInfo>& Rules() {
  static const auto* rules = new std::vector<RuleInfo>{
      {kCreateIndex, v1::LINT_SEVERITY_ERROR,
       "CREATE INDEX (or ADD PRIMARY KEY/UNIQUE) on an existing table without CONCURRENTLY"},
      {kVolatileDefault, v1::LINT_SEVERITY_ERROR,
       "ADD COLUMN with a volatile default, serial, identity or stored generated column"},
      {kTypeRewrite, v1::LINT_SEVERITY_ERROR, "ALTER COLUMN ... TYPE that rewrites the table"},
      {kSetNotNull, v1::LINT_SEVERITY_ERROR, "SET NOT NULL without a validated CHECK (col IS NOT NULL)"},
      {kForeignKey, v1::LINT_SEVERITY_ERROR, "FOREIGN KEY on an existing table without NOT VALID"},
      {kCheckNotValid, v1::LINT_SEVERITY_ERROR, "CHECK constraint on an existing table without NOT VALID"},
      {kValidateSameTx, v1::LINT_SEVERITY_ERROR,
       "VALIDATE CONSTRAINT in the same transaction that added the constraint NOT VALID"},
      {kSelectStar, v1::LINT_SEVERITY_ERROR, "SELECT * in a view, materialized view, function or procedure"},
      {kNonTransactional, v1::LINT_SEVERITY_ERROR,
       "statement that cannot run in a transaction block in a file run with psql -1, or BEGIN/COMMIT that "
       "breaks how the file is run"},
      {kLockTimeout, v1::LINT_SEVERITY_WARNING,
       "ACCESS EXCLUSIVE lock (ALTER, DROP, RENAME, TRUNCATE) without SET lock_timeout earlier in the file"},
      {kSyntaxError, v1::LINT_SEVERITY_ERROR, "PostgreSQL's grammar refuses the statement"},
  };
  return *rules;
}

bool IsKnownRule(absl::string_view id) {
  const auto& rules = Rules();
  return std::any_of(rules.begin(), rules.end(), [&](const RuleInfo& r) { return r.id == id; });
}

bool RunsInTransaction(absl::string_view file_body) {
  return !absl::StrContains(file_body, kNoTransactionMarker);
}

absl::StatusOr<std::vector<SqlFile>> ReadMigrationDir(const std::string& dir) {
  std::error_code ec;
  const fs::file_status st = fs::status(dir, ec);
  if (!fs::exists(st)) {
    return absl::NotFoundError(
        absl::StrCat("migration directory '", dir, "' does not exist (expected a directory of .sql files)"));
  }
  if (!fs::is_directory(st)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", dir, "' is not a directory (expected a directory of .sql files)"));
  }
  std::vector<fs::path> paths;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() == ".sql" && it->is_regular_file()) paths.push_back(it->path());
  }
  if (ec) return absl::FailedPreconditionError(absl::StrCat("cannot list '", dir, "': ", ec.message()));
  std::sort(paths.begin(), paths.end());
  std::vector<SqlFile> files;
  for (const fs::path& p : paths) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    if (!in) return absl::FailedPreconditionError(absl::StrCat("cannot read '", p.string(), "'"));
    files.push_back(SqlFile{p.filename().string(), ss.str()});
  }
  return files;
}

v1::MigrationLintReport LintFiles(const std::vector<SqlFile>& files, const LintOptions& options) {
  Linter linter(options);
  for (const SqlFile& f : files) linter.LintFile(f);
  return linter.Finish();
}

absl::StatusOr<v1::MigrationLintReport> LintDirectory(const std::string& dir, const LintOptions& options) {
  absl::StatusOr<std::vector<SqlFile>> files = ReadMigrationDir(dir);
  if (!files.ok()) return files.status();
  return LintFiles(*files, options);
}

std::string FormatFinding(const v1::MigrationLintFinding& f) {
  return absl::StrCat(f.file(), ":", f.line(), "  ",
                      f.severity() == v1::LINT_SEVERITY_ERROR ? "error" : "warning", "  ", f.rule(), "  ",
                      f.message());
}

std::string Summary(const v1::MigrationLintReport& r) {
  auto plural = [](int n, absl::string_view word) { return absl::StrCat(n, " ", word, n == 1 ? "" : "s"); };
  std::string s = absl::StrCat(plural(r.errors(), "error"), ", ", plural(r.warnings(), "warning"), " in ",
                               plural(r.files(), "file"), " (", plural(r.statements(), "statement"));
  if (r.suppressed() > 0) absl::StrAppend(&s, ", ", r.suppressed(), " allowed");
  return s + ")";
}

}  // namespace cutover::migrate
