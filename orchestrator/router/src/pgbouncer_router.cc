// PgBouncerRouter: the flip through PgBouncer's admin console.
//
// The console speaks only the simple query protocol, so every command goes
// through PQsendQuery on a raw libpq connection (never a prepared statement)
// and is awaited with select() until the call's deadline. PAUSE may wait for
// in-flight transactions for as long as they run; the console ignores cancel
// requests for it, so on the deadline we send one anyway, drop the
// connection and report DeadlineExceeded: the database then stays paused
// (or pausing) until Resume(), which the flip protocol calls on abort.
#include <sys/select.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <optional>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cutover/common/pg.h"
#include "cutover/common/status.h"
#include "cutover/router/pgbouncer_config.h"
#include "cutover/router/router.h"

namespace cutover::router {
namespace {

constexpr absl::Duration kCheckTimeout = absl::Seconds(10);
constexpr absl::Duration kPollSlice = absl::Milliseconds(50);

std::string TrimMessage(absl::string_view m) {
  std::string s(absl::StripAsciiWhitespace(m));
  for (char& c : s) {
    if (c == '\n' || c == '\t') c = ' ';
  }
  return s;
}

absl::StatusOr<std::string> ReadConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (::access(path.c_str(), F_OK) != 0) {
      return absl::FailedPreconditionError(absl::StrCat("pgbouncer config ", path, " does not exist"));
    }
    return absl::PermissionDeniedError(absl::StrCat("cannot read pgbouncer config ", path));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return absl::UnavailableError(absl::StrCat("cannot read pgbouncer config ", path));
  return ss.str();
}

// Column `name` of row `row`, "" when absent.
std::string Field(const PGresult* res, int row, const char* name) {
  int col = PQfnumber(res, name);
  if (col < 0 || row >= PQntuples(res) || PQgetisnull(res, row, col)) return "";
  return PQgetvalue(res, row, col);
}

class PgBouncerRouter final : public Router {
 public:
  PgBouncerRouter(cutover::v1::PgBouncerRouterOptions options, Clock* clock)
      : options_(std::move(options)), clock_(clock) {}

  std::string kind() const override { return "pgbouncer"; }

  std::vector<RouterCheck> Check() override {
    std::vector<RouterCheck> out;
    const absl::Time deadline = clock_->Now() + kCheckTimeout;
    const std::string& db = options_.database();

    absl::Status reach = EnsureConnected(deadline);
    out.push_back({"router.reachable", reach,
                   absl::StrCat("admin console at ", pg::DescribeDsn(options_.admin_dsn()))});

    std::optional<std::string> pool_mode;
    bool in_show_databases = false;
    if (reach.ok()) {
      absl::StatusOr<pg::PgResultPtr> version = Admin("SHOW VERSION", deadline);
      absl::StatusOr<pg::PgResultPtr> dbs = version.ok() ? Admin("SHOW DATABASES", deadline)
                                                         : absl::StatusOr<pg::PgResultPtr>(version.status());
      absl::StatusOr<pg::PgResultPtr> config =
          dbs.ok() ? Admin("SHOW CONFIG", deadline) : absl::StatusOr<pg::PgResultPtr>(dbs.status());
      absl::Status admin = config.status();
      std::string detail;
      if (version.ok() && PQntuples(version->get()) > 0) detail = PQgetvalue(version->get(), 0, 0);
      std::string default_mode;
      if (config.ok()) {
        const PGresult* r = config->get();
        std::string admin_users;
        for (int i = 0; i < PQntuples(r); ++i) {
          std::string key = Field(r, i, "key");
          if (key == "admin_users") admin_users = Field(r, i, "value");
          if (key == "pool_mode") default_mode = Field(r, i, "value");
        }
        const char* user = admin_ && admin_->get() ? PQuser(admin_->get()) : "";
        bool listed = false;
        for (absl::string_view u : absl::StrSplit(admin_users, absl::ByAnyChar(", "), absl::SkipEmpty())) {
          if (u == user) listed = true;
        }
        // The "pgbouncer" user over the Unix socket is an admin without being listed.
        if (!listed && std::string(user) != "pgbouncer") {
          admin = absl::FailedPreconditionError(
              absl::StrCat("user '", user, "' of plan.router.pgbouncer.admin_dsn is not in admin_users (",
                           admin_users, "): it can read the console but PAUSE/RESUME/RELOAD need an admin"));
        }
      }
      out.push_back({"router.admin", admin, detail});
      if (dbs.ok()) {
        const PGresult* r = dbs->get();
        for (int i = 0; i < PQntuples(r); ++i) {
          if (Field(r, i, "name") != db) continue;
          in_show_databases = true;
          std::string mode = Field(r, i, "pool_mode");
          pool_mode = mode.empty() ? default_mode : mode;
        }
        if (!in_show_databases && !default_mode.empty()) pool_mode = default_mode;
      }
    }

    // The [databases] entry, in the file and in the running PgBouncer.
    {
      RouterCheck c{"router.database", absl::OkStatus(), ""};
      auto ini = ReadConfig(options_.config_path());
      absl::StatusOr<std::string> entry = ini.ok() ? FindDatabaseEntry(*ini, db, options_.config_path())
                                                   : absl::StatusOr<std::string>(ini.status());
      if (!entry.ok()) {
        c.status = entry.status();
      } else if (reach.ok() && !in_show_databases) {
        c.status = absl::FailedPreconditionError(
            absl::StrCat("database '", db, "' is in ", options_.config_path(),
                         " but not in SHOW DATABASES of the running PgBouncer (RELOAD it?)"));
      } else {
        auto cur = CurrentFrom(*entry);
        c.detail = cur.ok() ? absl::StrCat("'", db, "' points at ", TargetName(*cur))
                            : std::string(cur.status().message());
        if (!cur.ok()) c.status = cur.status();
      }
      out.push_back(std::move(c));
    }

    if (pool_mode.has_value()) {
      RouterCheck c{"router.pool_mode", absl::OkStatus(), *pool_mode};
      if (*pool_mode == "statement") {
        c.status = absl::FailedPreconditionError(
            absl::StrCat("database '", db,
                         "' uses pool_mode=statement: PAUSE cannot wait for multi-statement "
                         "transactions; use transaction or session pooling"));
      } else if (*pool_mode == "session") {
        c.detail =
            "session pooling: PAUSE waits until every client disconnects; transaction pooling "
            "is recommended";
      }
      out.push_back(std::move(c));
    }

    {
      RouterCheck c{"router.config_writable", absl::OkStatus(), options_.config_path()};
      const std::string& path = options_.config_path();
      size_t slash = path.rfind('/');
      std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
      if (::access(path.c_str(), W_OK) != 0 || ::access(dir.c_str(), W_OK) != 0) {
        c.status = absl::PermissionDeniedError(
            absl::StrCat("pgbouncer config ", path,
                         " or its directory is not writable by this process "
                         "(the repoint writes a temporary file next to it and renames it)"));
      }
      out.push_back(std::move(c));
    }
    return out;
  }

  absl::Status Pause(absl::Time deadline) override {
    return Annotate(Admin(absl::StrCat("PAUSE ", options_.database()), deadline).status(),
                    absl::StrCat("pgbouncer PAUSE ", options_.database()));
  }

  absl::Status Repoint(Target target, absl::Time deadline) override {
    const std::string& path = options_.config_path();
    if (clock_->Now() >= deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat("pgbouncer repoint to ", TargetName(target), ": deadline passed before it started"));
    }
    const std::string& connstr = target == Target::kGreen ? options_.green_target() : options_.blue_target();
    ASSIGN_OR_RETURN(std::string ini, ReadConfig(path));
    ASSIGN_OR_RETURN(std::string updated, RewriteDatabaseEntry(ini, options_.database(), connstr, path));
    if (updated != ini) RETURN_IF_ERROR(WriteFileAtomically(path, updated));
    // RELOAD even when the file was already right: a previous attempt may
    // have written it and failed before reloading.
    return Annotate(Admin("RELOAD", deadline).status(),
                    absl::StrCat("pgbouncer RELOAD after repointing '", options_.database(), "' to ",
                                 TargetName(target)));
  }

  absl::Status Resume(absl::Time deadline) override {
    auto res = Admin(absl::StrCat("RESUME ", options_.database()), deadline);
    if (!res.ok() && absl::StrContains(res.status().message(), "is not paused")) return absl::OkStatus();
    return Annotate(res.status(), absl::StrCat("pgbouncer RESUME ", options_.database()));
  }

  absl::StatusOr<Target> Current() override {
    ASSIGN_OR_RETURN(std::string ini, ReadConfig(options_.config_path()));
    ASSIGN_OR_RETURN(std::string entry, FindDatabaseEntry(ini, options_.database(), options_.config_path()));
    return CurrentFrom(entry);
  }

 private:
  absl::StatusOr<Target> CurrentFrom(const std::string& entry) const {
    if (SameConnString(entry, options_.blue_target())) return Target::kBlue;
    if (SameConnString(entry, options_.green_target())) return Target::kGreen;
    return absl::FailedPreconditionError(absl::StrCat(
        "pgbouncer config ", options_.config_path(), ": entry '", options_.database(), " = ",
        pg::RedactDsn(entry), "' is neither plan.router.pgbouncer.blue_target nor green_target"));
  }

  absl::Status EnsureConnected(absl::Time deadline) {
    if (admin_.has_value() && PQstatus(admin_->get()) == CONNECTION_OK) return absl::OkStatus();
    admin_.reset();
    absl::Duration left = deadline - clock_->Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError("deadline passed before connecting to the pgbouncer admin console");
    }
    ASSIGN_OR_RETURN(pg::DsnOptions dsn,
                     pg::ParseDsn(options_.admin_dsn(), "plan.router.pgbouncer.admin_dsn"));
    if (!dsn.count("connect_timeout")) {
      // libpq rounds anything below 2 s up to 2 s.
      double secs = std::ceil(absl::ToDoubleSeconds(left));
      dsn["connect_timeout"] = absl::StrCat(static_cast<int>(std::clamp(secs, 2.0, 10.0)));
    }
    ASSIGN_OR_RETURN(pg::RawConn conn,
                     pg::RawConn::Connect(pg::FormatDsn(dsn), "pgbouncer admin console", "cutover-router"));
    admin_.emplace(std::move(conn));
    return absl::OkStatus();
  }

  // Runs one console command, reconnecting once when the connection broke
  // (every command we send is idempotent, so a retry is safe).
  absl::StatusOr<pg::PgResultPtr> Admin(const std::string& sql, absl::Time deadline) {
    bool fresh = !admin_.has_value() || PQstatus(admin_->get()) != CONNECTION_OK;
    RETURN_IF_ERROR(EnsureConnected(deadline));
    auto res = AdminOnce(sql, deadline);
    if (!res.ok() && absl::IsUnavailable(res.status()) && !fresh) {
      admin_.reset();
      RETURN_IF_ERROR(EnsureConnected(deadline));
      res = AdminOnce(sql, deadline);
    }
    return res;
  }

  absl::Status Lost(absl::string_view context) {
    std::string msg = TrimMessage(PQerrorMessage(admin_->get()));
    admin_.reset();
    return absl::UnavailableError(absl::StrCat("pgbouncer admin console at ",
                                               pg::DescribeDsn(options_.admin_dsn()), ": ", context,
                                               ": connection lost: ", msg));
  }

  absl::StatusOr<pg::PgResultPtr> AdminOnce(const std::string& sql, absl::Time deadline) {
    PGconn* c = admin_->get();
    if (!PQsendQuery(c, sql.c_str())) return Lost(sql);
    while (true) {
      if (!PQconsumeInput(c)) return Lost(sql);
      if (!PQisBusy(c)) break;
      absl::Duration left = deadline - clock_->Now();
      if (left <= absl::ZeroDuration()) {
        // Best effort; PgBouncer answers PAUSE only once transactions ended.
        if (PGcancel* cancel = PQgetCancel(c)) {
          char err[256];
          PQcancel(cancel, err, sizeof(err));
          PQfreeCancel(cancel);
        }
        admin_.reset();  // the command's answer would arrive on it later
        return absl::DeadlineExceededError(absl::StrCat(
            "'", sql,
            "' did not finish before the deadline (transactions still running through PgBouncer?)"));
      }
      int fd = PQsocket(c);
      if (fd < 0) return Lost(sql);
      fd_set rd;
      FD_ZERO(&rd);
      FD_SET(fd, &rd);
      absl::Duration slice = std::min(left, kPollSlice);
      timeval tv = absl::ToTimeval(slice);
      int r = ::select(fd + 1, &rd, nullptr, nullptr, &tv);
      if (r < 0 && errno != EINTR) return Lost(sql);
    }
    pg::PgResultPtr last;
    absl::Status error;
    while (PGresult* raw = PQgetResult(c)) {
      pg::PgResultPtr res(raw);
      auto st = PQresultStatus(raw);
      if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) {
        last = std::move(res);
      } else if (error.ok()) {
        std::string msg = TrimMessage(PQresultErrorMessage(raw));
        if (msg.empty()) msg = TrimMessage(PQerrorMessage(c));
        error = absl::FailedPreconditionError(msg);  // classified below
      }
    }
    if (PQstatus(c) != CONNECTION_OK) return Lost(sql);
    if (!error.ok()) {
      // The console answers every refusal with SQLSTATE 08P01 and keeps the
      // connection: these are verdicts, not connection failures.
      std::string msg(error.message());
      if (absl::StrContains(msg, "admin access needed") || absl::StrContains(msg, "not allowed")) {
        return absl::PermissionDeniedError(absl::StrCat("pgbouncer refused '", sql, "': ", msg));
      }
      return absl::FailedPreconditionError(absl::StrCat("pgbouncer refused '", sql, "': ", msg));
    }
    if (!last) return absl::InternalError(absl::StrCat("pgbouncer sent no result for '", sql, "'"));
    return last;
  }

  const cutover::v1::PgBouncerRouterOptions options_;
  Clock* const clock_;
  std::optional<pg::RawConn> admin_;  // empty until the first call or after a loss
};

absl::Status Required(const std::string& value, absl::string_view field) {
  if (value.empty())
    return absl::InvalidArgumentError(absl::StrCat("plan.router.pgbouncer.", field, " is empty"));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Router>> NewPgBouncerRouter(const cutover::v1::PgBouncerRouterOptions& options,
                                                           Clock* clock) {
  RETURN_IF_ERROR(Required(options.admin_dsn(), "admin_dsn"));
  RETURN_IF_ERROR(Required(options.config_path(), "config_path"));
  RETURN_IF_ERROR(Required(options.database(), "database"));
  RETURN_IF_ERROR(Required(options.blue_target(), "blue_target"));
  RETURN_IF_ERROR(Required(options.green_target(), "green_target"));
  RETURN_IF_ERROR(pg::ParseDsn(options.admin_dsn(), "plan.router.pgbouncer.admin_dsn").status());
  RETURN_IF_ERROR(pg::ParseDsn(options.blue_target(), "plan.router.pgbouncer.blue_target").status());
  RETURN_IF_ERROR(pg::ParseDsn(options.green_target(), "plan.router.pgbouncer.green_target").status());
  for (char ch : options.database()) {
    if (absl::ascii_isspace(static_cast<unsigned char>(ch)) || ch == ';' || ch == '"' || ch == '\'' ||
        ch == '=' || ch == '[') {
      return absl::InvalidArgumentError(absl::StrCat("plan.router.pgbouncer.database '", options.database(),
                                                     "' is not a plain PgBouncer database name"));
    }
  }
  for (const std::string* t : {&options.blue_target(), &options.green_target()}) {
    if (absl::StrContains(*t, "\n")) {
      return absl::InvalidArgumentError("plan.router.pgbouncer targets must be one line each");
    }
  }
  return std::unique_ptr<Router>(new PgBouncerRouter(options, clock ? clock : Clock::Real()));
}

}  // namespace cutover::router
