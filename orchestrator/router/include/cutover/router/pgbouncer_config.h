// pgbouncer.ini handling for PgBouncerRouter: find and rewrite one entry of
// the [databases] section, and replace a file atomically. Kept apart from the
// router so the text handling is unit-tested without a PgBouncer.
//
// Format handled (PgBouncer's ini dialect): "[section]" headers (names
// compared case-insensitively), "key = value" lines, comments starting with
// ';' or '#', keys optionally in double quotes. Everything but the rewritten
// entry's value is kept byte for byte (comments, order, other entries).
//
// Thread-safety: pure functions; WriteFileAtomically may run concurrently
// for different paths (the last rename wins for the same path).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace cutover::router {

// The connection string of `database` in the [databases] section of `ini`.
// FailedPrecondition naming `path` (used in messages only) and the database
// when there is no such entry.
absl::StatusOr<std::string> FindDatabaseEntry(absl::string_view ini, absl::string_view database,
                                              absl::string_view path);

// `ini` with the value of the `database` entry in [databases] replaced by
// `connstr` ("<database> = <connstr>"). FailedPrecondition when the entry is
// missing (the router never adds entries: the operator's config decides
// which databases PgBouncer serves). Unchanged text when already equal.
absl::StatusOr<std::string> RewriteDatabaseEntry(absl::string_view ini, absl::string_view database,
                                                 absl::string_view connstr, absl::string_view path);

// Two libpq connection strings that name the same options (order, quoting
// and spacing ignored). Falls back to comparing the trimmed text when either
// does not parse.
bool SameConnString(absl::string_view a, absl::string_view b);

// Replaces `path` with `contents`: temp file in the same directory, fsync,
// the original file's mode and owner (when it exists), rename, fsync of the
// directory. Readers see the old or the new file, never a partial one.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view contents);

}  // namespace cutover::router
