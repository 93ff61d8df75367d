// Unit tests (label unit): CommandRouter with real `sh` commands, NewRouter's
// validation, the pgbouncer.ini rewrite helpers and the fakes.
#include "cutover/router/router.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "cutover/common/proto_time.h"
#include "cutover/router/fakes.h"
#include "cutover/router/pgbouncer_config.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cutover::router {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

absl::Time In(absl::Duration d) { return absl::Now() + d; }

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "router_test_XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::unique_ptr<Router> Commands(const std::string& pause, const std::string& green, const std::string& blue,
                                 const std::string& resume, absl::Duration timeout = absl::ZeroDuration()) {
  cutover::v1::CommandRouterOptions o;
  o.set_pause(pause);
  o.set_repoint_green(green);
  o.set_repoint_blue(blue);
  o.set_resume(resume);
  if (timeout != absl::ZeroDuration()) *o.mutable_timeout() = ToProto(timeout);
  auto r = NewCommandRouter(o);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? std::move(*r) : nullptr;
}

// ---- CommandRouter ----

TEST(CommandRouterTest, RunsEachCommandInOrder) {
  TempDir dir;
  std::string log = dir.path() + "/log";
  auto step = [&](const char* s) { return absl::StrCat("echo ", s, " >> '", log, "'"); };
  auto r = Commands(step("pause"), step("green"), step("blue"), step("resume"));
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->kind(), "command");
  ASSERT_TRUE(r->Pause(In(absl::Seconds(10))).ok());
  ASSERT_TRUE(r->Repoint(Target::kGreen, In(absl::Seconds(10))).ok());
  ASSERT_TRUE(r->Repoint(Target::kBlue, In(absl::Seconds(10))).ok());
  ASSERT_TRUE(r->Resume(In(absl::Seconds(10))).ok());
  EXPECT_EQ(ReadAll(log), "pause\ngreen\nblue\nresume\n");
  EXPECT_TRUE(absl::IsUnimplemented(r->Current().status()));
  for (const RouterCheck& c : r->Check()) EXPECT_TRUE(c.status.ok()) << c.name << ": " << c.status;
}

TEST(CommandRouterTest, NonZeroExitNamesCommandCodeAndStderr) {
  auto r = Commands("echo lb api said no >&2; exit 3", "true", "true", "true");
  ASSERT_NE(r, nullptr);
  absl::Status st = r->Pause(In(absl::Seconds(10)));
  EXPECT_TRUE(absl::IsUnavailable(st)) << st;
  EXPECT_THAT(st.message(), HasSubstr("router.command.pause"));
  EXPECT_THAT(st.message(), HasSubstr("exited with code 3"));
  EXPECT_THAT(st.message(), HasSubstr("lb api said no"));
  // A program that does not exist: retrying will not help.
  auto missing = Commands("true", "/nonexistent/switch-to-green", "true", "true");
  absl::Status st2 = missing->Repoint(Target::kGreen, In(absl::Seconds(10)));
  EXPECT_TRUE(absl::IsFailedPrecondition(st2)) << st2;
  EXPECT_THAT(st2.message(), HasSubstr("code 127"));
}

TEST(CommandRouterTest, DeadlineKillsTheChildAndReturnsInTime) {
  TempDir dir;
  std::string marker = dir.path() + "/grandchild-survived";
  // A grandchild in the same process group would touch the marker if it survived the kill.
  auto r = Commands(absl::StrCat("(sleep 2; touch '", marker, "') & sleep 5"), "true", "true", "true");
  ASSERT_NE(r, nullptr);
  absl::Time start = absl::Now();
  absl::Status st = r->Pause(start + absl::Milliseconds(300));
  absl::Duration took = absl::Now() - start;
  EXPECT_TRUE(absl::IsDeadlineExceeded(st)) << st;
  EXPECT_THAT(st.message(), HasSubstr("killed"));
  EXPECT_LT(took, absl::Seconds(2)) << "returned after " << took;
  EXPECT_GE(took, absl::Milliseconds(250));
}

TEST(CommandRouterTest, ConfiguredTimeoutCapsTheDeadline) {
  auto r = Commands("sleep 5", "true", "true", "true", absl::Milliseconds(200));
  absl::Time start = absl::Now();
  absl::Status st = r->Pause(start + absl::Seconds(60));
  EXPECT_TRUE(absl::IsDeadlineExceeded(st)) << st;
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  // A deadline already passed never starts the command.
  EXPECT_TRUE(absl::IsDeadlineExceeded(r->Resume(absl::Now() - absl::Seconds(1))));
}

TEST(CommandRouterTest, CheckNamesEveryEmptyCommand) {
  cutover::v1::CommandRouterOptions o;
  o.set_pause("true");
  o.set_resume("true");
  auto r = NewCommandRouter(o);
  ASSERT_TRUE(r.ok()) << r.status();
  std::vector<std::string> bad;
  for (const RouterCheck& c : (*r)->Check()) {
    if (!c.status.ok()) bad.push_back(std::string(c.status.message()));
  }
  EXPECT_THAT(bad,
              ElementsAre("router.command.repoint_green is empty", "router.command.repoint_blue is empty"));
  absl::Status st = (*r)->Repoint(Target::kGreen, In(absl::Seconds(1)));
  EXPECT_TRUE(absl::IsFailedPrecondition(st)) << st;
  cutover::v1::CommandRouterOptions neg;
  neg.mutable_timeout()->set_seconds(-1);
  EXPECT_TRUE(absl::IsInvalidArgument(NewCommandRouter(neg).status()));
}

// ---- NewRouter ----

TEST(NewRouterTest, UnsetKind) {
  auto r = NewRouter(cutover::v1::RouterOptions());
  EXPECT_TRUE(absl::IsInvalidArgument(r.status()));
  EXPECT_EQ(r.status().message(), "plan.router: set pgbouncer or command");
}

TEST(NewRouterTest, PgBouncerFieldsAreNamed) {
  cutover::v1::RouterOptions o;
  auto* p = o.mutable_pgbouncer();
  auto expect = [&](const std::string& msg) {
    auto r = NewRouter(o);
    EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << r.status();
    EXPECT_THAT(r.status().message(), HasSubstr(msg));
  };
  expect("plan.router.pgbouncer.admin_dsn is empty");
  p->set_admin_dsn("host=127.0.0.1 port=6432 dbname=pgbouncer");
  expect("plan.router.pgbouncer.config_path is empty");
  p->set_config_path("/etc/pgbouncer/pgbouncer.ini");
  expect("plan.router.pgbouncer.database is empty");
  p->set_database("app");
  expect("plan.router.pgbouncer.blue_target is empty");
  p->set_blue_target("host=127.0.0.1 port=5433 dbname=app");
  expect("plan.router.pgbouncer.green_target is empty");
  p->set_green_target("host=127.0.0.1 port=5434 dbname=app");
  auto ok = NewRouter(o);  // connects lazily: no PgBouncer needed here
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ((*ok)->kind(), "pgbouncer");
  p->set_green_target("host='unterminated");
  expect("plan.router.pgbouncer.green_target");
  p->set_green_target("host=127.0.0.1 port=5434 dbname=app");
  p->set_database("app; SHUTDOWN");
  expect("plan.router.pgbouncer.database");
}

TEST(NewRouterTest, CommandFieldsAreNamed) {
  cutover::v1::RouterOptions o;
  auto* c = o.mutable_command();
  c->set_pause("true");
  c->set_repoint_green("true");
  c->set_repoint_blue("true");
  auto r = NewRouter(o);
  EXPECT_TRUE(absl::IsInvalidArgument(r.status()));
  EXPECT_EQ(r.status().message(), "plan.router.command.resume is empty");
  c->set_resume("true");
  auto ok = NewRouter(o);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ((*ok)->kind(), "command");
}

// ---- pgbouncer.ini helpers ----

constexpr char kIni[] =
    "; managed by ops\n"
    "[databases]\n"
    "# the app\n"
    "app = host=10.0.0.1 port=5432 dbname=app\n"
    "app_ro=host=10.0.0.9 dbname=app\n"
    "\"odd name\" = host=10.0.0.2 dbname=odd\n"
    "* = host=10.0.0.1\n"
    "\n"
    "[pgbouncer]\n"
    "app = not a database entry\n"
    "pool_mode = transaction\n";

TEST(PgBouncerConfigTest, FindEntry) {
  EXPECT_EQ(FindDatabaseEntry(kIni, "app", "x.ini").value(), "host=10.0.0.1 port=5432 dbname=app");
  EXPECT_EQ(FindDatabaseEntry(kIni, "app_ro", "x.ini").value(), "host=10.0.0.9 dbname=app");
  EXPECT_EQ(FindDatabaseEntry(kIni, "odd name", "x.ini").value(), "host=10.0.0.2 dbname=odd");
  auto missing = FindDatabaseEntry(kIni, "pool_mode", "/etc/pgbouncer/pgbouncer.ini");
  EXPECT_TRUE(absl::IsFailedPrecondition(missing.status()));
  EXPECT_THAT(missing.status().message(), HasSubstr("/etc/pgbouncer/pgbouncer.ini"));
  EXPECT_THAT(missing.status().message(), HasSubstr("'pool_mode = ...'"));
}

TEST(PgBouncerConfigTest, RewriteOneEntryKeepsEverythingElse) {
  auto out = RewriteDatabaseEntry(kIni, "app", "host=10.0.0.5 port=5433 dbname=app", "x.ini");
  ASSERT_TRUE(out.ok()) << out.status();
  std::string want(kIni);
  want.replace(want.find("host=10.0.0.1 port=5432 dbname=app"), 34, "host=10.0.0.5 port=5433 dbname=app");
  EXPECT_EQ(*out, want);
  // Idempotent.
  EXPECT_EQ(RewriteDatabaseEntry(*out, "app", "host=10.0.0.5 port=5433 dbname=app", "x.ini").value(), *out);
  // An entry without blanks around '=' and a CRLF file.
  std::string crlf = "[Databases]\r\napp_ro=host=a\r\n";
  EXPECT_EQ(RewriteDatabaseEntry(crlf, "app_ro", "host=b", "x").value(), "[Databases]\r\napp_ro=host=b\r\n");
  auto missing = RewriteDatabaseEntry(kIni, "nope", "host=b", "/etc/x.ini");
  EXPECT_TRUE(absl::IsFailedPrecondition(missing.status())) << missing.status();
  EXPECT_THAT(missing.status().message(), HasSubstr("/etc/x.ini"));
  EXPECT_TRUE(absl::IsInvalidArgument(RewriteDatabaseEntry(kIni, "app", "host=a\nx=y", "x").status()));
}

TEST(PgBouncerConfigTest, SameConnString) {
  EXPECT_TRUE(SameConnString("host=a port=1 dbname=d", "dbname=d  host='a' port=1"));
  EXPECT_FALSE(SameConnString("host=a port=1 dbname=d", "host=a port=2 dbname=d"));
}

TEST(PgBouncerConfigTest, WriteFileAtomicallyKeepsMode) {
  TempDir dir;
  std::string path = dir.path() + "/pgbouncer.ini";
  { std::ofstream(path) << "old\n"; }
  ASSERT_EQ(::chmod(path.c_str(), 0640), 0);
  ASSERT_TRUE(WriteFileAtomically(path, "new\n").ok());
  EXPECT_EQ(ReadAll(path), "new\n");
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  int files = 0;
  for (const auto& e : fs::directory_iterator(dir.path())) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1) << "temporary file left behind";
  EXPECT_FALSE(WriteFileAtomically(dir.path() + "/no/such/dir/x.ini", "x").ok());
}

// ---- fakes ----

TEST(FakeRouterTest, RecordsCallsAndState) {
  FakeRouter r;
  absl::Time d = In(absl::Seconds(1));
  ASSERT_TRUE(r.Pause(d).ok());
  EXPECT_TRUE(r.paused());
  ASSERT_TRUE(r.Repoint(Target::kGreen, d).ok());
  ASSERT_TRUE(r.Resume(d).ok());
  EXPECT_FALSE(r.paused());
  EXPECT_EQ(r.Current().value(), Target::kGreen);
  EXPECT_THAT(r.calls(), ElementsAre("pause", "repoint:green", "resume", "current"));
}

TEST(FakeRouterTest, ErrorInjection) {
  FakeRouter r;
  absl::Time d = In(absl::Seconds(1));
  r.FailNext("repoint", absl::UnavailableError("flaky"));
  EXPECT_TRUE(absl::IsUnavailable(r.Repoint(Target::kGreen, d)));
  EXPECT_EQ(r.target(), Target::kBlue) << "a failed call changes nothing";
  EXPECT_TRUE(r.Repoint(Target::kGreen, d).ok());
  r.FailAlways("resume", absl::DeadlineExceededError("stuck"));
  EXPECT_TRUE(absl::IsDeadlineExceeded(r.Resume(d)));
  EXPECT_TRUE(absl::IsDeadlineExceeded(r.Resume(d)));
  r.Clear("resume");
  EXPECT_TRUE(r.Resume(d).ok());
  EXPECT_THAT(r.calls(), ElementsAre("repoint:green", "repoint:green", "resume", "resume", "resume"));
  r.FailNext("check", absl::UnavailableError("down"));
  auto checks = r.Check();
  ASSERT_EQ(checks.size(), 1u);
  EXPECT_FALSE(checks[0].status.ok());
}

TEST(FakeRouterTest, HookRunsInsideEachMethodAndCanBlock) {
  FakeRouter r;
  absl::Notification entered, release;
  r.SetHook([&](const std::string& method) {
    if (method == "pause") {
      entered.Notify();
      release.WaitForNotification();
    }
    return method == "resume" ? absl::AbortedError("hooked") : absl::OkStatus();
  });
  std::thread t([&] { EXPECT_TRUE(r.Pause(In(absl::Seconds(1))).ok()); });
  entered.WaitForNotification();
  EXPECT_FALSE(r.paused());
  EXPECT_THAT(r.calls(), ElementsAre("pause"));  // no deadlock: the hook runs unlocked
  release.Notify();
  t.join();
  EXPECT_TRUE(r.paused());
  EXPECT_TRUE(absl::IsAborted(r.Resume(In(absl::Seconds(1)))));
  EXPECT_TRUE(r.paused());
}

TEST(FakeFenceTest, RaiseLowerAndErrors) {
  FakeFence f;
  absl::Time d = In(absl::Seconds(1));
  EXPECT_FALSE(f.Raised().value());
  ASSERT_TRUE(f.Raise(d).ok());
  EXPECT_TRUE(f.raised());
  f.FailNext("lower", absl::UnavailableError("blue down"));
  EXPECT_TRUE(absl::IsUnavailable(f.Lower(d)));
  EXPECT_TRUE(f.raised());
  ASSERT_TRUE(f.Lower(d).ok());
  EXPECT_FALSE(f.raised());
  f.FailAlways("check", absl::PermissionDeniedError("no"));
  EXPECT_TRUE(absl::IsPermissionDenied(f.Check()));
  EXPECT_THAT(f.calls(), ElementsAre("raised", "raise", "lower", "lower", "check"));
}

}  // namespace
}  // namespace cutover::router
