// Fault e2e tests on the sandbox: the real cutoverd is killed (-9) or made
// to fail at exact steps through its failpoints (CUTOVER_FAILPOINTS, see
// common/include/cutover/common/failpoint.h), under client load through
// PgBouncer, and driven with the real cutoverctl. What must hold whatever
// breaks: 0 failed client transactions, every committed revocation in effect
// on green, a flip that fails before DRAINED is undone (blue writable,
// PgBouncer on blue and running), one that dies after it is finished, and a
// standby finishes what a dead daemon started. Plus the API's auth: no or a
// wrong token, or a too small role, is refused with exit code 7.
//
// Status is read through an --api-only daemon that lives for the whole test,
// so it answers while the daemons that drive the cutover come and go.
#include <sys/stat.h>

#include <cstdio>
#include <regex>

#include "absl/strings/match.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "e2e_support.h"

namespace cutover::e2e {
namespace {

using ::testing::Not;

constexpr absl::Duration kPoll = absl::Milliseconds(200);

// `"key": true` in protobuf JSON output (JsonField only reads strings).
bool JsonTrue(const std::string& json, const std::string& key) {
  return absl::StrContains(json, absl::StrCat("\"", key, "\": true"));
}

// The failpoint that killed a daemon, from its log ("" if none did).
std::string FiredKill(const std::string& log) {
  static const std::regex kKill(R"(failpoint (\S+): kill -9 self)");
  std::smatch m;
  return std::regex_search(log, m, kKill) ? m[1].str() : "";
}

// True if one timeline row (`cutoverctl events`, text) has `actor` and then `action`.
bool HasRow(const std::string& events, const std::string& actor, const std::string& action) {
  for (absl::string_view line : absl::StrSplit(events, '\n')) {
    const size_t a = line.find(actor);
    if (a != absl::string_view::npos &&
        line.find(absl::StrCat(" ", action), a + actor.size()) != absl::string_view::npos) {
      return true;
    }
  }
  return false;
}

size_t CountOf(const std::string& text, const std::string& needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size()))
    ++n;
  return n;
}

class FaultsE2eTest : public E2eFixture {
 protected:
  // A daemon that serves the API for the whole test and never drives.
  std::unique_ptr<Daemon> StartApiDaemon() {
    return std::make_unique<Daemon>(db_.control, "api", dir_, "",
                                    std::vector<std::string>{"--insecure-local", "--api-only"});
  }

  std::string StatusJson(const std::string& server, const std::string& id) {
    return Ctl(server, {"--output", "json", "status", id}).out;
  }

  // Approves once the cutover takes it (READY without guardrail objections);
  // false when it did not within `timeout`.
  bool ApproveWithin(const std::string& server, const std::string& id, absl::Duration timeout,
                     std::string* last_error) {
    return ct::WaitFor(
        [&] {
          CtlResult r = Ctl(server, {"approve", id, "--reason", "e2e"});
          *last_error = r.err;
          return r.code == 0;
        },
        timeout, kPoll);
  }

  // Polls until `d` has exited (a failpoint killed it).
  static bool WaitExited(Daemon& d, absl::Duration timeout,
                         const std::function<void()>& each_poll = nullptr) {
    return ct::WaitFor(
        [&] {
          if (each_poll) each_poll();
          return d.Exited();
        },
        timeout, kPoll);
  }

  // Clients are served through PgBouncer right now: not paused, and the
  // workload commits transactions within a deadline.
  void ExpectClientsFlowing(const Workload& load) {
    EXPECT_EQ(BouncerPaused(), "0") << "PgBouncer still pauses " << db_.name;
    const int64_t before = load.ok();
    EXPECT_TRUE(ct::WaitFor([&] { return load.ok() >= before + 20; }, absl::Seconds(20)))
        << "no client transaction went through PgBouncer (" << load.ok() - before << " in 20 s)";
  }

  // After the flip: green serves, blue is fenced and free of capture.
  // Makes INDEXING and VERIFYING_COPY last well over a worker tick (200 ms):
  // both stages are entered by the copier's thread, and a phase failpoint
  // fires only on a tick, so with the small test tables they could pass
  // between two ticks and their failpoint would never be reached.
  // - an index whose expression sleeps 2 ms a row (600 rows: >= 1.2 s to
  //   build on green; the function is PARALLEL UNSAFE so the build is serial);
  // - rows whose text form is 100k digits although they are 10 bytes in
  //   binary COPY: verification hashes ROW(...)::text (~2 ms a row here, so
  //   800 rows: ~1.5 s), the copy (throttled by bytes) barely notices them.
  void AddSlowStageTables() {
    ASSERT_NO_FATAL_FAILURE(
        ct::ExecOrDie(db_.blue,
                      "CREATE FUNCTION public.slow_key(k integer) RETURNS integer LANGUAGE plpgsql IMMUTABLE "
                      "AS $$ BEGIN PERFORM pg_sleep(0.002); RETURN k; END $$; "
                      "CREATE TABLE public.slow_index (id integer PRIMARY KEY); "
                      "INSERT INTO public.slow_index SELECT g FROM generate_series(1, 600) g; "
                      "CREATE INDEX slow_index_key ON public.slow_index (public.slow_key(id)); "
                      "CREATE TABLE public.wide_numbers (id integer PRIMARY KEY, n numeric NOT NULL); "
                      "INSERT INTO public.wide_numbers SELECT g, 1e100000 FROM generate_series(1, 800) g"));
  }
};

// One cutover; every driving daemon is armed with all kill points not yet
// reached, so whichever comes first kills it and its log names it; the next
// daemon adopts after the 2 s lease TTL. The expected order is asserted.
TEST_F(FaultsE2eTest, KillNineAtEveryPhaseAndFlipStepResumesToCompletion) {
  ASSERT_NO_FATAL_FAILURE(AddSlowStageTables());
  const std::string plan = WritePlan(/*auto_flip=*/true, 2'000'000);
  std::unique_ptr<Daemon> api = StartApiDaemon();
  const std::string server = api->Address();
  ASSERT_FALSE(server.empty()) << api->log();
  Workload load(db_.bouncer);
  const std::string id = PlanAndStart(server, plan);
  ASSERT_FALSE(HasFailure());

  // flip.resume is not here: after a kill at flip.repoint the flip is
  // finished by recovery (repoint + resume), which never reaches that
  // failpoint, so one cutover can die at only one of the two.
  // FailureAtEachFlipStepIsUndoneCleanly kills at flip.resume.
  const std::vector<std::string> points = {
      "phase.CAPTURING",   "phase.COPYING", "phase.INDEXING", "phase.VERIFYING_COPY", "phase.MIGRATING",
      "phase.CATCHING_UP", "phase.READY",   "flip.pause",     "flip.fence",           "flip.seal",
      "flip.drain",        "flip.repoint",  "phase.DRAINING"};
  int approvals = 0;
  bool approved_this_round = false;
  // auto_flip makes 3 attempts; after that an undone flip waits for approve
  // (at most once per daemon: the flip it starts kills that daemon).
  auto approve_if_waiting = [&] {
    if (approved_this_round) return;
    const std::string s = StatusJson(server, id);
    if (JsonField(s, "phase") == "PHASE_READY" &&
        absl::StrContains(JsonField(s, "reason"), "approve to retry") && !JsonTrue(s, "approved") &&
        Ctl(server, {"approve", id, "--reason", "e2e: retry after an undone flip"}).code == 0) {
      approved_this_round = true;
      ++approvals;
    }
  };
  std::vector<std::string> identities;
  for (size_t i = 0; i < points.size(); ++i) {
    std::vector<std::string> armed;
    for (size_t j = i; j < points.size(); ++j) armed.push_back(absl::StrCat(points[j], "=kill"));
    const std::string identity = absl::StrFormat("kill-%02d", i + 1);
    identities.push_back(identity);
    Daemon d(db_.control, identity, dir_, absl::StrJoin(armed, ","));
    approved_this_round = false;
    const bool exited = WaitExited(d, absl::Seconds(120), approve_if_waiting);
    ASSERT_TRUE(exited) << identity << " reached none of " << absl::StrJoin(armed, ",") << "; phase "
                        << Phase(server, id) << "\n"
                        << Ctl(server, {"events", id}).out << "\n"
                        << d.log();
    ASSERT_EQ(FiredKill(d.log()), points[i])
        << identity << " was not killed at the next point (a point passed between two worker ticks, or the "
        << "daemon died otherwise)\n"
        << Ctl(server, {"events", id}).out << "\n"
        << d.log();
  }

  Daemon finisher(db_.control, "finisher", dir_);
  CtlResult done = Ctl(server, {"wait", id, "--phase", "completed", "--timeout", "120s"});
  ASSERT_EQ(done.code, 0) << done.out << done.err << "\nphase: " << Phase(server, id) << "\n"
                          << Ctl(server, {"events", id}).out << "\n"
                          << finisher.log();
  ExpectFlippedToGreen(server, id, load);

  // The timeline: every daemon adopted the cutover; the kills inside the
  // flip were recovered, undone before DRAINED and finished from it on.
  const std::string events = Ctl(server, {"events", id}).out;
  for (const std::string& who : identities) {
    EXPECT_TRUE(HasRow(events, who, "adopted")) << who << " did not adopt\n" << events;
  }
  EXPECT_TRUE(HasRow(events, "finisher", "adopted")) << events;
  // Only PAUSING and REPOINTING are stored (the steps between live in
  // memory: clients wait while markers are written), so the kills at pause,
  // fence, seal and drain are all found at PAUSING, and undone.
  EXPECT_EQ(CountOf(events, "flip-recovery: found the flip at FLIP_STEP_PAUSING"), 4u) << events;
  EXPECT_EQ(CountOf(events, "cutoverd restarted during the flip (at FLIP_STEP_PAUSING); flip undone"), 4u)
      << events;
  EXPECT_THAT(events, HasSubstr("flip-recovery: found the flip at FLIP_STEP_REPOINTING"));
  EXPECT_THAT(events, Not(HasSubstr("(at FLIP_STEP_REPOINTING); flip undone")));
  EXPECT_EQ(CountOf(events, " flip-complete"), 1u) << events;
  EXPECT_THAT(events, HasSubstr("auto_flip attempts exhausted"))
      << "4 flip kills but only 3 automatic attempts";
  EXPECT_EQ(approvals, 2) << "approve after the 3rd and the 4th undone flip";
  LowerBlueFence();
  std::printf(
      "kill -9 x%zu (%s); %d approvals; workload: %lld tx ok, %lld failed, %zu tokens revoked, all on "
      "green\n",
      points.size(), absl::StrJoin(points, " ").c_str(), approvals, static_cast<long long>(load.ok()),
      static_cast<long long>(load.failed()), load.revoked().size());
}

// One daemon armed with error-once at every step: flip attempt n passes the
// steps before and fails at step n, so 5 approvals see 5 different undone
// flips. The 6th attempt dies at flip.resume (repointed to green, PgBouncer
// paused) and a new daemon finishes it.
// KNOWN BUG: fails on the write-gap assertion near the end (see there)
// until cutoverd reports the write gap of a flip finished after a restart.
TEST_F(FaultsE2eTest, FailureAtEachFlipStepIsUndoneCleanly) {
  const std::string plan = WritePlan(/*auto_flip=*/false, 0);
  const std::vector<std::string> steps = {"pause", "fence", "seal", "drain", "repoint"};
  std::vector<std::string> armed;
  for (const std::string& s : steps) armed.push_back(absl::StrCat("flip.", s, "=error-once"));
  armed.push_back("flip.resume=kill");
  std::unique_ptr<Daemon> api = StartApiDaemon();
  const std::string server = api->Address();
  ASSERT_FALSE(server.empty()) << api->log();
  Daemon flaky(db_.control, "flaky", dir_, absl::StrJoin(armed, ","));
  Workload load(db_.bouncer);
  const std::string id = PlanAndStart(server, plan);
  ASSERT_FALSE(HasFailure());
  CtlResult ready = Ctl(server, {"wait", id, "--phase", "ready", "--timeout", "90s"});
  ASSERT_EQ(ready.code, 0) << ready.out << ready.err << flaky.log();

  const std::string blue_port = absl::StrCat(sb_->Port("blue"));
  for (size_t n = 1; n <= steps.size(); ++n) {
    const std::string& step = steps[n - 1];
    SCOPED_TRACE(absl::StrCat("flip attempt ", n, ", failing at ", step));
    std::string err;
    ASSERT_TRUE(ApproveWithin(server, id, absl::Seconds(30), &err)) << err;
    std::string status;
    const std::string undone = absl::StrCat("flip attempt ", n, " undone: ");
    ASSERT_TRUE(ct::WaitFor(
        [&] {
          status = StatusJson(server, id);
          return absl::StrContains(JsonField(status, "reason"), undone);
        },
        absl::Seconds(60), kPoll))
        << status << "\n"
        << Ctl(server, {"events", id}).out << flaky.log();
    EXPECT_EQ(JsonField(status, "phase"), "PHASE_READY");
    EXPECT_THAT(
        JsonField(status, "reason"),
        HasSubstr(absl::StrCat(undone, step, ": UNAVAILABLE: failpoint flip.", step, "; approve to retry")));
    EXPECT_FALSE(JsonTrue(status, "approved"));
    EXPECT_FALSE(JsonTrue(status, "blue_fenced"));
    // Blue takes writes again (a new session), PgBouncer routes to blue and runs.
    EXPECT_EQ(ct::QueryScalar(db_.blue, "SHOW default_transaction_read_only"), "off");
    EXPECT_THAT(ReadAll(ini_path_), HasSubstr(absl::StrCat(db_.name, " = ", blue_target_)));
    ExpectClientsFlowing(load);
    ASSERT_FALSE(HasFailure()) << "PgBouncer not serving: a query through it would hang";
    EXPECT_EQ(ct::QueryScalar(db_.bouncer, "SELECT inet_server_port()"), blue_port);
    EXPECT_EQ(load.failed(), 0) << (load.errors().empty() ? "" : load.errors()[0]);
  }

  // Attempt 6 passes every step and dies right before the resume: the flip is
  // committed (green has the sealed tail, PgBouncer points at green) and
  // clients wait in PgBouncer until a daemon finishes it.
  std::string err;
  ASSERT_TRUE(ApproveWithin(server, id, absl::Seconds(30), &err)) << err;
  ASSERT_TRUE(WaitExited(flaky, absl::Seconds(60))) << Phase(server, id) << "\n" << flaky.log();
  EXPECT_EQ(FiredKill(flaky.log()), "flip.resume") << flaky.log();
  EXPECT_THAT(ReadAll(ini_path_), HasSubstr(absl::StrCat(db_.name, " = ", green_target_)));
  EXPECT_EQ(BouncerPaused(), "1");
  Daemon finisher(db_.control, "finisher", dir_);
  CtlResult done = Ctl(server, {"wait", id, "--phase", "completed", "--timeout", "120s"});
  ASSERT_EQ(done.code, 0) << done.out << done.err << "\n"
                          << Ctl(server, {"events", id}).out << finisher.log();
  ExpectFlippedToGreen(server, id, load);
  const std::string events = Ctl(server, {"events", id}).out;
  EXPECT_EQ(CountOf(events, " flip-failed"), steps.size()) << events;
  EXPECT_THAT(events, HasSubstr("flip-recovery: found the flip at FLIP_STEP_REPOINTING"));
  EXPECT_TRUE(HasRow(events, "finisher", "flip-complete")) << events;
  // Clients waited in PgBouncer from the pause until the finisher resumed
  // it, at least the dead daemon's 2 s lease TTL, so the report's write gap
  // must say so.
  // KNOWN BUG (cutoverd, engine/flip.cc RecoverFlip): a flip finished after
  // a restart reports no write gap at all (flip.write_gap unset, "write gap
  // 0" in the flip-complete row): the pause time is not persisted with the
  // flip step, so recovery cannot compute it. This assertion fails until
  // that is fixed; it is left in on purpose.
  const std::string gap_text = JsonField(StatusJson(server, id), "write_gap");  // "" when unset
  absl::Duration gap = absl::ZeroDuration();
  ASSERT_TRUE(gap_text.empty() || absl::ParseDuration(gap_text, &gap)) << "'" << gap_text << "'";
  EXPECT_GE(gap, absl::Seconds(2)) << "write gap '" << gap_text
                                   << "' reported for a flip finished after a restart";
  LowerBlueFence();
  std::printf(
      "5 flip failures undone, then a kill before resume finished by a new daemon; workload: %lld tx ok, "
      "%lld failed\n",
      static_cast<long long>(load.ok()), static_cast<long long>(load.failed()));
}

TEST_F(FaultsE2eTest, LiveStandbyTakesOverWhenTheActiveDaemonDies) {
  // ~1 MB at 150 kB/s: COPYING lasts several seconds.
  const std::string plan = WritePlan(/*auto_flip=*/true, 150'000);
  Daemon a(db_.control, "live-a", dir_);
  Daemon b(db_.control, "live-b", dir_);
  const std::string server_a = a.Address(), server_b = b.Address();
  ASSERT_FALSE(server_a.empty()) << a.log();
  ASSERT_FALSE(server_b.empty()) << b.log();
  Workload load(db_.bouncer);
  const std::string id = PlanAndStart(server_a, plan);
  ASSERT_FALSE(HasFailure());
  CtlResult copying = Ctl(server_b, {"wait", id, "--phase", "copying", "--timeout", "60s"});
  ASSERT_EQ(copying.code, 0) << copying.out << copying.err;

  // Both answer; both name the same lease holder.
  std::string holder;
  ASSERT_TRUE(ct::WaitFor(
      [&] {
        holder = JsonField(StatusJson(server_a, id), "lease_holder");
        return holder == "live-a" || holder == "live-b";
      },
      absl::Seconds(10), kPoll))
      << "lease holder: '" << holder << "'";
  EXPECT_EQ(JsonField(StatusJson(server_b, id), "lease_holder"), holder);
  EXPECT_EQ(Phase(server_b, id), "PHASE_COPYING");
  Daemon& dead = holder == "live-a" ? a : b;
  Daemon& survivor = holder == "live-a" ? b : a;
  const std::string survivor_name = holder == "live-a" ? "live-b" : "live-a";
  const std::string survivor_server = holder == "live-a" ? server_b : server_a;
  const pid_t survivor_pid = survivor.pid();
  dead.KillNine();

  CtlResult done = Ctl(survivor_server, {"wait", id, "--phase", "completed", "--timeout", "150s"});
  ASSERT_EQ(done.code, 0) << done.out << done.err << "\n"
                          << Ctl(survivor_server, {"events", id}).out << survivor.log();
  EXPECT_EQ(survivor.pid(), survivor_pid);
  EXPECT_TRUE(ct::ProcessRunning(survivor_pid)) << "the standby was not restarted, it stays up";
  EXPECT_EQ(CountOf(survivor.log(), "serving on port"), 1u);
  ExpectFlippedToGreen(survivor_server, id, load);
  const std::string events = Ctl(survivor_server, {"events", id}).out;
  EXPECT_THAT(events, HasSubstr(absl::StrCat("driven by ", holder, " from CAPTURING")));
  EXPECT_THAT(events, HasSubstr(absl::StrCat("driven by ", survivor_name, " from COPYING")));
  EXPECT_TRUE(HasRow(events, survivor_name, "flip-complete")) << events;
  LowerBlueFence();
}

// Tokens for each role; one stored as its SHA-256 (the documented form).
TEST_F(FaultsE2eTest, UnauthenticatedAndWrongRoleCallsAreRejected) {
  const std::string viewer = "viewer-token-0123456789", op = "operator-token-0123456789",
                    approver = "approver-token-0123456789";
  std::string digest;
  {
    FILE* p = popen(absl::StrCat("printf %s '", approver, "' | sha256sum").c_str(), "r");
    ASSERT_NE(p, nullptr);
    char buf[128] = {0};
    if (std::fgets(buf, sizeof(buf), p) != nullptr) digest = std::string(buf).substr(0, 64);
    pclose(p);
    ASSERT_EQ(digest.size(), 64u);
  }
  const std::string auth = absl::StrCat(dir_, "/auth.conf");
  {
    std::ofstream out(auth);
    out << "# e2e\ntoken " << viewer << " viewer grafana\ntoken " << op
        << " operator ops-1\ntoken sha256:" << digest << " approver chg-bot\n";
  }
  ASSERT_EQ(chmod(auth.c_str(), 0600), 0);
  const std::string approver_file = absl::StrCat(dir_, "/approver.token");
  {
    std::ofstream out(approver_file);
    out << approver << "\n";
  }

  // --insecure-local (everyone approver) and an auth config exclude each other.
  {
    Daemon both(db_.control, "auth-and-insecure", dir_, "", {"--auth-config", auth, "--insecure-local"});
    ASSERT_TRUE(WaitExited(both, absl::Seconds(20)))
        << "cutoverd accepted --insecure-local with --auth-config";
    EXPECT_THAT(both.log(), HasSubstr("--insecure-local and an auth config exclude each other"));
  }
  Daemon d(db_.control, "authd", dir_, "", {"--auth-config", auth});
  const std::string server = d.Address();
  ASSERT_FALSE(server.empty()) << d.log();
  auto as = [&](const std::string& token, std::vector<std::string> args) {
    args.insert(args.begin(), {"--token", token});
    return Ctl(server, args);
  };
  const std::string plan = WritePlan(/*auto_flip=*/false, 50'000);

  // No token, an unknown one, a malformed one.
  CtlResult none = Ctl(server, {"status"});
  EXPECT_EQ(none.code, 7) << none.out << none.err;
  EXPECT_THAT(none.err, HasSubstr("no credentials"));
  CtlResult unknown = as("not-a-configured-token-42", {"status"});
  EXPECT_EQ(unknown.code, 7) << unknown.err;
  EXPECT_THAT(unknown.err, HasSubstr("unknown bearer token"));
  CtlResult none_plan = Ctl(server, {"plan", plan});
  EXPECT_EQ(none_plan.code, 7) << none_plan.err;

  // viewer: reads, nothing else.
  CtlResult list = as(viewer, {"status"});
  EXPECT_EQ(list.code, 0) << list.err;
  CtlResult viewer_plan = as(viewer, {"plan", plan});
  EXPECT_EQ(viewer_plan.code, 7) << viewer_plan.out << viewer_plan.err;
  EXPECT_THAT(viewer_plan.err, HasSubstr("CreatePlan needs role operator; token:grafana has role viewer"));

  // operator: plans and starts; approve needs an approver.
  CtlResult created = as(op, {"--output", "json", "plan", plan});
  ASSERT_EQ(created.code, 0) << created.out << created.err;
  const std::string id = JsonField(created.out, "id");
  ASSERT_FALSE(id.empty());
  CtlResult viewer_status = as(viewer, {"--output", "json", "status", id});
  EXPECT_EQ(viewer_status.code, 0) << viewer_status.err;
  EXPECT_EQ(JsonField(viewer_status.out, "phase"), "PHASE_PLANNED");
  CtlResult viewer_start = as(viewer, {"start", id});
  EXPECT_EQ(viewer_start.code, 7) << viewer_start.err;
  EXPECT_THAT(viewer_start.err, HasSubstr("Start needs role operator; token:grafana has role viewer"));
  CtlResult started = as(op, {"start", id});
  ASSERT_EQ(started.code, 0) << started.out << started.err;
  CtlResult op_approve = as(op, {"approve", id, "--reason", "not mine to give"});
  EXPECT_EQ(op_approve.code, 7) << op_approve.out << op_approve.err;
  EXPECT_THAT(op_approve.err, HasSubstr("Approve needs role approver; token:ops-1 has role operator"));
  CtlResult viewer_abort = as(viewer, {"abort", id});
  EXPECT_EQ(viewer_abort.code, 7) << viewer_abort.err;

  // approver (token from a file): accepted while the slow copy runs.
  CtlResult approved = Ctl(server, {"--token-file", approver_file, "approve", id, "--reason", "CHG-42"});
  EXPECT_EQ(approved.code, 0) << approved.out << approved.err;
  CtlResult aborted = as(op, {"abort", id, "--reason", "auth test done"});
  EXPECT_EQ(aborted.code, 0) << aborted.out << aborted.err;
  CtlResult end = as(viewer, {"wait", id, "--phase", "aborted", "--timeout", "60s"});
  EXPECT_EQ(end.code, 0) << end.out << end.err << d.log();
  EXPECT_TRUE(ct::WaitFor(
      [&] {
        return ct::QueryScalar(db_.blue,
                               "SELECT count(*) FROM pg_namespace WHERE nspname = 'cutover_capture'") == "0";
      },
      absl::Seconds(30)));

  // The accepted mutating calls are audited with the caller; no refused one is.
  CtlResult events = as(viewer, {"events", id});
  ASSERT_EQ(events.code, 0) << events.err;
  EXPECT_TRUE(HasRow(events.out, "token:ops-1 (operator)", "create-plan")) << events.out;
  EXPECT_TRUE(HasRow(events.out, "token:ops-1 (operator)", "start")) << events.out;
  EXPECT_TRUE(HasRow(events.out, "token:chg-bot (approver)", "request:approve")) << events.out;
  EXPECT_TRUE(HasRow(events.out, "token:chg-bot (approver)", "approved")) << events.out;
  EXPECT_TRUE(HasRow(events.out, "token:ops-1 (operator)", "request:abort")) << events.out;
  EXPECT_THAT(events.out, Not(HasSubstr("token:grafana")));
  EXPECT_EQ(CountOf(events.out, "request:approve"), 1u) << events.out;
  CtlResult unauth_events = Ctl(server, {"events", id});
  EXPECT_EQ(unauth_events.code, 7) << unauth_events.err;
}

}  // namespace
}  // namespace cutover::e2e
