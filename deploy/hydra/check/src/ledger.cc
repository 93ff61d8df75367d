#include "cutover/check/ledger.h"

#include <cctype>
#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"

namespace cutover::check {
namespace {

constexpr absl::string_view kExpected =
    R"(a JSON object {"at":"<RFC 3339 UTC>","schema":"1.x"|"2.x","kind":"token"|"refresh"|"consent"|"login_session"|"client","key":"<non-empty>"})";

// A strict reader of one flat JSON object whose member values are strings
// (other value types are skipped structurally only if they are scalars we
// do not need; nested values are refused). Enough for the ledger, with
// errors that say where.
class FlatJson {
 public:
  explicit FlatJson(absl::string_view s) : s_(s) {}

  // Calls `member(name, value)` for every member; false + error() on bad input.
  template <typename F>
  bool Parse(F&& member) {
    SkipWs();
    if (!Eat('{')) return Fail("expected '{'");
    SkipWs();
    if (Eat('}')) return End();
    for (;;) {
      SkipWs();
      std::string name, value;
      if (!String(&name)) return false;
      SkipWs();
      if (!Eat(':')) return Fail("expected ':' after a member name");
      SkipWs();
      bool is_string = Peek() == '"';
      if (is_string) {
        if (!String(&value)) return false;
      } else if (!Scalar()) {
        return false;
      }
      if (!member(name, is_string ? std::optional<std::string>(std::move(value)) : std::nullopt))
        return false;
      SkipWs();
      if (Eat(',')) continue;
      if (Eat('}')) return End();
      return Fail("expected ',' or '}'");
    }
  }
  bool Fail(absl::string_view what) {
    if (error_.empty()) error_ = absl::StrCat(what, " at column ", pos_ + 1);
    return false;
  }
  const std::string& error() const { return error_; }

 private:
  bool End() {
    SkipWs();
    if (pos_ != s_.size()) return Fail("unexpected text after the object");
    return true;
  }
  char Peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  bool Eat(char c) {
    if (Peek() != c || pos_ >= s_.size()) return false;
    ++pos_;
    return true;
  }
  void SkipWs() {
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\r')) ++pos_;
  }
  // Numbers, true, false, null: accepted as values of members we ignore.
  bool Scalar() {
    size_t start = pos_;
    while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '-' ||
                                s_[pos_] == '+' || s_[pos_] == '.')) {
      ++pos_;
    }
    if (pos_ == start) return Fail("expected a string, number, true, false or null value");
    return true;
  }
  static void AppendUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }
  bool Hex4(uint32_t* v) {
    if (pos_ + 4 > s_.size()) return Fail("truncated \\u escape");
    *v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = s_[pos_++];
      *v <<= 4;
      if (c >= '0' && c <= '9') {
        *v |= c - '0';
      } else if (c >= 'a' && c <= 'f') {
        *v |= c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        *v |= c - 'A' + 10;
      } else {
        return Fail("bad \\u escape");
      }
    }
    return true;
  }
  bool String(std::string* out) {
    if (!Eat('"')) return Fail("expected '\"'");
    for (;;) {
      if (pos_ >= s_.size()) return Fail("unterminated string");
      char c = s_[pos_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return Fail("control character in a string");
      if (c != '\\') {
        out->push_back(c);
        continue;
      }
      if (pos_ >= s_.size()) return Fail("unterminated string");
      char e = s_[pos_++];
      switch (e) {
        case '"':
          out->push_back('"');
          break;
        case '\\':
          out->push_back('\\');
          break;
        case '/':
          out->push_back('/');
          break;
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
        case 'u': {
          uint32_t cp;
          if (!Hex4(&cp)) return false;
          if (cp >= 0xD800 && cp < 0xDC00) {
            uint32_t lo;
            if (!Eat('\\') || !Eat('u') || !Hex4(&lo) || lo < 0xDC00 || lo >= 0xE000) {
              return Fail("unpaired surrogate in \\u escape");
            }
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp < 0xE000) {
            return Fail("unpaired surrogate in \\u escape");
          }
          AppendUtf8(cp, out);
          break;
        }
        default:
          return Fail("bad escape in a string");
      }
    }
  }

  absl::string_view s_;
  size_t pos_ = 0;
  std::string error_;
};

}  // namespace

absl::string_view LedgerKindName(LedgerKind kind) {
  switch (kind) {
    case LedgerKind::kToken:
      return "token";
    case LedgerKind::kRefresh:
      return "refresh";
    case LedgerKind::kConsent:
      return "consent";
    case LedgerKind::kLoginSession:
      return "login_session";
    case LedgerKind::kClient:
      return "client";
  }
  return "?";
}

absl::StatusOr<LedgerEntry> ParseLedgerLine(absl::string_view text, absl::string_view file, int64_t line_no) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(file, ":", line_no, ": expected ", kExpected, "; ", why));
  };
  LedgerEntry e;
  e.line = line_no;
  bool has_at = false, has_schema = false, has_kind = false, has_key = false;
  std::string problem;
  FlatJson json(text);
  bool ok = json.Parse([&](const std::string& name, const std::optional<std::string>& value) {
    bool* seen = nullptr;
    if (name == "at") seen = &has_at;
    if (name == "schema") seen = &has_schema;
    if (name == "kind") seen = &has_kind;
    if (name == "key") seen = &has_key;
    if (seen == nullptr) return true;  // an extra member: allowed
    if (*seen) return json.Fail(absl::StrCat("duplicate member \"", name, "\""));
    *seen = true;
    if (!value) return json.Fail(absl::StrCat("\"", name, "\" is not a string"));
    const std::string& v = *value;
    if (name == "at") {
      std::string err;
      if (!absl::ParseTime(absl::RFC3339_full, v, &e.at, &err)) {
        return json.Fail(absl::StrCat("\"at\" is not an RFC 3339 time (", v, ")"));
      }
      e.at_text = v;
    } else if (name == "schema") {
      if (v == "1.x") {
        e.schema = LedgerSchema::kBlue;
      } else if (v == "2.x") {
        e.schema = LedgerSchema::kGreen;
      } else {
        return json.Fail(absl::StrCat("\"schema\" is \"", v, "\", not \"1.x\" or \"2.x\""));
      }
    } else if (name == "kind") {
      static const LedgerKind kKinds[] = {LedgerKind::kToken, LedgerKind::kRefresh, LedgerKind::kConsent,
                                          LedgerKind::kLoginSession, LedgerKind::kClient};
      bool found = false;
      for (LedgerKind k : kKinds) {
        if (v == LedgerKindName(k)) {
          e.kind = k;
          found = true;
        }
      }
      if (!found) return json.Fail(absl::StrCat("unknown \"kind\" \"", v, "\""));
    } else {
      if (v.empty()) return json.Fail("\"key\" is empty");
      e.key = v;
    }
    return true;
  });
  if (!ok) {
    if (text.empty()) return bad("got an empty line");
    return bad(json.error());
  }
  std::vector<std::string> missing;
  if (!has_at) missing.push_back("\"at\"");
  if (!has_schema) missing.push_back("\"schema\"");
  if (!has_kind) missing.push_back("\"kind\"");
  if (!has_key) missing.push_back("\"key\"");
  if (!missing.empty()) {
    std::string list;
    for (const auto& m : missing) absl::StrAppend(&list, list.empty() ? "" : ", ", m);
    return bad(absl::StrCat("missing ", list));
  }
  return e;
}

absl::StatusOr<std::unique_ptr<LedgerReader>> LedgerReader::Open(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    const int err = errno;
    std::string msg = absl::StrCat("ledger ", path, ": ", std::strerror(err));
    if (err == ENOENT) return absl::NotFoundError(msg);
    if (err == EACCES) return absl::PermissionDeniedError(msg);
    return absl::FailedPreconditionError(msg);
  }
  return std::unique_ptr<LedgerReader>(new LedgerReader(path, f));
}

LedgerReader::~LedgerReader() { std::fclose(file_); }

absl::Status LedgerReader::ReadBatch(bool final, std::vector<LedgerEntry>* out) {
  constexpr size_t kChunk = 1 << 20;
  if (std::fseek(file_, static_cast<long>(offset_), SEEK_SET) != 0) {
    return absl::FailedPreconditionError(absl::StrCat("ledger ", path_, ": seek: ", std::strerror(errno)));
  }
  std::string buf(kChunk, '\0');
  const size_t n = std::fread(buf.data(), 1, kChunk, file_);
  if (std::ferror(file_)) {
    return absl::FailedPreconditionError(absl::StrCat("ledger ", path_, ": read: ", std::strerror(errno)));
  }
  buf.resize(n);
  const bool at_eof = n < kChunk;
  size_t pos = 0;
  while (pos < buf.size()) {
    size_t nl = buf.find('\n', pos);
    absl::string_view line;
    if (nl == std::string::npos) {
      // A line longer than the chunk, or the unterminated last line.
      if (!at_eof) {
        if (pos == 0) {
          return absl::InvalidArgumentError(absl::StrCat(path_, ":", line_ + 1, ": expected ", kExpected,
                                                         "; got a line longer than 1 MiB"));
        }
        break;
      }
      if (!final) break;  // still being written: next time
      line = absl::string_view(buf).substr(pos);
      nl = buf.size();
    } else {
      line = absl::string_view(buf).substr(pos, nl - pos);
    }
    absl::StatusOr<LedgerEntry> e = ParseLedgerLine(line, path_, line_ + 1);
    if (!e.ok()) return e.status();
    out->push_back(std::move(*e));
    ++line_;
    pos = nl + 1;
    offset_ += static_cast<int64_t>(line.size()) + (nl < buf.size() ? 1 : 0);
  }
  return absl::OkStatus();
}

void GreenRevocations::Add(const LedgerEntry& entry) {
  if (entry.schema != LedgerSchema::kGreen) return;
  ++entries_;
  switch (entry.kind) {
    case LedgerKind::kToken:
      request_ids_.insert(entry.key);
      break;
    case LedgerKind::kRefresh:
      if (refresh_.insert(entry.key).second) unresolved_refresh_.push_back(entry.key);
      break;
    case LedgerKind::kConsent:
      consents_.insert(entry.key);
      break;
    case LedgerKind::kLoginSession:
      sessions_.insert(entry.key);
      break;
    case LedgerKind::kClient:
      clients_.insert(entry.key);
      break;
  }
}

void GreenRevocations::AddRotatedRequestId(absl::string_view request_id) {
  rotated_.insert(std::string(request_id));
}

std::vector<std::string> GreenRevocations::TakeUnresolvedRefreshSignatures() {
  return std::exchange(unresolved_refresh_, {});
}

bool GreenRevocations::HasRequestId(absl::string_view request_id) const {
  return request_ids_.contains(request_id) || rotated_.contains(request_id);
}

}  // namespace cutover::check
