// cutover-check: compares the fenced blue database with green after a Hydra
// cutover, plus the workload's revocation ledger (docs/cutover-check.md).
// Exit codes: 0 OK, 1 lost or false revocations found, 2 usage or bad input
// (the flag, or file:line, and what was expected), 3 a database could not be
// read (the message names the side).
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cutover/check/check.h"
#include "cutover/common/pg.h"
#include "google/protobuf/util/json_util.h"

namespace {

constexpr int kOk = 0;
constexpr int kFindings = 1;
constexpr int kUsage = 2;
constexpr int kDatabase = 3;

int Usage(const std::string& message) {
  std::cerr << "cutover-check: " << message << "\n";
  return kUsage;
}

bool ParseTime(const std::string& flag, const std::string& text, std::optional<absl::Time>* out, int* rc) {
  absl::Time t;
  std::string err;
  if (!absl::ParseTime(absl::RFC3339_full, text, &t, &err)) {
    *rc = Usage(
        absl::StrCat(flag, ": expected an RFC 3339 time such as 2024-05-01T12:00:00Z, got \"", text, "\""));
    return false;
  }
  *out = t;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "cutover-check: compare the fenced blue database with green after a Hydra cutover (lost and false "
      "revocations, accepted losses) and check the workload's revocation ledger"};
  std::string blue, green, ledger, since_flip, report_file, snapshot_at, output = "text";
  int max_examples = 10;
  bool quiet = false;
  app.add_option("--blue", blue, "blue DSN (the fenced source database)")->required();
  app.add_option("--green", green, "green DSN (the database now serving)")->required();
  app.add_option("--ledger", ledger, "the workload's revocation ledger (JSON lines from cutover-loadgen)");
  auto* since =
      app.add_option("--since-flip", since_flip,
                     "RFC 3339 time of the flip: rows only on green created from then on are ignored");
  auto* rep =
      app.add_option("--report", report_file,
                     "cutover report JSON (cutoverctl --output json report ID): cutoff = flip.paused_at, "
                     "snapshot = the last transition into COPYING");
  since->excludes(rep);
  app.add_option("--snapshot-at", snapshot_at,
                 "RFC 3339 time of blue's copy snapshot: rows only on blue created before it are false "
                 "revocations, later ones accepted losses (overrides the report's)");
  app.add_option("-o,--output", output, "report format")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_option("--max-examples", max_examples, "offending keys listed per category")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  app.add_flag("-q,--quiet", quiet, "no progress on stderr");
  std::string serving = "green";
  app.add_option(
         "--serving", serving,
         "which side serves: green (completed; compare both sides and the ledger) or blue (aborted or "
         "rolled back: every ledger entry must be in effect on blue; green is not read)")
      ->check(CLI::IsMember({"green", "blue"}))
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kOk : kUsage;
  }

  for (const auto& [flag, dsn] : {std::pair<std::string, std::string>{"--blue", blue}, {"--green", green}}) {
    auto parsed = cutover::pg::ParseDsn(dsn, flag);
    if (!parsed.ok()) return Usage(std::string(parsed.status().message()));
  }

  cutover::check::CheckOptions options;
  options.blue_dsn = blue;
  options.green_dsn = green;
  options.ledger_path = ledger;
  options.max_examples = max_examples;
  options.serving_blue = serving == "blue";
  if (options.serving_blue && ledger.empty())
    return Usage("--serving blue needs --ledger FILE (only the ledger is checked)");
  int rc = kOk;
  if (!since_flip.empty()) {
    if (!ParseTime("--since-flip", since_flip, &options.created_after, &rc)) return rc;
    options.created_after_source = "--since-flip";
  }
  if (!report_file.empty()) {
    auto times = cutover::check::ReadReportTimes(report_file);
    if (!times.ok()) return Usage(std::string(times.status().message()));
    options.created_after = times->cutoff;
    options.created_after_source = times->cutoff_source;
    if (times->snapshot_at) {
      options.snapshot_at = times->snapshot_at;
      options.snapshot_source = "report: last transition into COPYING";
    }
  }
  if (!snapshot_at.empty()) {
    if (!ParseTime("--snapshot-at", snapshot_at, &options.snapshot_at, &rc)) return rc;
    options.snapshot_source = "--snapshot-at";
  }
  if (!quiet) {
    options.progress = [](absl::string_view line) {
      std::fprintf(stderr, "cutover-check: %.*s\n", static_cast<int>(line.size()), line.data());
      std::fflush(stderr);
    };
  }

  auto report = cutover::check::RunCheck(options);
  if (!report.ok()) {
    std::cerr << "cutover-check: " << report.status().message() << "\n";
    switch (cutover::check::SourceOf(report.status())) {
      case cutover::check::ErrorSource::kBlue:
      case cutover::check::ErrorSource::kGreen:
        return kDatabase;
      case cutover::check::ErrorSource::kInput:
        return kUsage;
    }
    return kUsage;
  }
  if (output == "json") {
    google::protobuf::util::JsonPrintOptions o;
    o.add_whitespace = true;
    o.preserve_proto_field_names = true;
    o.always_print_primitive_fields = true;
    std::string json;
    (void)google::protobuf::util::MessageToJsonString(*report, &json, o);
    std::cout << json;
    if (json.empty() || json.back() != '\n') std::cout << "\n";
  } else {
    std::cout << cutover::check::FormatReport(*report);
  }
  return report->ok() ? kOk : kFindings;
}
