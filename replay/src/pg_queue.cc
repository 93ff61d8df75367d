#include "cutover/replay/pg_queue.h"

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "cutover/common/pg.h"

namespace cutover::replay {
namespace {

constexpr char kSchema[] =
    "CREATE SCHEMA IF NOT EXISTS cutover_queue;"
    "CREATE TABLE IF NOT EXISTS cutover_queue.heads ("
    "  queue text PRIMARY KEY, next_seq bigint NOT NULL DEFAULT 0,"
    "  created_at timestamptz NOT NULL DEFAULT now());"
    "CREATE TABLE IF NOT EXISTS cutover_queue.events ("
    "  queue text NOT NULL, seq bigint NOT NULL, key text NOT NULL, payload bytea NOT NULL,"
    "  appended_at timestamptz NOT NULL DEFAULT clock_timestamp(), PRIMARY KEY (queue, seq));";

std::string Channel(const std::string& queue) {
  // NOTIFY channels are identifiers (63 bytes): hash long queue names.
  return absl::StrCat("cutover_queue_", std::hash<std::string>{}(queue) % 1000000007);
}

// A session that reconnects on the next call after a connection loss.
class LazySession {
 public:
  LazySession(std::string dsn, std::string app) : dsn_(std::move(dsn)), app_(std::move(app)) {}
  absl::StatusOr<pg::Session*> Get() {
    if (session_ && session_->conn().is_open()) return session_.get();
    ASSIGN_OR_RETURN(auto s, pg::Session::Connect(dsn_, "control", app_));
    // An acknowledged append must survive a crash of the control database,
    // whatever the server's default.
    RETURN_IF_ERROR(s->Exec("SET synchronous_commit = on").status());
    session_ = std::move(s);
    return session_.get();
  }
  void Reset() { session_.reset(); }

 private:
  std::string dsn_, app_;
  std::unique_ptr<pg::Session> session_;
};

class PgQueueReader : public QueueReader {
 public:
  PgQueueReader(const PgQueueOptions& o, int64_t next) : opts_(o), next_(next), session_(o.dsn, "cutover-queue-reader") {}

  absl::StatusOr<std::vector<QueuedMessage>> Poll(int max, absl::Duration timeout) override {
    const absl::Time deadline = absl::Now() + timeout;
    while (true) {
      auto s = session_.Get();
      if (!s.ok()) return s.status();
      if (!listening_) {
        auto l = (*s)->Exec(absl::StrCat("LISTEN ", Channel(opts_.queue)));
        if (!l.ok()) {
          session_.Reset();
          return l.status();
        }
        listening_ = true;
      }
      auto rows = (*s)->ExecParams(
          "SELECT seq, key, payload FROM cutover_queue.events WHERE queue = $1 AND seq >= $2 ORDER BY seq LIMIT $3",
          opts_.queue, next_, max);
      if (!rows.ok()) {
        session_.Reset();
        listening_ = false;
        return rows.status();
      }
      if (!rows->empty()) {
        std::vector<QueuedMessage> out;
        out.reserve(rows->size());
        for (const auto& r : *rows) {
          QueuedMessage m;
          m.position.set_partition(0);
          m.position.set_offset(r[0].as<int64_t>());
          m.key = r[1].as<std::string>();
          pqxx::binarystring bin(r[2]);
          m.payload = bin.str();
          out.push_back(std::move(m));
        }
        next_ = out.back().position.offset() + 1;
        return out;
      }
      const absl::Duration left = deadline - absl::Now();
      if (left <= absl::ZeroDuration()) return std::vector<QueuedMessage>{};
      try {
        // Wakes on an append's NOTIFY, or after the (capped) wait; polling
        // again also covers a NOTIFY lost to a reconnect.
        const int64_t us = std::min<int64_t>(absl::ToInt64Microseconds(left), 500'000);
        (*s)->conn().await_notification(us / 1'000'000, us % 1'000'000);
      } catch (const std::exception& e) {
        session_.Reset();
        listening_ = false;
        return pg::StatusFromException(e, "control (queue reader)");
      }
    }
  }

 private:
  PgQueueOptions opts_;
  int64_t next_;
  LazySession session_;
  bool listening_ = false;
};

class PgQueue : public RevocationQueue {
 public:
  explicit PgQueue(PgQueueOptions o) : opts_(std::move(o)), session_(opts_.dsn, "cutover-queue") {}

  std::string backend() const override { return "postgres"; }
  int32_t partitions() const override { return 1; }

  absl::StatusOr<std::vector<cutover::v1::QueuePosition>> Append(const std::vector<QueueMessage>& messages) override {
    std::vector<cutover::v1::QueuePosition> out;
    if (messages.empty()) return out;
    absl::MutexLock l(&mu_);
    ASSIGN_OR_RETURN(pg::Session * s, session_.Get());
    int64_t first = 0;
    absl::Status st = s->InTransaction([&](pqxx::work& tx) -> absl::Status {
      // The head row's lock serializes appenders until commit.
      auto r = tx.exec_params("UPDATE cutover_queue.heads SET next_seq = next_seq + $2 WHERE queue = $1 "
                              "RETURNING next_seq - $2",
                              opts_.queue, static_cast<int64_t>(messages.size()));
      if (r.empty()) return absl::NotFoundError(absl::StrCat("queue '", opts_.queue, "' does not exist"));
      first = r[0][0].as<int64_t>();
      std::string sql = "INSERT INTO cutover_queue.events (queue, seq, key, payload) VALUES ";
      const std::string q = tx.quote(opts_.queue);
      for (size_t i = 0; i < messages.size(); ++i) {
        if (i) sql += ',';
        absl::StrAppend(&sql, "(", q, ",", first + static_cast<int64_t>(i), ",", tx.quote(messages[i].key), ",",
                        tx.quote_raw(reinterpret_cast<const unsigned char*>(messages[i].payload.data()),
                                     messages[i].payload.size()),
                        ")");
      }
      tx.exec(sql);
      tx.exec(absl::StrCat("NOTIFY ", Channel(opts_.queue)));
      return absl::OkStatus();
    });
    if (!st.ok()) {
      if (IsRetryable(st)) session_.Reset();
      return Annotate(st, "appending to the PostgreSQL queue");
    }
    out.reserve(messages.size());
    for (size_t i = 0; i < messages.size(); ++i) {
      cutover::v1::QueuePosition p;
      p.set_partition(0);
      p.set_offset(first + static_cast<int64_t>(i));
      out.push_back(p);
    }
    return out;
  }

  absl::StatusOr<Positions> EndPositions() override {
    absl::MutexLock l(&mu_);
    ASSIGN_OR_RETURN(pg::Session * s, session_.Get());
    auto r = s->ExecParams("SELECT next_seq FROM cutover_queue.heads WHERE queue = $1", opts_.queue);
    if (!r.ok()) {
      session_.Reset();
      return r.status();
    }
    if (r->empty()) return absl::NotFoundError(absl::StrCat("queue '", opts_.queue, "' does not exist"));
    Positions out;
    SetNextOffset(&out, 0, (*r)[0][0].as<int64_t>());
    return out;
  }

  absl::StatusOr<std::unique_ptr<QueueReader>> OpenReader(const Positions& start) override {
    return std::unique_ptr<QueueReader>(new PgQueueReader(opts_, NextOffset(start, 0)));
  }

 private:
  const PgQueueOptions opts_;
  absl::Mutex mu_;
  LazySession session_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::StatusOr<std::unique_ptr<RevocationQueue>> OpenPgQueue(const PgQueueOptions& options) {
  if (options.queue.empty()) return absl::InvalidArgumentError("queue name is empty");
  ASSIGN_OR_RETURN(auto s, pg::Session::Connect(options.dsn, "control", "cutover-queue"));
  RETURN_IF_ERROR(s->Exec("SET synchronous_commit = on").status());
  RETURN_IF_ERROR(Annotate(s->Exec(kSchema).status(), "creating the PostgreSQL queue schema"));
  RETURN_IF_ERROR(
      s->ExecParams("INSERT INTO cutover_queue.heads (queue) VALUES ($1) ON CONFLICT DO NOTHING", options.queue)
          .status());
  return std::unique_ptr<RevocationQueue>(new PgQueue(options));
}

absl::Status DropPgQueue(const PgQueueOptions& options) {
  ASSIGN_OR_RETURN(auto s, pg::Session::Connect(options.dsn, "control", "cutover-queue"));
  return s->InTransaction([&](pqxx::work& tx) -> absl::Status {
    tx.exec_params("DELETE FROM cutover_queue.events WHERE queue = $1", options.queue);
    tx.exec_params("DELETE FROM cutover_queue.heads WHERE queue = $1", options.queue);
    return absl::OkStatus();
  });
}

}  // namespace cutover::replay
