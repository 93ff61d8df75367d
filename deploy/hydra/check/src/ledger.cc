#include "cutover/check/ledger.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cutover/v1/loadgen.pb.h"
#include "google/protobuf/util/json_util.h"

namespace cutover::check {
namespace {

constexpr absl::string_view kExpected =
    R"(a JSON object {"at":"<RFC 3339 UTC>","schema":"1.x"|"2.x","kind":"token"|"refresh"|"consent"|"login_session"|"client","key":"<non-empty>"})";

// json_util's status message on one line: a syntax error comes as
// "what\n<a window of the input>\n<caret>"; keep "what" and the window.
std::string JsonError(absl::string_view message) {
  std::vector<absl::string_view> lines = absl::StrSplit(message, '\n');
  std::string out(lines[0]);
  if (lines.size() > 1 && !lines[1].empty()) absl::StrAppend(&out, " near '", lines[1], "'");
  return out;
}

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
  if (text.empty()) return bad("got an empty line");
  v1::LedgerEntry m;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto st = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(text.data(), text.size()), &m, options);
  if (!st.ok()) return bad(JsonError(absl::string_view(st.message().data(), st.message().size())));

  // proto3 cannot tell an empty string from an absent member: both are missing.
  std::vector<std::string> missing;
  if (m.at().empty()) missing.push_back("\"at\"");
  if (m.schema().empty()) missing.push_back("\"schema\"");
  if (m.kind().empty()) missing.push_back("\"kind\"");
  if (m.key().empty()) missing.push_back("\"key\"");
  if (!missing.empty()) return bad(absl::StrCat("missing ", absl::StrJoin(missing, ", ")));

  LedgerEntry e;
  e.line = line_no;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, m.at(), &e.at, &err)) {
    return bad(absl::StrCat("\"at\" is not an RFC 3339 time (", m.at(), ")"));
  }
  e.at_text = m.at();
  if (m.schema() == "1.x") {
    e.schema = LedgerSchema::kBlue;
  } else if (m.schema() == "2.x") {
    e.schema = LedgerSchema::kGreen;
  } else {
    return bad(absl::StrCat("\"schema\" is \"", m.schema(), "\", not \"1.x\" or \"2.x\""));
  }
  static constexpr LedgerKind kKinds[] = {LedgerKind::kToken, LedgerKind::kRefresh, LedgerKind::kConsent,
                                          LedgerKind::kLoginSession, LedgerKind::kClient};
  const auto kind = std::find_if(std::begin(kKinds), std::end(kKinds),
                                 [&](LedgerKind k) { return m.kind() == LedgerKindName(k); });
  if (kind == std::end(kKinds)) return bad(absl::StrCat("unknown \"kind\" \"", m.kind(), "\""));
  e.kind = *kind;
  e.key = std::move(*m.mutable_key());
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
