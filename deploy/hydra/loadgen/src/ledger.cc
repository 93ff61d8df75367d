#include "cutover/loadgen/ledger.h"

#include <cerrno>
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cutover/v1/loadgen.pb.h"
#include "google/protobuf/stubs/common.h"
#include "google/protobuf/util/json_util.h"

namespace cutover::loadgen {
namespace {

// The line without its newline, through the proto3 JSON mapping of
// cutover.v1.LedgerEntry. InvalidArgument when the key is not UTF-8: the
// mapping would silently print it as "" (it logs, and says OK).
absl::StatusOr<std::string> EncodeLedgerLine(const LedgerEntry& entry) {
  if (!google::protobuf::internal::IsStructurallyValidUTF8(entry.key.data(),
                                                           static_cast<int>(entry.key.size()))) {
    return absl::InvalidArgumentError(absl::StrCat("ledger key is not UTF-8: ", absl::CHexEscape(entry.key)));
  }
  v1::LedgerEntry m;
  m.set_at(absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", entry.at, absl::UTCTimeZone()));
  m.set_schema(std::string(SchemaName(entry.schema)));
  m.set_kind(std::string(RevocationKindName(entry.kind)));
  m.set_key(entry.key);
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;  // every member, even an empty key
  std::string out;
  const auto st = google::protobuf::util::MessageToJsonString(m, &out, options);
  if (!st.ok()) {
    return absl::InternalError(absl::StrCat("cannot encode a ledger line: ", st.ToString()));
  }
  // Non-pretty output is one line (a newline in a value is escaped); the
  // line-oriented format depends on it.
  if (out.find('\n') != std::string::npos) {
    return absl::InternalError(absl::StrCat("ledger line spans lines: ", absl::CHexEscape(out)));
  }
  return out;
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
  absl::StatusOr<std::string> line = EncodeLedgerLine(entry);
  return line.ok() ? *std::move(line) : std::string();
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
  absl::StatusOr<std::string> encoded = EncodeLedgerLine(entry);
  if (!encoded.ok()) {
    return absl::Status(encoded.status().code(),
                        absl::StrCat("ledger ", path_, ": ", encoded.status().message()));
  }
  std::string line = *std::move(encoded);
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
