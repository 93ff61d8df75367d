// cutoverctl as a real subprocess against an in-process control server over
// the fake CutoverApi: every exit code, JSON output that parses back into the
// proto, plan-file errors naming the field, wait/watch driven from a thread.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <thread>

#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "cutover/common/subprocess.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "test_server.h"

namespace cutover::service {
namespace {

using ::testing::HasSubstr;
using testing::Eventually;
using testing::kApproverToken;
using testing::kOperatorToken;
using testing::kViewerToken;
using testing::TestServer;
namespace v1 = cutover::v1;

std::string CtlPath() {
  const char* dir = std::getenv("CUTOVER_BINARY_DIR");
  return std::string(dir != nullptr ? dir : CUTOVER_DEFAULT_BINARY_DIR) + "/orchestrator/tools/cutoverctl";
}

class CutoverctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.Start();
    server_.api.AddForTest("c1", v1::PHASE_COPYING);
    char tmpl[] = "/tmp/cutoverctl-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    CommandSpec rm;
    rm.argv = {"rm", "-rf", dir_};
    (void)RunCommand(rm);
  }

  // Runs cutoverctl --server <test server> [--token token] args...
  CommandResult Ctl(std::vector<std::string> args, const std::string& token = kOperatorToken,
                    const std::string& server = "") {
    CommandSpec spec;
    spec.argv = {CtlPath(), "--server", server.empty() ? server_.address() : server};
    if (!token.empty()) {
      spec.argv.push_back("--token");
      spec.argv.push_back(token);
    }
    spec.argv.insert(spec.argv.end(), args.begin(), args.end());
    spec.env = {{"CUTOVER_TOKEN", ""}, {"CUTOVER_SERVER", ""}};
    spec.timeout = absl::Seconds(60);
    auto r = RunCommand(spec);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : CommandResult{};
  }

  std::string WriteFile(const std::string& name, const std::string& text) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  TestServer server_;
  std::string dir_;
};

TEST_F(CutoverctlTest, StatusTextAndJsonThatParsesBackIntoTheProto) {
  CommandResult r = Ctl({"status", "c1"}, kViewerToken);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("cutover c1 (hydra-upgrade)  phase COPYING"));
  EXPECT_THAT(r.out, HasSubstr("50.0%"));
  EXPECT_THAT(r.out, HasSubstr("public.hydra_oauth2_access"));
  EXPECT_THAT(r.out, HasSubstr("replay  backlog 7"));

  r = Ctl({"--output", "json", "status", "c1"}, kViewerToken);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  v1::Cutover c;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &c).ok()) << r.out;
  EXPECT_EQ(c.id(), "c1");
  EXPECT_EQ(c.phase(), v1::PHASE_COPYING);
  EXPECT_THAT(r.out, HasSubstr("\"phase\": \"PHASE_COPYING\""));

  // --output after the subcommand works too; without an id it lists.
  r = Ctl({"status", "-o", "json"}, kViewerToken);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  v1::ListResponse list;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &list).ok()) << r.out;
  ASSERT_EQ(list.cutovers_size(), 1);
  r = Ctl({"status"}, kViewerToken);
  EXPECT_THAT(r.out, HasSubstr("ID"));
  EXPECT_THAT(r.out, HasSubstr("COPYING"));
}

TEST_F(CutoverctlTest, PlanCreatesAndUnknownFieldIsAUsageErrorNamingIt) {
  std::string good = WriteFile("plan.json", R"({"name": "hydra-2x", "copy": {"table_jobs": 4}})");
  CommandResult r = Ctl({"plan", good});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("created cutover plan-1 (hydra-2x): phase PLANNED"));
  auto calls = server_.api.calls();
  ASSERT_FALSE(calls.empty());
  EXPECT_EQ(calls.back().method, "CreatePlan");
  EXPECT_EQ(calls.back().caller.identity, "token:ops-1");

  std::string bad = WriteFile("bad.json", R"({"name": "x", "copy": {"tableJobz": 4}})");
  r = Ctl({"plan", bad});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("tableJobz"));
  EXPECT_THAT(r.err, HasSubstr("cutoverctl: plan: " + bad));

  std::string type_error = WriteFile("type.json", R"({"name": "x", "copy": {"table_jobs": "many"}})");
  r = Ctl({"plan", type_error});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("table_jobs"));

  r = Ctl({"plan", dir_ + "/missing.json"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("cannot read plan file"));

  // Server-side rejection (the fake wants a name): exit 1 with the server's message.
  r = Ctl({"plan", WriteFile("noname.json", "{}")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("cutoverctl: plan: plan.name is missing"));
}

TEST_F(CutoverctlTest, ValidatePrintsEveryCheckAndExits3OnFailure) {
  std::string plan = WriteFile("plan.json", R"({"name": "hydra-2x"})");
  v1::ValidationResult vr;
  vr.set_ok(true);
  auto* c = vr.add_checks();
  c->set_name("blue.connect");
  c->set_ok(true);
  c->set_detail("PostgreSQL 15.4");
  server_.api.SetValidationForTest(vr);
  CommandResult r = Ctl({"validate", plan}, kViewerToken);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("ok    blue.connect"));

  vr.set_ok(false);
  c = vr.add_checks();
  c->set_name("green.empty");
  c->set_ok(false);
  c->set_detail("green has 3 tables in public");
  server_.api.SetValidationForTest(vr);
  r = Ctl({"validate", plan}, kViewerToken);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.out, HasSubstr("FAIL  green.empty"));
  EXPECT_THAT(r.out, HasSubstr("green has 3 tables in public"));
  EXPECT_THAT(r.out, HasSubstr("1 of 2 checks failed"));

  r = Ctl({"-o", "json", "validate", plan}, kViewerToken);
  EXPECT_EQ(r.exit_code, 3);
  v1::ValidationResult parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &parsed).ok()) << r.out;
  EXPECT_EQ(parsed.checks_size(), 2);
}

TEST_F(CutoverctlTest, UsageErrorsExit2) {
  EXPECT_EQ(Ctl({}).exit_code, 2);                        // no subcommand
  EXPECT_EQ(Ctl({"start"}).exit_code, 2);                 // missing id
  EXPECT_EQ(Ctl({"frobnicate", "c1"}).exit_code, 2);      // unknown subcommand
  EXPECT_EQ(Ctl({"-o", "yaml", "status"}).exit_code, 2);  // bad output
  CommandResult r = Ctl({"wait", "c1", "--phase", "almost-done"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("unknown phase 'almost-done'"));
  r = Ctl({"wait", "c1", "--phase", "ready", "--timeout", "soon"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(Ctl({"--help"}).exit_code, 0);
  EXPECT_THAT(Ctl({"--help"}).out, HasSubstr("7  unauthenticated or permission denied"));
}

TEST_F(CutoverctlTest, ServerErrorsExit1WithTheServerMessage) {
  CommandResult r = Ctl({"start", "nope"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("cutoverctl: start nope: cutover 'nope' does not exist"));
  r = Ctl({"approve", "c1", "--reason", "CHG-1"}, kApproverToken);
  EXPECT_EQ(r.exit_code, 1);  // fake: approve needs READY
  EXPECT_THAT(r.err, HasSubstr("needs phase PHASE_READY"));
}

TEST_F(CutoverctlTest, MutatingCommandsPassReasonAndIdentity) {
  CommandResult r = Ctl({"pause", "c1", "--reason", "peak traffic"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("cutover c1 paused: phase PAUSED"));
  auto calls = server_.api.calls();
  ASSERT_EQ(calls.back().method, "Pause");
  EXPECT_EQ(calls.back().reason, "peak traffic");
  EXPECT_EQ(calls.back().caller.identity, "token:ops-1");
  r = Ctl({"resume", "c1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = Ctl({"events", "c1"}, kViewerToken);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("token:ops-1"));
  EXPECT_THAT(r.out, HasSubstr("peak traffic"));
  r = Ctl({"report", "c1"}, kViewerToken);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("timeline:"));
  r = Ctl({"-o", "json", "events", "c1"}, kViewerToken);
  v1::ListTransitionsResponse t;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r.out, &t).ok()) << r.out;
  EXPECT_EQ(t.transitions_size(), 3);
}

TEST_F(CutoverctlTest, UnreachableServerExits6) {
  // A port that was just free: bind, read the port, close.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  close(fd);
  CommandResult r = Ctl({"--timeout", "5s", "status", "c1"}, kViewerToken,
                        "127.0.0.1:" + std::to_string(ntohs(a.sin_port)));
  EXPECT_EQ(r.exit_code, 6) << r.err;
  EXPECT_THAT(r.err, HasSubstr("cannot reach"));
}

TEST_F(CutoverctlTest, AuthFailuresExit7) {
  CommandResult r = Ctl({"status", "c1"}, "");
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_THAT(r.err, HasSubstr("cutoverctl: status c1: no credentials"));
  r = Ctl({"start", "c1"}, kViewerToken);
  EXPECT_EQ(r.exit_code, 7);
  EXPECT_THAT(r.err, HasSubstr("Start needs role operator"));
  // --token-file and CUTOVER_TOKEN work like --token.
  std::string tf = WriteFile("token", std::string(kViewerToken) + "\n");
  r = Ctl({"--token-file", tf, "status", "c1"}, "");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  CommandSpec spec;
  spec.argv = {CtlPath(), "--server", server_.address(), "status", "c1"};
  spec.env = {{"CUTOVER_TOKEN", kViewerToken}};
  spec.timeout = absl::Seconds(60);
  auto env = RunCommand(spec);
  ASSERT_TRUE(env.ok());
  EXPECT_EQ(env->exit_code, 0) << env->err;
}

TEST_F(CutoverctlTest, WaitReturns0AsSoonAsTheCutoverIsReady) {
  std::thread driver([&] {
    // Once cutoverctl's Watch is blocked in WaitForChange, move to CATCHING_UP then READY.
    if (!Eventually([&] { return server_.api.waiters() > 0; })) return;
    server_.api.SetPhaseForTest("c1", v1::PHASE_CATCHING_UP);
    server_.api.SetPhaseForTest("c1", v1::PHASE_READY);
  });
  const absl::Time t0 = absl::Now();
  CommandResult r = Ctl({"wait", "c1", "--phase", "ready", "--timeout", "5s"}, kViewerToken);
  driver.join();
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("reached READY"));
  EXPECT_LT(absl::Now() - t0, absl::Seconds(5));
  // Already there; names with the prefix and any case.
  EXPECT_EQ(Ctl({"wait", "c1", "--phase", "PHASE_READY", "--timeout", "5s"}, kViewerToken).exit_code, 0);
  EXPECT_EQ(Ctl({"wait", "c1", "--phase", "Completed,Ready"}, kViewerToken).exit_code, 0);
}

TEST_F(CutoverctlTest, WaitTimesOutWith4) {
  CommandResult r = Ctl({"wait", "c1", "--phase", "ready", "--timeout", "1s"}, kViewerToken);
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_THAT(r.err, HasSubstr("timed out after 1s waiting for READY (phase is COPYING)"));
}

TEST_F(CutoverctlTest, WaitExits5WhenTheCutoverEndsElsewhere) {
  server_.api.AddForTest("gone", v1::PHASE_ABORTED);
  CommandResult r = Ctl({"wait", "gone", "--phase", "completed", "--timeout", "5s"}, kViewerToken);
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_THAT(r.err, HasSubstr("ended in ABORTED, not COMPLETED"));

  std::thread driver([&] {
    if (!Eventually([&] { return server_.api.waiters() > 0; })) return;
    server_.api.SetPhaseForTest("c1", v1::PHASE_FAILED, "green disk full");
  });
  r = Ctl({"wait", "c1", "--phase", "ready", "--timeout", "5s"}, kViewerToken);
  driver.join();
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_THAT(r.err, HasSubstr("FAILED (green disk full)"));
  // ...unless FAILED is what was asked for.
  EXPECT_EQ(Ctl({"wait", "c1", "--phase", "failed", "--timeout", "5s"}, kViewerToken).exit_code, 0);
}

TEST_F(CutoverctlTest, WatchPrintsOneJsonLinePerEventWhenNotATty) {
  std::thread driver([&] {
    if (!Eventually([&] { return server_.api.waiters() > 0; })) return;
    server_.api.SetPhaseForTest("c1", v1::PHASE_READY);
    server_.api.SetPhaseForTest("c1", v1::PHASE_COMPLETED);
  });
  CommandResult r = Ctl({"watch", "c1"}, kViewerToken);
  driver.join();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u) << r.out;
  std::vector<v1::Phase> transitions;
  v1::WatchEvent ev;
  for (const auto& l : lines) {
    ev.Clear();
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(l, &ev).ok()) << l;
    if (l == lines.front()) {
      EXPECT_EQ(ev.cutover().phase(), v1::PHASE_COPYING);
    }
    if (ev.has_transition()) transitions.push_back(ev.transition().to());
  }
  EXPECT_EQ(ev.cutover().phase(), v1::PHASE_COMPLETED);
  EXPECT_THAT(transitions, ::testing::ElementsAre(v1::PHASE_READY, v1::PHASE_COMPLETED));
}

// `wait --phase rolled_back` follows a rollback that starts from COMPLETED
// while the rollback window is open; without an open window COMPLETED is
// final (exit 5).
TEST_F(CutoverctlTest, WaitFollowsARollbackFromCompletedWhileTheWindowIsOpen) {
  server_.api.MutateForTest("c1", [](v1::Cutover& c) {
    c.set_phase(v1::PHASE_COMPLETED);
    c.set_reverse_capture_installed(true);
  });
  std::thread driver([&] {
    if (!Eventually([&] { return server_.api.waiters() > 0; })) return;
    server_.api.SetPhaseForTest("c1", v1::PHASE_ROLLING_BACK);
    server_.api.SetPhaseForTest("c1", v1::PHASE_ROLLED_BACK);
  });
  CommandResult r = Ctl({"wait", "c1", "--phase", "rolled_back", "--timeout", "30s"}, kViewerToken);
  driver.join();
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("reached ROLLED_BACK"));
  // Window closed: COMPLETED is the end.
  server_.api.MutateForTest("c1", [](v1::Cutover& c) {
    c.set_phase(v1::PHASE_COMPLETED);
    c.set_reverse_capture_installed(false);
  });
  CommandResult closed = Ctl({"wait", "c1", "--phase", "rolled_back", "--timeout", "30s"}, kViewerToken);
  EXPECT_EQ(closed.exit_code, 5) << closed.out << closed.err;
}

// On a terminal, watch draws the history, then a status block with progress
// bars that it redraws in place (cursor up + clear) on every event. Run under
// script(1) (util-linux, in every Debian) so stdout is a real pseudo-terminal.
TEST_F(CutoverctlTest, WatchRedrawsAStatusBlockWithProgressBarsOnATty) {
  std::thread driver([&] {
    if (!Eventually([&] { return server_.api.waiters() > 0; })) return;
    server_.api.SetPhaseForTest("c1", v1::PHASE_READY);
    server_.api.SetPhaseForTest("c1", v1::PHASE_COMPLETED);
  });
  const std::string cmd = absl::StrCat(CtlPath(), " --server ", server_.address(), " --token ", kViewerToken,
                                       " watch c1");
  CommandSpec spec;
  spec.argv = {"script", "-qfec", cmd, "/dev/null"};
  spec.env = {{"CUTOVER_TOKEN", ""}, {"CUTOVER_SERVER", ""}, {"TERM", "xterm"}};
  spec.timeout = absl::Seconds(60);
  absl::StatusOr<CommandResult> r = RunCommand(spec);
  driver.join();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0) << r->out << r->err;
  EXPECT_THAT(r->out, HasSubstr("[#####-----]")) << "the table's 50% progress bar";
  EXPECT_THAT(r->out, HasSubstr("\033[")) << "the block is redrawn in place";
  EXPECT_THAT(r->out, HasSubstr("phase COMPLETED"));
  EXPECT_EQ(r->out.find("{\""), std::string::npos) << "no JSON lines on a terminal";
}

}  // namespace
}  // namespace cutover::service
