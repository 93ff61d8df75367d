// RevocationEvent encoding, validation and ids. The wire format in every
// queue is the protobuf binary encoding of cutover.v1.RevocationEvent with
// format_version = kEventFormatVersion; see docs/event-format.md.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cutover/common/status.h"
#include "cutover/v1/event.pb.h"

namespace cutover::replay {

inline constexpr uint32_t kEventFormatVersion = 1;

// Serializes `event` (deterministic field order).
std::string EncodeEvent(const cutover::v1::RevocationEvent& event);

// Parses and validates bytes read from a queue. InvalidArgument, with the
// reason, for bytes that are not a RevocationEvent, an unknown
// format_version, or a failed ValidateEvent.
absl::StatusOr<cutover::v1::RevocationEvent> DecodeEvent(absl::string_view bytes);

// Field-level checks, each error naming the field and what was expected:
// event_id a UUID, kind non-empty, op DELETE or UPDATE, source_table
// "schema.table", at least one key column, capture_path and direction set.
absl::Status ValidateEvent(const cutover::v1::RevocationEvent& event);

// True for the canonical 8-4-4-4-12 hex form (any case).
bool IsUuid(absl::string_view s);

// The queue key that keeps one row's events in order in one partition:
// source_table plus the key columns in name order.
std::string PartitionKey(const cutover::v1::RevocationEvent& event);

// Makes event ids. Thread-safe.
class IdGenerator {
 public:
  virtual ~IdGenerator() = default;
  // A version-4 UUID, lowercase.
  virtual std::string NewUuid() = 0;
  // Process-wide generator seeded from the OS.
  static IdGenerator* Default();
};

// Deterministic generator for tests.
std::unique_ptr<IdGenerator> NewSeededIdGenerator(uint64_t seed);

}  // namespace cutover::replay
