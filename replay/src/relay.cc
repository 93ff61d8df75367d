#include "cutover/replay/relay.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cutover/common/failpoint.h"
#include "cutover/replay/capture.h"
#include "cutover/replay/event.h"
#include "spdlog/spdlog.h"

namespace cutover::replay {

absl::StatusOr<std::unique_ptr<Relay>> Relay::Create(const RelayOptions& options, RevocationQueue* queue,
                                                     Clock* clock) {
  if (options.cutover_id.empty()) return absl::InvalidArgumentError("relay: cutover_id is empty");
  if (options.batch_size < 1) return absl::InvalidArgumentError("relay: batch_size must be at least 1");
  std::unique_ptr<Relay> r(new Relay(options, queue, clock));
  RETURN_IF_ERROR(r->Connect());
  return r;
}

absl::Status Relay::Connect() {
  if (session_ && session_->conn().is_open()) return absl::OkStatus();
  ASSIGN_OR_RETURN(session_, pg::Session::Connect(options_.source_dsn, options_.source_what, "cutover-relay"));
  // The relay is part of the orchestrator: it keeps writing (deleting outbox
  // rows) while the fence makes the database read-only for everyone else.
  return session_->Exec("SET default_transaction_read_only = off; SET synchronous_commit = on; "
                        "SET DateStyle = 'ISO, MDY'; SET TimeZone = 'UTC'")
      .status();
}

absl::StatusOr<int> Relay::Step() {
  absl::Status st = Connect();
  if (!st.ok()) {
    session_.reset();
    return st;
  }
  int moved = 0;
  int invalid = 0;
  st = session_->InTransaction([&](pqxx::work& tx) -> absl::Status {
    auto rows = tx.exec(absl::StrCat("SELECT ", kOutboxColumns, " FROM cutover_capture.outbox ORDER BY id LIMIT ",
                                     options_.batch_size, " FOR UPDATE SKIP LOCKED"));
    if (rows.empty()) return absl::OkStatus();
    std::vector<QueueMessage> messages;
    std::vector<std::string> ids;
    messages.reserve(rows.size());
    for (const auto& row : rows) {
      ids.push_back(row["id"].as<std::string>());
      auto outbox = OutboxRowFromPqxx(row);
      absl::StatusOr<cutover::v1::RevocationEvent> event =
          outbox.ok() ? EventFromOutboxRow(*outbox) : absl::StatusOr<cutover::v1::RevocationEvent>(outbox.status());
      if (event.ok()) {
        if (event->cutover_id().empty()) event->set_cutover_id(options_.cutover_id);
        messages.push_back({PartitionKey(*event), EncodeEvent(*event)});
      } else {
        // Forward something the replayer will refuse with this reason, so
        // the problem is visible (dead letter, flip blocked), not dropped.
        ++invalid;
        spdlog::error("relay: outbox row {} is not a valid event: {}", ids.back(),
                      std::string(event.status().message()));
        messages.push_back({"invalid-outbox-row",
                            absl::StrCat("cutover: invalid outbox row ", ids.back(), ": ", event.status().message())});
      }
    }
    ASSIGN_OR_RETURN(auto positions, queue_->Append(messages));
    if (crash_after_append_.exchange(false)) {
      return absl::UnavailableError("relay crashed after append (test hook)");
    }
    // Chaos tests (docs/orchestrator.md "Failpoints"): the batch is in the
    // queue but still in the outbox, so it is relayed again (duplicates).
    RETURN_IF_ERROR(Failpoint("relay.after_append"));
    tx.exec(absl::StrCat("DELETE FROM cutover_capture.outbox WHERE id IN (", absl::StrJoin(ids, ","), ")"));
    moved = static_cast<int>(rows.size());
    return absl::OkStatus();
  });
  if (!st.ok()) {
    if (IsRetryable(st)) session_.reset();
    return Annotate(st, "relay");
  }
  if (moved > 0) {
    absl::MutexLock l(&mu_);
    counters_.relayed += moved;
    counters_.invalid_rows += invalid;
    counters_.batches += 1;
    counters_.last_batch_at = clock_->Now();
  }
  return moved;
}

absl::StatusOr<int64_t> Relay::Drain(absl::Time deadline) {
  int64_t total = 0;
  absl::Duration backoff = absl::Milliseconds(50);
  while (true) {
    auto n = Step();
    if (n.ok()) {
      if (*n == 0) return total;
      total += *n;
      backoff = absl::Milliseconds(50);
      continue;
    }
    if (!IsRetryable(n.status()) || clock_->Now() + backoff > deadline) return n.status();
    clock_->SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(2));
  }
}

void Relay::Run() {
  absl::Duration backoff = absl::Milliseconds(100);
  while (!stop_) {
    auto n = Step();
    if (n.ok()) {
      backoff = absl::Milliseconds(100);
      if (*n == 0) clock_->SleepFor(options_.idle_poll);
      continue;
    }
    spdlog::warn("relay: {} (retrying in {})", std::string(n.status().message()), absl::FormatDuration(backoff));
    clock_->SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(5));
  }
}

RelayCounters Relay::stats() const {
  absl::MutexLock l(&mu_);
  return counters_;
}

absl::StatusOr<std::pair<int64_t, absl::Duration>> Relay::Backlog() {
  RETURN_IF_ERROR(Connect());
  ASSIGN_OR_RETURN(pqxx::result r,
                   session_->Exec("SELECT count(*), coalesce(extract(epoch FROM clock_timestamp() - min(captured_at)), 0) "
                                  "FROM cutover_capture.outbox"));
  return std::make_pair(r[0][0].as<int64_t>(), absl::Seconds(r[0][1].as<double>()));
}

}  // namespace cutover::replay
