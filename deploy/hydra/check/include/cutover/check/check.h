// cutover-check: an independent checker of a finished Hydra cutover. It
// compares the fenced, frozen blue database with green directly, entity by
// entity (tokens by signature, consents by challenge, login sessions and
// clients by id), plus the client workload's revocation ledger, and reports
// lost revocations (revoked on blue, alive on green), false revocations
// (alive on blue, gone on green without a green revocation explaining it)
// and accepted losses. Rules, output and exit codes: docs/cutover-check.md.
//
// Independent by construction: it uses no capture, queue or replay code
// (it links only common, proto and the Hydra dataset library), so a bug
// there cannot hide itself. It lives in deploy/hydra/ rather than
// orchestrator/ because everything it knows is Hydra's schema (both shapes,
// detected per side with hydra::DetectShape), like the dataset and the
// loadgen whose ledger it reads.
//
// Each side is read in one REPEATABLE READ READ ONLY transaction (green may
// still be taking traffic), streamed with COPY ... ORDER BY key COLLATE "C"
// and merge-joined; memory does not grow with the tables.
//
// Thread-safety: RunCheck may be called from any thread; it uses only its
// own connections. `progress` is called from the calling thread.
#pragma once

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cutover/check/compare.h"
#include "cutover/v1/check.pb.h"

namespace cutover::check {

struct CheckOptions {
  std::string blue_dsn;
  std::string green_dsn;
  // The workload's ledger (ledger.h); empty = none.
  std::string ledger_path;
  // Rows only on green created at or after this were made on green after
  // the flip and are ignored. Unset: none is ignored.
  std::optional<absl::Time> created_after;
  std::string created_after_source;
  // When blue's copy snapshot was taken: rows only on blue created before it
  // are false revocations, later ones accepted losses. Unset: all of them
  // are accepted losses.
  std::optional<absl::Time> snapshot_at;
  std::string snapshot_source;
  int max_examples = 10;
  ProgressFn progress;
  // The cutover was aborted or rolled back, so blue serves (`--serving blue`):
  // the entities are not compared (green is not authoritative) and every
  // ledger entry, made on blue or on green, must be in effect on blue.
  // green_dsn is not read.
  bool serving_blue = false;
};

// Which input an error is about; decides cutover-check's exit code.
enum class ErrorSource {
  kInput,  // a flag, the ledger or the report file (exit 2)
  kBlue,   // the blue database could not be read (exit 3)
  kGreen,  // the green database could not be read (exit 3)
};
// The source recorded in an error returned by this library (kInput when the
// status carries none).
ErrorSource SourceOf(const absl::Status& status);
absl::Status WithSource(absl::Status status, ErrorSource source);

// Runs every comparison and the ledger check. A database that cannot be
// read, or holds no Hydra schema, is an error tagged with its side; a
// malformed ledger line is an error tagged kInput naming file:line. Findings
// are never errors: they are in the report (ok == false).
absl::StatusOr<v1::CheckReport> RunCheck(const CheckOptions& options);

// What cutover-check takes from a cutover report (`cutoverctl --output json
// report ID`, a cutover.v1.Report; proto or lowerCamel field names).
struct ReportTimes {
  // flip.paused_at, else flip.flipped_at: everything created from then on
  // was created on green.
  absl::Time cutoff;
  std::string cutoff_source;  // "report flip.paused_at" / "report flip.flipped_at"
  // The last transition into COPYING (when the copy snapshot was exported);
  // unset when the timeline has none.
  std::optional<absl::Time> snapshot_at;
};
// InvalidArgument (naming the file and what was expected) when the file is
// not such a report or the cutover never flipped.
absl::StatusOr<ReportTimes> ReadReportTimes(const std::string& path);

// The human summary: one line per entity, the ledger, the first offending
// keys, and the verdict line last.
std::string FormatReport(const v1::CheckReport& report);

// "2024-05-01T12:00:00.123456Z".
std::string FormatRfc3339(absl::Time t);

}  // namespace cutover::check
