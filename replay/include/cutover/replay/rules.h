// Capture rules: which writes on the capturing side are revocation-class and
// how to apply them on the other side. This header resolves a plan's
// CaptureOptions into a rule list, checks it (syntax here, catalog against
// live databases), and parses apply statements into templates the replayer
// rewrites into set-based statements. Rule and apply-statement reference:
// docs/capture.md; the built-in Hydra rules: docs/hydra-profile.md.
//
// Every error names the plan field it is about, e.g.
// `capture.rules[hydra.access.delete].key_columns: ...` (rules are named by
// their `name` when it is valid, else by their index: `capture.rules[2]`).
//
// Thread-safety: free functions without shared state. CheckRulesAgainstCatalog
// uses the sessions it is given, which no other thread may use meanwhile.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cutover/common/pg.h"
#include "cutover/v1/plan.pb.h"

namespace cutover::replay {

// The rules a plan's capture options stand for:
//   "hydra"   -> HydraRules(), then the plan's own rules appended (their names
//                must not clash with a built-in one);
//   "generic" -> exactly the plan's rules (at least one);
//   ""        -> InvalidArgument: capture.profile is empty;
//   other     -> InvalidArgument naming the profile.
// The result has passed ValidateRules (errors name the plan's rule indexes).
absl::StatusOr<std::vector<cutover::v1::CaptureRule>> ResolveRules(
    const cutover::v1::CaptureOptions& options);

// The rules of the rollback direction (capture on green, apply on blue):
//   "hydra"   -> HydraRollbackRules(), then capture.rollback_rules appended;
//   "generic" -> capture.rollback_rules, or ResolveRules(options) when there
//                are none (the same schema shape on both sides).
// Errors name capture.rollback_rules[...] the way ResolveRules names rules.
absl::StatusOr<std::vector<cutover::v1::CaptureRule>> ResolveRollbackRules(
    const cutover::v1::CaptureOptions& options);

// Syntax-level checks, no database needed. InvalidArgument with the field
// path and what was expected, for the first problem found:
//  * name: non-empty, [a-z0-9_.-]+, unique;
//  * table: "schema.table", both lowercase identifiers ([a-z_][a-z0-9_$]*);
//  * on_delete or at least one on_update entry; on_update columns are
//    identifiers, listed once, with a non-empty revoked value;
//  * key_columns non-empty; key and extra columns identifiers, each listed
//    once across both lists (at most 50 together);
//  * apply non-empty; each statement passes ParseApply and its placeholders
//    name key or extra columns of the rule.
absl::Status ValidateRules(const std::vector<cutover::v1::CaptureRule>& rules);

// An apply statement taken apart. Clauses keep their SQL text as written
// (placeholders included, trimmed); `params` lists the placeholder names in
// order of first appearance (SET clause first, then WHERE).
struct ApplyTemplate {
  std::string verb;          // "DELETE" or "UPDATE"
  std::string table;         // as written: t, s.t, "T"
  std::string set_clause;    // UPDATE only: "active = false"
  std::string where_clause;  // "signature = :signature"
  std::vector<std::string> params;
};

// Parses one apply statement. Accepted shapes (keywords case-insensitive,
// any whitespace, an optional trailing semicolon):
//   DELETE FROM <table> WHERE <condition>
//   UPDATE <table> SET <assignments> WHERE <condition>
// where <table> is name or schema.name (plain or double-quoted identifiers).
// Refused, with the reason: other statements (INSERT, SELECT, ...), WITH,
// ONLY, an alias, USING / FROM / RETURNING (FROM is fine in IS [NOT]
// DISTINCT FROM), nested INSERT/UPDATE/DELETE/SELECT/MERGE, a second
// statement or any other semicolon, comments (they could swallow text the
// replayer appends), positional $n parameters, and unterminated quotes.
// Placeholders are `:name` ([A-Za-z_][A-Za-z0-9_]*); `::type` casts are not
// placeholders, and nothing inside '...', E'...', $tag$...$tag$ or "..." is.
absl::StatusOr<ApplyTemplate> ParseApply(absl::string_view sql);

// Rewrites every placeholder of `sql` (same lexing as ParseApply) with
// replace(name), leaving literals (also E'...' and dollar-quoted),
// quoted identifiers and `::` casts untouched; e.g. to bind positionally:
// `:signature` -> `$1`. InvalidArgument for an unterminated quote or a
// comment. Works on whole statements and on ApplyTemplate clauses.
absl::StatusOr<std::string> ReplacePlaceholders(
    absl::string_view sql, const std::function<std::string(const std::string&)>& replace);

// Checks the rules against the live catalogs, each error naming the rule:
//  * capture side: the table exists (a table or partitioned table) and has
//    every key, extra and on_update column; each on_update value is valid
//    input for its column's type;
//  * apply side: each apply statement PREPAREs (placeholders bound as untyped
//    $n, so PostgreSQL infers their types as the replayer's binding will),
//    inside a transaction that is rolled back (lock_timeout 10s).
// FailedPrecondition for a mismatch, e.g.
//   capture.rules[x].table: public.t does not exist on blue
//   capture.rules[x].key_columns: column y does not exist in public.t on blue
//   capture.rules[x].apply[0]: invalid on green: <PostgreSQL's message>
// where "blue"/"green" are the sessions' what(). Connection errors pass
// through with their own codes.
absl::Status CheckRulesAgainstCatalog(const std::vector<cutover::v1::CaptureRule>& rules,
                                      pg::Session& capture_side, pg::Session& apply_side);

// Only the capture-side half of CheckRulesAgainstCatalog (InstallCapture runs it).
absl::Status CheckRulesOnCaptureSide(const std::vector<cutover::v1::CaptureRule>& rules,
                                     pg::Session& capture_side);

// "schema.table" split; false unless both parts are lowercase identifiers.
bool SplitTable(absl::string_view table, std::string* schema, std::string* name);

// A table's columns (name -> format_type), from the catalog; exists = false
// when schema.table is not a table or partitioned table.
struct TableInfo {
  bool exists = false;
  std::map<std::string, std::string> columns;
};
absl::StatusOr<TableInfo> LookupTable(pg::Session& session, const std::string& schema, const std::string& table);

// The field path of a rule in errors: capture.rules[<name>] when the name is
// valid, else capture.rules[<index>].
std::string RulePath(const cutover::v1::CaptureRule& rule, size_t index);

}  // namespace cutover::replay
