// Schema transfer through pg_dump / pg_restore: the dump is taken in the
// exported snapshot (custom format, schema only); pre-data is restored as one
// transaction; post-data is restored minus the entries the copier builds
// itself (filtered by catalog oid in the TOC list).
//
// Passwords never appear on a command line: they are moved from the DSN to
// the child's PGPASSWORD.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace cutover::copy {

struct DumpOptions {
  std::string blue_dsn;
  std::string snapshot_id;
  std::vector<std::string> exclude_schemas;
  std::string output_path;
  absl::Duration timeout = absl::Hours(1);
};

absl::Status DumpSchema(const DumpOptions& options);

// `pg_restore -l` of one section ("pre-data" / "post-data") of a dump.
absl::StatusOr<std::string> ListToc(const std::string& dump_path, const std::string& section);

struct TocFilterResult {
  std::string list;   // the TOC list with skipped entries commented out
  int kept = 0;
  int skipped = 0;
};

// Comments out TOC entries whose catalog oid is in `skip_oids` (indexes in
// pg_class, constraints in pg_constraint, triggers in pg_trigger).
TocFilterResult FilterToc(const std::string& toc, const std::set<uint32_t>& skip_oids);

struct RestoreOptions {
  std::string green_dsn;
  std::string dump_path;
  std::string section;     // "pre-data" or "post-data"
  std::string list_path;   // optional -L list
  int jobs = 1;            // > 1 excludes single_transaction
  bool single_transaction = false;
  bool no_owner = false;
  absl::Duration timeout = absl::Hours(12);
};

absl::Status Restore(const RestoreOptions& options);

// Splits `dsn` into (dsn without password, password) for child processes.
std::pair<std::string, std::string> SplitPassword(const std::string& dsn);

}  // namespace cutover::copy
