// The replayer: applies revocation events from the queue to the apply side
// (green; blue during a rollback), exactly once in effect.
//
// Each batch is one transaction on the apply side holding: the set-based
// apply statements (one per rule present in the batch), the applied-ids
// ledger (cutover_replay.applied, ON CONFLICT DO NOTHING), dead letters, and
// the upsert of the consumed positions (cutover_replay.positions). So after a
// crash the replayer seeks to the stored positions and re-reads at most the
// batch that did not commit; duplicates (relay re-sends, redelivery) are
// recognised by event_id and counted, never re-applied.
//
// Events whose row is absent on green are recorded no-ops. Undecodable
// events, unknown kinds, missing parameters, a foreign cutover or direction,
// and events whose apply statement fails go to cutover_replay.dead_letters
// with the reason; they never stop the process, but DeadLetters() > 0 blocks
// the flip (an unapplied revocation is unsafe).
//
// Thread-safety: one thread drives a Replayer (Step / DrainUntil / Run);
// stats() and Stop() may be called from any thread.
#pragma once

#include <atomic>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "cutover/common/clock.h"
#include "cutover/common/pg.h"
#include "cutover/replay/queue.h"
#include "cutover/replay/rules.h"
#include "cutover/v1/event.pb.h"
#include "cutover/v1/plan.pb.h"

namespace cutover::replay {

struct ReplayerOptions {
  std::string cutover_id;
  std::string apply_dsn;  // green (blue for a rollback)
  std::string apply_what = "green";
  cutover::v1::Direction direction = cutover::v1::DIRECTION_BLUE_TO_GREEN;
  int batch_size = 2000;
  absl::Duration poll_timeout = absl::Milliseconds(200);
};

struct ReplayCounters {
  int64_t consumed = 0;     // messages read from the queue
  int64_t applied = 0;      // events that changed at least one row
  int64_t noops = 0;        // events whose row was absent (or already revoked)
  int64_t duplicates = 0;   // events already in the ledger, or twice in a batch
  int64_t dead_letters = 0; // sent to cutover_replay.dead_letters by this process
  int64_t batches = 0;
  Positions positions;      // next offsets, as committed on the apply side
  absl::Time last_batch_at = absl::InfinitePast();
};

// One apply statement of a rule, compiled for set-based application.
struct CompiledApply {
  std::vector<std::string> params;  // placeholder names; $2.. in this order ($1 = event ids)
  std::string sql;                  // returns the ids of events that touched a row
};

// A rule's statements, and every column an event must carry for them.
struct CompiledRule {
  std::string name;
  std::vector<CompiledApply> statements;
  std::vector<std::string> needed;  // union of params
};

// One decoded message of a batch, as planned.
struct PlannedEvent {
  cutover::v1::QueuePosition position;
  std::string event_id;
  std::string rule;
  std::map<std::string, std::optional<std::string>> values;  // needed column -> text (nullopt = NULL)
  // The message's bytes: a dead letter keeps them when the apply fails, so
  // the operator can decode the event and apply it by hand.
  std::string payload;
};

struct DeadLetter {
  cutover::v1::QueuePosition position;
  std::string event_id;  // when decodable
  std::string reason;
  std::string payload;
};

// What a batch will do, decided without touching the database (unit-tested).
struct BatchPlan {
  std::map<std::string, std::vector<PlannedEvent>> by_rule;
  std::vector<DeadLetter> dead;
  int64_t duplicates_in_batch = 0;
  Positions next;  // max offset + 1 per partition seen
};

BatchPlan PlanBatch(const std::vector<QueuedMessage>& messages,
                    const std::map<std::string, CompiledRule>& rules, const std::string& cutover_id,
                    cutover::v1::Direction direction);

// SQL-array literal of text values ({"a","b",NULL}).
std::string TextArrayLiteral(const std::vector<std::optional<std::string>>& values);

// Rewrites `DELETE FROM t WHERE w(:p)` / `UPDATE t SET s WHERE w(:p)` into a
// set-based statement over unnest()ed arrays, returning the ids of events
// that touched a row. `types` are the placeholder types (as PostgreSQL
// inferred them), in template.params order.
absl::StatusOr<std::string> SetBasedSql(const ApplyTemplate& tmpl, const std::vector<std::string>& types);

// Creates schema cutover_replay (positions, applied, dead_letters) if missing.
absl::Status EnsureReplaySchema(pg::Session& apply_side);

class Replayer {
 public:
  // Checks the rules against the apply side (types of every placeholder),
  // creates the replay schema and loads the stored positions.
  static absl::StatusOr<std::unique_ptr<Replayer>> Create(const ReplayerOptions& options,
                                                          const std::vector<cutover::v1::CaptureRule>& rules,
                                                          RevocationQueue* queue, Clock* clock = Clock::Real());

  // Reads one batch (waiting up to `timeout` for the first message) and
  // applies it; returns how many messages were consumed.
  absl::StatusOr<int> Step(absl::Duration timeout);
  // Steps until the stored positions reach `seal`; DeadlineExceeded at
  // `deadline`. Transient errors are retried until the deadline.
  absl::Status DrainUntil(const Positions& seal, absl::Time deadline);
  // Waits, without stepping, until the positions committed by the thread
  // that Runs this replayer reach `seal`; DeadlineExceeded at `deadline`
  // (e.g. while the apply side is down). Lets the flip wait on the running
  // replayer instead of stopping it (a stop waits out its poll).
  absl::Status WaitUntil(const Positions& seal, absl::Time deadline);
  // Steps until Stop(); transient errors are logged and retried with backoff.
  void Run();
  void Stop() { stop_ = true; }

  ReplayCounters stats() const;

  // Test hook: the next batch runs its apply statements, then fails before
  // commit as if the process died there (nothing of the batch persists).
  void CrashBeforeCommitForTest() { crash_before_commit_ = true; }
  // Dead letters recorded on the apply side for this cutover (all processes).
  absl::StatusOr<int64_t> DeadLetters();
  // The positions committed on the apply side.
  absl::StatusOr<Positions> StoredPositions();

 private:
  Replayer(ReplayerOptions options, RevocationQueue* queue, Clock* clock)
      : options_(std::move(options)), queue_(queue), clock_(clock) {}
  absl::Status Connect();
  absl::Status ApplyBatch(const std::vector<QueuedMessage>& messages);
  absl::Status ApplyPlan(pqxx::work& tx, const BatchPlan& plan, bool isolate, ReplayCounters* delta,
                         std::vector<DeadLetter>* dead);

  const ReplayerOptions options_;
  RevocationQueue* const queue_;
  Clock* const clock_;
  std::map<std::string, CompiledRule> compiled_;
  std::unique_ptr<pg::Session> session_;
  std::unique_ptr<QueueReader> reader_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> crash_before_commit_{false};
  mutable absl::Mutex mu_;
  ReplayCounters counters_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cutover::replay
