// Trigger capture on the capturing side (blue during a cutover, green during
// a rollback): statement-level AFTER triggers with transition tables write one
// outbox row per revoked row, in the revoking transaction, into schema
// cutover_capture. The relay reads the outbox, turns rows into
// RevocationEvents (EventFromOutboxRow) and deletes them once queued.
// Layout, guarantees, locking and removal: docs/capture.md.
//
// Guarantees: an event is committed iff its revocation commits; FK cascades
// are captured (they fire the child tables' statement triggers); a revoking
// application needs no privilege on cutover_capture (SECURITY DEFINER).
//
// Thread-safety: free functions; each uses only the Session it is given,
// which no other thread may use meanwhile. Install/Remove may block for up to
// max_attempts x (lock_timeout + backoff); nothing else blocks beyond SQL.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cutover/common/clock.h"
#include "cutover/common/pg.h"
#include "cutover/v1/event.pb.h"
#include "cutover/v1/plan.pb.h"

namespace cutover::replay {

inline constexpr char kCaptureSchema[] = "cutover_capture";

struct CaptureInstallOptions {
  // Recorded in every outbox row and in cutover_capture.installed; one
  // cutover's capture at a time per database.
  std::string cutover_id;
  // BLUE_TO_GREEN on blue; GREEN_TO_BLUE on green for a rollback. Required.
  cutover::v1::Direction direction = cutover::v1::DIRECTION_UNSPECIFIED;
  // Each DDL transaction runs with SET LOCAL lock_timeout = this. While it
  // waits for a table lock, writers queue behind it, so keep it short.
  absl::Duration lock_timeout = absl::Milliseconds(500);
  // Attempts per DDL transaction when its lock is not available (55P03) or
  // it deadlocks (40P01).
  int max_attempts = 20;
  // Sleep before the 2nd attempt; doubles per attempt, capped at 8x.
  absl::Duration backoff = absl::Milliseconds(200);
  // Sleeps between attempts; null = Clock::Real().
  Clock* clock = nullptr;
};

// Installs (or re-installs) capture for `rules` on `side`:
//  1. checks the rules (ValidateRules, CheckRulesOnCaptureSide);
//  2. one transaction: schema cutover_capture, tables outbox and installed
//     (kept when present: outbox rows are never dropped) and the record of
//     this install;
//  3. one short transaction per capture trigger (rule x op): its function
//     (CREATE OR REPLACE), the AFTER DELETE / AFTER UPDATE ... FOR EACH
//     STATEMENT trigger with transition tables when missing or not enabled,
//     and a self-test that fires it on no row inside a rolled-back savepoint,
//     so a function that would fail never goes live; plus a BEFORE TRUNCATE
//     guard per captured table that refuses TRUNCATE (it would bypass capture);
//  4. drops triggers and functions of rules no longer present.
// Idempotent: re-running with the same rules replaces the functions and
// takes only the self-tests' ROW EXCLUSIVE locks. Errors: InvalidArgument
// (bad rules or options), FailedPrecondition (catalog mismatch, PostgreSQL
// < 14, a failed self-test, or another cutover's / direction's capture is
// installed), Aborted naming the table when a lock could not be taken in
// max_attempts; connection errors as classified by pg. A failed install may
// leave some triggers in place (all working): re-run it or RemoveCapture.
absl::Status InstallCapture(pg::Session& side, const std::vector<cutover::v1::CaptureRule>& rules,
                            const CaptureInstallOptions& options);

// Removes every capture trigger (each in its own short transaction, with the
// same lock retries), then schema cutover_capture with its functions and
// tables, leaving the database's schema as it was before InstallCapture.
// Refuses (FailedPrecondition) while the outbox holds rows, unless `force`
// (the rows are lost), and when the installed capture belongs to another
// cutover. OK when nothing is installed.
absl::Status RemoveCapture(pg::Session& side, const CaptureInstallOptions& options, bool force = false);

struct CaptureStatus {
  bool installed = false;  // the installed record exists
  std::string cutover_id;
  cutover::v1::Direction direction = cutover::v1::DIRECTION_UNSPECIFIED;
  std::optional<absl::Time> installed_at;
  std::vector<std::string> rules;  // rule names of the installed record
  int triggers = 0;                // capture triggers present (incl. TRUNCATE guards)
  int disabled_triggers = 0;       // of those, not firing (ALTER TABLE ... DISABLE TRIGGER)
  int64_t outbox_rows = 0;
  std::optional<absl::Time> oldest_captured_at;  // of the lowest outbox id
};

absl::StatusOr<CaptureStatus> InspectCapture(pg::Session& side);

// One outbox row as text, the way the relay selects it. Column order of the
// relay's SELECT: kOutboxColumns (cutover_id is optional: when the SELECT
// omits it the event's cutover_id stays empty for the relay to set).
inline constexpr char kOutboxColumns[] =
    "id, event_id, rule, revocation_class, op, source_table, key, extra, txid, captured_at, direction, "
    "cutover_id";

struct OutboxRow {
  int64_t id = 0;
  std::string event_id;
  std::string rule;
  int revocation_class = 0;
  std::string op;  // "DELETE" | "UPDATE"
  std::string source_table;
  std::string key;    // jsonb text: {"column": "text" | null, ...}
  std::string extra;  // same
  int64_t txid = 0;
  std::string captured_at;  // timestamptz text, DateStyle ISO ("2024-05-01 12:00:00.123456+00")
  int direction = 0;
  std::string cutover_id;
};

// Reads a pqxx row selected with (a subset of) kOutboxColumns, by column name;
// InvalidArgument when a required column is missing or NULL.
absl::StatusOr<OutboxRow> OutboxRowFromPqxx(const pqxx::row& row);

// The RevocationEvent of an outbox row: format_version kEventFormatVersion,
// capture_path TRIGGER, kind = rule, key/extra Datums (JSON null -> null),
// source_txid, captured_at, direction, cutover_id. InvalidArgument for an
// unparseable row or one that fails ValidateEvent.
absl::StatusOr<cutover::v1::RevocationEvent> EventFromOutboxRow(const OutboxRow& row);

// Parses PostgreSQL's ISO timestamptz output: "YYYY-MM-DD HH:MM:SS[.f]" with
// "T" or " ", then "+HH", "+HH:MM", "+HH:MM:SS" or "Z".
absl::StatusOr<absl::Time> ParsePgTimestamptz(absl::string_view text);

// Names of the trigger and function InstallCapture creates for a rule and
// op ('d' delete, 'u' update): deterministic, at most 63 bytes. Exposed for
// tests and docs.
std::string CaptureTriggerName(const std::string& rule_name, char op);
std::string CaptureFunctionName(const std::string& rule_name, char op);

}  // namespace cutover::replay
