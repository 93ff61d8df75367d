// The blue -> green copy, behind the interface the state machine drives.
//
// Guarantees (docs/copy.md):
//  - One consistent snapshot: a coordinator transaction on blue exports it,
//    every worker imports it; rows committed on blue after the snapshot never
//    reach green, and verification hashes blue in that same snapshot.
//  - Nothing is written anywhere until every preflight check passed.
//  - Never a silently mixed copy: green carries an attempt marker; a copy that
//    dies midway leaves it "running"/"failed" and the next Copy() resets green
//    (one transaction) and starts over from a new snapshot.
//  - A completed copy is verified (row count + content hash per table) before
//    Copy() returns OK; any mismatch is a DataLoss error naming the table.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cutover/common/clock.h"
#include "cutover/copy/control.h"
#include "cutover/v1/cutover.pb.h"
#include "cutover/v1/plan.pb.h"

namespace cutover::copy {

enum class CopyStage {
  kSchema,     // pre-data schema to green (part of COPYING)
  kData,       // table data streaming; indexes start as tables finish (COPYING)
  kIndexing,   // data is in; remaining indexes, constraints, sequences (INDEXING)
  kVerifying,  // row counts and content hashes (VERIFYING_COPY)
};

const char* CopyStageName(CopyStage stage);

// Receives the copy's stages, periodic progress, and human milestones.
// OnStage is called before the stage's side effects start; a non-OK return
// stops the copy with that status (the state machine could not persist the
// transition). Called from the thread running Copy() (OnStage, OnLog) or a
// progress thread (OnProgress); implementations must be thread-safe.
class CopyObserver {
 public:
  virtual ~CopyObserver() = default;
  virtual absl::Status OnStage(CopyStage stage) { return absl::OkStatus(); }
  virtual void OnProgress(const cutover::v1::CopyProgress& progress) {}
  virtual void OnLog(absl::string_view line) {}
};

struct CopyRequest {
  std::string blue_dsn;
  std::string green_dsn;
  cutover::v1::CopyOptions options;
  std::string cutover_id = "manual";
  // Where the schema dump is written; empty = a fresh temp dir, removed after.
  std::string work_dir;
  absl::Duration progress_interval = absl::Seconds(1);
  // Verify row counts (+ content hashes unless options.skip_content_hash).
  bool verify = true;
};

// One preflight check and its outcome; `status` carries the classified error
// (e.g. Unauthenticated for a wrong password) when the check failed.
struct CheckResult {
  std::string name;  // "blue.connect", "green.empty", ...
  absl::Status status;
  std::string detail;  // what was checked / found, for people
};

class Copier {
 public:
  virtual ~Copier() = default;
  // Runs every preflight check; writes nothing anywhere. A failed check is in
  // the returned list; the call itself fails only on a bug.
  virtual std::vector<CheckResult> Preflight(const CopyRequest& request) = 0;
  // Preflight, then the whole copy and its verification. Thread-safe with
  // respect to `control` (pause / cancel from another thread).
  virtual absl::StatusOr<cutover::v1::CopyReport> Copy(const CopyRequest& request, CopyObserver* observer,
                                                       CopyControl* control) = 0;
};

// The PostgreSQL copier (pg_dump/pg_restore for schema, libpq binary COPY for
// data, its own parallel index builder).
std::unique_ptr<Copier> NewPgCopier(Clock* clock = Clock::Real());

// First failed check as a status ("<check>: <message>"), or OK.
absl::Status FirstFailure(const std::vector<CheckResult>& checks);

}  // namespace cutover::copy
