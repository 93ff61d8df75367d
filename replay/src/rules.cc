#include "cutover/replay/rules.h"

#include <map>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "cutover/replay/hydra_profile.h"

namespace cutover::replay {
namespace {

using cutover::v1::CaptureRule;

// ---- a small SQL lexer: enough to find statement boundaries, keywords and
// :name placeholders without being fooled by literals, quoted identifiers,
// casts or comments ----

enum class Tok {
  kWord,         // unquoted identifier or keyword
  kQuotedIdent,  // "..."
  kString,       // '...', E'...', B'...', X'...', N'...', U&'...', $tag$...$tag$
  kNumber,
  kPlaceholder,  // :name (text = name)
  kParam,        // $1
  kSemicolon,
  kDot,
  kLParen,
  kRParen,
  kOther,  // operators, commas, brackets, "::"
};

struct Token {
  Tok kind;
  std::string text;  // word / placeholder name / operator text
  size_t begin = 0;  // offsets into the source
  size_t end = 0;
};

bool IdentStart(char c) {
  return absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}
bool IdentChar(char c) {
  return IdentStart(c) || absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '$';
}

// Index just past the closing `quote` of a literal starting at `open` (the
// opening quote); `backslash` escapes (E'...'). npos when unterminated.
size_t SkipQuoted(absl::string_view s, size_t open, char quote, bool backslash) {
  size_t j = open + 1;
  while (j < s.size()) {
    if (backslash && s[j] == '\\') {
      j += 2;
      continue;
    }
    if (s[j] == quote) {
      if (j + 1 < s.size() && s[j + 1] == quote) {
        j += 2;
        continue;
      }
      return j + 1;
    }
    ++j;
  }
  return absl::string_view::npos;
}

absl::StatusOr<std::vector<Token>> Lex(absl::string_view s) {
  std::vector<Token> out;
  size_t i = 0;
  auto add = [&](Tok kind, size_t begin, size_t end, std::string text) {
    out.push_back(Token{kind, std::move(text), begin, end});
  };
  while (i < s.size()) {
    const char c = s[i];
    const char next = i + 1 < s.size() ? s[i + 1] : '\0';
    if (absl::ascii_isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    if ((c == '-' && next == '-') || (c == '/' && next == '*')) {
      return absl::InvalidArgumentError(absl::StrCat("comments are not allowed (found '",
                                                     std::string(s.substr(i, 2)), "' at offset ", i, ")"));
    }
    if (c == '\'') {
      size_t end = SkipQuoted(s, i, '\'', false);
      if (end == absl::string_view::npos) {
        return absl::InvalidArgumentError(absl::StrCat("unterminated string literal at offset ", i));
      }
      add(Tok::kString, i, end, "");
      i = end;
      continue;
    }
    if (c == '"') {
      size_t end = SkipQuoted(s, i, '"', false);
      if (end == absl::string_view::npos) {
        return absl::InvalidArgumentError(absl::StrCat("unterminated quoted identifier at offset ", i));
      }
      add(Tok::kQuotedIdent, i, end, std::string(s.substr(i, end - i)));
      i = end;
      continue;
    }
    if (c == '$') {
      if (absl::ascii_isdigit(static_cast<unsigned char>(next))) {
        size_t j = i + 1;
        while (j < s.size() && absl::ascii_isdigit(static_cast<unsigned char>(s[j]))) ++j;
        add(Tok::kParam, i, j, std::string(s.substr(i, j - i)));
        i = j;
        continue;
      }
      // Dollar quote: $$ or $tag$.
      size_t j = i + 1;
      if (j < s.size() && IdentStart(s[j])) {
        while (j < s.size() && (IdentStart(s[j]) || absl::ascii_isdigit(static_cast<unsigned char>(s[j]))))
          ++j;
      }
      if (j < s.size() && s[j] == '$') {
        const absl::string_view tag = s.substr(i, j + 1 - i);
        size_t close = s.find(tag, j + 1);
        if (close == absl::string_view::npos) {
          return absl::InvalidArgumentError(
              absl::StrCat("unterminated dollar-quoted string ", std::string(tag), " at offset ", i));
        }
        add(Tok::kString, i, close + tag.size(), "");
        i = close + tag.size();
        continue;
      }
      add(Tok::kOther, i, i + 1, "$");
      ++i;
      continue;
    }
    if (IdentStart(c)) {
      // Literal prefixes: E'..' (backslash escapes), B'..', X'..', N'..', U&'..' / U&"..".
      const char up = absl::ascii_toupper(static_cast<unsigned char>(c));
      if (next == '\'' && (up == 'E' || up == 'B' || up == 'X' || up == 'N')) {
        size_t end = SkipQuoted(s, i + 1, '\'', up == 'E');
        if (end == absl::string_view::npos) {
          return absl::InvalidArgumentError(absl::StrCat("unterminated string literal at offset ", i));
        }
        add(Tok::kString, i, end, "");
        i = end;
        continue;
      }
      if (up == 'U' && next == '&' && i + 2 < s.size() && (s[i + 2] == '\'' || s[i + 2] == '"')) {
        const char q = s[i + 2];
        size_t end = SkipQuoted(s, i + 2, q, false);
        if (end == absl::string_view::npos) {
          return absl::InvalidArgumentError(absl::StrCat("unterminated quoted text at offset ", i));
        }
        add(q == '\'' ? Tok::kString : Tok::kQuotedIdent, i, end, std::string(s.substr(i, end - i)));
        i = end;
        continue;
      }
      size_t j = i + 1;
      while (j < s.size() && IdentChar(s[j])) ++j;
      add(Tok::kWord, i, j, std::string(s.substr(i, j - i)));
      i = j;
      continue;
    }
    if (absl::ascii_isdigit(static_cast<unsigned char>(c)) ||
        (c == '.' && absl::ascii_isdigit(static_cast<unsigned char>(next)))) {
      size_t j = i + 1;
      while (j < s.size()) {
        const char d = s[j];
        if (absl::ascii_isalnum(static_cast<unsigned char>(d)) || d == '.' || d == '_') {
          ++j;
        } else if ((d == '+' || d == '-') && (s[j - 1] == 'e' || s[j - 1] == 'E')) {
          ++j;
        } else {
          break;
        }
      }
      add(Tok::kNumber, i, j, std::string(s.substr(i, j - i)));
      i = j;
      continue;
    }
    if (c == ':') {
      if (next == ':') {
        add(Tok::kOther, i, i + 2, "::");
        i += 2;
        continue;
      }
      if (IdentStart(next) && static_cast<unsigned char>(next) < 0x80) {
        size_t j = i + 1;
        while (j < s.size() && (absl::ascii_isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
        add(Tok::kPlaceholder, i, j, std::string(s.substr(i + 1, j - i - 1)));
        i = j;
        continue;
      }
      add(Tok::kOther, i, i + 1, ":");
      ++i;
      continue;
    }
    switch (c) {
      case ';':
        add(Tok::kSemicolon, i, i + 1, ";");
        break;
      case '.':
        add(Tok::kDot, i, i + 1, ".");
        break;
      case '(':
        add(Tok::kLParen, i, i + 1, "(");
        break;
      case ')':
        add(Tok::kRParen, i, i + 1, ")");
        break;
      default:
        add(Tok::kOther, i, i + 1, std::string(1, c));
    }
    ++i;
  }
  return out;
}

bool IsWord(const Token& t, absl::string_view keyword) {
  return t.kind == Tok::kWord && absl::EqualsIgnoreCase(t.text, keyword);
}

std::string Upper(absl::string_view s) { return absl::AsciiStrToUpper(s); }

constexpr char kShapes[] =
    "expected DELETE FROM <table> WHERE <condition> or UPDATE <table> SET <assignments> WHERE <condition>";

// Words that may not start a table name (so `DELETE FROM WHERE x` is refused).
bool IsClauseKeyword(const Token& t) {
  static const std::set<std::string> kKeywords = {"WHERE", "SET", "USING", "FROM", "RETURNING", "ONLY", "AS"};
  return t.kind == Tok::kWord && kKeywords.count(Upper(t.text)) > 0;
}

bool ValidIdentifier(absl::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  if (!(absl::ascii_islower(static_cast<unsigned char>(s[0])) || s[0] == '_')) return false;
  for (char c : s) {
    if (!(absl::ascii_islower(static_cast<unsigned char>(c)) ||
          absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '_' || c == '$'))
      return false;
  }
  return true;
}

bool ValidRuleName(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!(absl::ascii_islower(static_cast<unsigned char>(c)) ||
          absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-'))
      return false;
  }
  return true;
}


std::string Quoted(absl::string_view s, size_t max = 200) {
  std::string v(s.substr(0, max));
  if (s.size() > max) v += "...";
  return absl::StrCat("\"", v, "\"");
}

absl::Status Invalid(absl::string_view path, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", what));
}

absl::Status ValidateRule(const CaptureRule& r, size_t index) {
  const std::string path = RulePath(r, index);
  if (r.name().empty()) {
    return Invalid(absl::StrCat(path, ".name"), "is empty: expected a unique rule name ([a-z0-9_.-]+)");
  }
  if (!ValidRuleName(r.name())) {
    return Invalid(absl::StrCat(path, ".name"),
                   absl::StrCat(Quoted(r.name()), " is not a valid rule name: expected [a-z0-9_.-]+"));
  }
  std::string schema, table;
  if (r.table().empty()) {
    return Invalid(absl::StrCat(path, ".table"),
                   "is empty: expected a schema-qualified table (schema.table)");
  }
  if (!SplitTable(r.table(), &schema, &table)) {
    return Invalid(absl::StrCat(path, ".table"),
                   absl::StrCat(Quoted(r.table()),
                                " is not a schema-qualified table: expected schema.table, both lowercase "
                                "identifiers ([a-z_][a-z0-9_$]*)"));
  }
  if (!r.on_delete() && r.on_update().empty()) {
    return Invalid(path,
                   "neither on_delete nor on_update is set: expected on_delete: true and/or on_update "
                   "entries (column -> revoked value)");
  }
  std::set<std::string> update_cols;
  for (int i = 0; i < r.on_update_size(); ++i) {
    const auto& u = r.on_update(i);
    const std::string upath = absl::StrCat(path, ".on_update[", i, "]");
    if (!ValidIdentifier(u.column())) {
      return Invalid(
          absl::StrCat(upath, ".column"),
          absl::StrCat(Quoted(u.column()), " is not a column name: expected a lowercase identifier"));
    }
    if (!update_cols.insert(u.column()).second) {
      return Invalid(absl::StrCat(upath, ".column"),
                     absl::StrCat(u.column(), " is listed twice in on_update"));
    }
    if (u.value().empty()) {
      return Invalid(absl::StrCat(upath, ".value"),
                     "is empty: expected the PostgreSQL text of the revoked value (e.g. \"false\")");
    }
  }
  if (r.key_columns().empty()) {
    return Invalid(absl::StrCat(path, ".key_columns"), "is empty: expected the columns identifying a row");
  }
  std::set<std::string> columns;
  for (int i = 0; i < r.key_columns_size(); ++i) {
    const std::string& c = r.key_columns(i);
    const std::string cpath = absl::StrCat(path, ".key_columns[", i, "]");
    if (!ValidIdentifier(c)) {
      return Invalid(cpath,
                     absl::StrCat(Quoted(c), " is not a column name: expected a lowercase identifier"));
    }
    if (!columns.insert(c).second) return Invalid(cpath, absl::StrCat(c, " is listed twice"));
  }
  for (int i = 0; i < r.extra_columns_size(); ++i) {
    const std::string& c = r.extra_columns(i);
    const std::string cpath = absl::StrCat(path, ".extra_columns[", i, "]");
    if (!ValidIdentifier(c)) {
      return Invalid(cpath,
                     absl::StrCat(Quoted(c), " is not a column name: expected a lowercase identifier"));
    }
    if (!columns.insert(c).second) {
      return Invalid(cpath, absl::StrCat(c, " is listed twice (in key_columns or extra_columns)"));
    }
  }
  if (columns.size() > 50) {
    return Invalid(path, absl::StrCat(columns.size(), " key and extra columns: expected at most 50"));
  }
  if (!r.target_table().empty()) {
    std::string tschema, ttable;
    if (!SplitTable(r.target_table(), &tschema, &ttable)) {
      return Invalid(absl::StrCat(path, ".target_table"),
                     absl::StrCat(Quoted(r.target_table()),
                                  " is not a schema-qualified table: expected schema.table, both lowercase "
                                  "identifiers ([a-z_][a-z0-9_$]*)"));
    }
  } else if (!r.target_key_columns().empty()) {
    return Invalid(absl::StrCat(path, ".target_key_columns"),
                   "is set without target_table: expected target_table with it (or neither, for the same table)");
  }
  if (!r.target_key_columns().empty() && r.target_key_columns_size() != r.key_columns_size()) {
    return Invalid(absl::StrCat(path, ".target_key_columns"),
                   absl::StrCat(r.target_key_columns_size(), " column(s): expected one per key column (",
                                r.key_columns_size(), ", in the order of key_columns)"));
  }
  for (int i = 0; i < r.target_key_columns_size(); ++i) {
    if (!ValidIdentifier(r.target_key_columns(i))) {
      return Invalid(absl::StrCat(path, ".target_key_columns[", i, "]"),
                     absl::StrCat(Quoted(r.target_key_columns(i)),
                                  " is not a column name: expected a lowercase identifier"));
    }
  }
  if (r.apply().empty()) {
    return Invalid(absl::StrCat(path, ".apply"),
                   "is empty: expected at least one DELETE or UPDATE statement to run on the other side");
  }
  for (int i = 0; i < r.apply_size(); ++i) {
    const std::string apath = absl::StrCat(path, ".apply[", i, "]");
    auto t = ParseApply(r.apply(i));
    if (!t.ok()) return Invalid(apath, t.status().message());
    for (const auto& p : t->params) {
      if (!columns.count(p)) {
        return Invalid(
            apath,
            absl::StrCat("placeholder :", p, " does not name a key or extra column of the rule ",
                         "(key_columns: ", absl::StrJoin(r.key_columns(), ", "), "; extra_columns: ",
                         r.extra_columns().empty() ? "none" : absl::StrJoin(r.extra_columns(), ", "), ")"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

bool SplitTable(absl::string_view table, std::string* schema, std::string* name) {
  std::vector<std::string> parts = absl::StrSplit(table, '.');
  if (parts.size() != 2 || !ValidIdentifier(parts[0]) || !ValidIdentifier(parts[1])) return false;
  *schema = parts[0];
  *name = parts[1];
  return true;
}

absl::StatusOr<TableInfo> LookupTable(pg::Session& s, const std::string& schema, const std::string& table) {
  TableInfo info;
  ASSIGN_OR_RETURN(pqxx::result rel,
                   s.ExecParams("SELECT c.oid FROM pg_class c JOIN pg_namespace n ON "
                                "n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2 "
                                "AND c.relkind IN ('r', 'p')",
                                schema, table));
  if (rel.empty()) return info;
  info.exists = true;
  ASSIGN_OR_RETURN(pqxx::result cols,
                   s.ExecParams("SELECT attname::text, format_type(atttypid, atttypmod) FROM pg_attribute "
                                "WHERE attrelid = $1::oid AND attnum > 0 AND NOT attisdropped",
                                rel[0][0].as<std::string>()));
  for (const auto& row : cols) info.columns[row[0].as<std::string>()] = row[1].as<std::string>();
  return info;
}

std::string RulePath(const CaptureRule& rule, size_t index) {
  if (ValidRuleName(rule.name())) return absl::StrCat("capture.rules[", rule.name(), "]");
  return absl::StrCat("capture.rules[", index, "]");
}

absl::StatusOr<ApplyTemplate> ParseApply(absl::string_view sql) {
  ASSIGN_OR_RETURN(std::vector<Token> toks, Lex(sql));
  if (!toks.empty() && toks.back().kind == Tok::kSemicolon) toks.pop_back();
  if (toks.empty()) return absl::InvalidArgumentError(absl::StrCat("empty statement: ", kShapes));
  for (const auto& t : toks) {
    if (t.kind == Tok::kSemicolon) {
      return absl::InvalidArgumentError(
          absl::StrCat("a semicolon inside the statement (a second statement?) at offset ", t.begin,
                       ": expected exactly one DELETE or UPDATE statement"));
    }
    if (t.kind == Tok::kParam) {
      return absl::InvalidArgumentError(
          absl::StrCat("positional parameter ", t.text, " is not allowed: use :column placeholders"));
    }
  }
  ApplyTemplate out;
  const Token& head = toks[0];
  if (IsWord(head, "WITH")) {
    return absl::InvalidArgumentError(
        absl::StrCat("WITH (common table expressions) is not allowed: ", kShapes));
  }
  if (!IsWord(head, "DELETE") && !IsWord(head, "UPDATE")) {
    std::string verb = head.kind == Tok::kWord ? Upper(head.text)
                                               : std::string(sql.substr(head.begin, head.end - head.begin));
    return absl::InvalidArgumentError(absl::StrCat(
        verb, " is not allowed: apply statements may only DELETE or UPDATE (deactivate) rows; ", kShapes));
  }
  out.verb = Upper(head.text);
  size_t i = 1;
  if (out.verb == "DELETE") {
    if (i >= toks.size() || !IsWord(toks[i], "FROM")) {
      return absl::InvalidArgumentError(absl::StrCat("DELETE must be followed by FROM: ", kShapes));
    }
    ++i;
  }
  // Table: name or schema.name.
  if (i < toks.size() && IsWord(toks[i], "ONLY")) {
    return absl::InvalidArgumentError("ONLY is not supported: name the table alone");
  }
  if (i >= toks.size() || (toks[i].kind != Tok::kWord && toks[i].kind != Tok::kQuotedIdent) ||
      IsClauseKeyword(toks[i])) {
    return absl::InvalidArgumentError(absl::StrCat(
        "expected a table name after ", out.verb == "DELETE" ? "DELETE FROM" : "UPDATE", ": ", kShapes));
  }
  const size_t table_begin = toks[i].begin;
  size_t table_end = toks[i].end;
  ++i;
  if (i + 1 < toks.size() && toks[i].kind == Tok::kDot &&
      (toks[i + 1].kind == Tok::kWord || toks[i + 1].kind == Tok::kQuotedIdent)) {
    table_end = toks[i + 1].end;
    i += 2;
  }
  out.table = std::string(sql.substr(table_begin, table_end - table_begin));
  if (i < toks.size() && toks[i].kind == Tok::kDot) {
    return absl::InvalidArgumentError(
        absl::StrCat("table ", out.table, "... has too many name parts: expected table or schema.table"));
  }

  // After the table: WHERE (DELETE) or SET (UPDATE); refuse the rest with a reason.
  auto after_table = [&](absl::string_view expected) -> absl::Status {
    if (i >= toks.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("the statement ends after the table: expected ", expected,
                       " (a WHERE clause is required: an apply statement touches only "
                       "the rows of one event)"));
    }
    const Token& t = toks[i];
    if (IsWord(t, "USING")) {
      return absl::InvalidArgumentError(
          "USING is not allowed: an apply statement may touch only its own table");
    }
    if (IsWord(t, "RETURNING")) return absl::InvalidArgumentError("RETURNING is not allowed");
    if (IsWord(t, "AS") || (t.kind == Tok::kWord && !IsClauseKeyword(t))) {
      return absl::InvalidArgumentError(
          absl::StrCat("unexpected '", std::string(sql.substr(t.begin, t.end - t.begin)), "' after table ",
                       out.table, " (aliases are not supported): expected ", expected));
    }
    if (!IsWord(t, expected)) {
      return absl::InvalidArgumentError(absl::StrCat("unexpected '",
                                                     std::string(sql.substr(t.begin, t.end - t.begin)),
                                                     "' after table ", out.table, ": expected ", expected));
    }
    return absl::OkStatus();
  };

  size_t where_idx = 0;
  if (out.verb == "DELETE") {
    RETURN_IF_ERROR(after_table("WHERE"));
    where_idx = i;
  } else {
    RETURN_IF_ERROR(after_table("SET"));
    const size_t set_idx = i;
    int depth = 0;
    for (size_t j = set_idx + 1; j < toks.size(); ++j) {
      if (toks[j].kind == Tok::kLParen) ++depth;
      if (toks[j].kind == Tok::kRParen) --depth;
      if (depth == 0 && IsWord(toks[j], "WHERE")) {
        where_idx = j;
        break;
      }
    }
    if (where_idx == 0) {
      return absl::InvalidArgumentError(
          "UPDATE without WHERE: a WHERE clause is required (an apply statement touches only the rows of one "
          "event)");
    }
    if (where_idx == set_idx + 1) return absl::InvalidArgumentError("SET has no assignments");
    out.set_clause = std::string(
        absl::StripAsciiWhitespace(sql.substr(toks[set_idx].end, toks[where_idx].begin - toks[set_idx].end)));
  }
  if (where_idx + 1 >= toks.size()) return absl::InvalidArgumentError("WHERE has no condition");
  out.where_clause = std::string(absl::StripAsciiWhitespace(sql.substr(toks[where_idx].end)));
  // The trailing semicolon was dropped from the tokens, not from the text.
  if (absl::EndsWith(out.where_clause, ";")) {
    out.where_clause.pop_back();
    out.where_clause = std::string(absl::StripTrailingAsciiWhitespace(out.where_clause));
  }

  // Forbidden words anywhere in the assignments and the condition.
  int depth = 0;
  for (size_t j = i + 1; j < toks.size(); ++j) {
    const Token& t = toks[j];
    if (t.kind == Tok::kLParen) ++depth;
    if (t.kind == Tok::kRParen) --depth;
    if (t.kind != Tok::kWord) continue;
    const std::string w = Upper(t.text);
    if (w == "USING") {
      return absl::InvalidArgumentError(
          "USING is not allowed: an apply statement may touch only its own table");
    }
    if (w == "RETURNING") return absl::InvalidArgumentError("RETURNING is not allowed");
    if (w == "FROM" && !(j > 0 && IsWord(toks[j - 1], "DISTINCT"))) {
      return absl::InvalidArgumentError(
          "FROM is not allowed (only in IS [NOT] DISTINCT FROM): an apply statement may touch only its own "
          "table");
    }
    if (w == "INSERT" || w == "UPDATE" || w == "DELETE" || w == "SELECT" || w == "MERGE" || w == "WITH" ||
        w == "VALUES" || w == "TABLE") {
      if (w == "WITH" && j + 2 < toks.size() &&
          (IsWord(toks[j + 1], "TIME") || IsWord(toks[j + 1], "LOCAL"))) {
        continue;  // timestamp with time zone
      }
      return absl::InvalidArgumentError(
          absl::StrCat("nested ", w, " is not allowed: an apply statement is one plain DELETE or UPDATE"));
    }
    if (w == "WHERE" && j != where_idx && depth == 0) {
      return absl::InvalidArgumentError("WHERE appears twice");
    }
  }
  std::set<std::string> seen;
  for (size_t j = i + 1; j < toks.size(); ++j) {
    if (toks[j].kind == Tok::kPlaceholder && seen.insert(toks[j].text).second)
      out.params.push_back(toks[j].text);
  }
  return out;
}

absl::StatusOr<std::string> ReplacePlaceholders(
    absl::string_view sql, const std::function<std::string(const std::string&)>& replace) {
  ASSIGN_OR_RETURN(std::vector<Token> toks, Lex(sql));
  std::string out;
  size_t pos = 0;
  for (const auto& t : toks) {
    if (t.kind != Tok::kPlaceholder) continue;
    absl::StrAppend(&out, sql.substr(pos, t.begin - pos));
    out.append(replace(t.text));
    pos = t.end;
  }
  absl::StrAppend(&out, sql.substr(pos));
  return out;
}

absl::Status ValidateRules(const std::vector<CaptureRule>& rules) {
  std::map<std::string, size_t> names;
  for (size_t i = 0; i < rules.size(); ++i) {
    RETURN_IF_ERROR(ValidateRule(rules[i], i));
    auto [it, inserted] = names.emplace(rules[i].name(), i);
    if (!inserted) {
      return absl::InvalidArgumentError(absl::StrCat("capture.rules[", i, "].name: \"", rules[i].name(),
                                                     "\" is already the name of capture.rules[", it->second,
                                                     "]: expected unique names"));
    }
  }
  return absl::OkStatus();
}

namespace {

// The built-in rules followed by the plan's own ones (`field` names them in
// errors), refusing own rules that reuse a built-in name.
absl::StatusOr<std::vector<CaptureRule>> WithOwnRules(std::vector<CaptureRule> out,
                                                       const std::vector<CaptureRule>& own,
                                                       absl::string_view field) {
  std::set<std::string> builtin;
  for (const auto& r : out) builtin.insert(r.name());
  for (size_t i = 0; i < own.size(); ++i) {
    if (builtin.count(own[i].name())) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, "[", i, "].name: \"", own[i].name(),
                       "\" clashes with a built-in rule of the \"hydra\" profile: choose another name "
                       "(built-in rules cannot be overridden)"));
    }
    out.push_back(own[i]);
  }
  return out;
}

absl::Status UnknownProfile(const std::string& profile) {
  if (profile.empty()) return absl::InvalidArgumentError("capture.profile is empty: expected \"hydra\" or \"generic\"");
  return absl::InvalidArgumentError(absl::StrCat("capture.profile \"", profile.substr(0, 64),
                                                 "\" is unknown: expected \"hydra\" or \"generic\""));
}

}  // namespace

absl::StatusOr<std::vector<CaptureRule>> ResolveRules(const cutover::v1::CaptureOptions& options) {
  const std::vector<CaptureRule> own(options.rules().begin(), options.rules().end());
  const std::string& profile = options.profile();
  if (profile == "generic") {
    if (own.empty()) {
      return absl::InvalidArgumentError(
          "capture.rules is empty: the \"generic\" profile needs at least one rule");
    }
    RETURN_IF_ERROR(ValidateRules(own));
    return own;
  }
  if (profile == "hydra") {
    RETURN_IF_ERROR(ValidateRules(own));
    return WithOwnRules(HydraRules(), own, "capture.rules");
  }
  return UnknownProfile(profile);
}

absl::StatusOr<std::vector<CaptureRule>> ResolveRollbackRules(const cutover::v1::CaptureOptions& options) {
  const std::vector<CaptureRule> own(options.rollback_rules().begin(), options.rollback_rules().end());
  const std::string& profile = options.profile();
  if (profile != "generic" && profile != "hydra") return UnknownProfile(profile);
  if (profile == "generic" && own.empty()) return ResolveRules(options);
  if (absl::Status st = ValidateRules(own); !st.ok()) {
    // ValidateRules speaks of capture.rules[...]; these are the rollback rules.
    return absl::Status(st.code(), absl::StrReplaceAll(st.message(), {{"capture.rules", "capture.rollback_rules"}}));
  }
  if (profile == "generic") return own;
  return WithOwnRules(HydraRollbackRules(), own, "capture.rollback_rules");
}

absl::Status CheckRulesOnCaptureSide(const std::vector<CaptureRule>& rules, pg::Session& capture_side) {
  const std::string& side = capture_side.what();
  for (size_t i = 0; i < rules.size(); ++i) {
    const CaptureRule& r = rules[i];
    const std::string path = RulePath(r, i);
    std::string schema, table;
    if (!SplitTable(r.table(), &schema, &table)) {
      return Invalid(absl::StrCat(path, ".table"),
                     absl::StrCat(Quoted(r.table()), " is not a schema-qualified table"));
    }
    ASSIGN_OR_RETURN(TableInfo info, Annotate(LookupTable(capture_side, schema, table), path));
    if (!info.exists) {
      return absl::FailedPreconditionError(
          absl::StrCat(path, ".table: ", r.table(), " does not exist on ", side));
    }
    auto check = [&](const std::string& col, const std::string& field) -> absl::Status {
      if (!info.columns.count(col)) {
        return absl::FailedPreconditionError(
            absl::StrCat(path, ".", field, ": column ", col, " does not exist in ", r.table(), " on ", side));
      }
      return absl::OkStatus();
    };
    for (int k = 0; k < r.key_columns_size(); ++k) RETURN_IF_ERROR(check(r.key_columns(k), "key_columns"));
    for (int k = 0; k < r.extra_columns_size(); ++k)
      RETURN_IF_ERROR(check(r.extra_columns(k), "extra_columns"));
    for (int k = 0; k < r.on_update_size(); ++k) {
      const auto& u = r.on_update(k);
      RETURN_IF_ERROR(check(u.column(), absl::StrCat("on_update[", k, "].column")));
      const std::string& type = info.columns[u.column()];
      auto res = capture_side.Exec(absl::StrCat("SELECT ", pg::QuoteLiteral(u.value()), "::", type));
      if (!res.ok()) {
        if (res.status().code() == absl::StatusCode::kUnavailable) return res.status();
        return absl::FailedPreconditionError(
            absl::StrCat(path, ".on_update[", k, "].value: ", Quoted(u.value()), " is not a valid ", type,
                         " on ", side, " (column ", u.column(), "): ", res.status().message()));
      }
    }
  }
  return absl::OkStatus();
}

absl::Status CheckRulesAgainstCatalog(const std::vector<CaptureRule>& rules, pg::Session& capture_side,
                                      pg::Session& apply_side) {
  RETURN_IF_ERROR(CheckRulesOnCaptureSide(rules, capture_side));
  const std::string& side = apply_side.what();
  for (size_t i = 0; i < rules.size(); ++i) {
    const CaptureRule& r = rules[i];
    const std::string path = RulePath(r, i);
    for (int k = 0; k < r.apply_size(); ++k) {
      const std::string apath = absl::StrCat(path, ".apply[", k, "]");
      auto tmpl = ParseApply(r.apply(k));
      if (!tmpl.ok()) return Invalid(apath, tmpl.status().message());
      std::map<std::string, int> index;
      for (size_t p = 0; p < tmpl->params.size(); ++p) index[tmpl->params[p]] = static_cast<int>(p) + 1;
      ASSIGN_OR_RETURN(std::string bound, ReplacePlaceholders(r.apply(k), [&](const std::string& n) {
                         return absl::StrCat("$", index[n]);
                       }));
      // Drop the optional trailing semicolon: PREPARE takes one statement.
      absl::string_view body = absl::StripTrailingAsciiWhitespace(bound);
      if (absl::EndsWith(body, ";")) body.remove_suffix(1);
      try {
        pqxx::work tx(apply_side.conn());
        tx.exec("SET LOCAL lock_timeout = '10s'");
        tx.exec("SET LOCAL statement_timeout = '30s'");
        tx.exec(absl::StrCat("PREPARE cutover_rule_check AS ", body));
        tx.exec("DEALLOCATE cutover_rule_check");
        tx.abort();
      } catch (const pqxx::sql_error& e) {
        absl::Status st = pg::StatusFromException(e, "");
        if (st.code() == absl::StatusCode::kUnavailable) return Annotate(st, apath);
        std::string msg(absl::StripAsciiWhitespace(e.what()));
        if (auto nl = msg.find('\n'); nl != std::string::npos) msg = msg.substr(0, nl);
        if (absl::StartsWith(msg, "ERROR:")) msg = std::string(absl::StripLeadingAsciiWhitespace(msg.substr(6)));
        return absl::FailedPreconditionError(
            absl::StrCat(apath, ": invalid on ", side, ": ", msg,
                         e.sqlstate().empty() ? "" : absl::StrCat(" (SQLSTATE ", e.sqlstate(), ")")));
      } catch (const std::exception& e) {
        return pg::StatusFromException(e, absl::StrCat(apath, " on ", side));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace cutover::replay
