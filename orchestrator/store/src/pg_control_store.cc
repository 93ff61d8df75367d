// PostgreSQL ControlStore: schema `cutover` in the control database. Table
// layout and lease semantics: docs/control-store.md.
//
// Connections and thread-safety:
//  - One connection (opened lazily) carries every read and write; calls are
//    serialized by `mu_`. Each call is one transaction. When the connection
//    turns out to be broken before the commit was sent (a restarted control
//    database), the store reconnects and runs the transaction once more —
//    nothing of the failed attempt was written. A loss during COMMIT is
//    reported as Unavailable ("may or may not have been applied") and the
//    next call reconnects.
//  - WaitForChange does not take `mu_`: it borrows a listener connection
//    (LISTEN cutover_changes) from a small pool, so a long wait never delays
//    writes. A connection is used by one waiter at a time; up to
//    kMaxIdleListeners idle ones are kept. Waiters re-read the version at
//    least every kPollInterval, because a NOTIFY can be missed across a
//    reconnect.
// Lease and row times are the database's clock (clock_timestamp() taken
// after the rows are locked), never this host's.
// The destructor closes the connections; call it only after every call returned.
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "cutover/common/pg.h"
#include "cutover/common/proto_time.h"
#include "cutover/common/status.h"
#include "cutover/store/control_store.h"
#include "store_rules.h"

namespace cutover::store {
namespace {

using cutover::v1::Cutover;

constexpr char kChannel[] = "cutover_changes";
constexpr absl::Duration kPollInterval = absl::Milliseconds(200);
constexpr size_t kMaxIdleListeners = 4;
// pg_advisory_xact_lock key serializing Init() across daemons ("cutover" in ASCII).
constexpr int64_t kInitLockKey = 0x637574'6f766572;

constexpr char kSchema[] = R"sql(
CREATE SCHEMA IF NOT EXISTS cutover;
CREATE TABLE IF NOT EXISTS cutover.cutovers (
  id         text PRIMARY KEY,
  name       text NOT NULL DEFAULT '',
  phase      text NOT NULL,
  state      bytea NOT NULL,
  version    bigint NOT NULL,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL);
CREATE INDEX IF NOT EXISTS cutovers_phase_idx ON cutover.cutovers (phase);
CREATE TABLE IF NOT EXISTS cutover.transitions (
  cutover_id text NOT NULL REFERENCES cutover.cutovers (id) ON DELETE CASCADE,
  seq        bigint NOT NULL,
  at         timestamptz NOT NULL,
  from_phase text NOT NULL,
  to_phase   text NOT NULL,
  actor      text NOT NULL DEFAULT '',
  action     text NOT NULL DEFAULT '',
  reason     text NOT NULL DEFAULT '',
  PRIMARY KEY (cutover_id, seq));
CREATE TABLE IF NOT EXISTS cutover.table_progress (
  cutover_id     text NOT NULL REFERENCES cutover.cutovers (id) ON DELETE CASCADE,
  table_name     text NOT NULL,
  state          text NOT NULL,
  rows_estimated bigint NOT NULL DEFAULT 0,
  rows_copied    bigint NOT NULL DEFAULT 0,
  bytes_copied   bigint NOT NULL DEFAULT 0,
  indexes_total  integer NOT NULL DEFAULT 0,
  indexes_done   integer NOT NULL DEFAULT 0,
  updated_at     timestamptz NOT NULL,
  PRIMARY KEY (cutover_id, table_name));
CREATE TABLE IF NOT EXISTS cutover.leases (
  cutover_id text PRIMARY KEY REFERENCES cutover.cutovers (id) ON DELETE CASCADE,
  holder     text NOT NULL DEFAULT '',
  expires_at timestamptz NOT NULL DEFAULT '-infinity',
  epoch      bigint NOT NULL DEFAULT 0);
)sql";

// Microseconds since the epoch of a timestamptz expression; NULL for ±infinity.
std::string Micros(absl::string_view expr) {
  return absl::StrCat("CASE WHEN isfinite(", expr, ") THEN (extract(epoch FROM ", expr,
                      ") * 1000000)::bigint END");
}

const std::string& CutoverSelect() {
  static const std::string* sql = new std::string(absl::StrCat(
      "SELECT c.state, c.version, l.holder, ", Micros("l.expires_at"),
      ", l.epoch, c.id FROM cutover.cutovers c LEFT JOIN cutover.leases l ON l.cutover_id = c.id"));
  return *sql;
}

absl::Time TimeFromMicros(const pqxx::field& f) {
  if (f.is_null()) return absl::InfinitePast();
  return absl::FromUnixMicros(f.as<int64_t>());
}

// Text for a `$n::timestamptz` parameter, exact to the microsecond.
std::string TimestampParam(absl::Time t) {
  if (t == absl::InfinitePast()) return "-infinity";
  return absl::FormatTime("%Y-%m-%d %H:%M:%E6S+00", t, absl::UTCTimeZone());
}

LeaseInfo LeaseFromFields(const pqxx::field& holder, const pqxx::field& expires, const pqxx::field& epoch) {
  LeaseInfo lease;
  if (!holder.is_null()) lease.holder = holder.as<std::string>();
  lease.expires_at = TimeFromMicros(expires);
  if (!epoch.is_null()) lease.epoch = epoch.as<int64_t>();
  return lease;
}

absl::StatusOr<Cutover> ParseState(const pqxx::field& f, absl::string_view id) {
  Cutover c;
  if (!c.ParseFromString(pqxx::binarystring(f).str())) {
    return absl::DataLossError(
        absl::StrCat("stored state of cutover ", id, " does not parse as cutover.v1.Cutover"));
  }
  return c;
}

// A row of CutoverSelect().
absl::StatusOr<StoredCutover> StoredFromRow(const pqxx::row& r, absl::string_view id) {
  StoredCutover out;
  ASSIGN_OR_RETURN(out.cutover, ParseState(r[0], id));
  out.version = r[1].as<int64_t>();
  internal::FillLease(LeaseFromFields(r[2], r[3], r[4]), &out.cutover);
  return out;
}

// The database's clock, read after this transaction's locks are held.
absl::Time DbNow(pqxx::work& tx) {
  return absl::FromUnixMicros(
      tx.exec("SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint")[0][0].as<int64_t>());
}

void Notify(pqxx::work& tx, const std::string& id) {
  tx.exec_params("SELECT pg_notify($1, $2)", kChannel, id);
}

// Mirrors cutover.copy.tables into cutover.table_progress (rows are only
// added or updated, never removed; unchanged rows are not rewritten).
void UpsertProgress(pqxx::work& tx, const Cutover& c, absl::Time now) {
  std::map<std::string, const cutover::v1::TableProgress*> tables;  // one row per table name
  for (const auto& t : c.copy().tables()) tables[t.table()] = &t;
  if (tables.empty()) return;
  std::vector<std::string> rows;
  rows.reserve(tables.size());
  const std::string id = tx.quote(c.id());
  const std::string at = absl::StrCat(tx.quote(TimestampParam(now)), "::timestamptz");
  for (const auto& [name, t] : tables) {
    rows.push_back(absl::StrCat("(", id, ",", tx.quote(name), ",",
                                tx.quote(cutover::v1::TableState_Name(t->state())), ",", t->rows_estimated(),
                                ",", t->rows_copied(), ",", t->bytes_copied(), ",", t->indexes_total(), ",",
                                t->indexes_done(), ",", at, ")"));
  }
  tx.exec(absl::StrCat(
      "INSERT INTO cutover.table_progress AS p (cutover_id, table_name, state, rows_estimated, rows_copied, "
      "bytes_copied, indexes_total, indexes_done, updated_at) VALUES ",
      absl::StrJoin(rows, ","),
      " ON CONFLICT (cutover_id, table_name) DO UPDATE SET state = EXCLUDED.state, "
      "rows_estimated = EXCLUDED.rows_estimated, rows_copied = EXCLUDED.rows_copied, "
      "bytes_copied = EXCLUDED.bytes_copied, indexes_total = EXCLUDED.indexes_total, "
      "indexes_done = EXCLUDED.indexes_done, updated_at = EXCLUDED.updated_at "
      "WHERE (p.state, p.rows_estimated, p.rows_copied, p.bytes_copied, p.indexes_total, p.indexes_done) "
      "IS DISTINCT FROM (EXCLUDED.state, EXCLUDED.rows_estimated, EXCLUDED.rows_copied, "
      "EXCLUDED.bytes_copied, "
      "EXCLUDED.indexes_total, EXCLUDED.indexes_done)"));
}

int64_t AppendRow(pqxx::work& tx, const std::string& id, const TransitionRecord& r, absl::Time now) {
  // The caller holds the cutover row lock, so max(seq) + 1 cannot race.
  return tx
      .exec_params(
          "INSERT INTO cutover.transitions (cutover_id, seq, at, from_phase, to_phase, actor, action, "
          "reason) "
          "SELECT $1, coalesce(max(seq), 0) + 1, $2::timestamptz, $3, $4, $5, $6, $7 "
          "FROM cutover.transitions WHERE cutover_id = $1 RETURNING seq",
          id, TimestampParam(now), internal::PhaseName(r.from), internal::PhaseName(r.to), r.actor, r.action,
          r.reason)[0][0]
      .as<int64_t>();
}

// The stored state with the lease fields stripped and the store's timestamps.
std::string Serialize(const Cutover& c) {
  std::string bytes;
  internal::StrippedForStorage(c).SerializeToString(&bytes);
  return bytes;
}

class PgControlStore final : public ControlStore {
 public:
  explicit PgControlStore(std::string dsn) : dsn_(std::move(dsn)) {}

  absl::Status Init() override {
    return Run("creating the control store schema", true, [&](pqxx::work& tx) {
      // CREATE ... IF NOT EXISTS alone still fails when two sessions create
      // the same object at once: the lock makes racing daemons take turns.
      tx.exec_params("SELECT pg_advisory_xact_lock($1)", kInitLockKey);
      tx.exec(kSchema);
      return absl::OkStatus();
    });
  }

  absl::StatusOr<StoredCutover> Create(const Cutover& cutover, const TransitionRecord& first) override {
    RETURN_IF_ERROR(internal::CheckCreate(cutover, first));
    const std::string& id = cutover.id();
    StoredCutover out;
    RETURN_IF_ERROR(Run(absl::StrCat("creating cutover ", id), true, [&](pqxx::work& tx) -> absl::Status {
      const absl::Time now = DbNow(tx);
      Cutover state = internal::StrippedForStorage(cutover);
      *state.mutable_created_at() = ToProtoTime(now);
      *state.mutable_updated_at() = ToProtoTime(now);
      auto r = tx.exec_params(
          "INSERT INTO cutover.cutovers (id, name, phase, state, version, created_at, updated_at) "
          "VALUES ($1, $2, $3, $4, 1, $5::timestamptz, $5::timestamptz) ON CONFLICT (id) DO NOTHING "
          "RETURNING 1",
          id, state.plan().name(), internal::PhaseName(state.phase()), pqxx::binarystring(Serialize(state)),
          TimestampParam(now));
      if (r.empty()) return internal::AlreadyExists(id);
      tx.exec_params("INSERT INTO cutover.leases (cutover_id) VALUES ($1)", id);
      TransitionRecord row = first;
      if (row.to == cutover::v1::PHASE_UNSPECIFIED) row.to = state.phase();
      AppendRow(tx, id, row, now);
      UpsertProgress(tx, state, now);
      Notify(tx, id);
      out.cutover = std::move(state);
      out.version = 1;
      return absl::OkStatus();
    }));
    return out;
  }

  absl::StatusOr<StoredCutover> Get(absl::string_view id_view) override {
    const std::string id(id_view);
    StoredCutover out;
    RETURN_IF_ERROR(Run(absl::StrCat("reading cutover ", id), false, [&](pqxx::work& tx) -> absl::Status {
      auto r = tx.exec_params(absl::StrCat(CutoverSelect(), " WHERE c.id = $1"), id);
      if (r.empty()) return internal::NotFound(id);
      ASSIGN_OR_RETURN(out, StoredFromRow(r[0], id));
      return absl::OkStatus();
    }));
    return out;
  }

  absl::StatusOr<std::vector<StoredCutover>> List(const std::vector<cutover::v1::Phase>& phases) override {
    std::vector<StoredCutover> out;
    RETURN_IF_ERROR(Run("listing cutovers", false, [&](pqxx::work& tx) -> absl::Status {
      std::string sql = CutoverSelect();
      if (!phases.empty()) {
        std::vector<std::string> names;
        for (auto p : phases) names.push_back(tx.quote(internal::PhaseName(p)));
        absl::StrAppend(&sql, " WHERE c.phase IN (", absl::StrJoin(names, ","), ")");
      }
      absl::StrAppend(&sql, " ORDER BY c.created_at DESC, c.id DESC");
      out.clear();
      for (const auto& row : tx.exec(sql)) {
        ASSIGN_OR_RETURN(auto c, StoredFromRow(row, row[5].as<std::string>()));
        out.push_back(std::move(c));
      }
      return absl::OkStatus();
    }));
    return out;
  }

  absl::StatusOr<StoredCutover> Transition(const Cutover& updated, const TransitionRecord& record,
                                           absl::string_view holder) override {
    RETURN_IF_ERROR(internal::CheckTransitionArgs(updated, record));
    return Write(absl::StrCat("moving cutover ", updated.id(), " to ", internal::PhaseName(record.to)),
                 updated.id(), holder, [&](pqxx::work& tx, Locked& locked) -> absl::Status {
                   RETURN_IF_ERROR(internal::CheckPhase(updated.id(), locked.state.phase(), record.from));
                   ReplaceState(tx, &locked, updated);
                   AppendRow(tx, updated.id(), record, locked.now);
                   return absl::OkStatus();
                 });
  }

  absl::StatusOr<StoredCutover> Save(const Cutover& updated, absl::string_view holder) override {
    RETURN_IF_ERROR(internal::CheckId(updated.id()));
    return Write(absl::StrCat("saving cutover ", updated.id()), updated.id(), holder,
                 [&](pqxx::work& tx, Locked& locked) -> absl::Status {
                   RETURN_IF_ERROR(internal::CheckPhase(updated.id(), locked.state.phase(), updated.phase()));
                   ReplaceState(tx, &locked, updated);
                   return absl::OkStatus();
                 });
  }

  absl::Status Record(absl::string_view id_view, const TransitionRecord& record,
                      absl::string_view holder) override {
    const std::string id(id_view);
    RETURN_IF_ERROR(internal::CheckId(id));
    return Write(absl::StrCat("recording on cutover ", id), id, holder,
                 [&](pqxx::work& tx, Locked& locked) -> absl::Status {
                   RETURN_IF_ERROR(internal::CheckRecordPhases(id, locked.state.phase(), record));
                   TransitionRecord row = record;
                   row.from = row.to = locked.state.phase();
                   Cutover same = locked.state;
                   ReplaceState(tx, &locked, same);
                   AppendRow(tx, id, row, locked.now);
                   return absl::OkStatus();
                 })
        .status();
  }

  absl::StatusOr<std::vector<cutover::v1::Transition>> Transitions(absl::string_view id_view,
                                                                   int64_t after_seq) override {
    const std::string id(id_view);
    std::vector<cutover::v1::Transition> out;
    RETURN_IF_ERROR(
        Run(absl::StrCat("reading the timeline of cutover ", id), false, [&](pqxx::work& tx) -> absl::Status {
          if (tx.exec_params("SELECT 1 FROM cutover.cutovers WHERE id = $1", id).empty()) {
            return internal::NotFound(id);
          }
          auto rows = tx.exec_params(
              absl::StrCat("SELECT seq, ", Micros("at"),
                           ", from_phase, to_phase, actor, action, reason FROM cutover.transitions "
                           "WHERE cutover_id = $1 AND seq > $2 ORDER BY seq"),
              id, after_seq);
          out.clear();
          for (const auto& r : rows) {
            cutover::v1::Transition& t = out.emplace_back();
            t.set_seq(r[0].as<int64_t>());
            *t.mutable_at() = ToProtoTime(TimeFromMicros(r[1]));
            cutover::v1::Phase p = cutover::v1::PHASE_UNSPECIFIED;
            cutover::v1::Phase_Parse(r[2].as<std::string>(), &p);
            t.set_from(p);
            p = cutover::v1::PHASE_UNSPECIFIED;
            cutover::v1::Phase_Parse(r[3].as<std::string>(), &p);
            t.set_to(p);
            t.set_actor(r[4].as<std::string>());
            t.set_action(r[5].as<std::string>());
            t.set_reason(r[6].as<std::string>());
          }
          return absl::OkStatus();
        }));
    return out;
  }

  absl::StatusOr<LeaseInfo> AcquireLease(absl::string_view id_view, absl::string_view holder,
                                         absl::Duration ttl) override {
    const std::string id(id_view);
    RETURN_IF_ERROR(internal::CheckLeaseArgs(id, holder, ttl));
    LeaseInfo out;
    RETURN_IF_ERROR(
        Run(absl::StrCat("acquiring the lease on cutover ", id), true, [&](pqxx::work& tx) -> absl::Status {
          ASSIGN_OR_RETURN(LeaseInfo current, LockLease(tx, id));
          out = internal::NextLease(current, holder, DbNow(tx), ttl);
          if (out.holder != current.holder || out.expires_at != current.expires_at ||
              out.epoch != current.epoch) {
            WriteLease(tx, id, out);
          }
          return absl::OkStatus();
        }));
    return out;
  }

  absl::Status ReleaseLease(absl::string_view id_view, absl::string_view holder) override {
    const std::string id(id_view);
    RETURN_IF_ERROR(internal::CheckId(id));
    return Run(absl::StrCat("releasing the lease on cutover ", id), true,
               [&](pqxx::work& tx) -> absl::Status {
                 ASSIGN_OR_RETURN(LeaseInfo current, LockLease(tx, id));
                 if (holder.empty() || current.holder != holder) return absl::OkStatus();
                 current.holder.clear();
                 current.expires_at = DbNow(tx);
                 WriteLease(tx, id, current);
                 return absl::OkStatus();
               });
  }

  absl::StatusOr<LeaseInfo> GetLease(absl::string_view id_view) override {
    const std::string id(id_view);
    LeaseInfo out;
    RETURN_IF_ERROR(
        Run(absl::StrCat("reading the lease on cutover ", id), false, [&](pqxx::work& tx) -> absl::Status {
          auto r = tx.exec_params(absl::StrCat("SELECT l.holder, ", Micros("l.expires_at"),
                                               ", l.epoch FROM cutover.cutovers c LEFT JOIN "
                                               "cutover.leases l ON l.cutover_id = c.id "
                                               "WHERE c.id = $1"),
                                  id);
          if (r.empty()) return internal::NotFound(id);
          out = LeaseFromFields(r[0][0], r[0][1], r[0][2]);
          return absl::OkStatus();
        }));
    return out;
  }

  absl::StatusOr<int64_t> WaitForChange(absl::string_view id_view, int64_t version,
                                        absl::Time deadline) override {
    const std::string id(id_view);
    const std::string context = absl::StrCat("waiting for a change of cutover ", id);
    bool reconnected = false;
    while (true) {
      ASSIGN_OR_RETURN(std::unique_ptr<pg::Session> listener, TakeListener());
      try {
        while (true) {
          // LISTEN is active before this read, so a change committed after
          // it wakes the wait below.
          pqxx::nontransaction tx(listener->conn());
          auto r = tx.exec_params("SELECT version FROM cutover.cutovers WHERE id = $1", id);
          tx.commit();
          if (r.empty()) {
            ReturnListener(std::move(listener));
            return internal::NotFound(id);
          }
          const int64_t current = r[0][0].as<int64_t>();
          const absl::Time now = absl::Now();
          if (current > version || now >= deadline) {
            ReturnListener(std::move(listener));
            return current;
          }
          const int64_t us = absl::ToInt64Microseconds(std::min(deadline - now, kPollInterval));
          listener->conn().await_notification(us / 1'000'000, us % 1'000'000);
        }
      } catch (const std::exception& e) {
        // A pooled connection may have died with a restarted server: one
        // fresh connection gets another go; the broken one is dropped.
        const bool lost = !listener->conn().is_open();
        listener.reset();
        if (lost && !reconnected) {
          reconnected = true;
          continue;
        }
        return pg::StatusFromException(e, context);
      }
    }
  }

 private:
  // A cutover row locked for a write, its lease, and the database time.
  struct Locked {
    std::string id;
    Cutover state;  // as stored (no lease fields)
    LeaseInfo lease;
    absl::Time now;
    int64_t version = 0;
  };
  using WriteBody = std::function<absl::Status(pqxx::work&, Locked&)>;

  // The shape of every cutover write: lock the cutover row (NotFound), then
  // its lease, check the lease for `holder`, run `body`, bump the version,
  // NOTIFY; all in one transaction. Returns the state as written.
  absl::StatusOr<StoredCutover> Write(const std::string& context, const std::string& id,
                                      absl::string_view holder, const WriteBody& body) {
    StoredCutover out;
    RETURN_IF_ERROR(Run(context, true, [&](pqxx::work& tx) -> absl::Status {
      Locked locked;
      locked.id = id;
      auto r = tx.exec_params("SELECT state, version FROM cutover.cutovers WHERE id = $1 FOR UPDATE", id);
      if (r.empty()) return internal::NotFound(id);
      ASSIGN_OR_RETURN(locked.state, ParseState(r[0][0], id));
      locked.version = r[0][1].as<int64_t>();
      // FOR SHARE: a takeover waits until this write has committed.
      auto l = tx.exec_params(absl::StrCat("SELECT holder, ", Micros("expires_at"),
                                           ", epoch FROM cutover.leases WHERE cutover_id = $1 FOR SHARE"),
                              id);
      if (!l.empty()) locked.lease = LeaseFromFields(l[0][0], l[0][1], l[0][2]);
      locked.now = DbNow(tx);
      RETURN_IF_ERROR(internal::CheckLease(id, locked.lease, locked.now, holder));
      RETURN_IF_ERROR(body(tx, locked));
      Notify(tx, id);
      out.cutover = locked.state;
      internal::FillLease(locked.lease, &out.cutover);
      out.version = locked.version;
      return absl::OkStatus();
    }));
    return out;
  }

  // Writes `updated` over the locked row (created_at kept, updated_at = now)
  // and mirrors its table progress; bumps the version.
  static void ReplaceState(pqxx::work& tx, Locked* locked, const Cutover& updated) {
    Cutover state = internal::StrippedForStorage(updated);
    *state.mutable_created_at() = locked->state.created_at();
    *state.mutable_updated_at() = ToProtoTime(locked->now);
    locked->version =
        tx.exec_params(
              "UPDATE cutover.cutovers SET name = $2, phase = $3, state = $4, version = version + 1, "
              "updated_at = $5::timestamptz WHERE id = $1 RETURNING version",
              locked->id, state.plan().name(), internal::PhaseName(state.phase()),
              pqxx::binarystring(Serialize(state)), TimestampParam(locked->now))[0][0]
            .as<int64_t>();
    UpsertProgress(tx, state, locked->now);
    locked->state = std::move(state);
  }

  // The lease row of `id`, locked (created if the cutover exists but its
  // lease row was deleted by hand); NotFound when there is no such cutover.
  static absl::StatusOr<LeaseInfo> LockLease(pqxx::work& tx, const std::string& id) {
    const std::string sql = absl::StrCat("SELECT holder, ", Micros("expires_at"),
                                         ", epoch FROM cutover.leases WHERE cutover_id = $1 FOR UPDATE");
    auto r = tx.exec_params(sql, id);
    if (r.empty()) {
      tx.exec_params(
          "INSERT INTO cutover.leases (cutover_id) SELECT id FROM cutover.cutovers WHERE id = $1 "
          "ON CONFLICT DO NOTHING",
          id);
      r = tx.exec_params(sql, id);
      if (r.empty()) return internal::NotFound(id);
    }
    return LeaseFromFields(r[0][0], r[0][1], r[0][2]);
  }

  static void WriteLease(pqxx::work& tx, const std::string& id, const LeaseInfo& lease) {
    tx.exec_params(
        "UPDATE cutover.leases SET holder = $2, expires_at = $3::timestamptz, epoch = $4 "
        "WHERE cutover_id = $1",
        id, lease.holder, TimestampParam(lease.expires_at), lease.epoch);
  }

  absl::StatusOr<std::unique_ptr<pg::Session>> Connect(absl::string_view application_name) {
    return pg::Session::Connect(dsn_, "control database", application_name);
  }

  // Runs `body` in one transaction on the shared connection (see the file
  // comment for the reconnect rule). Writes commit synchronously whatever
  // the server default, so an acknowledged transition survives a crash.
  absl::Status Run(const std::string& context, bool write,
                   const std::function<absl::Status(pqxx::work&)>& body) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock l(&mu_);
    absl::Status last;
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (session_ == nullptr || !session_->conn().is_open()) {
        auto s = Connect("cutover-store");
        if (!s.ok()) return Annotate(s.status(), context);
        session_ = std::move(*s);
      }
      bool retry = false;
      last = Attempt(*session_, write, body, &retry);
      if (last.ok()) return last;
      if (last.code() == absl::StatusCode::kUnavailable) session_.reset();
      if (!retry) break;
    }
    return Annotate(last, context);
  }

  static absl::Status Attempt(pg::Session& session, bool write,
                              const std::function<absl::Status(pqxx::work&)>& body, bool* retry_safe) {
    bool committing = false;
    absl::Status st = session.InTransaction([&](pqxx::work& tx) -> absl::Status {
      if (write) tx.exec("SET LOCAL synchronous_commit = on");
      RETURN_IF_ERROR(body(tx));
      committing = true;
      return absl::OkStatus();
    });
    if (st.ok() || session.conn().is_open()) return st;
    if (committing) {
      return absl::UnavailableError(
          absl::StrCat("connection to the control database lost during COMMIT; the write may or may not have "
                       "been applied: ",
                       st.message()));
    }
    // The connection died before COMMIT was sent: the server rolled the
    // transaction back, so running it again on a new connection is safe.
    *retry_safe = true;
    if (st.code() == absl::StatusCode::kUnavailable) return st;
    return absl::UnavailableError(absl::StrCat("control database: connection lost: ", st.message()));
  }

  absl::StatusOr<std::unique_ptr<pg::Session>> TakeListener() ABSL_LOCKS_EXCLUDED(listeners_mu_) {
    {
      absl::MutexLock l(&listeners_mu_);
      while (!idle_listeners_.empty()) {
        std::unique_ptr<pg::Session> s = std::move(idle_listeners_.back());
        idle_listeners_.pop_back();
        if (s->conn().is_open()) return s;
      }
    }
    ASSIGN_OR_RETURN(auto s, Connect("cutover-store-listener"));
    RETURN_IF_ERROR(
        Annotate(s->Exec(absl::StrCat("LISTEN ", kChannel)).status(), "listening for cutover changes"));
    return s;
  }

  void ReturnListener(std::unique_ptr<pg::Session> s) ABSL_LOCKS_EXCLUDED(listeners_mu_) {
    if (!s->conn().is_open()) return;
    absl::MutexLock l(&listeners_mu_);
    if (idle_listeners_.size() < kMaxIdleListeners) idle_listeners_.push_back(std::move(s));
  }

  const std::string dsn_;
  absl::Mutex mu_;
  std::unique_ptr<pg::Session> session_ ABSL_GUARDED_BY(mu_);
  absl::Mutex listeners_mu_;
  std::vector<std::unique_ptr<pg::Session>> idle_listeners_ ABSL_GUARDED_BY(listeners_mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<ControlStore>> NewPgControlStore(const std::string& dsn) {
  // Only checks the DSN: the first call connects (and reconnects later as needed).
  RETURN_IF_ERROR(pg::ParseDsn(dsn, "control database DSN").status());
  return std::unique_ptr<ControlStore>(new PgControlStore(dsn));
}

}  // namespace cutover::store
