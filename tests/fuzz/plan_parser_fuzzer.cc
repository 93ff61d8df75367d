// libFuzzer target: a plan file as `cutoverctl plan|validate` reads it,
// through cutover::ParsePlanJson (protobuf's strict JSON mapping), then the
// checks the daemon runs before touching a database: ValidatePlanFields,
// ResolveRules and ResolveRollbackRules on the capture section (rule syntax,
// ParseApply on every apply statement), and for every accepted apply
// statement the rewrites the replayer makes (ReplacePlaceholders,
// SetBasedSql). Every refusal must carry a message naming what is wrong.
// Corpus: corpus/plan_parser, dictionary: plan_parser.dict (docs/fuzzing.md).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "cutover/common/plan_json.h"
#include "cutover/engine/orchestrator.h"
#include "cutover/replay/replayer.h"
#include "cutover/replay/rules.h"
#include "fuzz_common.h"

namespace {

[[noreturn]] void Fail(const std::string& what) { cutover::fuzz::Fail("plan_parser", what); }

void NeedsMessage(const absl::Status& st, const char* what) {
  if (!st.ok() && st.message().empty()) Fail(absl::StrCat(what, " failed without a message"));
}

// What the replayer does with a rule's apply statements once the rules are
// accepted: bind placeholders positionally and build the set-based form.
void Rewrite(const std::vector<cutover::v1::CaptureRule>& rules) {
  for (const cutover::v1::CaptureRule& r : rules) {
    for (const std::string& sql : r.apply()) {
      absl::StatusOr<cutover::replay::ApplyTemplate> t = cutover::replay::ParseApply(sql);
      if (!t.ok()) Fail("an accepted rule's apply statement does not parse: " + t.status().ToString());
      int n = 1;
      NeedsMessage(cutover::replay::ReplacePlaceholders(
                       sql, [&n](const std::string&) { return absl::StrCat("$", ++n); })
                       .status(),
                   "ReplacePlaceholders");
      const std::vector<std::string> types(t->params.size(), "text");
      NeedsMessage(cutover::replay::SetBasedSql(*t, types).status(), "SetBasedSql");
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view json(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<cutover::v1::Plan> plan = cutover::ParsePlanJson(json);
  NeedsMessage(plan.status(), "ParsePlanJson");
  if (!plan.ok()) return 0;
  NeedsMessage(cutover::engine::ValidatePlanFields(*plan), "ValidatePlanFields");
  absl::StatusOr<std::vector<cutover::v1::CaptureRule>> rules =
      cutover::replay::ResolveRules(plan->capture());
  NeedsMessage(rules.status(), "ResolveRules");
  if (rules.ok()) Rewrite(*rules);
  absl::StatusOr<std::vector<cutover::v1::CaptureRule>> rollback =
      cutover::replay::ResolveRollbackRules(plan->capture());
  NeedsMessage(rollback.status(), "ResolveRollbackRules");
  if (rollback.ok()) Rewrite(*rollback);
  return 0;
}
