// libFuzzer target: the bytes a replayer reads from a queue (Kafka or the
// PostgreSQL queue), fully attacker- or corruption-controlled, through
// cutover::replay::DecodeEvent and PlanBatch (decode, dead-letter routing,
// rule lookup, column binding) with the built-in Hydra rules of both
// directions, then TextArrayLiteral (the array the apply statement gets).
// Besides crashes, leaks and UB it checks:
//  * every refusal carries a reason (it becomes the dead-letter record);
//  * an accepted event survives the queue round trip: re-encoding it (what
//    the relay produces) and decoding again gives the same event and key;
//  * a bound value never carries a NUL byte (libpq would cut it there and
//    the apply statement would match another row).
// Corpus: corpus/event_decoder, dictionary: event_decoder.dict
// (docs/fuzzing.md).
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "cutover/replay/event.h"
#include "cutover/replay/hydra_profile.h"
#include "cutover/replay/replayer.h"
#include "cutover/replay/rules.h"
#include "fuzz_common.h"
#include "google/protobuf/util/message_differencer.h"

namespace {

[[noreturn]] void Fail(const std::string& what) { cutover::fuzz::Fail("event_decoder", what); }

// The replayer's view of a rule list without a database: every placeholder
// of every apply statement is a needed column (the SQL itself needs the
// types PostgreSQL infers, so it is left empty).
std::map<std::string, cutover::replay::CompiledRule> Compile(
    const std::vector<cutover::v1::CaptureRule>& rules) {
  std::map<std::string, cutover::replay::CompiledRule> out;
  for (const cutover::v1::CaptureRule& r : rules) {
    std::set<std::string> needed;
    for (const std::string& sql : r.apply()) {
      absl::StatusOr<cutover::replay::ApplyTemplate> t = cutover::replay::ParseApply(sql);
      if (!t.ok()) Fail("built-in rule " + r.name() + " does not parse: " + t.status().ToString());
      needed.insert(t->params.begin(), t->params.end());
    }
    cutover::replay::CompiledRule& c = out[r.name()];
    c.name = r.name();
    c.needed.assign(needed.begin(), needed.end());
  }
  return out;
}

void Plan(const std::string& payload, const std::map<std::string, cutover::replay::CompiledRule>& rules,
          cutover::v1::Direction direction) {
  cutover::replay::QueuedMessage m;
  m.position.set_partition(0);
  m.position.set_offset(41);
  m.payload = payload;
  // Twice: the second copy is a duplicate within the batch.
  const cutover::replay::BatchPlan plan = cutover::replay::PlanBatch({m, m}, rules, "fuzz", direction);
  for (const cutover::replay::DeadLetter& d : plan.dead) {
    if (d.reason.empty()) Fail("dead letter without a reason");
  }
  for (const auto& [rule, events] : plan.by_rule) {
    for (const cutover::replay::PlannedEvent& e : events) {
      for (const auto& [col, value] : e.values) {
        const std::string literal = cutover::replay::TextArrayLiteral({value});
        if (literal.find('\0') != std::string::npos) Fail("bound value of " + col + " contains a NUL byte");
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto* const forward =
      new std::map<std::string, cutover::replay::CompiledRule>(Compile(cutover::replay::HydraRules()));
  static const auto* const reverse = new std::map<std::string, cutover::replay::CompiledRule>(
      Compile(cutover::replay::HydraRollbackRules()));

  const std::string payload(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<cutover::v1::RevocationEvent> event = cutover::replay::DecodeEvent(payload);
  if (!event.ok() && event.status().message().empty()) Fail("DecodeEvent refused the input without a reason");
  Plan(payload, *forward, cutover::v1::DIRECTION_BLUE_TO_GREEN);
  Plan(payload, *reverse, cutover::v1::DIRECTION_GREEN_TO_BLUE);
  if (!event.ok()) return 0;

  const std::string key = cutover::replay::PartitionKey(*event);
  absl::StatusOr<cutover::v1::RevocationEvent> again =
      cutover::replay::DecodeEvent(cutover::replay::EncodeEvent(*event));
  if (!again.ok()) Fail("re-encoded event does not decode: " + again.status().ToString());
  if (!google::protobuf::util::MessageDifferencer::Equals(*event, *again))
    Fail("event changed in the round trip");
  if (cutover::replay::PartitionKey(*again) != key) Fail("partition key changed in the round trip");
  return 0;
}
