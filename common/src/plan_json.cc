#include "cutover/common/plan_json.h"

#include <google/protobuf/util/json_util.h>

#include <string>

namespace cutover {

absl::StatusOr<cutover::v1::Plan> ParsePlanJson(absl::string_view json) {
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  cutover::v1::Plan plan;
  const auto st = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &plan, options);
  if (!st.ok()) return absl::InvalidArgumentError(st.message().ToString());
  return plan;
}

}  // namespace cutover
