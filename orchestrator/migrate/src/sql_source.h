// SQL text as PostgreSQL sees it, through libpg_query (PostgreSQL 15's own
// lexer and grammar): tokens with byte offsets (comments included), and the
// text split into statements, each parsed into pg_query's typed tree. Nothing
// here matches substrings: strings, E'' strings, dollar-quoted bodies, quoted
// identifiers and nested comments are the lexer's business.
//
// Thread-safe: libpg_query keeps its parser state per thread.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "pg_query.pb.h"

namespace cutover::migrate::internal {

struct Token {
  int start = 0;  // byte offsets into the scanned text, [start, end)
  int end = 0;
  pg_query::Token kind = pg_query::NUL;

  bool IsComment() const { return kind == pg_query::SQL_COMMENT || kind == pg_query::C_COMMENT; }
};

// Runs PostgreSQL's lexer. InvalidArgument on a lexer error such as an
// unterminated string, with its byte offset in `*error_offset` when given.
absl::StatusOr<std::vector<Token>> ScanSql(const std::string& sql, int* error_offset = nullptr);

// Runs PostgreSQL's grammar on `sql` (one or more statements).
// InvalidArgument when the grammar refuses it; ResourceExhausted, without
// calling the grammar, when its expressions nest deeper than the linter can
// parse safely (libpg_query has no stack-depth check; see sql_source.cc).
// `*error_offset`, when given, gets the byte offset of a syntax error (-1
// when unknown or no error).
absl::StatusOr<pg_query::ParseResult> ParseSql(const std::string& sql, int* error_offset = nullptr);

struct Statement {
  int start = 0;  // offset of the first token (not of leading comments)
  int end = 0;    // offset just past the statement (its ';' excluded)
  int line = 0;   // 1-based line of `start`
  // Parse tree of the statement; absent when the grammar refused it.
  std::optional<pg_query::Node> tree;
  std::string error;  // the parser's message when `tree` is absent
  // No tree because of the linter's own limits (an operator chain or a tree
  // too deep to parse safely), not because PostgreSQL would refuse it.
  bool beyond_linter_limits = false;
};

// One migration file, scanned and split into parsed statements.
class SqlSource {
 public:
  // Fails (InvalidArgument "line N: ...") only when the lexer fails; a
  // statement the grammar refuses is a Statement without a tree, and the
  // statements around it are still parsed.
  static absl::StatusOr<SqlSource> Parse(std::string text);

  const std::string& text() const { return text_; }
  const std::vector<Token>& tokens() const { return tokens_; }
  const std::vector<Statement>& statements() const { return statements_; }

  // 1-based line holding byte `offset`.
  int LineOf(int offset) const;
  absl::string_view TextOf(const Token& t) const {
    return absl::string_view(text_).substr(t.start, t.end - t.start);
  }

 private:
  void Split();
  int FirstCodeTokenFrom(int offset) const;

  std::string text_;
  std::vector<int> line_starts_;
  std::vector<Token> tokens_;
  std::vector<Statement> statements_;
};

}  // namespace cutover::migrate::internal
