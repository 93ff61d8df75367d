// PgBouncerRouter and PgFence against the shared sandbox (label pg): a real
// PgBouncer in front of blue, green behind the same PgBouncer after a
// repoint, and the fence on a fresh database. Every test restores
// pgbouncer.ini and RESUMEs in TearDown, so no test depends on another.
#include <sys/select.h>

#include <atomic>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "cutover/common/pg.h"
#include "cutover/router/pgbouncer_config.h"
#include "cutover/router/router.h"
#include "cutover/testing/sandbox_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cutover::router {
namespace {

namespace ct = cutover::testing;
using ::testing::HasSubstr;

absl::Time In(absl::Duration d) { return absl::Now() + d; }

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Waits (polling, up to `timeout`) for the async query on `c` and returns
// the first column of its first row; an error status when it failed.
absl::StatusOr<std::string> AwaitScalar(pg::RawConn& c, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (!PQconsumeInput(c.get())) return c.ConnError("consume");
    if (!PQisBusy(c.get())) break;
    if (absl::Now() > deadline) return absl::DeadlineExceededError("query did not finish");
    int fd = PQsocket(c.get());
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(fd, &rd);
    timeval tv{0, 20000};
    ::select(fd + 1, &rd, nullptr, nullptr, &tv);
  }
  absl::StatusOr<std::string> out = absl::InternalError("no result");
  while (PGresult* raw = PQgetResult(c.get())) {
    pg::PgResultPtr res(raw);
    if (PQresultStatus(raw) == PGRES_TUPLES_OK && PQntuples(raw) > 0) {
      out = std::string(PQgetvalue(raw, 0, 0));
    } else if (PQresultStatus(raw) != PGRES_TUPLES_OK && PQresultStatus(raw) != PGRES_COMMAND_OK) {
      out = c.ResultError(raw);
    }
  }
  return out;
}

absl::StatusOr<std::string> QueryOn(pg::RawConn& c, const std::string& sql) {
  if (!PQsendQuery(c.get(), sql.c_str())) return c.ConnError("send");
  return AwaitScalar(c, absl::Seconds(20));
}

// One row of SHOW DATABASES / SHOW POOLS for `db`, column `col`.
std::string AdminField(const std::string& admin_dsn, const std::string& show, const std::string& db,
                       const char* col) {
  auto conn = pg::RawConn::Connect(admin_dsn, "test admin", "test-admin");
  if (!conn.ok()) return "";
  auto res = conn->Query(show);
  if (!res.ok()) return "";
  int name_col = PQfnumber(res->get(), show == "SHOW POOLS" ? "database" : "name");
  int c = PQfnumber(res->get(), col);
  for (int i = 0; i < PQntuples(res->get()); ++i) {
    if (db == PQgetvalue(res->get(), i, name_col)) return PQgetvalue(res->get(), i, c);
  }
  return "";
}

class PgBouncerRouterPgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sb_ = &ct::SharedSandbox();
    db_ = ct::FreshDatabases("router");
    ASSERT_FALSE(HasFailure());
    ini_path_ = sb_->BouncerIniPath();
    original_ini_ = ReadAll(ini_path_);
    ASSERT_THAT(original_ini_, HasSubstr("[databases]\n"));
    ASSERT_NO_FATAL_FAILURE(
        ct::ExecOrDie(db_.blue, "CREATE TABLE marker(side text); INSERT INTO marker VALUES ('blue')"));
    ASSERT_NO_FATAL_FAILURE(
        ct::ExecOrDie(db_.green, "CREATE TABLE marker(side text); INSERT INTO marker VALUES ('green')"));
    blue_target_ = absl::StrCat("host=127.0.0.1 port=", sb_->Port("blue"), " dbname=", db_.name);
    green_target_ = absl::StrCat("host=127.0.0.1 port=", sb_->Port("green"), " dbname=", db_.name);
    // The router rewrites an entry, never adds one: give the test database its own.
    std::string ini = absl::StrReplaceAll(
        original_ini_,
        {{"[databases]\n", absl::StrCat("[databases]\n", db_.name, " = ", blue_target_, "\n")}});
    ASSERT_TRUE(WriteFileAtomically(ini_path_, ini).ok());
    ASSERT_NO_FATAL_FAILURE(ct::ExecOrDie(sb_->BouncerAdminDsn(), "RELOAD"));
    options_.set_admin_dsn(sb_->BouncerAdminDsn());
    options_.set_config_path(ini_path_);
    options_.set_database(db_.name);
    options_.set_blue_target(blue_target_);
    options_.set_green_target(green_target_);
    auto r = NewPgBouncerRouter(options_);
    ASSERT_TRUE(r.ok()) << r.status();
    router_ = std::move(*r);
  }

  void TearDown() override {
    if (sb_ == nullptr) return;
    (void)ct::Exec(sb_->BouncerAdminDsn(), absl::StrCat("RESUME ", db_.name));
    if (!original_ini_.empty()) {
      EXPECT_TRUE(WriteFileAtomically(ini_path_, original_ini_).ok());
      EXPECT_TRUE(ct::Exec(sb_->BouncerAdminDsn(), "RELOAD").ok());
    }
  }

  absl::StatusOr<pg::RawConn> Client(const char* app = "client") {
    return pg::RawConn::Connect(db_.bouncer, "bouncer client", app);
  }

  sandbox::Sandbox* sb_ = nullptr;
  ct::TestDb db_;
  std::string ini_path_, original_ini_, blue_target_, green_target_;
  cutover::v1::PgBouncerRouterOptions options_;
  std::unique_ptr<Router> router_;
};

TEST_F(PgBouncerRouterPgTest, PauseWaitsForInFlightThenRepointAndResumeMoveTrafficToGreen) {
  auto idle = Client();
  ASSERT_TRUE(idle.ok()) << idle.status();
  ASSERT_EQ(QueryOn(*idle, "SELECT side FROM marker").value_or("?"), "blue");
  EXPECT_EQ(router_->Current().value(), Target::kBlue);

  // A transaction in flight through PgBouncer before the pause.
  auto inflight = Client();
  ASSERT_TRUE(inflight.ok()) << inflight.status();
  ASSERT_TRUE(inflight->Exec("BEGIN; INSERT INTO marker VALUES ('written during pause')").ok());

  std::atomic<bool> pause_returned{false};
  absl::Status pause_status;
  std::thread pauser([&] {
    pause_status = router_->Pause(In(absl::Seconds(30)));
    pause_returned = true;
  });
  // PgBouncer marks the database paused at once and PAUSE waits for the transaction.
  ASSERT_TRUE(ct::WaitFor(
      [&] { return AdminField(sb_->BouncerAdminDsn(), "SHOW DATABASES", db_.name, "paused") == "1"; },
      absl::Seconds(10)));
  EXPECT_FALSE(pause_returned.load()) << "Pause returned while a transaction was in flight";
  ASSERT_TRUE(inflight->Exec("COMMIT").ok());
  pauser.join();
  ASSERT_TRUE(pause_status.ok()) << pause_status;
  EXPECT_EQ(ct::QueryScalar(db_.blue, "SELECT count(*) FROM marker"), "2")
      << "the in-flight commit reached blue";

  // A new query waits while paused.
  ASSERT_EQ(PQsendQuery(idle->get(), "SELECT side FROM marker"), 1);
  ASSERT_TRUE(ct::WaitFor(
      [&] { return AdminField(sb_->BouncerAdminDsn(), "SHOW POOLS", db_.name, "cl_waiting") == "1"; },
      absl::Seconds(10)));
  ASSERT_EQ(PQconsumeInput(idle->get()), 1);
  EXPECT_EQ(PQisBusy(idle->get()), 1) << "query answered while paused";

  ASSERT_TRUE(router_->Repoint(Target::kGreen, In(absl::Seconds(10))).ok());
  EXPECT_EQ(router_->Current().value(), Target::kGreen);
  EXPECT_THAT(ReadAll(ini_path_), HasSubstr(absl::StrCat(db_.name, " = ", green_target_, "\n")));
  ASSERT_TRUE(router_->Repoint(Target::kGreen, In(absl::Seconds(10))).ok()) << "idempotent";
  ASSERT_TRUE(router_->Resume(In(absl::Seconds(10))).ok());
  EXPECT_EQ(AwaitScalar(*idle, absl::Seconds(10)).value_or("?"), "green");
  auto fresh = Client();
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  EXPECT_EQ(QueryOn(*fresh, "SELECT side FROM marker").value_or("?"), "green");

  // And back.
  ASSERT_TRUE(router_->Pause(In(absl::Seconds(10))).ok());
  ASSERT_TRUE(router_->Repoint(Target::kBlue, In(absl::Seconds(10))).ok());
  ASSERT_TRUE(router_->Resume(In(absl::Seconds(10))).ok());
  EXPECT_EQ(router_->Current().value(), Target::kBlue);
  EXPECT_EQ(QueryOn(*idle, "SELECT side FROM marker").value_or("?"), "blue");
  EXPECT_EQ(ReadAll(ini_path_),
            absl::StrReplaceAll(original_ini_, {{"[databases]\n", absl::StrCat("[databases]\n", db_.name,
                                                                               " = ", blue_target_, "\n")}}));
}

TEST_F(PgBouncerRouterPgTest, PauseDeadlineExceededWhileATransactionStaysOpen) {
  auto inflight = Client();
  ASSERT_TRUE(inflight.ok()) << inflight.status();
  ASSERT_TRUE(inflight->Exec("BEGIN; SELECT 1").ok());
  absl::Time start = absl::Now();
  absl::Status st = router_->Pause(start + absl::Milliseconds(300));
  absl::Duration took = absl::Now() - start;
  EXPECT_TRUE(absl::IsDeadlineExceeded(st)) << st;
  EXPECT_LT(took, absl::Seconds(2)) << took;
  ASSERT_TRUE(inflight->Exec("COMMIT").ok());
  // The caller undoes a failed pause; the router reconnects for it.
  ASSERT_TRUE(router_->Resume(In(absl::Seconds(10))).ok());
  EXPECT_EQ(AdminField(sb_->BouncerAdminDsn(), "SHOW DATABASES", db_.name, "paused"), "0");
  auto c = Client();
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(QueryOn(*c, "SELECT side FROM marker").value_or("?"), "blue");
}

TEST_F(PgBouncerRouterPgTest, ResumeWhenNotPausedIsOk) {
  EXPECT_TRUE(router_->Resume(In(absl::Seconds(10))).ok());
  EXPECT_TRUE(router_->Resume(In(absl::Seconds(10))).ok());
  ASSERT_TRUE(router_->Pause(In(absl::Seconds(10))).ok());
  ASSERT_TRUE(router_->Pause(In(absl::Seconds(10))).ok()) << "idempotent";
  EXPECT_TRUE(router_->Resume(In(absl::Seconds(10))).ok());
  EXPECT_EQ(AdminField(sb_->BouncerAdminDsn(), "SHOW DATABASES", db_.name, "paused"), "0");
}

TEST_F(PgBouncerRouterPgTest, CheckReportsEachFinding) {
  std::map<std::string, RouterCheck> by_name;
  for (RouterCheck& c : router_->Check()) by_name[c.name] = c;
  for (const char* name : {"router.reachable", "router.admin", "router.database", "router.pool_mode",
                           "router.config_writable"}) {
    ASSERT_TRUE(by_name.count(name)) << name;
    EXPECT_TRUE(by_name[name].status.ok()) << name << ": " << by_name[name].status;
  }
  EXPECT_THAT(by_name["router.admin"].detail, HasSubstr("PgBouncer"));
  EXPECT_EQ(by_name["router.pool_mode"].detail, "transaction");
  EXPECT_THAT(by_name["router.database"].detail, HasSubstr("blue"));

  // A database the config does not name.
  auto missing_opts = options_;
  missing_opts.set_database("not_in_config");
  auto missing = NewPgBouncerRouter(missing_opts);
  ASSERT_TRUE(missing.ok());
  bool saw = false;
  for (const RouterCheck& c : (*missing)->Check()) {
    if (c.name != "router.database") continue;
    saw = true;
    EXPECT_TRUE(absl::IsFailedPrecondition(c.status)) << c.status;
    EXPECT_THAT(c.status.message(), HasSubstr(ini_path_));
  }
  EXPECT_TRUE(saw);
  absl::Status rep = (*missing)->Repoint(Target::kGreen, In(absl::Seconds(5)));
  EXPECT_TRUE(absl::IsFailedPrecondition(rep)) << rep;
  EXPECT_THAT(rep.message(), HasSubstr("not_in_config"));

  // Nobody listening.
  auto down_opts = options_;
  down_opts.set_admin_dsn(
      absl::StrReplaceAll(options_.admin_dsn(), {{absl::StrCat("port=", sb_->BouncerPort()), "port=1"}}));
  auto down = NewPgBouncerRouter(down_opts);
  ASSERT_TRUE(down.ok());
  auto checks = (*down)->Check();
  ASSERT_FALSE(checks.empty());
  EXPECT_EQ(checks[0].name, "router.reachable");
  EXPECT_TRUE(absl::IsUnavailable(checks[0].status)) << checks[0].status;
  EXPECT_TRUE(absl::IsUnavailable((*down)->Pause(In(absl::Seconds(5)))));
}

TEST_F(PgBouncerRouterPgTest, ReconnectsAfterPgBouncerRestart) {
  ASSERT_TRUE(router_->Resume(In(absl::Seconds(10))).ok());  // opens the admin connection
  ASSERT_TRUE(sb_->RestartBouncer().ok());
  EXPECT_TRUE(router_->Pause(In(absl::Seconds(10))).ok());
  EXPECT_TRUE(router_->Resume(In(absl::Seconds(10))).ok());
}

// ---- PgFence ----

// SQLSTATE of `sql` in a new session with `application_name` ("" when it worked).
std::string SqlStateOf(const std::string& dsn, const char* app, const std::string& sql) {
  auto c = pg::RawConn::Connect(dsn, "session", app);
  if (!c.ok()) return "connect failed";
  pg::PgResultPtr res(PQexec(c->get(), sql.c_str()));
  if (PQresultStatus(res.get()) == PGRES_COMMAND_OK || PQresultStatus(res.get()) == PGRES_TUPLES_OK)
    return "";
  const char* s = PQresultErrorField(res.get(), PG_DIAG_SQLSTATE);
  return s ? s : "no sqlstate";
}

TEST(PgFencePgTest, RaiseMakesTheDatabaseReadOnlyAndEndsOtherSessions) {
  ct::TestDb db = ct::FreshDatabases("fence");
  ASSERT_FALSE(::testing::Test::HasFailure());
  ct::ExecOrDie(db.blue, "CREATE TABLE t(x int)");
  auto fence = NewPgFence(db.blue);
  ASSERT_TRUE(fence->Check().ok()) << fence->Check();
  EXPECT_FALSE(fence->Raised().value());

  auto app = pg::RawConn::Connect(db.blue, "app session", "app");
  ASSERT_TRUE(app.ok()) << app.status();
  auto relay = pg::RawConn::Connect(db.blue, "relay session", "cutover-relay");
  ASSERT_TRUE(relay.ok()) << relay.status();
  ASSERT_TRUE(relay->Exec("SET default_transaction_read_only = off").ok());

  ASSERT_TRUE(fence->Raise(In(absl::Seconds(10))).ok());
  EXPECT_TRUE(fence->Raised().value());
  EXPECT_TRUE(fence->Raise(In(absl::Seconds(10))).ok()) << "idempotent";

  absl::Status ended = app->Exec("SELECT 1");
  EXPECT_TRUE(absl::IsUnavailable(ended)) << ended;
  EXPECT_TRUE(relay->Exec("INSERT INTO t VALUES (1)").ok()) << "a cutover session survives and may write";
  EXPECT_EQ(SqlStateOf(db.blue, "app", "INSERT INTO t VALUES (2)"), "25006");
  EXPECT_EQ(SqlStateOf(db.blue, "app", "SELECT count(*) FROM t"), "") << "reads still work";

  ASSERT_TRUE(fence->Lower(In(absl::Seconds(10))).ok());
  EXPECT_FALSE(fence->Raised().value());
  EXPECT_TRUE(fence->Lower(In(absl::Seconds(10))).ok()) << "idempotent";
  EXPECT_EQ(SqlStateOf(db.blue, "app", "INSERT INTO t VALUES (3)"), "");
  EXPECT_EQ(ct::QueryScalar(db.blue, "SELECT string_agg(x::text, ',' ORDER BY x) FROM t"), "1,3");
}

TEST(PgFencePgTest, RaiseFailsOnAnUnreachableDatabase) {
  auto fence = NewPgFence("host=127.0.0.1 port=1 dbname=x user=x connect_timeout=2");
  absl::Status st = fence->Raise(In(absl::Seconds(5)));
  EXPECT_TRUE(absl::IsUnavailable(st)) << st;
  EXPECT_FALSE(fence->Raised().ok());
}

}  // namespace
}  // namespace cutover::router
