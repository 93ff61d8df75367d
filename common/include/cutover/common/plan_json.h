// The JSON form of a cutover.v1.Plan: the file `cutoverctl plan|validate`
// reads (docs/cutoverctl.md). Protobuf's JSON mapping, strict: an unknown
// member or a value of the wrong type is an error, never silently dropped.
// Field-level checks (ValidatePlanFields, ResolveRules) come after this.
// Thread-safe, no shared state.
#pragma once

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cutover/v1/plan.pb.h"

namespace cutover {

// Parses `json` as a Plan. InvalidArgument with protobuf's message, which
// names the member ("(copy) tableJobz: Cannot find field.").
absl::StatusOr<cutover::v1::Plan> ParsePlanJson(absl::string_view json);

}  // namespace cutover
