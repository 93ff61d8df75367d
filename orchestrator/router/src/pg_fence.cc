// PgFence: ALTER DATABASE ... SET default_transaction_read_only = on, then
// terminate every other client backend of the database until none is left.
// Sessions whose application_name starts with "cutover" (relay, replayer,
// orchestrator) are spared; they turn read-only off for themselves at
// connect, as this fence's own session does, so the fence never blocks them.
#include <memory>

#include "absl/strings/str_cat.h"
#include "cutover/common/pg.h"
#include "cutover/common/status.h"
#include "cutover/router/router.h"

namespace cutover::router {
namespace {

constexpr absl::Duration kPoll = absl::Milliseconds(5);
constexpr absl::Duration kStatementCap = absl::Seconds(30);

// Other client backends of this database the fence must end.
constexpr char kOthers[] =
    "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
    "AND backend_type = 'client backend' AND coalesce(application_name, '') NOT LIKE 'cutover%'";

class PgFence final : public Fence {
 public:
  PgFence(std::string dsn, Clock* clock) : dsn_(std::move(dsn)), clock_(clock) {}

  absl::Status Check() override {
    ASSIGN_OR_RETURN(pg::Session * s, Connect(clock_->Now() + absl::Seconds(10)));
    auto r = Exec(s,
                  "SELECT r.rolsuper, pg_has_role(current_user, d.datdba, 'MEMBER'), "
                  "r.rolsuper OR pg_has_role(current_user, 'pg_signal_backend', 'MEMBER'), "
                  "current_user, current_database() "
                  "FROM pg_roles r, pg_database d "
                  "WHERE r.rolname = current_user AND d.datname = current_database()");
    if (!r.ok()) return r.status();
    if (r->empty()) return absl::InternalError("fence check: no row for the current user and database");
    const auto row = (*r)[0];
    bool super = row[0].as<bool>(), owner = row[1].as<bool>(), signal = row[2].as<bool>();
    std::string user = row[3].as<std::string>(), db = row[4].as<std::string>();
    if (!super && !owner) {
      return absl::PermissionDeniedError(absl::StrCat("fence: role '", user,
                                                      "' neither is superuser nor owns database '", db,
                                                      "' (needed for ALTER DATABASE ... SET)"));
    }
    if (!signal) {
      return absl::PermissionDeniedError(absl::StrCat("fence: role '", user,
                                                      "' cannot terminate other sessions of '", db,
                                                      "' (grant pg_signal_backend, or use a superuser)"));
    }
    return absl::OkStatus();
  }

  absl::Status Raise(absl::Time deadline) override {
    ASSIGN_OR_RETURN(pg::Session * s, Connect(deadline));
    RETURN_IF_ERROR(WithTimeout(s, deadline));
    ASSIGN_OR_RETURN(std::string db, Database(s));
    RETURN_IF_ERROR(Exec(s, absl::StrCat("ALTER DATABASE ", pg::QuoteIdent(db),
                                         " SET default_transaction_read_only = on"))
                        .status());
    // New sessions are read-only from here on; end the ones already open.
    // pg_terminate_backend only signals, so poll until they are gone.
    while (true) {
      RETURN_IF_ERROR(WithTimeout(s, deadline));
      RETURN_IF_ERROR(Exec(s, absl::StrCat("SELECT pg_terminate_backend(pid) ", kOthers)).status());
      auto left = Exec(s, absl::StrCat("SELECT count(*) ", kOthers));
      if (!left.ok()) return left.status();
      int64_t n = (*left)[0][0].as<int64_t>();
      if (n == 0) return absl::OkStatus();
      if (clock_->Now() + kPoll >= deadline) {
        return absl::DeadlineExceededError(absl::StrCat("fence on '", db, "': ", n,
                                                        " session(s) still open at the deadline "
                                                        "after pg_terminate_backend"));
      }
      clock_->SleepFor(kPoll);
    }
  }

  absl::Status Lower(absl::Time deadline) override {
    ASSIGN_OR_RETURN(pg::Session * s, Connect(deadline));
    RETURN_IF_ERROR(WithTimeout(s, deadline));
    ASSIGN_OR_RETURN(std::string db, Database(s));
    return Exec(s,
                absl::StrCat("ALTER DATABASE ", pg::QuoteIdent(db), " RESET default_transaction_read_only"))
        .status();
  }

  absl::StatusOr<bool> Raised() override {
    ASSIGN_OR_RETURN(pg::Session * s, Connect(clock_->Now() + absl::Seconds(10)));
    auto r =
        Exec(s,
             "SELECT EXISTS (SELECT 1 FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase "
             "WHERE d.datname = current_database() AND s.setrole = 0 "
             "AND 'default_transaction_read_only=on' = ANY (s.setconfig))");
    if (!r.ok()) return r.status();
    return (*r)[0][0].as<bool>();
  }

 private:
  // The session, (re)connected when needed. It runs with read-only off (the
  // fence must not lock itself out) and synchronous_commit on (a raised or
  // lowered fence survives a crash of blue once acknowledged).
  absl::StatusOr<pg::Session*> Connect(absl::Time deadline) {
    if (session_ != nullptr && session_->conn().is_open()) return session_.get();
    session_.reset();
    if (clock_->Now() >= deadline)
      return absl::DeadlineExceededError("fence: deadline passed before connecting");
    ASSIGN_OR_RETURN(auto s, pg::Session::Connect(dsn_, "fenced database", "cutover-fence"));
    RETURN_IF_ERROR(
        Exec(s.get(), "SET default_transaction_read_only = off; SET synchronous_commit = on").status());
    session_ = std::move(s);
    return session_.get();
  }

  // Bounds the next statements by the deadline (ALTER DATABASE may wait for a lock).
  absl::Status WithTimeout(pg::Session* s, absl::Time deadline) {
    absl::Duration left = std::min(deadline - clock_->Now(), kStatementCap);
    if (left <= absl::ZeroDuration()) return absl::DeadlineExceededError("fence: deadline passed");
    return Exec(s, absl::StrCat("SET statement_timeout = ",
                                std::max<int64_t>(1, absl::ToInt64Milliseconds(left))))
        .status();
  }

  absl::StatusOr<std::string> Database(pg::Session* s) {
    ASSIGN_OR_RETURN(pqxx::result r, Exec(s, "SELECT current_database()"));
    return r[0][0].as<std::string>();
  }

  // Runs `sql`; a lost connection drops the session so the next call reconnects.
  absl::StatusOr<pqxx::result> Exec(pg::Session* s, const std::string& sql) {
    auto r = s->Exec(sql);
    if (!r.ok()) {
      if (absl::IsUnavailable(r.status())) session_.reset();
      // statement_timeout fired: the deadline, not a client cancel.
      if (absl::IsCancelled(r.status())) return absl::DeadlineExceededError(r.status().message());
    }
    return r;
  }

  const std::string dsn_;
  Clock* const clock_;
  std::unique_ptr<pg::Session> session_;
};

}  // namespace

std::unique_ptr<Fence> NewPgFence(const std::string& dsn, Clock* clock) {
  return std::make_unique<PgFence>(dsn, clock ? clock : Clock::Real());
}

}  // namespace cutover::router
