// Rollback end to end on the sandbox: a cutover with a rollback window,
// clients revoking tokens through PgBouncer on blue, then on green after the
// flip, then a rollback during which the daemon driving it is killed at the
// reverse flip's repoint and a second daemon finishes it. Checks: 0 failed
// client transactions, every revocation made on green is in effect on blue,
// PgBouncer back on blue, blue writable, green fenced, no capture left on
// either side. And the rollback sweep: tokens issued on blue during the
// window (never on green) stay dead after the rollback.
#include <algorithm>
#include <iterator>

#include "e2e_support.h"

namespace cutover::e2e {
namespace {

using RollbackE2eTest = E2eFixture;

std::set<std::string> Minus(const std::set<std::string>& a, const std::set<std::string>& b) {
  std::set<std::string> out;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::inserter(out, out.end()));
  return out;
}

TEST_F(RollbackE2eTest, RollbackCarriesGreensRevocationsBackAndSurvivesKillNine) {
  const std::string plan = WritePlan(/*auto_flip=*/true, 0, R"(, "rollbackWindow": "600s")");
  // Daemon A dies (SIGKILL from its failpoint) at the reverse flip's repoint:
  // green fenced, the tail on blue, clients paused.
  auto a = std::make_unique<Daemon>(db_.control, "daemon-a", dir_, "rollback.repoint=kill");
  const std::string server_a = a->Address();
  ASSERT_FALSE(server_a.empty()) << a->log();
  Workload load(db_.bouncer);

  const std::string id = PlanAndStart(server_a, plan);
  ASSERT_FALSE(id.empty());
  CtlResult done = Ctl(server_a, {"wait", id, "--phase", "completed", "--timeout", "120s"});
  ASSERT_EQ(done.code, 0) << done.out << done.err << a->log();
  // Rollback prepared: capture on green, blue fenced.
  EXPECT_EQ(ct::QueryScalar(db_.green, "SELECT count(*) FROM pg_namespace WHERE nspname = 'cutover_capture'"), "1");
  EXPECT_EQ(ct::QueryScalar(db_.blue, "SHOW default_transaction_read_only"), "on");

  // Clients now revoke on green.
  const std::set<std::string> before = load.revoked();
  const int64_t ok_at_flip = load.ok();
  ASSERT_TRUE(ct::WaitFor([&] { return load.ok() > ok_at_flip + 150; }, absl::Seconds(60)));
  const std::set<std::string> on_green = Minus(load.revoked(), before);
  ASSERT_GT(on_green.size(), 50u);

  CtlResult rb = Ctl(server_a, {"rollback", id, "--reason", "error rate on green"});
  ASSERT_EQ(rb.code, 0) << rb.out << rb.err;
  ASSERT_TRUE(ct::WaitFor([&] { return a->Exited(); }, absl::Seconds(60))) << "failpoint did not fire\n" << a->log();
  EXPECT_THAT(a->log(), HasSubstr("failpoint rollback.repoint: kill -9 self"));

  // Daemon B takes over after the lease TTL and finishes the rollback.
  Daemon b(db_.control, "daemon-b", dir_);
  const std::string server_b = b.Address();
  ASSERT_FALSE(server_b.empty()) << b.log();
  CtlResult back = Ctl(server_b, {"wait", id, "--phase", "rolled_back", "--timeout", "120s"});
  ASSERT_EQ(back.code, 0) << back.out << back.err << "\nphase: " << Phase(server_b, id) << "\n" << b.log();
  // Traffic on blue for a moment, then stop the clients.
  const int64_t ok_at_rollback = load.ok();
  ASSERT_TRUE(ct::WaitFor([&] { return load.ok() > ok_at_rollback + 50; }, absl::Seconds(60)));
  load.Stop();

  EXPECT_EQ(load.failed(), 0) << "client transactions failed, e.g. " << (load.errors().empty() ? "" : load.errors()[0]);
  // Every revocation made on green is in effect on blue, and so is every
  // other one the clients committed.
  ExpectEveryRevocationOn(db_.blue, "blue", on_green);
  ExpectEveryRevocationOn(db_.blue, "blue", load.revoked());
  EXPECT_THAT(ReadAll(ini_path_), HasSubstr(absl::StrCat(db_.name, " = ", blue_target_)));
  EXPECT_EQ(ct::QueryScalar(db_.blue, "SHOW default_transaction_read_only"), "off") << "blue takes writes";
  EXPECT_EQ(ct::QueryScalar(db_.green, "SHOW default_transaction_read_only"), "on") << "green is fenced";
  for (const std::string& dsn : {db_.blue, db_.green}) {
    EXPECT_EQ(ct::QueryScalar(dsn, "SELECT count(*) FROM pg_namespace WHERE nspname = 'cutover_capture'"), "0");
  }
  CtlResult events = Ctl(server_b, {"events", id});
  EXPECT_THAT(events.out, HasSubstr("rollback-recovery"));
  EXPECT_THAT(events.out, HasSubstr("daemon-b"));
  CtlResult report = Ctl(server_b, {"--output", "json", "report", id});
  ASSERT_EQ(report.code, 0);
  EXPECT_THAT(report.out, HasSubstr("\"rollback\""));
  // A second rollback of a rolled-back cutover is refused (exit 1).
  EXPECT_EQ(Ctl(server_b, {"rollback", id}).code, 1);
  LowerFence(db_.green);
  std::printf("workload: %lld transactions ok, %lld failed; %zu revocations made on green, all in effect on blue\n",
              static_cast<long long>(load.ok()), static_cast<long long>(load.failed()), on_green.size());
}

// The window's own tokens: issued on blue after the copy, never on green; one
// of them "revoked" by its client on green after the flip (no row there,
// nothing captured). After the rollback none of them is valid on blue, and
// every token from before the copy is exactly as green left it.
TEST_F(RollbackE2eTest, TokensIssuedInTheWindowStayDeadAfterARollback) {
  const std::string plan = WritePlan(/*auto_flip=*/false, 0, R"(, "rollbackWindow": "600s")");
  Daemon d(db_.control, "daemon-sweep", dir_);
  const std::string server = d.Address();
  ASSERT_FALSE(server.empty()) << d.log();
  const std::string id = PlanAndStart(server, plan);
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(Ctl(server, {"wait", id, "--phase", "ready", "--timeout", "120s"}).code, 0) << d.log();
  // The window: 20 tokens issued on blue, one old token revoked there (carried).
  ASSERT_NO_FATAL_FAILURE(ct::ExecOrDie(
      db_.bouncer, "INSERT INTO public.tokens(signature, request_id) SELECT 'win-' || g, 'wreq-' || g "
                   "FROM generate_series(1, 20) g; UPDATE public.tokens SET active = false WHERE signature = 'sig-7'"));
  ASSERT_EQ(Ctl(server, {"approve", id}).code, 0);
  ASSERT_EQ(Ctl(server, {"wait", id, "--phase", "completed", "--timeout", "120s"}).code, 0) << d.log();
  EXPECT_EQ(ct::QueryScalar(db_.green, "SELECT count(*) FROM public.tokens WHERE signature LIKE 'win-%'"), "0")
      << "window tokens never reach green";
  // On green: the client of win-1 revokes it (nothing there to change), and
  // an old token is revoked (captured, carried back).
  ASSERT_NO_FATAL_FAILURE(ct::ExecOrDie(
      db_.bouncer, "DELETE FROM public.tokens WHERE signature = 'win-1'; DELETE FROM public.tokens WHERE signature = 'sig-9'"));
  ASSERT_EQ(Ctl(server, {"rollback", id, "--reason", "window tokens drill"}).code, 0);
  ASSERT_EQ(Ctl(server, {"wait", id, "--phase", "rolled_back", "--timeout", "120s"}).code, 0) << d.log();

  EXPECT_EQ(ct::QueryScalar(db_.blue, "SELECT count(*) FROM public.tokens WHERE signature LIKE 'win-%'"), "0")
      << "a token issued in the window is valid on blue again";
  EXPECT_EQ(ct::QueryScalar(db_.blue, "SELECT count(*) FROM public.tokens WHERE signature = 'sig-9'"), "0");
  // sig-7: deactivated on blue in the window, deleted on green by the rule's
  // apply statement; green lacks it, so the sweep deletes it on blue too.
  EXPECT_EQ(ct::QueryScalar(db_.blue, "SELECT count(*) FROM public.tokens WHERE signature = 'sig-7' AND active"), "0");
  EXPECT_EQ(ct::QueryScalar(db_.blue, "SELECT count(*) FROM public.tokens WHERE signature LIKE 'sig-%' AND active"),
            "1998")
      << "tokens from before the copy are as green left them";
  EXPECT_EQ(ct::QueryScalar(db_.blue, "SELECT count(*) FROM public.tokens"), "1998");
  CtlResult report = Ctl(server, {"report", id});
  ASSERT_EQ(report.code, 0) << report.err;
  EXPECT_THAT(report.out, HasSubstr("rollback sweep: 21 row(s) written on blue after the copy snapshot"));
  CtlResult events = Ctl(server, {"events", id});
  EXPECT_THAT(events.out, HasSubstr("rollback-sweep"));
  LowerFence(db_.green);
}

TEST_F(RollbackE2eTest, RollbackIsRefusedWithoutAWindow) {
  const std::string plan = WritePlan(/*auto_flip=*/true, 0);
  Daemon d(db_.control, "daemon-nowindow", dir_);
  const std::string server = d.Address();
  ASSERT_FALSE(server.empty()) << d.log();
  const std::string id = PlanAndStart(server, plan);
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(Ctl(server, {"wait", id, "--phase", "completed", "--timeout", "120s"}).code, 0) << d.log();
  EXPECT_EQ(ct::QueryScalar(db_.green, "SELECT count(*) FROM pg_namespace WHERE nspname = 'cutover_capture'"), "0")
      << "no rollback capture without a window";
  CtlResult rb = Ctl(server, {"rollback", id});
  EXPECT_EQ(rb.code, 1) << rb.out << rb.err;
  EXPECT_THAT(rb.err, HasSubstr("rollback_window"));
  LowerBlueFence();
}

}  // namespace
}  // namespace cutover::e2e
