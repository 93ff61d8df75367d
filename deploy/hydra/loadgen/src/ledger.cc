#include "cutover/loadgen/ledger.h"

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace cutover::loadgen {
namespace {

void AppendJsonString(std::string* out, absl::string_view s) {
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (c < 0x20) {
          absl::StrAppendFormat(out, "\\u%04x", c);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

}  // namespace

absl::string_view SchemaName(Schema schema) { return schema == Schema::k2x ? "2.x" : "1.x"; }

absl::string_view RevocationKindName(RevocationKind kind) {
  switch (kind) {
    case RevocationKind::kToken:
      return "token";
    case RevocationKind::kRefresh:
      return "refresh";
    case RevocationKind::kConsent:
      return "consent";
    case RevocationKind::kLoginSession:
      return "login_session";
    case RevocationKind::kClient:
      return "client";
  }
  return "token";
}

std::string FormatLedgerLine(const LedgerEntry& entry) {
  std::string out = "{\"at\":";
  AppendJsonString(&out, absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", entry.at, absl::UTCTimeZone()));
  out.append(",\"schema\":");
  AppendJsonString(&out, SchemaName(entry.schema));
  out.append(",\"kind\":");
  AppendJsonString(&out, RevocationKindName(entry.kind));
  out.append(",\"key\":");
  AppendJsonString(&out, entry.key);
  out.push_back('}');
  return out;
}

absl::StatusOr<std::unique_ptr<Ledger>> Ledger::Open(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open the ledger ", path, " for writing: ", std::strerror(errno)));
  }
  return std::unique_ptr<Ledger>(new Ledger(path, FilePtr(f)));
}

absl::Status Ledger::Append(const LedgerEntry& entry) {
  std::string line = FormatLedgerLine(entry);
  line.push_back('\n');
  absl::MutexLock l(&mu_);
  if (std::fwrite(line.data(), 1, line.size(), file_.get()) != line.size() || std::fflush(file_.get()) != 0) {
    return absl::DataLossError(absl::StrCat("cannot write the ledger ", path_, ": ", std::strerror(errno)));
  }
  ++lines_;
  return absl::OkStatus();
}

int64_t Ledger::lines() const {
  absl::MutexLock l(&mu_);
  return lines_;
}

}  // namespace cutover::loadgen
