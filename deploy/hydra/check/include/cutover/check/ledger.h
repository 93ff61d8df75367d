// The revocation ledger of the client workload (`cutover-loadgen`): one JSON
// object per line for every acknowledged revocation, wherever it was made:
//
//   {"at":"2024-05-01T12:00:00.123456Z","schema":"1.x","kind":"token","key":"<request_id>"}
//
// `at` is RFC 3339 (UTC, microseconds), `schema` says which database took the
// revocation ("1.x" = blue before the flip, "2.x" = green after it), `kind`
// is one of token (key = request_id), refresh (key = refresh signature),
// consent (key = consent challenge), login_session (key = session id) or
// client (key = client id). The format is fixed by the loadgen; what the
// checker makes of each kind: docs/cutover-check.md.
//
// A line is read with protobuf's json_util as a cutover.v1.LedgerEntry
// (proto/cutover/v1/loadgen.proto), then its values are checked. Parsing
// is strict: a line that is not such an object (blank line, invalid JSON,
// trailing text, an unknown member, a value that is not a string, unknown
// schema or kind, a time that is not RFC 3339, a missing member, where an
// empty string counts as missing) is an InvalidArgument
// "<file>:<line>: expected <the format>; <what is wrong>", naming the
// member where one is at fault; nothing is skipped. What json_util lets
// through: JSON whitespace, a member given twice (the last one counts) and
// `null` (= missing).
//
// Thread-safety: the free functions are thread-safe; a LedgerReader or
// GreenRevocations belongs to one thread at a time.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace cutover::check {

// Which database took a revocation.
enum class LedgerSchema {
  kBlue,   // "1.x": made on blue, before the flip
  kGreen,  // "2.x": made on green, after the flip
};

enum class LedgerKind { kToken, kRefresh, kConsent, kLoginSession, kClient };

// "token", "refresh", "consent", "login_session", "client".
absl::string_view LedgerKindName(LedgerKind kind);

struct LedgerEntry {
  int64_t line = 0;  // 1-based line in the file
  absl::Time at;
  std::string at_text;  // as written
  LedgerSchema schema = LedgerSchema::kBlue;
  LedgerKind kind = LedgerKind::kToken;
  std::string key;
};

// Parses one line (without its newline). `file` and `line_no` only go into
// the error message: "<file>:<line_no>: expected ..., got ...".
absl::StatusOr<LedgerEntry> ParseLedgerLine(absl::string_view text, absl::string_view file, int64_t line_no);

// Reads a ledger that may still be growing (the workload can keep running
// on green while the checker runs): each Read returns the complete lines
// appended since the previous one. A last line without its newline is left
// for the next Read, unless `final` is set: then it must parse as well.
class LedgerReader {
 public:
  // NotFound / PermissionDenied naming the path when it cannot be opened.
  static absl::StatusOr<std::unique_ptr<LedgerReader>> Open(const std::string& path);
  ~LedgerReader();
  LedgerReader(const LedgerReader&) = delete;
  LedgerReader& operator=(const LedgerReader&) = delete;

  // Calls `sink` for every new entry, in file order; stops at the first
  // malformed line or sink error and returns it.
  template <typename Sink>
  absl::Status Read(bool final, Sink&& sink) {
    std::vector<LedgerEntry> batch;
    for (;;) {
      batch.clear();
      absl::Status st = ReadBatch(final, &batch);
      for (auto& e : batch) {
        absl::Status s = sink(std::move(e));
        if (!s.ok()) return s;
      }
      if (!st.ok()) return st;
      if (batch.empty()) return absl::OkStatus();
    }
  }

  const std::string& path() const { return path_; }
  int64_t lines() const { return line_; }

 private:
  LedgerReader(std::string path, std::FILE* f) : path_(std::move(path)), file_(f) {}
  // Up to a few thousand entries; empty at the end of what is there now.
  absl::Status ReadBatch(bool final, std::vector<LedgerEntry>* out);

  std::string path_;
  std::FILE* file_;     // owned
  int64_t offset_ = 0;  // start of the first unread line
  int64_t line_ = 0;    // lines consumed so far
};

// What green revoked itself, by the ledger's "2.x" entries, and what each
// such revocation takes with it in Hydra:
//   token R          -> access and refresh rows with request_id R;
//   refresh S        -> refresh row S, and (a rotation revokes by request_id)
//                       access and refresh rows of S's request_id, once
//                       AddRotatedRequestId has been told which one that is;
//   consent C        -> the consent C and every token with challenge_id C;
//   login_session L  -> the session L;
//   client K         -> the client K and all its tokens and consents.
class GreenRevocations {
 public:
  // Entries of schema kBlue are ignored.
  void Add(const LedgerEntry& entry);
  void AddRotatedRequestId(absl::string_view request_id);

  // Refresh signatures rotated or revoked on green whose request_id has not
  // been resolved yet (see AddRotatedRequestId); cleared by the call.
  std::vector<std::string> TakeUnresolvedRefreshSignatures();

  bool HasRequestId(absl::string_view request_id) const;
  bool HasRefresh(absl::string_view signature) const { return refresh_.contains(signature); }
  bool HasConsent(absl::string_view challenge) const { return consents_.contains(challenge); }
  bool HasLoginSession(absl::string_view id) const { return sessions_.contains(id); }
  bool HasClient(absl::string_view id) const { return clients_.contains(id); }
  int64_t entries() const { return entries_; }

 private:
  absl::flat_hash_set<std::string> request_ids_;  // token revocations
  absl::flat_hash_set<std::string> rotated_;      // request ids of green refresh entries
  absl::flat_hash_set<std::string> refresh_;
  std::vector<std::string> unresolved_refresh_;
  absl::flat_hash_set<std::string> consents_;
  absl::flat_hash_set<std::string> sessions_;
  absl::flat_hash_set<std::string> clients_;
  int64_t entries_ = 0;
};

}  // namespace cutover::check
