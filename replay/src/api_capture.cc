#include "cutover/replay/api_capture.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cutover/common/proto_time.h"

namespace cutover::replay {

ApiCapture::ApiCapture(std::string cutover_id, cutover::v1::Direction direction,
                       const std::vector<cutover::v1::CaptureRule>& rules, RevocationQueue* queue, IdGenerator* ids,
                       Clock* clock)
    : cutover_id_(std::move(cutover_id)), direction_(direction), queue_(queue), ids_(ids), clock_(clock) {
  for (const auto& r : rules) rules_[r.name()] = r;
}

absl::Status ApiCapture::Complete(cutover::v1::RevocationEvent* e) {
  auto rule_it = rules_.find(e->kind());
  if (rule_it == rules_.end()) {
    std::vector<std::string> names;
    for (const auto& [n, r] : rules_) names.push_back(n);
    if (names.size() > 12) {
      names.resize(12);
      names.push_back("...");
    }
    return absl::InvalidArgumentError(absl::StrCat("event.kind '", e->kind().substr(0, 128),
                                                   "' is not a capture rule of this cutover (expected one of: ",
                                                   absl::StrJoin(names, ", "), ")"));
  }
  const cutover::v1::CaptureRule& rule = rule_it->second;
  if (e->event_id().empty()) {
    e->set_event_id(ids_->NewUuid());
  } else if (!IsUuid(e->event_id())) {
    return absl::InvalidArgumentError(absl::StrCat("event.event_id '", e->event_id().substr(0, 64),
                                                   "' is not a UUID (expected 8-4-4-4-12 hex, or empty to assign one)"));
  }
  if (e->source_table().empty()) {
    e->set_source_table(rule.table());
  } else if (e->source_table() != rule.table()) {
    return absl::InvalidArgumentError(absl::StrCat("event.source_table '", e->source_table().substr(0, 128),
                                                   "' does not match rule ", rule.name(), " (expected '", rule.table(),
                                                   "' or empty)"));
  }
  if (e->op() == cutover::v1::ROW_OP_UNSPECIFIED) {
    e->set_op(rule.on_delete() ? cutover::v1::ROW_OP_DELETE : cutover::v1::ROW_OP_UPDATE);
  }
  std::set<std::string> allowed(rule.key_columns().begin(), rule.key_columns().end());
  for (const auto& col : rule.key_columns()) {
    auto it = e->key().find(col);
    if (it == e->key().end() || it->second.null()) {
      return absl::InvalidArgumentError(absl::StrCat("event.key.", col, " is missing: rule ", rule.name(),
                                                     " needs key columns ", absl::StrJoin(rule.key_columns(), ", ")));
    }
  }
  for (const auto& [col, v] : e->key()) {
    if (!allowed.count(col)) {
      return absl::InvalidArgumentError(absl::StrCat("event.key.", col, " is not a key column of rule ", rule.name(),
                                                     " (expected ", absl::StrJoin(rule.key_columns(), ", "), ")"));
    }
  }
  std::set<std::string> extras(rule.extra_columns().begin(), rule.extra_columns().end());
  for (const auto& [col, v] : e->extra()) {
    if (!extras.count(col)) {
      return absl::InvalidArgumentError(absl::StrCat("event.extra.", col, " is not an extra column of rule ",
                                                     rule.name(), " (expected any of: ",
                                                     absl::StrJoin(rule.extra_columns(), ", "), ")"));
    }
  }
  if (!e->cutover_id().empty() && e->cutover_id() != cutover_id_) {
    return absl::InvalidArgumentError(
        absl::StrCat("event.cutover_id '", e->cutover_id().substr(0, 64), "' is not this cutover ('", cutover_id_, "')"));
  }
  e->set_cutover_id(cutover_id_);
  e->set_format_version(kEventFormatVersion);
  e->set_revocation_class(rule.revocation_class());
  e->set_capture_path(cutover::v1::CAPTURE_PATH_API);
  e->set_direction(direction_);
  if (!e->has_captured_at()) *e->mutable_captured_at() = ToProtoTime(clock_->Now());
  return ValidateEvent(*e);
}

absl::StatusOr<cutover::v1::RecordRevocationResponse> ApiCapture::Record(cutover::v1::RevocationEvent event) {
  RETURN_IF_ERROR(Complete(&event));
  ASSIGN_OR_RETURN(auto positions, queue_->Append({{PartitionKey(event), EncodeEvent(event)}}));
  cutover::v1::RecordRevocationResponse resp;
  resp.set_event_id(event.event_id());
  *resp.mutable_position() = positions.at(0);
  return resp;
}

}  // namespace cutover::replay
