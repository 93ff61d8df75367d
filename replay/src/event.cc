#include "cutover/replay/event.h"

#include <algorithm>
#include <cstdio>
#include <random>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"

namespace cutover::replay {

std::string EncodeEvent(const cutover::v1::RevocationEvent& event) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  event.SerializeToCodedStream(&coded);
  coded.Trim();
  return out;
}

bool IsUuid(absl::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return false;
    } else if (!absl::ascii_isxdigit(static_cast<unsigned char>(s[i]))) {
      return false;
    }
  }
  return true;
}

absl::Status ValidateEvent(const cutover::v1::RevocationEvent& e) {
  if (e.format_version() != kEventFormatVersion) {
    return absl::InvalidArgumentError(absl::StrCat("event.format_version is ", e.format_version(), ": expected ",
                                                   kEventFormatVersion));
  }
  if (!IsUuid(e.event_id())) {
    return absl::InvalidArgumentError(
        absl::StrCat("event.event_id '", e.event_id().substr(0, 64), "' is not a UUID (expected 8-4-4-4-12 hex)"));
  }
  if (e.kind().empty()) {
    return absl::InvalidArgumentError("event.kind is empty: expected the name of a capture rule");
  }
  if (e.op() != cutover::v1::ROW_OP_DELETE && e.op() != cutover::v1::ROW_OP_UPDATE) {
    return absl::InvalidArgumentError("event.op is unset: expected ROW_OP_DELETE or ROW_OP_UPDATE");
  }
  if (e.source_table().find('.') == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("event.source_table '", e.source_table().substr(0, 128),
                                                   "' is not schema-qualified (expected schema.table)"));
  }
  if (e.key().empty()) {
    return absl::InvalidArgumentError("event.key is empty: expected the row's key columns");
  }
  for (const auto& [col, datum] : e.key()) {
    if (col.empty()) return absl::InvalidArgumentError("event.key has an empty column name");
    if (datum.null()) {
      return absl::InvalidArgumentError(absl::StrCat("event.key[", col, "] is NULL: key columns must have values"));
    }
  }
  // PostgreSQL text cannot hold a NUL byte, and libpq cuts the array the
  // replayer binds at the first one: the whole batch then failed ("malformed
  // array literal") and was retried event by event before this event became a
  // dead letter with that puzzling reason (fuzz target event_decoder checks
  // this, docs/fuzzing.md). Only the API path or a corrupted queue can carry one.
  for (const auto* map : {&e.key(), &e.extra()}) {
    const char* field = map == &e.key() ? "key" : "extra";
    for (const auto& [col, datum] : *map) {
      if (col.find('\0') != std::string::npos || datum.text().find('\0') != std::string::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("event.", field, "[", absl::CEscape(col.substr(0, 64)),
                         "] contains a NUL byte: PostgreSQL text cannot hold one"));
      }
    }
  }
  if (e.capture_path() == cutover::v1::CAPTURE_PATH_UNSPECIFIED) {
    return absl::InvalidArgumentError("event.capture_path is unset: expected TRIGGER or API");
  }
  if (e.direction() == cutover::v1::DIRECTION_UNSPECIFIED) {
    return absl::InvalidArgumentError("event.direction is unset: expected BLUE_TO_GREEN or GREEN_TO_BLUE");
  }
  return absl::OkStatus();
}

absl::StatusOr<cutover::v1::RevocationEvent> DecodeEvent(absl::string_view bytes) {
  cutover::v1::RevocationEvent e;
  if (bytes.empty()) return absl::InvalidArgumentError("empty message: not a RevocationEvent");
  if (!e.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return absl::InvalidArgumentError(
        absl::StrCat("undecodable message (", bytes.size(), " bytes): not a protobuf RevocationEvent"));
  }
  RETURN_IF_ERROR(ValidateEvent(e));
  return e;
}

std::string PartitionKey(const cutover::v1::RevocationEvent& e) {
  std::vector<std::pair<std::string, std::string>> cols;
  for (const auto& [k, v] : e.key()) cols.emplace_back(k, v.text());
  std::sort(cols.begin(), cols.end());
  std::string out = e.source_table();
  for (const auto& [k, v] : cols) absl::StrAppend(&out, "|", k, "=", v);
  return out;
}

namespace {

class MtIdGenerator : public IdGenerator {
 public:
  explicit MtIdGenerator(uint64_t seed) : rng_(seed) {}
  std::string NewUuid() override {
    uint64_t hi, lo;
    {
      absl::MutexLock l(&mu_);
      hi = rng_();
      lo = rng_();
    }
    hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
    lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;  // variant 10
    char buf[37];
    std::snprintf(buf, sizeof(buf), "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                  static_cast<unsigned>((hi >> 16) & 0xffff), static_cast<unsigned>(hi & 0xffff),
                  static_cast<unsigned>(lo >> 48), static_cast<unsigned long long>(lo & 0xffffffffffffULL));
    return buf;
  }

 private:
  absl::Mutex mu_;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

IdGenerator* IdGenerator::Default() {
  static IdGenerator* gen = new MtIdGenerator(std::random_device{}() ^ (uint64_t{std::random_device{}()} << 32));
  return gen;
}

std::unique_ptr<IdGenerator> NewSeededIdGenerator(uint64_t seed) { return std::make_unique<MtIdGenerator>(seed); }

}  // namespace cutover::replay
