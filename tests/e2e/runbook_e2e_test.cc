// The automated runbook (deploy/runbooks/cutover.sh) end to end on the
// sandbox: the real script driving real cutoverd / cutoverctl processes, with
// PgBouncer in front of blue and, on the happy path, clients revoking tokens
// the whole time. Checks the script's contract: its exit codes, the
// machine-readable RESULT line, the --report file, that a refusal before the
// start creates nothing, that a guardrail refusal at READY leaves blue
// serving and writable, that --no-approve stops at READY and --resume
// continues, and that a dead daemon makes it stop promptly saying so.
#include <thread>

#include "absl/strings/str_join.h"

#include "e2e_support.h"

namespace cutover::e2e {
namespace {

struct ScriptResult {
  int code = -1;
  std::string out, err;
  // The last stdout line ("RESULT exit=... status=... cutover=... phase=...").
  std::string result;
  std::string Field(const std::string& key) const {
    for (absl::string_view kv : absl::StrSplit(result, ' ')) {
      if (absl::ConsumePrefix(&kv, key + "=")) return std::string(kv);
    }
    return "";
  }
  std::string Dump() const { return absl::StrCat("exit ", code, "\nstdout:\n", out, "\nstderr:\n", err); }
};

class RunbookE2eTest : public E2eFixture {
 protected:
  // `wrapper`: a command prefix, e.g. {"timeout", "-s", "TERM", "5s"}.
  ScriptResult Run(const std::string& server, std::vector<std::string> args, std::vector<std::string> wrapper = {}) {
    const char* src = std::getenv("CUTOVER_SOURCE_DIR");
    CommandSpec spec;
    spec.argv = wrapper;
    for (const std::string& a : {absl::StrCat(src ? src : ".", "/deploy/runbooks/cutover.sh"), std::string("--server"),
                                 server, std::string("--cutoverctl"), Bin("cutoverctl")}) {
      spec.argv.push_back(a);
    }
    spec.argv.insert(spec.argv.end(), args.begin(), args.end());
    spec.timeout = absl::Minutes(4);
    absl::StatusOr<CommandResult> r = RunCommand(spec);
    ScriptResult res;
    if (!r.ok()) {
      res.err = std::string(r.status().message());
      return res;
    }
    res.code = r->exit_code;
    res.out = r->out;
    res.err = r->err;
    // The script's log, for the CI output (ctest shows it on failure).
    std::printf("$ cutover.sh %s\n%s%s\n", absl::StrJoin(args, " ").c_str(), r->err.c_str(), r->out.c_str());
    std::vector<std::string> lines = absl::StrSplit(r->out, '\n', absl::SkipEmpty());
    if (!lines.empty()) res.result = lines.back();
    return res;
  }
  // Cutover ids in the control database (via `cutoverctl status`).
  std::string ListIds(const std::string& server) {
    CtlResult list = Ctl(server, {"--output", "json", "status"});
    EXPECT_EQ(list.code, 0) << list.err;
    return JsonField(list.out, "id");
  }
  void ExpectBlueServingAndWritable() {
    EXPECT_EQ(ct::QueryScalar(db_.blue, "SHOW default_transaction_read_only"), "off") << "no fence on blue";
    EXPECT_EQ(ct::QueryScalar(db_.blue, "SELECT count(*) FROM pg_namespace WHERE nspname = 'cutover_capture'"), "0")
        << "capture removed from blue";
    EXPECT_THAT(ReadAll(ini_path_), HasSubstr(absl::StrCat(db_.name, " = ", blue_target_)));
    EXPECT_EQ(BouncerPaused(), "0");
    // Clients write to blue through PgBouncer.
    EXPECT_TRUE(ct::Exec(db_.bouncer, "INSERT INTO public.tokens(signature, request_id) VALUES ('after', 'r')").ok());
    EXPECT_EQ(ct::QueryScalar(db_.bouncer, "SELECT inet_server_port()"), absl::StrCat(sb_->Port("blue")));
  }
};

TEST_F(RunbookE2eTest, HappyPathUnderLoadCompletesWithReportAndResultLine) {
  const std::string plan = WritePlan(/*auto_flip=*/false, 0);
  Daemon d(db_.control, "daemon-runbook", dir_);
  const std::string server = d.Address();
  ASSERT_FALSE(server.empty()) << d.log();
  Workload load(db_.bouncer);
  const std::string report = absl::StrCat(dir_, "/runbook-report.json");
  const std::string log = absl::StrCat(dir_, "/runbook.log");

  ScriptResult r = Run(server, {"--plan", plan, "--report", report, "--log", log, "--ready-timeout", "3m",
                                "--complete-timeout", "2m", "--max-write-gap", "5s", "--max-dead-letters", "0",
                                "--progress-interval", "2s", "--reason", "CHG-1 e2e",
                                // The post-flip check sees the report: the flip succeeded.
                                "--check-cmd", "jq -e '.report.flip.succeeded' \"$CUTOVER_REPORT\" >/dev/null"});
  ASSERT_EQ(r.code, 0) << r.Dump() << d.log();
  EXPECT_EQ(r.Field("exit"), "0") << r.result;
  EXPECT_EQ(r.Field("status"), "completed") << r.result;
  EXPECT_EQ(r.Field("phase"), "PHASE_COMPLETED") << r.result;
  const std::string id = r.Field("cutover");
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(Phase(server, id), "PHASE_COMPLETED");
  // Every step is in the log with what it checked.
  for (const char* step : {"[validate]", "[plan]", "[start]", "[guardrails] ok", "[approve] ok", "[verify] ok",
                           "[check] ok"}) {
    EXPECT_THAT(r.err, HasSubstr(step)) << r.err;
  }
  EXPECT_THAT(ReadAll(log), HasSubstr("[result] exit 0 (completed)"));
  // The report file: the script's verdict and the cutover report.
  const std::string rep = ReadAll(report);
  EXPECT_THAT(rep, HasSubstr("\"status\": \"completed\""));
  EXPECT_THAT(rep, HasSubstr(absl::StrCat("\"cutover_id\": \"", id, "\"")));
  EXPECT_THAT(rep, HasSubstr("\"succeeded\": true"));
  // The approval reason reached the timeline.
  EXPECT_THAT(Ctl(server, {"events", id}).out, HasSubstr("CHG-1 e2e"));
  ExpectFlippedToGreen(server, id, load);
  LowerBlueFence();
  std::printf("workload: %lld transactions ok, %lld failed, %zu tokens revoked, all in effect on green\n",
              static_cast<long long>(load.ok()), static_cast<long long>(load.failed()), load.revoked().size());
}

TEST_F(RunbookE2eTest, RefusedBeforeStartCreatesNothing) {
  Daemon d(db_.control, "daemon-refuse", dir_);
  const std::string server = d.Address();
  ASSERT_FALSE(server.empty()) << d.log();
  // A plan with an unknown field: cutoverctl refuses to parse it.
  const std::string bad = absl::StrCat(dir_, "/bad.json");
  {
    std::ofstream(bad) << R"({"name": "e2e", "copy": {"tableJobz": 2}})";
  }
  ScriptResult r = Run(server, {"--plan", bad});
  EXPECT_EQ(r.code, 3) << r.Dump();
  EXPECT_EQ(r.result, "RESULT exit=3 status=refused cutover=- phase=-") << r.Dump();
  EXPECT_THAT(r.err, HasSubstr("tableJobz"));

  // A valid plan whose preflight fails: green is not empty.
  const std::string plan = WritePlan(/*auto_flip=*/false, 0);
  ct::ExecOrDie(db_.green, "CREATE TABLE public.leftover (id int)");
  r = Run(server, {"--plan", plan});
  EXPECT_EQ(r.code, 3) << r.Dump();
  EXPECT_EQ(r.Field("status"), "refused");
  EXPECT_THAT(r.err, HasSubstr("green.empty"));
  ct::ExecOrDie(db_.green, "DROP TABLE public.leftover");

  // The change window has already closed.
  r = Run(server, {"--plan", plan, "--not-after", "2000-01-01T00:00:00Z"});
  EXPECT_EQ(r.code, 3) << r.Dump();
  EXPECT_THAT(r.err, HasSubstr("--not-after"));

  // --dry-run: lint + validate, says what it would do, changes nothing.
  r = Run(server, {"--plan", plan, "--dry-run", "--no-approve"});
  EXPECT_EQ(r.code, 0) << r.Dump();
  EXPECT_EQ(r.result, "RESULT exit=0 status=dry-run cutover=- phase=-") << r.Dump();
  EXPECT_THAT(r.err, HasSubstr("nothing was changed"));

  // A bad flag value is a usage error naming the flag.
  r = Run(server, {"--plan", plan, "--ready-timeout", "soon"});
  EXPECT_EQ(r.code, 2) << r.Dump();
  EXPECT_THAT(r.err, HasSubstr("--ready-timeout 'soon'"));

  EXPECT_EQ(ListIds(server), "") << "nothing created";
  ExpectBlueServingAndWritable();
}

TEST_F(RunbookE2eTest, GuardrailRefusalAtReadyAbortsAndBlueKeepsServing) {
  const std::string before = ct::SchemaDump(db_.blue);
  const std::string plan = WritePlan(/*auto_flip=*/false, 0);
  Daemon d(db_.control, "daemon-guard", dir_);
  const std::string server = d.Address();
  ASSERT_FALSE(server.empty()) << d.log();
  const std::string report = absl::StrCat(dir_, "/guard-report.json");
  // A pre-flip gate that says no (e.g. a change freeze): deterministic.
  ScriptResult r = Run(server, {"--plan", plan, "--report", report, "--pre-flip-cmd", "echo change freeze; exit 1",
                                "--guardrail-timeout", "0s", "--ready-timeout", "3m"});
  EXPECT_EQ(r.code, 4) << r.Dump() << d.log();
  EXPECT_EQ(r.Field("status"), "guardrail-aborted") << r.result;
  EXPECT_EQ(r.Field("phase"), "PHASE_ABORTED") << r.result;
  EXPECT_THAT(r.err, HasSubstr("--pre-flip-cmd exit 1"));
  EXPECT_THAT(r.err, HasSubstr("change freeze"));
  const std::string id = r.Field("cutover");
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(Phase(server, id), "PHASE_ABORTED");
  EXPECT_THAT(Ctl(server, {"events", id}).out, HasSubstr("cleaned-up"));
  EXPECT_THAT(ReadAll(report), HasSubstr("\"status\": \"guardrail-aborted\""));
  EXPECT_EQ(ct::SchemaDump(db_.blue), before) << "blue unchanged: no triggers, no schema";
  ExpectBlueServingAndWritable();
}

TEST_F(RunbookE2eTest, NoApproveStopsAtReadyThenResumeCompletes) {
  const std::string plan = WritePlan(/*auto_flip=*/false, 0);
  Daemon d(db_.control, "daemon-noapprove", dir_);
  const std::string server = d.Address();
  ASSERT_FALSE(server.empty()) << d.log();
  ScriptResult r = Run(server, {"--plan", plan, "--no-approve", "--ready-timeout", "3m"});
  ASSERT_EQ(r.code, 0) << r.Dump() << d.log();
  EXPECT_EQ(r.Field("status"), "ready") << r.result;
  const std::string id = r.Field("cutover");
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(Phase(server, id), "PHASE_READY");
  EXPECT_EQ(ct::QueryScalar(db_.blue, "SHOW default_transaction_read_only"), "off");

  // Re-running without --resume refuses to start a second cutover of the same plan.
  ScriptResult again = Run(server, {"--plan", plan});
  EXPECT_EQ(again.code, 3) << again.Dump();
  EXPECT_THAT(again.err, HasSubstr(id));

  // --resume auto finds it by the plan's name and approves it.
  ScriptResult done = Run(server, {"--plan", plan, "--resume", "auto", "--approve", "--complete-timeout", "2m"});
  ASSERT_EQ(done.code, 0) << done.Dump() << d.log();
  EXPECT_EQ(done.result, absl::StrCat("RESULT exit=0 status=completed cutover=", id, " phase=PHASE_COMPLETED"));
  EXPECT_THAT(done.err, HasSubstr(absl::StrCat("continuing cutover ", id, " from PHASE_READY")));
  // Idempotent: once more with the id, it only verifies.
  ScriptResult verify = Run(server, {"--resume", id});
  EXPECT_EQ(verify.code, 0) << verify.Dump();
  EXPECT_EQ(verify.Field("status"), "completed");
  LowerBlueFence();
}

TEST_F(RunbookE2eTest, DaemonKilledMidWaitStopsPromptlyThenResumeCompletes) {
  // ~1 MB at 200 kB/s: the copy lasts several seconds, long enough to kill in.
  const std::string plan = WritePlan(/*auto_flip=*/false, 200'000);
  auto a = std::make_unique<Daemon>(db_.control, "daemon-a", dir_);
  const std::string server_a = a->Address();
  ASSERT_FALSE(server_a.empty()) << a->log();
  ScriptResult r;
  absl::Time killed_at;
  std::thread script([&] {
    r = Run(server_a, {"--plan", plan, "--unreachable-grace", "3s", "--progress-interval", "1s"});
  });
  // Kill the only daemon while the script waits for READY.
  bool copying = ct::WaitFor(
      [&] {
        CtlResult list = Ctl(server_a, {"--output", "json", "status"});
        return list.out.find("PHASE_COPYING") != std::string::npos;
      },
      absl::Seconds(60));
  a->KillNine();
  killed_at = absl::Now();
  script.join();
  ASSERT_TRUE(copying) << r.Dump();
  const absl::Duration took = absl::Now() - killed_at;
  EXPECT_EQ(r.code, 10) << r.Dump();
  EXPECT_EQ(r.Field("status"), "unreachable") << r.result;
  EXPECT_THAT(r.err, HasSubstr("no cutoverd answered"));
  EXPECT_THAT(r.err, HasSubstr("--resume"));
  EXPECT_LT(took, absl::Seconds(20)) << "prompt: grace 3s plus one RPC";
  const std::string id = r.Field("cutover");
  ASSERT_FALSE(id.empty()) << r.Dump();

  // A restarted daemon adopts the cutover; --resume finishes it.
  Daemon b(db_.control, "daemon-b", dir_);
  const std::string server_b = b.Address();
  ASSERT_FALSE(server_b.empty()) << b.log();
  // The first address is dead: the script moves on to the next one.
  ScriptResult done = Run(server_b, {"--resume", id, "--ready-timeout", "3m", "--complete-timeout", "2m", "--server",
                                     absl::StrCat(server_a, ",", server_b)});
  EXPECT_EQ(done.code, 0) << done.Dump() << b.log();
  EXPECT_THAT(done.err, HasSubstr(absl::StrCat("[unreachable] ", server_a)));
  EXPECT_EQ(done.Field("status"), "completed") << done.result;
  EXPECT_EQ(Phase(server_b, id), "PHASE_COMPLETED");
  LowerBlueFence();
}

TEST_F(RunbookE2eTest, SigtermMidWaitSaysWhereTheCutoverIs) {
  // ~1 MB at 50 kB/s: still copying when the automation system cancels the job.
  const std::string plan = WritePlan(/*auto_flip=*/false, 50'000);
  Daemon d(db_.control, "daemon-sigterm", dir_);
  const std::string server = d.Address();
  ASSERT_FALSE(server.empty()) << d.log();
  ScriptResult r = Run(server, {"--plan", plan}, {"timeout", "--preserve-status", "-s", "TERM", "10s"});
  EXPECT_EQ(r.code, 143) << r.Dump();
  EXPECT_EQ(r.Field("status"), "interrupted") << r.result;
  const std::string id = r.Field("cutover");
  ASSERT_FALSE(id.empty()) << r.Dump();
  const std::string phase = Phase(server, id);
  EXPECT_EQ(r.Field("phase"), phase) << "the RESULT line says where the cutover is";
  EXPECT_THAT(r.err, HasSubstr("interrupted by SIGTERM during 'wait for READY'"));
  EXPECT_THAT(r.err, HasSubstr(absl::StrCat("--resume ", id)));
  // The daemon keeps driving it; clean up with an abort.
  ASSERT_EQ(Ctl(server, {"abort", id}).code, 0);
  EXPECT_EQ(Ctl(server, {"wait", id, "--phase", "aborted", "--timeout", "60s"}).code, 0);
}

TEST_F(RunbookE2eTest, ReadyTimeoutHoldsOrAbortsWithExit8) {
  // ~1 MB at 50 kB/s: READY is far away.
  const std::string plan = WritePlan(/*auto_flip=*/false, 50'000);
  Daemon d(db_.control, "daemon-timeout", dir_);
  const std::string server = d.Address();
  ASSERT_FALSE(server.empty()) << d.log();
  // --on-failure hold: the cutover is left running for a human.
  ScriptResult held = Run(server, {"--plan", plan, "--ready-timeout", "2s", "--on-failure", "hold", "--no-approve"});
  EXPECT_EQ(held.code, 8) << held.Dump() << d.log();
  EXPECT_EQ(held.Field("status"), "timeout-held") << held.result;
  const std::string id = held.Field("cutover");
  ASSERT_FALSE(id.empty());
  EXPECT_NE(Phase(server, id), "PHASE_ABORTED");
  // Resumed with the default policy: aborted, blue serving.
  ScriptResult r = Run(server, {"--resume", id, "--ready-timeout", "1s", "--no-approve"});
  EXPECT_EQ(r.code, 8) << r.Dump() << d.log();
  EXPECT_EQ(r.Field("status"), "timeout-aborted") << r.result;
  EXPECT_EQ(r.Field("phase"), "PHASE_ABORTED") << r.result;
  EXPECT_THAT(r.err, HasSubstr("READY not reached within --ready-timeout 1s"));
  ExpectBlueServingAndWritable();
}

TEST_F(RunbookE2eTest, FlipUndoneExits6ThenResumeApprovesAgain) {
  const std::string plan = WritePlan(/*auto_flip=*/false, 0);
  // The first flip fails at the fence and is undone (traffic stays on blue).
  Daemon d(db_.control, "daemon-flaky", dir_, "flip.fence=error-once");
  const std::string server = d.Address();
  ASSERT_FALSE(server.empty()) << d.log();
  Workload load(db_.bouncer);
  ScriptResult r = Run(server, {"--plan", plan, "--complete-timeout", "1m"});
  EXPECT_EQ(r.code, 6) << r.Dump() << d.log();
  EXPECT_EQ(r.Field("status"), "flip-undone") << r.result;
  EXPECT_EQ(r.Field("phase"), "PHASE_READY") << r.result;
  EXPECT_THAT(r.err, HasSubstr("flip attempt 1 undone: fence"));
  const std::string id = r.Field("cutover");
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(ct::QueryScalar(db_.blue, "SHOW default_transaction_read_only"), "off");
  EXPECT_THAT(ReadAll(ini_path_), HasSubstr(absl::StrCat(db_.name, " = ", blue_target_)));

  // After the cause is fixed (the failpoint fired once), --resume approves again.
  ScriptResult done = Run(server, {"--resume", id, "--complete-timeout", "1m"});
  ASSERT_EQ(done.code, 0) << done.Dump() << d.log();
  EXPECT_EQ(done.Field("status"), "completed");
  ExpectFlippedToGreen(server, id, load);
  LowerBlueFence();
}

TEST_F(RunbookE2eTest, FailedCheckRollsBackOnlyWhenAskedAndWhileTheWindowIsOpen) {
  const std::string plan = WritePlan(/*auto_flip=*/false, 0, R"(, "rollbackWindow": "600s")");
  Daemon d(db_.control, "daemon-check", dir_);
  const std::string server = d.Address();
  ASSERT_FALSE(server.empty()) << d.log();
  // The check fails; no --rollback-on-check-failure: traffic stays on green.
  ScriptResult r = Run(server, {"--plan", plan, "--check-cmd", "echo error rate 7%; exit 1"});
  EXPECT_EQ(r.code, 11) << r.Dump() << d.log();
  EXPECT_EQ(r.Field("status"), "check-failed") << r.result;
  EXPECT_EQ(r.Field("phase"), "PHASE_COMPLETED") << r.result;
  EXPECT_THAT(r.err, HasSubstr("error rate 7%"));
  const std::string id = r.Field("cutover");
  ASSERT_FALSE(id.empty());

  // The same check with --rollback-on-check-failure: rolled back to blue.
  ScriptResult rb = Run(server, {"--resume", id, "--check-cmd", "exit 1", "--rollback-on-check-failure"});
  EXPECT_EQ(rb.code, 9) << rb.Dump() << d.log();
  EXPECT_EQ(rb.Field("status"), "rolled-back") << rb.result;
  EXPECT_EQ(rb.Field("phase"), "PHASE_ROLLED_BACK") << rb.result;
  EXPECT_THAT(ReadAll(ini_path_), HasSubstr(absl::StrCat(db_.name, " = ", blue_target_)));
  EXPECT_EQ(ct::QueryScalar(db_.blue, "SHOW default_transaction_read_only"), "off") << "blue takes writes";
  LowerFence(db_.green);
}

}  // namespace
}  // namespace cutover::e2e
