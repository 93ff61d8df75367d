// The bad-input matrix through the real binaries (docs/bad-input.md): a real
// cutoverd on the sandbox driven by the real cutoverctl. Bad plan files,
// a plan whose blue password is wrong, commands in the wrong phase, a
// repeated approve and garbage gRPC requests: each gets its exit code and a
// message naming the problem, nothing is stored or moved, the daemon keeps
// serving, and the cutover then completes normally (one approve, one flip).
#include <netinet/in.h>
#include <sys/socket.h>

#include <filesystem>

#include "absl/strings/str_replace.h"
#include "e2e_support.h"
#include "raw_grpc.h"

namespace cutover::e2e {
namespace {

using BadInputE2eTest = E2eFixture;

// Count of timeline rows whose action is `action` (cutoverctl -o json events).
int CountActions(const std::string& server, const std::string& id, const std::string& action) {
  const std::string json = Ctl(server, {"--output", "json", "events", id}).out;
  const std::string needle = absl::StrCat("\"action\": \"", action, "\"");
  int n = 0;
  for (size_t p = json.find(needle); p != std::string::npos; p = json.find(needle, p + 1)) ++n;
  return n;
}

TEST_F(BadInputE2eTest, BadInputIsRefusedClearlyAndTheCutoverStillCompletes) {
  const std::string plan = WritePlan(/*auto_flip=*/false, 0);
  Daemon d(db_.control, "daemon-badinput", dir_);
  const std::string server = d.Address();
  ASSERT_FALSE(server.empty()) << d.log();
  const std::string blue_before = ct::SchemaDump(db_.blue);
  auto no_cutover = [&] { return Ctl(server, {"--output", "json", "status"}).out.find("\"id\"") == std::string::npos; };

  // Plan files: exit 2 naming the position / the field; nothing sent.
  const std::string good = ReadAll(plan);
  const std::string broken = absl::StrCat(dir_, "/broken.json");
  std::ofstream(broken) << absl::StrReplaceAll(good, {{"\"name\": \"e2e\",", "\"name\": \"e2e\""}});
  CtlResult r = Ctl(server, {"plan", broken});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr(absl::StrCat(broken, ":3:3: syntax error: expected ',' or '}'")));
  const std::string unknown = absl::StrCat(dir_, "/unknown.json");
  std::ofstream(unknown) << absl::StrReplaceAll(good, {{"\"autoFlip\"", "\"autoFlipp\""}});
  r = Ctl(server, {"plan", unknown});
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("autoFlipp"));

  // A wrong password on blue: preflight names the check, never the password.
  const std::string wrong_pw = absl::StrCat(dir_, "/wrong-password.json");
  std::ofstream(wrong_pw) << absl::StrReplaceAll(
      good, {{absl::StrCat("\"", db_.blue, "\""), absl::StrCat("\"", db_.blue, " password=not-the-password-42\"")}});
  r = Ctl(server, {"plan", wrong_pw});
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_THAT(r.err, HasSubstr("preflight failed: blue.connect"));
  EXPECT_THAT(r.err, HasSubstr("password authentication failed"));
  EXPECT_THAT(r.err + r.out, ::testing::Not(HasSubstr("not-the-password-42")));
  r = Ctl(server, {"validate", wrong_pw});
  EXPECT_EQ(r.code, 3) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("FAIL  blue.connect"));
  EXPECT_TRUE(no_cutover()) << "a refused plan was stored";

  // Garbage gRPC requests: refused by gRPC, the daemon carries on.
  for (const char* method : {"/cutover.v1.CutoverService/CreatePlan", "/cutover.v1.CutoverService/Approve",
                             "/cutover.v1.CaptureService/RecordRevocation"}) {
    EXPECT_EQ(badinput::RawUnary(grpc::CreateChannel(server, grpc::InsecureChannelCredentials()), method,
                                      std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11))
                  .error_code(), grpc::StatusCode::INTERNAL) << method;
  }
  EXPECT_TRUE(no_cutover());

  // Commands in the wrong phase: exit 1 naming the phase; nothing recorded.
  CtlResult created = Ctl(server, {"--output", "json", "plan", plan});
  ASSERT_EQ(created.code, 0) << created.err;
  const std::string id = JsonField(created.out, "id");
  ASSERT_FALSE(id.empty());
  struct Wrong {
    std::vector<std::string> args;
    std::string says;
  };
  for (const Wrong& w : std::vector<Wrong>{
           {{"approve", id}, "is in PLANNED; approve needs a phase from CAPTURING to READY, or PAUSED (start it first)"},
           {{"rollback", id}, "is in PLANNED; rollback needs DRAINING or COMPLETED (traffic is still on blue: use abort)"},
           {{"resume", id}, "is in PLANNED; resume needs PAUSED or FAILED"},
           {{"pause", id}, "is in PLANNED; pause needs"},
           {{"start", "no-such-cutover"}, "no cutover with id no-such-cutover"},
       }) {
    r = Ctl(server, w.args);
    EXPECT_EQ(r.code, 1) << w.args[0] << ": " << r.err;
    EXPECT_THAT(r.err, HasSubstr(w.says)) << w.args[0];
  }
  EXPECT_EQ(CountActions(server, id, "create-plan"), 1);
  EXPECT_EQ(Phase(server, id), "PHASE_PLANNED");
  EXPECT_EQ(ct::SchemaDump(db_.blue), blue_before) << "nothing installed on blue";

  ASSERT_EQ(Ctl(server, {"start", id}).code, 0);
  r = Ctl(server, {"start", id});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("start needs PLANNED"));

  // A repeated approve at READY: both succeed, one approval, one flip.
  CtlResult ready = Ctl(server, {"wait", id, "--phase", "ready", "--timeout", "120s"});
  ASSERT_EQ(ready.code, 0) << ready.out << ready.err << d.log();
  EXPECT_EQ(Ctl(server, {"approve", id, "--reason", "CHG-1"}).code, 0);
  CtlResult again = Ctl(server, {"approve", id, "--reason", "CHG-1 retried"});
  EXPECT_TRUE(again.code == 0 || again.err.find("the flip already started") != std::string::npos)
      << again.code << " " << again.err;
  CtlResult done = Ctl(server, {"wait", id, "--phase", "completed", "--timeout", "120s"});
  ASSERT_EQ(done.code, 0) << done.out << done.err << d.log();
  EXPECT_EQ(CountActions(server, id, "approved"), 1);
  EXPECT_EQ(CountActions(server, id, "flip"), 1);
  r = Ctl(server, {"abort", id});
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.err, HasSubstr("is in COMPLETED; abort needs a phase before FLIPPING"));
  EXPECT_FALSE(d.Exited()) << d.log();
  LowerBlueFence();
}

// An HTTP listener that cannot bind (its port is taken) stops cutoverd with
// exit 2 naming --http-listen before the daemon drives anything or publishes
// its gRPC port: the port file a supervisor or script waits on never appears.
TEST_F(BadInputE2eTest, AnHttpPortInUseExits2BeforeThePortFileIsWritten) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), len), 0);
  ASSERT_EQ(listen(fd, 1), 0);
  ASSERT_EQ(getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len), 0);
  const int busy = ntohs(a.sin_port);
  const std::string port_file = absl::StrCat(dir_, "/http-busy.port");
  CommandSpec spec;
  spec.argv = {Bin("cutoverd"),      "--control-dsn",  db_.control, "--listen",   "127.0.0.1:0", "--port-file",
               port_file,            "--http-listen",  absl::StrCat("127.0.0.1:", busy),
               "--insecure-local",   "--identity",     "daemon-http-busy"};
  spec.timeout = absl::Minutes(1);
  absl::StatusOr<CommandResult> r = RunCommand(spec);
  close(fd);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 2) << r->err;
  EXPECT_THAT(r->err, HasSubstr("--http-listen: cannot listen on 127.0.0.1:"));
  EXPECT_FALSE(std::filesystem::exists(port_file)) << "the gRPC port was published before the HTTP bind failed";
}

}  // namespace
}  // namespace cutover::e2e
