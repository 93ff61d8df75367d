// Writes the generated part of the seed corpora (docs/fuzzing.md):
//   corpus/event_decoder/: the encoding of one event per built-in Hydra rule
//     of both directions, as capture would produce it, plus edge cases
//     (NULLs, quotes, long and unicode values, API path, wrong direction or
//     cutover, unknown kind/version/enum/field, truncation);
//   corpus/plan_parser/generated_hydra_rules_explicit.json: a generic plan
//     listing every built-in rule (every apply statement the profile has).
// Deterministic (seeded ids, fixed times). Build in a CUTOVER_FUZZ build:
//   cmake --build build-sanitize --target fuzz-make-seeds
//   build-sanitize/tests/fuzz/fuzz-make-seeds tests/fuzz/corpus
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cutover/replay/event.h"
#include "cutover/replay/hydra_profile.h"
#include "google/protobuf/util/json_util.h"

namespace {

namespace v1 = cutover::v1;
using cutover::replay::EncodeEvent;

std::string g_dir;
int g_written = 0;

void Write(const std::string& rel, const std::string& bytes) {
  const std::string path = absl::StrCat(g_dir, "/", rel);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  if (!out) {
    std::cerr << "make_seeds: cannot write " << path << "\n";
    std::exit(1);
  }
  ++g_written;
}

// An event as the capture trigger writes it for `rule`.
v1::RevocationEvent FromRule(const v1::CaptureRule& rule, v1::Direction direction,
                             cutover::replay::IdGenerator* ids) {
  v1::RevocationEvent e;
  e.set_format_version(cutover::replay::kEventFormatVersion);
  e.set_event_id(ids->NewUuid());
  e.set_kind(rule.name());
  e.set_revocation_class(rule.revocation_class());
  e.set_source_table(rule.table());
  e.set_op(rule.on_delete() ? v1::ROW_OP_DELETE : v1::ROW_OP_UPDATE);
  int i = 0;
  for (const std::string& col : rule.key_columns()) {
    (*e.mutable_key())[col].set_text(absl::StrCat(col, "-", ++i, "-ory_at_9f2c1e"));
  }
  for (const std::string& col : rule.extra_columns()) {
    (*e.mutable_extra())[col].set_text(absl::StrCat("x-", col));
  }
  e.set_source_txid(7340032 + i);
  e.mutable_captured_at()->set_seconds(1714644843);
  e.mutable_captured_at()->set_nanos(123456000);
  e.set_capture_path(v1::CAPTURE_PATH_TRIGGER);
  e.set_direction(direction);
  e.set_cutover_id("fuzz");
  return e;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz-make-seeds CORPUS_DIR (tests/fuzz/corpus)\n";
    return 2;
  }
  g_dir = absl::StrCat(argv[1], "/event_decoder");
  std::unique_ptr<cutover::replay::IdGenerator> ids = cutover::replay::NewSeededIdGenerator(20241122);

  for (const v1::CaptureRule& r : cutover::replay::HydraRules()) {
    Write(absl::StrCat("rule_", r.name(), ".bin"),
          EncodeEvent(FromRule(r, v1::DIRECTION_BLUE_TO_GREEN, ids.get())));
  }
  for (const v1::CaptureRule& r : cutover::replay::HydraRollbackRules()) {
    Write(absl::StrCat("rollback_", r.name(), ".bin"),
          EncodeEvent(FromRule(r, v1::DIRECTION_GREEN_TO_BLUE, ids.get())));
  }

  const v1::CaptureRule& access = cutover::replay::HydraRules().front();
  const v1::RevocationEvent base = FromRule(access, v1::DIRECTION_BLUE_TO_GREEN, ids.get());
  auto edge = [&](const std::string& name, const std::function<void(v1::RevocationEvent*)>& change) {
    v1::RevocationEvent e = base;
    change(&e);
    Write(absl::StrCat("edge_", name, ".bin"), EncodeEvent(e));
  };
  edge("api_path", [](v1::RevocationEvent* e) {
    e->set_capture_path(v1::CAPTURE_PATH_API);
    e->set_source_txid(0);
    e->clear_cutover_id();
  });
  edge("null_extra", [](v1::RevocationEvent* e) {
    for (auto& [col, d] : *e->mutable_extra()) {
      d.clear_text();
      d.set_null(true);
    }
  });
  edge("empty_values", [](v1::RevocationEvent* e) {
    for (auto& [col, d] : *e->mutable_key()) d.set_text("");
  });
  edge("quotes_backslashes", [](v1::RevocationEvent* e) {
    for (auto& [col, d] : *e->mutable_key()) d.set_text("a\"b\\c'd{e},NULL");
  });
  edge("unicode", [](v1::RevocationEvent* e) {
    for (auto& [col, d] : *e->mutable_key()) d.set_text("r\xC3\xA9vocation-\xE2\x9C\x93-\xF0\x9F\x94\x91");
  });
  edge("long_value", [](v1::RevocationEvent* e) {
    for (auto& [col, d] : *e->mutable_key()) d.set_text(std::string(4000, 'k'));
  });
  edge("fifty_columns", [](v1::RevocationEvent* e) {
    for (int i = 0; i < 50; ++i) (*e->mutable_extra())[absl::StrCat("c", i)].set_text(absl::StrCat(i));
  });
  edge("uppercase_uuid",
       [](v1::RevocationEvent* e) { e->set_event_id("0B8E1D4C-6C9F-4F6E-9A51-3C2F6E1D2A7B"); });
  edge("other_cutover", [](v1::RevocationEvent* e) { e->set_cutover_id("another-cutover"); });
  edge("wrong_direction", [](v1::RevocationEvent* e) { e->set_direction(v1::DIRECTION_GREEN_TO_BLUE); });
  edge("unknown_kind", [](v1::RevocationEvent* e) { e->set_kind("hydra.unknown.delete"); });
  edge("format_version_2", [](v1::RevocationEvent* e) { e->set_format_version(2); });
  edge("no_event_id", [](v1::RevocationEvent* e) { e->clear_event_id(); });
  edge("null_key", [](v1::RevocationEvent* e) {
    for (auto& [col, d] : *e->mutable_key()) d.set_null(true);
  });
  edge("empty_key_column", [](v1::RevocationEvent* e) { (*e->mutable_key())[""].set_text("x"); });
  // Regression: a NUL byte in a value (libpq would cut the bound array there).
  edge("nul_in_key", [](v1::RevocationEvent* e) {
    for (auto& [col, d] : *e->mutable_key()) d.set_text(std::string("sig\0tail", 8));
  });
  edge("missing_extra", [](v1::RevocationEvent* e) { e->clear_extra(); });
  edge("unknown_op", [](v1::RevocationEvent* e) { e->set_op(static_cast<v1::RowOp>(7)); });
  edge("unqualified_table", [](v1::RevocationEvent* e) { e->set_source_table("hydra_oauth2_access"); });
  edge("negative_txid", [](v1::RevocationEvent* e) { e->set_source_txid(-1); });
  edge("max_timestamp", [](v1::RevocationEvent* e) {
    e->mutable_captured_at()->set_seconds(253402300799);
    e->mutable_captured_at()->set_nanos(999999999);
  });
  // Bytes a decoder may meet that no encoder writes.
  const std::string good = EncodeEvent(base);
  Write("edge_unknown_field.bin", absl::StrCat(good, std::string("\xfa\x06\x03"
                                                                 "abc",
                                                                 6)));  // field 111
  Write("edge_truncated.bin", good.substr(0, good.size() / 2));
  Write("edge_twice_concatenated.bin", absl::StrCat(good, good));
  Write("edge_invalid_utf8.bin", absl::StrCat(good, std::string("\x1a\x02\xc3\x28", 4)));  // kind = bad UTF-8
  Write("edge_not_protobuf.txt", "{\"event_id\": \"not a protobuf\"}");

  // A generic plan that lists every built-in rule explicitly.
  g_dir = absl::StrCat(argv[1], "/plan_parser");
  v1::Plan plan;
  plan.set_name("hydra-explicit");
  plan.mutable_blue()->set_dsn("host=blue dbname=hydra");
  plan.mutable_green()->set_dsn("host=green dbname=hydra");
  plan.mutable_capture()->set_profile("generic");
  for (const v1::CaptureRule& r : cutover::replay::HydraRules()) *plan.mutable_capture()->add_rules() = r;
  for (const v1::CaptureRule& r : cutover::replay::HydraRollbackRules()) {
    *plan.mutable_capture()->add_rollback_rules() = r;
  }
  plan.mutable_queue()->mutable_postgres()->set_dsn("host=control dbname=cutover");
  plan.mutable_router()->mutable_command()->set_pause("true");
  plan.mutable_router()->mutable_command()->set_resume("true");
  plan.mutable_router()->mutable_command()->set_repoint_green("true");
  plan.mutable_router()->mutable_command()->set_repoint_blue("true");
  plan.mutable_flip()->mutable_rollback_window()->set_seconds(600);
  std::string json;
  google::protobuf::util::JsonPrintOptions po;
  po.add_whitespace = true;
  if (!google::protobuf::util::MessageToJsonString(plan, &json, po).ok()) {
    std::cerr << "make_seeds: cannot print the plan\n";
    return 1;
  }
  Write("generated_hydra_rules_explicit.json", json);
  std::cout << "make_seeds: wrote " << g_written << " files under " << argv[1] << "\n";
  return 0;
}
