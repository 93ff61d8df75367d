// The revocation ledger of cutover-loadgen: one JSON object per line for
// every revocation whose COMMIT the server acknowledged, which `cutover-check`
// reads to prove each one is in effect on green. The format is a contract
// (deploy/hydra/README.md, "Ledger"); do not change it:
//
//   {"at":"2024-05-01T12:00:00.123456Z","schema":"1.x","kind":"token","key":"<value>"}
//
//   at      RFC 3339, UTC, microseconds: when the client saw the COMMIT answer
//   schema  "1.x" | "2.x": the Hydra shape the transaction ran on
//   kind    "token"         key = request_id (its access tokens deleted, its
//                                  refresh tokens inactive)
//           "refresh"       key = the rotated-out refresh token's signature
//           "consent"       key = the consent challenge (1.x challenge =
//                                  2.x consent_challenge_id)
//           "login_session" key = the login session id
//           "client"        key = the client id
//
// Each line is the proto3 JSON of cutover.v1.LedgerEntry
// (proto/cutover/v1/loadgen.proto) printed by protobuf's json_util: members
// in this order, no spaces, strings JSON-escaped (json_util also writes
// '<', '>', '&'... as \uXXXX; any JSON reader takes both). The key must be
// UTF-8, which every Hydra identifier is.
// Revocations whose target was already revoked or absent are recorded too
// (they committed, and the target is revoked afterwards).
//
// Thread-safety: Ledger::Append may be called from any thread; lines are
// written whole, in the order Append is called, each flushed before Append
// returns. The destructor closes the file.
#pragma once

#include <cstdio>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace cutover::loadgen {

// The Hydra shape a transaction ran on.
enum class Schema { k1x, k2x };
// "1.x" or "2.x".
absl::string_view SchemaName(Schema schema);

enum class RevocationKind { kToken, kRefresh, kConsent, kLoginSession, kClient };
// "token", "refresh", "consent", "login_session", "client".
absl::string_view RevocationKindName(RevocationKind kind);

struct LedgerEntry {
  absl::Time at;
  Schema schema = Schema::k1x;
  RevocationKind kind = RevocationKind::kToken;
  std::string key;
};

// One line of the ledger, without the trailing newline; "" if the key is
// not UTF-8 (Append refuses such an entry). The reader is
// cutover::check::ParseLedgerLine (deploy/hydra/check), which the loadgen's
// tests use on what this writes.
std::string FormatLedgerLine(const LedgerEntry& entry);

class Ledger {
 public:
  // Creates or truncates `path`.
  static absl::StatusOr<std::unique_ptr<Ledger>> Open(const std::string& path);
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  // Appends one line and flushes it to the kernel (fflush, not fsync: the
  // ledger survives a crash of this process, not of the machine).
  // InvalidArgument, nothing written, when the key is not UTF-8.
  absl::Status Append(const LedgerEntry& entry);
  int64_t lines() const;
  const std::string& path() const { return path_; }

 private:
  struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  // Owns the stream; closed (and flushed) when the Ledger is destroyed.
  using FilePtr = std::unique_ptr<std::FILE, FileCloser>;
  Ledger(std::string path, FilePtr f) : path_(std::move(path)), file_(std::move(f)) {}
  const std::string path_;
  mutable absl::Mutex mu_;
  FilePtr file_ ABSL_GUARDED_BY(mu_);
  int64_t lines_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace cutover::loadgen
