#include "sql_source.h"

#include <google/protobuf/io/coded_stream.h>
#include <pg_query.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace cutover::migrate::internal {
namespace {

// libpg_query hands results back by value with a matching free function;
// this owns one until the end of the scope (never copied, never moved).
template <typename Result, void (*Free)(Result)>
class Owned {
 public:
  explicit Owned(Result r) : r_(r) {}
  ~Owned() { Free(r_); }
  Owned(const Owned&) = delete;
  Owned& operator=(const Owned&) = delete;
  const Result& operator*() const { return r_; }
  const Result* operator->() const { return &r_; }

 private:
  Result r_;
};

using OwnedScan = Owned<PgQueryScanResult, pg_query_free_scan_result>;
using OwnedParse = Owned<PgQueryProtobufParseResult, pg_query_free_protobuf_parse_result>;

// At most this many pieces are tried together when one alone does not parse.
constexpr int kMaxMergedPieces = 64;

// libpg_query turns its parse tree into protobuf recursively and, unlike
// PostgreSQL, without a stack-depth check. The grammar's own stack bounds
// nesting by parentheses, calls or CASE ("memory exhausted"), but not a
// chain of left-associative operators: `1+1+1...` with ~24k terms (48 kB of
// SQL) overflowed an 8 MiB stack and killed the process (found while writing
// the migration_lint fuzz target, docs/fuzzing.md). So text whose operator
// chains are longer than this is never handed to libpg_query.
constexpr int kMaxOperatorChain = 1000;
// Protobuf's default limit (100) refused the tree of an ordinary 50-term
// `a || b || ...` expression; this allows any chain under the limit above
// (two levels per operator) while keeping our recursive walks of the tree
// and protobuf's own recursion well inside a thread's stack.
constexpr int kMaxTreeDepth = 2 * kMaxOperatorChain + 1000;

bool IsChainOperator(pg_query::Token t) {
  switch (t) {
    case pg_query::ASCII_37:  // %
    case pg_query::ASCII_42:  // *
    case pg_query::ASCII_43:  // +
    case pg_query::ASCII_45:  // -
    case pg_query::ASCII_47:  // /
    case pg_query::ASCII_60:  // <
    case pg_query::ASCII_61:  // =
    case pg_query::ASCII_62:  // >
    case pg_query::ASCII_94:  // ^
    case pg_query::Op:
    case pg_query::TYPECAST:
    case pg_query::LESS_EQUALS:
    case pg_query::GREATER_EQUALS:
    case pg_query::NOT_EQUALS:
    case pg_query::AND:
    case pg_query::OR:
    case pg_query::AT:
    case pg_query::COLLATE:
    case pg_query::OPERATOR:
      return true;
    default:
      return false;
  }
}

// An upper bound of how deep operators can nest the tree of `sql`: operators
// counted since the last ',' or ';' in each open parenthesis or bracket,
// summed over the open ones (keywords do not reset the count, so a chain
// through `CASE ... END` terms is counted too).
int LongestOperatorChain(const std::vector<Token>& tokens) {
  std::vector<int> open = {0};  // operators per open group, outermost first
  int sum = 0;
  int longest = 0;
  for (const Token& t : tokens) {
    if (t.kind == pg_query::ASCII_40 || t.kind == pg_query::ASCII_91) {
      open.push_back(0);
    } else if ((t.kind == pg_query::ASCII_41 || t.kind == pg_query::ASCII_93) && open.size() > 1) {
      sum -= open.back();
      open.pop_back();
    } else if (t.kind == pg_query::ASCII_44 || t.kind == pg_query::ASCII_59) {
      sum -= open.back();
      open.back() = 0;
    } else if (IsChainOperator(t.kind)) {
      ++open.back();
      ++sum;
      longest = std::max(longest, sum);
    }
  }
  return longest;
}

// Offset of the first byte that is not part of well-formed UTF-8, or of a
// NUL byte; -1 when there is none. libpg_query's tree holds identifiers as
// protobuf strings, which must be UTF-8: a Latin-1 identifier made the whole
// tree unreadable (found by the migration_lint fuzz target).
int FirstBadByte(absl::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto b = static_cast<unsigned char>(text[i]);
    if (b == 0) return static_cast<int>(i);
    if (b < 0x80) {
      ++i;
      continue;
    }
    int len = 0;
    unsigned int min = 0;
    unsigned int cp = 0;
    if ((b & 0xE0) == 0xC0) {
      len = 2, min = 0x80, cp = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
      len = 3, min = 0x800, cp = b & 0x0F;
    } else if ((b & 0xF8) == 0xF0) {
      len = 4, min = 0x10000, cp = b & 0x07;
    } else {
      return static_cast<int>(i);
    }
    if (i + len > text.size()) return static_cast<int>(i);
    for (int k = 1; k < len; ++k) {
      const auto c = static_cast<unsigned char>(text[i + k]);
      if ((c & 0xC0) != 0x80) return static_cast<int>(i);
      cp = (cp << 6) | (c & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return static_cast<int>(i);
    i += len;
  }
  return -1;
}

}  // namespace

absl::StatusOr<std::vector<Token>> ScanSql(const std::string& sql, int* error_offset) {
  OwnedScan r(pg_query_scan(sql.c_str()));
  if (r->error != nullptr) {
    // cursorpos is 1-based; 0 when unknown.
    if (error_offset != nullptr) *error_offset = std::max(0, r->error->cursorpos - 1);
    return absl::InvalidArgumentError(r->error->message);
  }
  pg_query::ScanResult scan;
  if (!scan.ParseFromArray(r->pbuf.data, static_cast<int>(r->pbuf.len))) {
    return absl::InternalError("libpg_query returned an undecodable scan result");
  }
  std::vector<Token> out;
  out.reserve(scan.tokens_size());
  for (const pg_query::ScanToken& t : scan.tokens()) out.push_back(Token{t.start(), t.end(), t.token()});
  return out;
}

absl::StatusOr<pg_query::ParseResult> ParseSql(const std::string& sql, int* error_offset) {
  if (error_offset != nullptr) *error_offset = -1;
  absl::StatusOr<std::vector<Token>> tokens = ScanSql(sql, error_offset);
  if (!tokens.ok()) return tokens.status();
  if (const int chain = LongestOperatorChain(*tokens); chain > kMaxOperatorChain) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "expression too long for the linter: ", chain, " operators nested in one chain (at most ",
        kMaxOperatorChain, "); split it (e.g. into several UPDATEs or a function)"));
  }
  OwnedParse r(pg_query_parse_protobuf(sql.c_str()));
  if (r->error != nullptr) {
    // cursorpos counts characters from 1 (0 = unknown); the text is UTF-8.
    if (error_offset != nullptr && r->error->cursorpos > 0) {
      int chars = r->error->cursorpos - 1;
      size_t byte = 0;
      for (; byte < sql.size(); ++byte) {
        if ((static_cast<unsigned char>(sql[byte]) & 0xC0) != 0x80 && chars-- == 0) break;
      }
      *error_offset = static_cast<int>(byte);
    }
    return absl::InvalidArgumentError(r->error->message);
  }
  pg_query::ParseResult tree;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(r->parse_tree.data),
                                            static_cast<int>(r->parse_tree.len));
  in.SetRecursionLimit(kMaxTreeDepth);
  if (!tree.ParseFromCodedStream(&in)) {
    return absl::ResourceExhaustedError(
        absl::StrCat("statement nested too deeply for the linter (parse tree deeper than ", kMaxTreeDepth,
                     " levels); split it"));
  }
  return tree;
}

absl::StatusOr<SqlSource> SqlSource::Parse(std::string text) {
  SqlSource s;
  s.text_ = std::move(text);
  s.line_starts_.push_back(0);
  for (size_t i = 0; i < s.text_.size(); ++i) {
    if (s.text_[i] == '\n') s.line_starts_.push_back(static_cast<int>(i + 1));
  }
  if (const int bad = FirstBadByte(s.text_); bad >= 0) {
    const auto byte = static_cast<unsigned char>(s.text_[bad]);
    const std::string what =
        byte == 0 ? "a NUL byte"
                  : absl::StrCat("a byte that is not UTF-8 (0x", absl::Hex(byte, absl::kZeroPad2), ")");
    return absl::InvalidArgumentError(
        absl::StrCat("line ", s.LineOf(bad), ": ", what, " at byte ", bad,
                     ": the linter reads migration files as UTF-8 (with a UTF8 client_encoding PostgreSQL "
                     "refuses it too)"));
  }
  int error_offset = 0;
  auto tokens = ScanSql(s.text_, &error_offset);
  if (!tokens.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("line ", s.LineOf(error_offset), ": ", tokens.status().message()));
  }

  // psql meta-commands (`\set ON_ERROR_STOP on`) start where a statement
  // could and run to the end of the line; psql strips them, so do we
  // (offsets and lines stay as they were).
  bool at_statement_start = true;
  bool blanked = false;
  for (const Token& t : *tokens) {
    if (t.IsComment()) continue;
    if (t.kind == pg_query::ASCII_92 && at_statement_start && t.start >= 0 &&
        t.start < static_cast<int>(s.text_.size())) {
      const size_t eol = s.text_.find('\n', t.start);
      const size_t stop = eol == std::string::npos ? s.text_.size() : eol;
      std::fill(s.text_.begin() + t.start, s.text_.begin() + static_cast<long>(stop), ' ');
      blanked = true;
      continue;
    }
    at_statement_start = t.kind == pg_query::ASCII_59;
  }
  if (blanked) {
    tokens = ScanSql(s.text_, &error_offset);
    if (!tokens.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", s.LineOf(error_offset), ": ", tokens.status().message()));
    }
  }
  s.tokens_ = *std::move(tokens);

  absl::StatusOr<pg_query::ParseResult> whole = ParseSql(s.text_);
  if (!whole.ok()) {
    s.Split();
    return s;
  }
  for (const pg_query::RawStmt& raw : whole->stmts()) {
    const int first = s.FirstCodeTokenFrom(raw.stmt_location());
    if (first < 0) continue;
    Statement st;
    st.start = s.tokens_[first].start;
    st.end = raw.stmt_len() > 0 ? raw.stmt_location() + raw.stmt_len() : static_cast<int>(s.text_.size());
    st.line = s.LineOf(st.start);
    st.tree = raw.stmt();
    s.statements_.push_back(std::move(st));
  }
  return s;
}

// The grammar refused the whole text: cut it at every semicolon token (never
// one inside a string, body or comment) and parse piece by piece, so one bad
// statement is reported and the others are still linted. Pieces that only
// parse together (`BEGIN ATOMIC ... END`, `CREATE RULE ... DO (a; b)`) are
// merged; parentheses are not counted, since a bad statement may leave one
// open.
void SqlSource::Split() {
  struct Piece {
    int start;  // first code token's offset
    int end;    // offset of its ';' (or end of text)
    int last;   // last code token's offset
  };
  std::vector<Piece> pieces;
  int first = -1;
  int last = -1;
  for (const Token& t : tokens_) {
    if (t.IsComment()) continue;
    if (t.kind == pg_query::ASCII_59) {
      if (first >= 0) pieces.push_back(Piece{first, t.start, last});
      first = -1;
      continue;
    }
    if (first < 0) first = t.start;
    last = t.start;
  }
  if (first >= 0) pieces.push_back(Piece{first, static_cast<int>(text_.size()), last});

  for (size_t i = 0; i < pieces.size();) {
    Statement st;
    st.start = pieces[i].start;
    st.line = LineOf(st.start);
    size_t used = 1;
    for (size_t j = i; j < pieces.size() && j < i + kMaxMergedPieces; ++j) {
      const int end = pieces[j].end;
      int error_offset = -1;
      absl::StatusOr<pg_query::ParseResult> r =
          ParseSql(text_.substr(st.start, end - st.start), &error_offset);
      if (j == i && !r.ok()) {
        st.error = std::string(r.status().message());
        st.beyond_linter_limits = absl::IsResourceExhausted(r.status());
      }
      // The grammar stops at the first token it cannot take, and merging
      // only appends text: an error at or before the last token so far stays
      // whatever follows; only one "at end of input" may go away. Stopping
      // there keeps a file of many bad statements linear (8 kB of "x;" took
      // 8 s, 89 s under ASan; found by the migration_lint fuzz target's work,
      // docs/fuzzing.md).
      if (!r.ok() && error_offset >= 0 && st.start + error_offset <= pieces[j].last) break;
      if (r.ok() && r->stmts_size() == 1) {
        st.tree = r->stmts(0).stmt();
        st.end = end;
        used = j - i + 1;
        break;
      }
    }
    if (!st.tree) st.end = pieces[i].end;
    statements_.push_back(std::move(st));
    i += used;
  }
}

int SqlSource::FirstCodeTokenFrom(int offset) const {
  auto it = std::lower_bound(tokens_.begin(), tokens_.end(), offset,
                             [](const Token& t, int off) { return t.start < off; });
  for (; it != tokens_.end(); ++it) {
    if (!it->IsComment()) return static_cast<int>(it - tokens_.begin());
  }
  return -1;
}

int SqlSource::LineOf(int offset) const {
  auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
  return static_cast<int>(it - line_starts_.begin());
}

}  // namespace cutover::migrate::internal
