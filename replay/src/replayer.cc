#include "cutover/replay/replayer.h"

#include <algorithm>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cutover/common/failpoint.h"
#include "cutover/replay/event.h"
#include "spdlog/spdlog.h"

namespace cutover::replay {
namespace {

constexpr char kReplaySchema[] =
    "CREATE SCHEMA IF NOT EXISTS cutover_replay;"
    "CREATE TABLE IF NOT EXISTS cutover_replay.positions ("
    "  cutover_id text NOT NULL, partition int NOT NULL, next_offset bigint NOT NULL,"
    "  updated_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (cutover_id, partition));"
    "CREATE TABLE IF NOT EXISTS cutover_replay.applied ("
    "  event_id uuid PRIMARY KEY, cutover_id text NOT NULL, rule text NOT NULL,"
    "  outcome text NOT NULL CHECK (outcome IN ('applied', 'noop')),"
    "  applied_at timestamptz NOT NULL DEFAULT now());"
    "CREATE TABLE IF NOT EXISTS cutover_replay.dead_letters ("
    "  id bigserial PRIMARY KEY, cutover_id text NOT NULL, partition int NOT NULL, \"offset\" bigint NOT NULL,"
    "  event_id text, reason text NOT NULL, payload bytea, created_at timestamptz NOT NULL DEFAULT now(),"
    "  UNIQUE (cutover_id, partition, \"offset\"));";

std::string BatchColumn(const std::string& param) { return absl::StrCat("p_", param); }

// The text of a Datum for a needed column, looked up in key then extra.
bool LookupValue(const cutover::v1::RevocationEvent& e, const std::string& col, std::optional<std::string>* out) {
  auto k = e.key().find(col);
  if (k != e.key().end()) {
    *out = k->second.null() ? std::nullopt : std::optional<std::string>(k->second.text());
    return true;
  }
  auto x = e.extra().find(col);
  if (x != e.extra().end()) {
    *out = x->second.null() ? std::nullopt : std::optional<std::string>(x->second.text());
    return true;
  }
  return false;
}

}  // namespace

std::string TextArrayLiteral(const std::vector<std::optional<std::string>>& values) {
  std::string out = "{";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) out += ',';
    if (!values[i]) {
      out += "NULL";
      continue;
    }
    out += '"';
    for (char c : *values[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  out += '}';
  return out;
}

absl::StatusOr<std::string> SetBasedSql(const ApplyTemplate& t, const std::vector<std::string>& types) {
  std::vector<std::string> arrays = {"$1::text[]"};
  std::vector<std::string> cols = {"cutover_event_id"};
  for (size_t i = 0; i < t.params.size(); ++i) {
    arrays.push_back(absl::StrCat("$", i + 2, "::", types[i], "[]"));
    cols.push_back(BatchColumn(t.params[i]));
  }
  auto sub = [](const std::string& name) { return absl::StrCat("cutover_batch.", BatchColumn(name)); };
  std::string sql = absl::StrCat("WITH cutover_batch AS (SELECT * FROM unnest(", absl::StrJoin(arrays, ", "),
                                 ") AS u(", absl::StrJoin(cols, ", "), ")) ");
  ASSIGN_OR_RETURN(std::string where, ReplacePlaceholders(t.where_clause, sub));
  if (absl::AsciiStrToUpper(t.verb) == "DELETE") {
    absl::StrAppend(&sql, "DELETE FROM ", t.table, " USING cutover_batch WHERE (", where, ")");
  } else {
    ASSIGN_OR_RETURN(std::string set, ReplacePlaceholders(t.set_clause, sub));
    absl::StrAppend(&sql, "UPDATE ", t.table, " SET ", set, " FROM cutover_batch WHERE (", where, ")");
  }
  absl::StrAppend(&sql, " RETURNING cutover_batch.cutover_event_id");
  return sql;
}

BatchPlan PlanBatch(const std::vector<QueuedMessage>& messages, const std::map<std::string, CompiledRule>& rules,
                    const std::string& cutover_id, cutover::v1::Direction direction) {
  BatchPlan plan;
  std::set<std::string> seen;
  for (const auto& m : messages) {
    const int64_t next = m.position.offset() + 1;
    if (NextOffset(plan.next, m.position.partition()) < next) SetNextOffset(&plan.next, m.position.partition(), next);
    auto dead = [&](std::string reason, std::string event_id = "") {
      plan.dead.push_back({m.position, std::move(event_id), std::move(reason), m.payload});
    };
    auto event = DecodeEvent(m.payload);
    if (!event.ok()) {
      dead(std::string(event.status().message()));
      continue;
    }
    if (!event->cutover_id().empty() && event->cutover_id() != cutover_id) {
      dead(absl::StrCat("event belongs to cutover '", event->cutover_id(), "', not '", cutover_id, "'"),
           event->event_id());
      continue;
    }
    if (event->direction() != direction) {
      dead(absl::StrCat("event direction ", cutover::v1::Direction_Name(event->direction()),
                        " does not match this replayer's ", cutover::v1::Direction_Name(direction)),
           event->event_id());
      continue;
    }
    auto rule = rules.find(event->kind());
    if (rule == rules.end()) {
      dead(absl::StrCat("unknown kind '", event->kind().substr(0, 128), "': no capture rule of that name"),
           event->event_id());
      continue;
    }
    PlannedEvent pe{m.position, absl::AsciiStrToLower(event->event_id()), event->kind(), {}, m.payload};
    bool complete = true;
    for (const auto& col : rule->second.needed) {
      std::optional<std::string> v;
      if (!LookupValue(*event, col, &v)) {
        dead(absl::StrCat("event lacks column '", col, "' needed by rule ", event->kind()), event->event_id());
        complete = false;
        break;
      }
      pe.values[col] = std::move(v);
    }
    if (!complete) continue;
    if (!seen.insert(pe.event_id).second) {
      ++plan.duplicates_in_batch;
      continue;
    }
    plan.by_rule[pe.rule].push_back(std::move(pe));
  }
  return plan;
}

absl::Status EnsureReplaySchema(pg::Session& apply_side) {
  return Annotate(apply_side.Exec(kReplaySchema).status(), "creating schema cutover_replay");
}

absl::StatusOr<std::unique_ptr<Replayer>> Replayer::Create(const ReplayerOptions& options,
                                                           const std::vector<cutover::v1::CaptureRule>& rules,
                                                           RevocationQueue* queue, Clock* clock) {
  if (options.cutover_id.empty()) return absl::InvalidArgumentError("replayer: cutover_id is empty");
  if (options.batch_size < 1) return absl::InvalidArgumentError("replayer: batch_size must be at least 1");
  std::unique_ptr<Replayer> r(new Replayer(options, queue, clock));
  RETURN_IF_ERROR(r->Connect());
  RETURN_IF_ERROR(EnsureReplaySchema(*r->session_));
  // Compile every apply statement; PostgreSQL infers each placeholder's type.
  for (const auto& rule : rules) {
    CompiledRule cr;
    cr.name = rule.name();
    std::set<std::string> needed;
    for (int i = 0; i < rule.apply_size(); ++i) {
      const std::string where = absl::StrCat("capture.rules[", rule.name(), "].apply[", i, "]");
      ASSIGN_OR_RETURN(ApplyTemplate t, Annotate(ParseApply(rule.apply(i)), where));
      std::map<std::string, int> index;
      for (size_t p = 0; p < t.params.size(); ++p) index[t.params[p]] = static_cast<int>(p) + 1;
      ASSIGN_OR_RETURN(std::string probe,
                       ReplacePlaceholders(rule.apply(i),
                                           [&](const std::string& name) { return absl::StrCat("$", index[name]); }));
      std::vector<std::string> types;
      absl::Status st = r->session_->InTransaction([&](pqxx::work& tx) -> absl::Status {
        tx.exec(absl::StrCat("PREPARE cutover_probe AS ", probe));
        auto res = tx.exec("SELECT unnest(parameter_types)::text FROM pg_prepared_statements "
                           "WHERE name = 'cutover_probe'");
        for (const auto& row : res) types.push_back(row[0].as<std::string>());
        tx.exec("DEALLOCATE cutover_probe");
        return absl::OkStatus();
      });
      RETURN_IF_ERROR(Annotate(st, absl::StrCat(where, " on ", options.apply_what)));
      if (types.size() != t.params.size()) {
        return absl::InternalError(absl::StrCat(where, ": PostgreSQL inferred ", types.size(), " parameter types for ",
                                                t.params.size(), " placeholders"));
      }
      ASSIGN_OR_RETURN(std::string set_sql, Annotate(SetBasedSql(t, types), where));
      cr.statements.push_back({t.params, std::move(set_sql)});
      needed.insert(t.params.begin(), t.params.end());
    }
    cr.needed.assign(needed.begin(), needed.end());
    r->compiled_[cr.name] = std::move(cr);
  }
  ASSIGN_OR_RETURN(Positions stored, r->StoredPositions());
  {
    absl::MutexLock l(&r->mu_);
    r->counters_.positions = std::move(stored);
  }
  return r;
}

absl::Status Replayer::Connect() {
  if (session_ && session_->conn().is_open()) return absl::OkStatus();
  ASSIGN_OR_RETURN(session_, pg::Session::Connect(options_.apply_dsn, options_.apply_what, "cutover-replayer"));
  // cutover.replaying: capture triggers on this side (a rollback's reverse
  // capture on green, or blue's own during a rollback) skip what the
  // replayer writes, so replayed revocations do not echo back. Read-only off:
  // during a rollback the target (blue) is still fenced for everyone else.
  return session_->Exec(
                     "SET synchronous_commit = on; SET cutover.replaying = on; "
                     "SET default_transaction_read_only = off")
      .status();
}

absl::StatusOr<Positions> Replayer::StoredPositions() {
  RETURN_IF_ERROR(Connect());
  ASSIGN_OR_RETURN(pqxx::result rows,
                   session_->ExecParams("SELECT partition, next_offset FROM cutover_replay.positions "
                                        "WHERE cutover_id = $1 ORDER BY partition",
                                        options_.cutover_id));
  Positions out;
  for (const auto& row : rows) SetNextOffset(&out, row[0].as<int32_t>(), row[1].as<int64_t>());
  return out;
}

absl::StatusOr<int64_t> Replayer::DeadLetters() {
  RETURN_IF_ERROR(Connect());
  ASSIGN_OR_RETURN(pqxx::result rows, session_->ExecParams("SELECT count(*) FROM cutover_replay.dead_letters "
                                                           "WHERE cutover_id = $1",
                                                           options_.cutover_id));
  return rows[0][0].as<int64_t>();
}

ReplayCounters Replayer::stats() const {
  absl::MutexLock l(&mu_);
  return counters_;
}

absl::Status Replayer::ApplyPlan(pqxx::work& tx, const BatchPlan& plan, bool isolate, ReplayCounters* delta,
                                 std::vector<DeadLetter>* dead) {
  // 1. Claim every event in the ledger first: the ones already there are
  //    duplicates (one statement, no separate lookup).
  std::vector<std::optional<std::string>> ids, id_rules;
  for (const auto& [rule, events] : plan.by_rule) {
    for (const auto& e : events) {
      ids.emplace_back(e.event_id);
      id_rules.emplace_back(e.rule);
    }
  }
  std::set<std::string> fresh_ids;
  if (!ids.empty()) {
    auto r = tx.exec_params("INSERT INTO cutover_replay.applied (event_id, cutover_id, rule, outcome) "
                            "SELECT u.id, $2, u.rule, 'applied' FROM unnest($1::uuid[], $3::text[]) AS u(id, rule) "
                            "ON CONFLICT DO NOTHING RETURNING event_id::text",
                            TextArrayLiteral(ids), options_.cutover_id, TextArrayLiteral(id_rules));
    for (const auto& row : r) fresh_ids.insert(row[0].as<std::string>());
  }
  delta->duplicates += static_cast<int64_t>(ids.size() - fresh_ids.size()) + plan.duplicates_in_batch;

  // 2. Apply, set-based per statement (or event by event when isolating a failure).
  std::set<std::string> touched;
  std::vector<std::optional<std::string>> noops, failed;
  for (const auto& [rule_name, events] : plan.by_rule) {
    const CompiledRule& rule = compiled_.at(rule_name);
    std::vector<const PlannedEvent*> fresh;
    for (const auto& e : events) {
      if (fresh_ids.count(e.event_id)) fresh.push_back(&e);
    }
    if (fresh.empty()) continue;
    auto run = [&](pqxx::transaction_base& t, const std::vector<const PlannedEvent*>& evs) {
      for (const auto& stmt : rule.statements) {
        std::vector<std::optional<std::string>> col_ids;
        std::vector<std::vector<std::optional<std::string>>> cols(stmt.params.size());
        for (const auto* e : evs) {
          col_ids.emplace_back(e->event_id);
          for (size_t p = 0; p < stmt.params.size(); ++p) cols[p].push_back(e->values.at(stmt.params[p]));
        }
        std::vector<std::string> lits = {TextArrayLiteral(col_ids)};
        for (auto& c : cols) lits.push_back(TextArrayLiteral(c));
        pqxx::result res;
        switch (lits.size()) {  // exec_params is variadic: dispatch on arity
          case 1: res = t.exec_params(stmt.sql, lits[0]); break;
          case 2: res = t.exec_params(stmt.sql, lits[0], lits[1]); break;
          case 3: res = t.exec_params(stmt.sql, lits[0], lits[1], lits[2]); break;
          case 4: res = t.exec_params(stmt.sql, lits[0], lits[1], lits[2], lits[3]); break;
          case 5: res = t.exec_params(stmt.sql, lits[0], lits[1], lits[2], lits[3], lits[4]); break;
          default: throw pqxx::usage_error("apply statements take at most 4 placeholders");
        }
        for (const auto& row : res) touched.insert(row[0].as<std::string>());
      }
    };
    std::vector<const PlannedEvent*> applied_events;
    if (!isolate) {
      run(tx, fresh);
      applied_events = fresh;
    } else {
      // Explicit savepoints, not pqxx::subtransaction: with libpqxx 6.4 a
      // failed exec_params() inside the subtransaction left the whole batch
      // transaction aborted ("current transaction is aborted", 25P02 on every
      // later statement), so the replayer retried that batch forever instead
      // of dead-lettering the one event (tests/badinput: a key value of the
      // wrong type) and every revocation after it waited.
      for (const auto* e : fresh) {
        tx.exec0("SAVEPOINT cutover_event");
        try {
          run(tx, {e});
          tx.exec0("RELEASE SAVEPOINT cutover_event");
          applied_events.push_back(e);
        } catch (const pqxx::sql_error& err) {
          // ROLLBACK TO keeps the savepoint: release it too, or every failed
          // event of the batch leaves an open subtransaction behind.
          tx.exec0("ROLLBACK TO SAVEPOINT cutover_event");
          tx.exec0("RELEASE SAVEPOINT cutover_event");
          failed.emplace_back(e->event_id);
          dead->push_back({e->position, e->event_id,
                           absl::StrCat("apply failed on ", options_.apply_what, ": ", err.what()), e->payload});
        }
      }
    }
    for (const auto* e : applied_events) {
      if (touched.count(e->event_id)) {
        ++delta->applied;
      } else {
        ++delta->noops;
        noops.emplace_back(e->event_id);
      }
    }
  }

  // 3. Outcomes, dead letters, positions: in the same transaction.
  if (!noops.empty()) {
    tx.exec_params("UPDATE cutover_replay.applied SET outcome = 'noop' WHERE event_id = ANY($1::uuid[])",
                   TextArrayLiteral(noops));
  }
  if (!failed.empty()) {
    // A dead-lettered event is not applied: a later redelivery may try again.
    tx.exec_params("DELETE FROM cutover_replay.applied WHERE event_id = ANY($1::uuid[])", TextArrayLiteral(failed));
  }
  for (const auto& d : *dead) {
    pqxx::binarystring payload(d.payload.data(), d.payload.size());
    tx.exec_params("INSERT INTO cutover_replay.dead_letters (cutover_id, partition, \"offset\", event_id, reason, "
                   "payload) VALUES ($1, $2, $3, NULLIF($4, ''), $5, $6) ON CONFLICT DO NOTHING",
                   options_.cutover_id, d.position.partition(), d.position.offset(), d.event_id, d.reason, payload);
  }
  delta->dead_letters += static_cast<int64_t>(dead->size());
  for (const auto& p : plan.next) {
    tx.exec_params("INSERT INTO cutover_replay.positions (cutover_id, partition, next_offset) VALUES ($1, $2, $3) "
                   "ON CONFLICT (cutover_id, partition) DO UPDATE SET next_offset = "
                   "greatest(cutover_replay.positions.next_offset, EXCLUDED.next_offset), updated_at = now()",
                   options_.cutover_id, p.partition(), p.offset());
  }
  if (crash_before_commit_.exchange(false)) {
    return absl::UnavailableError("replayer crashed before commit (test hook)");
  }
  // Chaos tests (docs/orchestrator.md "Failpoints"): nothing of the batch
  // commits, so it is read again from the stored positions.
  RETURN_IF_ERROR(Failpoint("replay.before_commit"));
  return absl::OkStatus();
}

absl::Status Replayer::ApplyBatch(const std::vector<QueuedMessage>& messages) {
  BatchPlan plan = PlanBatch(messages, compiled_, options_.cutover_id, options_.direction);
  ReplayCounters delta;
  absl::Status st;
  for (bool isolate : {false, true}) {
    delta = ReplayCounters{};
    std::vector<DeadLetter> dead = plan.dead;
    st = session_->InTransaction(
        [&](pqxx::work& tx) -> absl::Status { return ApplyPlan(tx, plan, isolate, &delta, &dead); });
    // A retryable failure (connection, serialization) is retried by the
    // caller with the same batch; any other failure is isolated to the
    // events that cause it, which become dead letters.
    if (st.ok() || IsRetryable(st)) break;
    spdlog::warn("replay batch failed ({}); applying its events one by one", std::string(st.message()));
  }
  if (!st.ok()) return st;
  absl::MutexLock l(&mu_);
  counters_.consumed += static_cast<int64_t>(messages.size());
  counters_.applied += delta.applied;
  counters_.noops += delta.noops;
  counters_.duplicates += delta.duplicates;
  counters_.dead_letters += delta.dead_letters;
  counters_.batches += 1;
  counters_.last_batch_at = clock_->Now();
  for (const auto& p : plan.next) {
    if (NextOffset(counters_.positions, p.partition()) < p.offset()) {
      SetNextOffset(&counters_.positions, p.partition(), p.offset());
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int> Replayer::Step(absl::Duration timeout) {
  absl::Status st = Connect();
  if (st.ok() && !reader_) {
    Positions start;
    {
      absl::MutexLock l(&mu_);
      start = counters_.positions;
    }
    auto reader = queue_->OpenReader(start);
    if (reader.ok()) reader_ = std::move(*reader);
    else st = reader.status();
  }
  if (!st.ok()) {
    session_.reset();
    return st;
  }
  auto messages = reader_->Poll(options_.batch_size, timeout);
  if (!messages.ok()) {
    reader_.reset();
    return messages.status();
  }
  if (messages->empty()) return 0;
  st = ApplyBatch(*messages);
  if (!st.ok()) {
    // Nothing of this batch committed: re-read it from the stored positions.
    reader_.reset();
    if (IsRetryable(st)) session_.reset();
    return st;
  }
  return static_cast<int>(messages->size());
}

absl::Status Replayer::DrainUntil(const Positions& seal, absl::Time deadline) {
  absl::Duration backoff = absl::Milliseconds(50);
  absl::Status last;
  while (true) {
    {
      absl::MutexLock l(&mu_);
      if (Reached(counters_.positions, seal)) return absl::OkStatus();
    }
    const absl::Duration left = deadline - clock_->Now();
    if (left <= absl::ZeroDuration()) {
      absl::MutexLock l(&mu_);
      return absl::DeadlineExceededError(absl::StrCat("replay did not reach the seal (", FormatPositions(seal),
                                                      ") in time: at ", FormatPositions(counters_.positions),
                                                      last.ok() ? "" : absl::StrCat("; last error: ", last.message())));
    }
    auto n = Step(std::min(left, options_.poll_timeout));
    if (!n.ok()) {
      if (!IsRetryable(n.status())) return n.status();
      last = n.status();
      clock_->SleepFor(std::min(backoff, std::max(left, absl::ZeroDuration())));
      backoff = std::min(backoff * 2, absl::Seconds(2));
    } else {
      backoff = absl::Milliseconds(50);
    }
  }
}

absl::Status Replayer::WaitUntil(const Positions& seal, absl::Time deadline) {
  absl::MutexLock l(&mu_);
  auto reached = [this, &seal]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return Reached(counters_.positions, seal); };
  // Counters change under mu_ after every committed batch, which re-evaluates
  // the condition; real time here, as the running thread is real too.
  if (mu_.AwaitWithDeadline(absl::Condition(&reached), deadline)) return absl::OkStatus();
  return absl::DeadlineExceededError(absl::StrCat("replay did not reach the seal (", FormatPositions(seal),
                                                  ") in time: at ", FormatPositions(counters_.positions)));
}

void Replayer::Run() {
  absl::Duration backoff = absl::Milliseconds(100);
  while (!stop_) {
    auto n = Step(options_.poll_timeout);
    if (n.ok()) {
      backoff = absl::Milliseconds(100);
      continue;
    }
    spdlog::warn("replayer: {} (retrying in {})", std::string(n.status().message()), absl::FormatDuration(backoff));
    clock_->SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(5));
  }
}

}  // namespace cutover::replay
