// End to end on the sandbox: real cutoverd processes (driven with the real
// cutoverctl), PgBouncer in front of blue, a client workload through
// PgBouncer that issues and revokes tokens the whole time. Checks the
// product's promises: 0 failed client transactions, every committed
// revocation in effect on green, blue fenced and free of capture after the
// flip, kill -9 of cutoverd mid-copy resumed by a second daemon, and an abort
// before the flip leaving blue exactly as it was.
#include "e2e_support.h"

namespace cutover::e2e {
namespace {

using CutoverE2eTest = E2eFixture;

TEST_F(CutoverE2eTest, FullCutoverUnderLoadSurvivesKillNineMidCopy) {
  // ~1 MB at 300 kB/s: the copy lasts a few seconds, long enough to kill in.
  const std::string plan = WritePlan(/*auto_flip=*/true, 300'000);
  auto a = std::make_unique<Daemon>(db_.control, "daemon-a", dir_);
  const std::string server_a = a->Address();
  ASSERT_FALSE(server_a.empty()) << a->log();
  Workload load(db_.bouncer);

  const std::string id = PlanAndStart(server_a, plan);
  ASSERT_FALSE(id.empty());
  CtlResult copying = Ctl(server_a, {"wait", id, "--phase", "copying", "--timeout", "60s"});
  ASSERT_EQ(copying.code, 0) << copying.out << copying.err;
  a->KillNine();

  // A second daemon takes the cutover over once the lease expires.
  Daemon b(db_.control, "daemon-b", dir_);
  const std::string server_b = b.Address();
  ASSERT_FALSE(server_b.empty()) << b.log();
  CtlResult done = Ctl(server_b, {"wait", id, "--phase", "completed", "--timeout", "150s"});
  EXPECT_EQ(done.code, 0) << done.out << done.err << "\nphase: " << Phase(server_b, id) << "\n" << b.log();
  ExpectFlippedToGreen(server_b, id, load);
  // The timeline shows the takeover and the report is complete.
  CtlResult events = Ctl(server_b, {"events", id});
  EXPECT_THAT(events.out, HasSubstr("daemon-b"));
  LowerBlueFence();
  std::printf("workload: %lld transactions ok, %lld failed, %zu tokens revoked, all in effect on green\n",
              static_cast<long long>(load.ok()), static_cast<long long>(load.failed()), load.revoked().size());
}

TEST_F(CutoverE2eTest, AbortBeforeTheFlipLeavesBlueExactlyAsItWas) {
  const std::string before = ct::SchemaDump(db_.blue);
  const std::string plan = WritePlan(/*auto_flip=*/false, 0);
  Daemon d(db_.control, "daemon-abort", dir_);
  const std::string server = d.Address();
  ASSERT_FALSE(server.empty()) << d.log();
  const std::string id = PlanAndStart(server, plan);
  ASSERT_FALSE(id.empty());
  CtlResult ready = Ctl(server, {"wait", id, "--phase", "ready", "--timeout", "90s"});
  ASSERT_EQ(ready.code, 0) << ready.out << ready.err << d.log();
  // Flip commands in the wrong phase are refused with a reason (exit 1).
  CtlResult rb = Ctl(server, {"abort", id, "--reason", "change window closed"});
  ASSERT_EQ(rb.code, 0) << rb.err;
  CtlResult aborted = Ctl(server, {"wait", id, "--phase", "aborted", "--timeout", "30s"});
  ASSERT_EQ(aborted.code, 0) << aborted.out << aborted.err;
  ASSERT_TRUE(ct::WaitFor(
      [&] { return ct::QueryScalar(db_.blue, "SELECT count(*) FROM pg_namespace WHERE nspname = 'cutover_capture'") == "0"; },
      absl::Seconds(20)));
  EXPECT_EQ(ct::SchemaDump(db_.blue), before) << "no triggers, no schema left on blue";
  EXPECT_EQ(ct::QueryScalar(db_.blue, "SHOW default_transaction_read_only"), "off") << "no fence";
  EXPECT_THAT(ReadAll(ini_path_), HasSubstr(absl::StrCat(db_.name, " = ", blue_target_)));
  // Approve after abort is refused.
  CtlResult late = Ctl(server, {"approve", id});
  EXPECT_EQ(late.code, 1) << late.out << late.err;
}

}  // namespace
}  // namespace cutover::e2e
