// cutover::loadgen: a Hydra-shaped client workload for the demo and the
// tests. N clients, each on its own connection (meant to go through
// PgBouncer in transaction pooling), issue, rotate and revoke tokens, revoke
// consents and login sessions and delete clients at a paced total rate,
// each operation ONE transaction with the statements Ory Hydra issues.
//
// The shape is found inside every transaction (BEGIN; SELECT
// to_regclass('hydra_oauth2_flow') IS NOT NULL; ...), so a client keeps
// working when PgBouncer moves it from a Hydra 1.11 blue to a Hydra 2.x
// green between two transactions. Every revocation whose COMMIT was
// acknowledged goes to the ledger (ledger.h); every error that reaches a
// client is counted as a failure, never retried silently.
// Operations, statements and the summary: deploy/hydra/README.md,
// "cutover-loadgen".
//
// Thread-safety: LoadGenerator's methods may be called from any thread;
// Stop() blocks until every client thread has finished its transaction and
// exited, and the destructor calls it.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cutover/common/clock.h"
#include "cutover/loadgen/ledger.h"
#include "cutover/v1/loadgen.pb.h"

namespace cutover::loadgen {

enum class OpKind { kIssue, kRotate, kRevokeToken, kRevokeConsent, kRevokeLogin, kDeleteClient };
constexpr int kNumOpKinds = 6;
// "issue", "rotate", "revoke_token", "revoke_consent", "revoke_login",
// "delete_client" (the --mix names).
absl::string_view OpName(OpKind kind);

// Relative weights of the operation kinds (non-negative, not all zero).
struct Mix {
  std::array<int, kNumOpKinds> weights = {50, 20, 15, 5, 8, 2};
  // The kind for a uniform draw r in [0, 1).
  OpKind Pick(double r) const;
  int Total() const;
};
// "issue=50,rotate=20,..." -> Mix. Kinds not named get weight 0; an unknown
// kind, a repeated kind, a weight that is not a non-negative integer, or all
// zero -> InvalidArgument naming the offending part.
absl::StatusOr<Mix> ParseMix(absl::string_view text);
// "issue=50,rotate=20,revoke_token=15,revoke_consent=5,revoke_login=8,delete_client=2".
std::string FormatMix(const Mix& mix);

struct Options {
  // libpq DSN or URI; through PgBouncer in the demo.
  std::string dsn;
  int clients = 4;
  // Total transactions per second over all clients; 0 = as fast as possible.
  double rate = 200;
  // Stop after this many operations (attempted, over all clients); 0 = no
  // limit (the caller stops the run).
  int64_t max_ops = 0;
  Mix mix;
  // Ledger file; empty = no ledger.
  std::string ledger_path;
  // Seeds the choice of operations and targets. The values of new tokens
  // (signatures, request ids) come from a per-run random seed, so runs with
  // one seed never collide on the rows an earlier run wrote.
  uint64_t seed = 1;
  // Client deletions per run at most, at least `client_deletion_interval`
  // apart, the first one that long after the start (so they fall inside a
  // cutover's window rather than all in the first second); never below half
  // the clients seen by the first sample, nor below 2 clients.
  int max_client_deletions = 3;
  absl::Duration client_deletion_interval = absl::Seconds(10);
  // Targets are sampled into in-memory pools of up to `pool_size` entries
  // per kind, refreshed every `pool_refresh` (sooner when a pool runs low).
  int pool_size = 1000;
  absl::Duration pool_refresh = absl::Seconds(5);
  std::string application_name = "cutover-loadgen";
  Clock* clock = Clock::Real();
};

class LoadGenerator {
 public:
  // Connects every client (and the target sampler), samples the first
  // targets and starts the clients. Fails when a connection cannot be
  // opened, the database holds no Hydra schema, or the ledger cannot be
  // created; nothing keeps running then.
  static absl::StatusOr<std::unique_ptr<LoadGenerator>> Start(Options options);
  ~LoadGenerator();
  LoadGenerator(const LoadGenerator&) = delete;
  LoadGenerator& operator=(const LoadGenerator&) = delete;

  // True once max_ops operations were attempted and every client is idle.
  bool Done() const;
  // Stops the clients after their current transaction and waits for them.
  // `reason` ends up in the summary's stop_reason. Idempotent.
  void Stop(absl::string_view reason = "stopped");
  // Counters so far (also while running, for progress reports).
  v1::LoadgenSummary Summary() const;

  class Impl;

 private:
  explicit LoadGenerator(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The summary as a human table (for stdout).
std::string FormatSummaryText(const v1::LoadgenSummary& summary);
// The summary as JSON (proto3 mapping, field names as in loadgen.proto,
// zero values printed); pretty = indented.
std::string FormatSummaryJson(const v1::LoadgenSummary& summary, bool pretty);

}  // namespace cutover::loadgen
