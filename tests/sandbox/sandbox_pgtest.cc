// The local sandbox on real PostgreSQL and PgBouncer: every server answers on
// its own port, PgBouncer routes to blue, passwords are enforced, fault
// injection (restart, immediate stop) keeps data, sandboxes coexist, an
// abandoned sandbox is cleaned up by the next start, and the cutover-sandbox
// CLI round-trips start/status/env/stop.
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "cutover/common/pg.h"
#include "cutover/common/subprocess.h"
#include "cutover/sandbox/sandbox.h"
#include "cutover/testing/sandbox_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cutover::sandbox {
namespace {

namespace ct = ::cutover::testing;
namespace fs = std::filesystem;
using ::testing::HasSubstr;

#define ASSERT_OK(expr)                               \
  do {                                                \
    const ::absl::Status assert_ok_st_ = (expr);      \
    ASSERT_TRUE(assert_ok_st_.ok()) << assert_ok_st_; \
  } while (0)
#define EXPECT_OK(expr)                               \
  do {                                                \
    const ::absl::Status expect_ok_st_ = (expr);      \
    EXPECT_TRUE(expect_ok_st_.ok()) << expect_ok_st_; \
  } while (0)

// A path under /tmp that does not exist yet. It carries the crash-cleanup
// prefix, so a sandbox left there by a killed test run is cleaned up too.
std::string FreshDir(absl::string_view what) {
  return absl::StrCat("/tmp/cutover-sandbox-test-", ct::UniqueName(what));
}

std::string WithPassword(const std::string& dsn, const std::string& password) {
  auto opts = pg::ParseDsn(dsn, "dsn");
  EXPECT_TRUE(opts.ok()) << opts.status();
  (*opts)["password"] = password;
  return pg::FormatDsn(*opts);
}

// "KEY=value" lines of an env file, values unquoted ('...' shell quoting).
std::map<std::string, std::string> ParseEnv(const std::string& text) {
  std::map<std::string, std::string> out;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    auto eq = line.find('=');
    EXPECT_NE(eq, absl::string_view::npos) << line;
    if (eq == absl::string_view::npos) {
      continue;
    }
    std::string value(line.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '\'' && value.back() == '\'') {
      value = value.substr(1, value.size() - 2);
    }
    out[std::string(line.substr(0, eq))] = value;
  }
  return out;
}

// Every process is stopped by pid; these check the pids really went away.
void ExpectGone(pid_t pid, const std::string& what) {
  EXPECT_TRUE(ct::WaitFor([&] { return !ct::ProcessRunning(pid); }, absl::Seconds(10)))
      << what << " (pid " << pid << ") is still running";
  ct::ReapIfExited(pid);
}

// Runs the query through `dsn`, retrying while the server (or PgBouncer's
// pooled server connections) recovers from a restart.
bool EventuallyAnswers(const std::string& dsn, const std::string& sql, const std::string& expected) {
  return ct::WaitFor(
      [&] {
        auto v = ct::Scalar(dsn, sql);
        return v.ok() && *v == expected;
      },
      absl::Seconds(30), absl::Milliseconds(50));
}

class SandboxPgTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ct::AdoptOrphans(); }
};

// ---- the shared sandbox ----

TEST_F(SandboxPgTest, EveryClusterAnswersOnItsOwnPort) {
  Sandbox& sb = ct::SharedSandbox();
  EXPECT_EQ(sb.Clusters(), (std::vector<std::string>{"blue", "green", "control"}));
  std::set<int> ports;
  for (const char* c : {"blue", "green", "control"}) {
    SCOPED_TRACE(c);
    int port = sb.Port(c);
    ASSERT_GT(port, 0);
    ports.insert(port);
    EXPECT_EQ(ct::QueryScalar(sb.Dsn(c), "SELECT inet_server_port()"), absl::StrCat(port));
    EXPECT_EQ(ct::QueryScalar(sb.Dsn(c), "SHOW port"), absl::StrCat(port));
    EXPECT_EQ(ct::QueryScalar(sb.Dsn(c), "SHOW cluster_name"), c);
    EXPECT_EQ(ct::QueryScalar(sb.Dsn(c), "SHOW fsync"), "off");  // fast mode
    EXPECT_EQ(ct::QueryScalar(sb.Dsn(c), "SHOW max_connections"), "200");
    EXPECT_EQ(ct::QueryScalar(sb.Dsn(c), "SELECT current_user"), "postgres");
    EXPECT_EQ(ct::QueryScalar(sb.Dsn(c), "SHOW server_encoding"), "UTF8");
    EXPECT_TRUE(ct::ProcessRunning(sb.ClusterPid(c)));
  }
  ports.insert(sb.BouncerPort());
  EXPECT_EQ(ports.size(), 4u);
  EXPECT_EQ(sb.Port("nope"), 0);
  EXPECT_EQ(sb.Dsn("nope"), "");
  EXPECT_EQ(sb.ClusterPid("nope"), 0);
}

TEST_F(SandboxPgTest, ServersRunAsPostgresInTheirOwnProcessGroups) {
  Sandbox& sb = ct::SharedSandbox();
  for (pid_t pid : {sb.ClusterPid("blue"), sb.BouncerPid()}) {
    EXPECT_EQ(::getpgid(pid), pid);
    struct stat st;
    ASSERT_EQ(::stat(absl::StrCat("/proc/", pid).c_str(), &st), 0);
    if (::geteuid() == 0) {
      EXPECT_NE(st.st_uid, 0u) << "pid " << pid << " runs as root";
    }
  }
  struct stat st;
  ASSERT_EQ(::stat(sb.root().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST_F(SandboxPgTest, BouncerRoutesEveryDatabaseToBlue) {
  Sandbox& sb = ct::SharedSandbox();
  EXPECT_EQ(ct::QueryScalar(sb.BouncerDsn("postgres"), "SELECT inet_server_port()"),
            absl::StrCat(sb.Port("blue")));
  ct::TestDb db = ct::FreshDatabases("bouncer route");
  ASSERT_FALSE(HasFailure());
  EXPECT_THAT(db.name, ::testing::StartsWith("bouncer_route_"));
  ASSERT_NO_FATAL_FAILURE(ct::ExecOrDie(db.bouncer, "CREATE TABLE t (x int); INSERT INTO t VALUES (42)"));
  EXPECT_EQ(ct::QueryScalar(db.blue, "SELECT x FROM t"), "42");
  EXPECT_EQ(ct::QueryScalar(db.green, "SELECT to_regclass('t')"), "");  // NULL: not on green
  EXPECT_EQ(ct::QueryScalar(db.bouncer, "SELECT current_database()"), db.name);
}

TEST_F(SandboxPgTest, AdminConsoleAnswersShowVersion) {
  Sandbox& sb = ct::SharedSandbox();
  auto admin = pg::RawConn::Connect(sb.BouncerAdminDsn(), "pgbouncer admin");
  ASSERT_TRUE(admin.ok()) << admin.status();
  auto res = admin->Query("SHOW VERSION");
  ASSERT_TRUE(res.ok()) << res.status();
  ASSERT_EQ(PQntuples(res->get()), 1);
  EXPECT_THAT(PQgetvalue(res->get(), 0, 0), HasSubstr("PgBouncer 1."));
  auto dbs = admin->Query("SHOW DATABASES");
  ASSERT_TRUE(dbs.ok()) << dbs.status();
  // The wildcard entry points at blue.
  std::ifstream ini(sb.BouncerIniPath());
  std::stringstream text;
  text << ini.rdbuf();
  EXPECT_THAT(text.str(), HasSubstr(absl::StrCat("* = host=127.0.0.1 port=", sb.Port("blue"))));
  EXPECT_THAT(text.str(), HasSubstr("pool_mode = transaction"));
}

TEST_F(SandboxPgTest, WrongPasswordIsRejected) {
  Sandbox& sb = ct::SharedSandbox();
  ASSERT_FALSE(sb.password().empty());
  for (const std::string& dsn :
       {sb.Dsn("blue"), sb.Dsn("control"), sb.BouncerDsn("postgres"), sb.BouncerAdminDsn()}) {
    SCOPED_TRACE(pg::RedactDsn(dsn));
    auto bad = pg::RawConn::Connect(WithPassword(dsn, "wrong"), "bad password");
    ASSERT_FALSE(bad.ok());
    EXPECT_TRUE(absl::IsUnauthenticated(bad.status())) << bad.status();
    auto none = pg::RawConn::Connect(WithPassword(dsn, ""), "no password");
    EXPECT_FALSE(none.ok());
  }
}

TEST_F(SandboxPgTest, CreateAndDropDatabase) {
  Sandbox& sb = ct::SharedSandbox();
  std::string name = ct::UniqueName("Drop Me!");
  EXPECT_THAT(name, ::testing::MatchesRegex("drop_me__[0-9]+_[0-9]+"));
  ASSERT_OK(sb.CreateDatabase("green", name));
  EXPECT_TRUE(absl::IsFailedPrecondition(sb.CreateDatabase("green", name))) << "created twice";
  // An open session does not block the drop (WITH (FORCE)).
  auto session = pg::RawConn::Connect(sb.Dsn("green", name), "session");
  ASSERT_TRUE(session.ok()) << session.status();
  ASSERT_OK(sb.DropDatabase("green", name));
  auto gone = pg::RawConn::Connect(sb.Dsn("green", name), "after drop");
  ASSERT_FALSE(gone.ok());
  EXPECT_TRUE(absl::IsNotFound(gone.status())) << gone.status();
  EXPECT_OK(sb.DropDatabase("green", name));  // IF EXISTS
  EXPECT_TRUE(absl::IsNotFound(sb.CreateDatabase("purple", name)));
  // Names that need quoting work as well.
  ASSERT_OK(sb.CreateDatabase("control", "Mixed Case db"));
  EXPECT_EQ(ct::QueryScalar(sb.Dsn("control", "Mixed Case db"), "SELECT current_database()"),
            "Mixed Case db");
  EXPECT_OK(sb.DropDatabase("control", "Mixed Case db"));
}

TEST_F(SandboxPgTest, EnvFileIsShellSourceable) {
  Sandbox& sb = ct::SharedSandbox();
  std::string path = FreshDir("env") + ".env";
  ASSERT_OK(sb.WriteEnvFile(path));
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  auto env = ParseEnv(text.str());
  EXPECT_EQ(env["CUTOVER_SANDBOX_DIR"], sb.root());
  EXPECT_EQ(env["BLUE_DSN"], sb.Dsn("blue"));
  EXPECT_EQ(env["GREEN_DSN"], sb.Dsn("green"));
  EXPECT_EQ(env["CONTROL_DSN"], sb.Dsn("control"));
  EXPECT_EQ(env["BOUNCER_DSN"], sb.BouncerDsn("postgres"));
  EXPECT_EQ(env["BOUNCER_ADMIN_DSN"], sb.BouncerAdminDsn());
  EXPECT_EQ(env["BOUNCER_INI"], sb.BouncerIniPath());
  EXPECT_EQ(env["BLUE_PORT"], absl::StrCat(sb.Port("blue")));
  EXPECT_EQ(env["GREEN_PORT"], absl::StrCat(sb.Port("green")));
  EXPECT_EQ(env["CONTROL_PORT"], absl::StrCat(sb.Port("control")));
  EXPECT_EQ(env["BOUNCER_PORT"], absl::StrCat(sb.BouncerPort()));
  EXPECT_EQ(env["PGPASSWORD_SANDBOX"], sb.password());
  EXPECT_EQ(env.size(), 12u);
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  // A shell sources it and psql connects with the DSNs as they are.
  CommandSpec spec;
  spec.argv = {
      "bash",
      "-c",
      std::string("set -eu; . \"$1\"; \"$2\" \"$BLUE_DSN\" -qAtc 'SELECT inet_server_port()'; ") +
          "\"$2\" \"$BOUNCER_DSN dbname=postgres\" -qAtc 'SELECT inet_server_port()'; echo \"$BOUNCER_PORT\"",
      "_",
      path,
      PgProgram("psql")};
  spec.timeout = absl::Seconds(60);
  auto out = RunCommandOk(spec);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out, absl::StrCat(sb.Port("blue"), "\n", sb.Port("blue"), "\n", sb.BouncerPort(), "\n"));
  fs::remove(path);
}

TEST_F(SandboxPgTest, HelpersReportThroughGtest) {
  Sandbox& sb = ct::SharedSandbox();
  EXPECT_TRUE(ct::Exec(sb.Dsn("blue"), "SELECT 1; SELECT 2").ok());
  EXPECT_FALSE(ct::Exec(sb.Dsn("blue"), "SELECT * FROM no_such_table").ok());
  EXPECT_TRUE(absl::IsNotFound(ct::Scalar(sb.Dsn("blue"), "SELECT 1 WHERE false").status()));
  EXPECT_EQ(*ct::Scalar(sb.Dsn("blue"), "SELECT NULL"), "");
  int calls = 0;
  EXPECT_TRUE(ct::WaitFor([&] { return ++calls == 3; }, absl::Seconds(5), absl::Milliseconds(1)));
  EXPECT_EQ(calls, 3);
  absl::Time t0 = absl::Now();
  EXPECT_FALSE(ct::WaitFor([] { return false; }, absl::Milliseconds(50), absl::Milliseconds(5)));
  EXPECT_GE(absl::Now() - t0, absl::Milliseconds(50));
  std::string a = ct::UniqueName("x"), b = ct::UniqueName("x");
  EXPECT_NE(a, b);
  EXPECT_LE(ct::UniqueName(std::string(200, 'a')).size(), 63u);
  EXPECT_THAT(ct::UniqueName("9lives"), ::testing::StartsWith("t_9lives_"));
}

// ---- sandboxes of their own ----

TEST_F(SandboxPgTest, RestartStopAndStartKeepDataAndPort) {
  SandboxOptions opts;
  opts.clusters = {"blue"};
  auto sb_or = Sandbox::Start(opts);
  ASSERT_TRUE(sb_or.ok()) << sb_or.status();
  Sandbox& sb = **sb_or;
  const std::string root = sb.root();
  const int port = sb.Port("blue");
  const int bouncer_port = sb.BouncerPort();
  // synchronous_commit=on for this session: the row must survive an
  // immediate stop even in fast mode.
  ASSERT_NO_FATAL_FAILURE(ct::ExecOrDie(sb.Dsn("blue"),
                                        "SET synchronous_commit = on; CREATE TABLE kept (x int); "
                                        "INSERT INTO kept VALUES (7)"));

  pid_t pid1 = sb.ClusterPid("blue");
  ASSERT_OK(sb.RestartCluster("blue"));
  pid_t pid2 = sb.ClusterPid("blue");
  EXPECT_NE(pid1, pid2);
  ExpectGone(pid1, "blue before restart");
  EXPECT_EQ(sb.Port("blue"), port);
  EXPECT_EQ(ct::QueryScalar(sb.Dsn("blue"), "SELECT x FROM kept"), "7");
  // PgBouncer drops its dead server connections and reconnects.
  EXPECT_TRUE(EventuallyAnswers(sb.BouncerDsn("postgres"), "SELECT x FROM kept", "7"));

  ASSERT_OK(sb.StopCluster("blue", /*immediate=*/true));
  EXPECT_EQ(sb.ClusterPid("blue"), 0);
  ExpectGone(pid2, "blue after immediate stop");
  auto down = pg::RawConn::Connect(sb.Dsn("blue"), "stopped blue");
  ASSERT_FALSE(down.ok());
  EXPECT_TRUE(absl::IsUnavailable(down.status())) << down.status();
  EXPECT_OK(sb.StopCluster("blue"));  // already stopped: no-op

  ASSERT_OK(sb.StartCluster("blue"));
  pid_t pid3 = sb.ClusterPid("blue");
  EXPECT_TRUE(ct::ProcessRunning(pid3));
  EXPECT_OK(sb.StartCluster("blue"));  // already running: no-op
  EXPECT_EQ(sb.ClusterPid("blue"), pid3);
  EXPECT_EQ(ct::QueryScalar(sb.Dsn("blue"), "SELECT x FROM kept"), "7");  // crash recovery kept it
  EXPECT_TRUE(EventuallyAnswers(sb.BouncerDsn("postgres"), "SELECT x FROM kept", "7"));

  ASSERT_OK(sb.RestartCluster("blue", /*immediate=*/true));
  EXPECT_EQ(ct::QueryScalar(sb.Dsn("blue"), "SELECT x FROM kept"), "7");

  pid_t bouncer1 = sb.BouncerPid();
  ASSERT_OK(sb.RestartBouncer());
  EXPECT_NE(sb.BouncerPid(), bouncer1);
  ExpectGone(bouncer1, "pgbouncer before restart");
  EXPECT_EQ(sb.BouncerPort(), bouncer_port);
  EXPECT_EQ(ct::QueryScalar(sb.BouncerDsn("postgres"), "SELECT x FROM kept"), "7");
  EXPECT_TRUE(absl::IsNotFound(sb.RestartCluster("purple")));

  pid_t last_pg = sb.ClusterPid("blue"), last_bouncer = sb.BouncerPid();
  ASSERT_OK(sb.Stop());
  ExpectGone(last_pg, "blue");
  ExpectGone(last_bouncer, "pgbouncer");
  EXPECT_FALSE(fs::exists(root));
  EXPECT_OK(sb.Stop());  // idempotent
  EXPECT_TRUE(absl::IsFailedPrecondition(sb.StartCluster("blue")));
}

TEST_F(SandboxPgTest, SecondSandboxGetsItsOwnPortsAndDirectory) {
  Sandbox& shared = ct::SharedSandbox();
  SandboxOptions opts;
  opts.clusters = {"blue", "green"};
  opts.pgbouncer = false;
  auto other = Sandbox::Start(opts);
  ASSERT_TRUE(other.ok()) << other.status();
  std::set<int> ports = {shared.Port("blue"), shared.Port("green"), shared.Port("control"),
                         shared.BouncerPort()};
  for (const char* c : {"blue", "green"}) {
    EXPECT_EQ(ports.count((*other)->Port(c)), 0u) << c;
    ports.insert((*other)->Port(c));
    EXPECT_EQ(ct::QueryScalar((*other)->Dsn(c), "SELECT inet_server_port()"),
              absl::StrCat((*other)->Port(c)));
  }
  EXPECT_NE((*other)->root(), shared.root());
  EXPECT_NE((*other)->password(), shared.password());
  EXPECT_EQ((*other)->BouncerPort(), 0);
  EXPECT_EQ((*other)->BouncerDsn("postgres"), "");
  EXPECT_TRUE(absl::IsFailedPrecondition((*other)->RestartBouncer()));
  // The shared sandbox's password does not open the other one.
  EXPECT_FALSE(pg::RawConn::Connect(WithPassword((*other)->Dsn("blue"), shared.password()), "x").ok());
}

TEST_F(SandboxPgTest, DestructorStopsEverything) {
  SandboxOptions opts;
  opts.clusters = {"blue"};
  auto sb = Sandbox::Start(opts);
  ASSERT_TRUE(sb.ok()) << sb.status();
  std::string root = (*sb)->root();
  pid_t pg_pid = (*sb)->ClusterPid("blue"), bouncer_pid = (*sb)->BouncerPid();
  EXPECT_THAT(root, ::testing::StartsWith("/tmp/cutover-sandbox-"));
  sb->reset();
  // The destructor blocked until the servers exited (and reaped them).
  EXPECT_FALSE(ct::ProcessRunning(pg_pid));
  EXPECT_FALSE(ct::ProcessRunning(bouncer_pid));
  EXPECT_FALSE(fs::exists(root));
}

TEST_F(SandboxPgTest, KeepDirLeavesDataForDebugging) {
  SandboxOptions opts;
  opts.clusters = {"green"};
  opts.pgbouncer = false;
  opts.keep_dir = true;
  opts.root_dir = FreshDir("keep");
  auto sb = Sandbox::Start(opts);
  ASSERT_TRUE(sb.ok()) << sb.status();
  pid_t pid = (*sb)->ClusterPid("green");
  ASSERT_OK((*sb)->Stop());
  EXPECT_FALSE(ct::ProcessRunning(pid));
  EXPECT_TRUE(fs::exists(opts.root_dir + "/green/postgres.log"));
  // Attach sees everything stopped.
  auto attached = Sandbox::Attach(opts.root_dir);
  ASSERT_TRUE(attached.ok()) << attached.status();
  EXPECT_TRUE((*attached)->persistent()) << "a kept directory must survive crash cleanup";
  ASSERT_EQ((*attached)->Servers().size(), 1u);
  EXPECT_FALSE((*attached)->Servers()[0].alive);
  ASSERT_OK((*attached)->Stop());  // removes the directory
  EXPECT_FALSE(fs::exists(opts.root_dir));
}

TEST_F(SandboxPgTest, StartFailureNamesTheClusterAndShowsItsLog) {
  SandboxOptions opts;
  opts.clusters = {"blue", "green"};
  opts.pgbouncer = false;
  opts.root_dir = FreshDir("broken");
  opts.extra_settings = {{"shared_buffers", "lots"}};
  auto sb = Sandbox::Start(opts);
  ASSERT_FALSE(sb.ok());
  EXPECT_THAT(sb.status().message(), HasSubstr("cluster "));
  EXPECT_THAT(sb.status().message(), HasSubstr("failed to start"));
  EXPECT_THAT(sb.status().message(), HasSubstr("postgres.log"));
  EXPECT_THAT(sb.status().message(), HasSubstr("shared_buffers"));  // from the server log
  EXPECT_FALSE(fs::exists(opts.root_dir)) << "a failed start must clean up";
}

TEST_F(SandboxPgTest, InvalidOptionsAreRefused) {
  SandboxOptions opts;
  opts.clusters = {"Blue"};
  EXPECT_TRUE(absl::IsInvalidArgument(Sandbox::Start(opts).status()));
  opts.clusters = {"blue", "blue"};
  EXPECT_TRUE(absl::IsInvalidArgument(Sandbox::Start(opts).status()));
  opts.clusters = {"green"};
  opts.pgbouncer = true;
  auto no_blue = Sandbox::Start(opts);
  EXPECT_TRUE(absl::IsInvalidArgument(no_blue.status()));
  EXPECT_THAT(no_blue.status().message(), HasSubstr("blue"));
  opts.clusters = {};
  EXPECT_TRUE(absl::IsInvalidArgument(Sandbox::Start(opts).status()));
  opts.clusters = {"blue"};
  opts.extra_settings = {{"bad name; DROP", "1"}};
  EXPECT_TRUE(absl::IsInvalidArgument(Sandbox::Start(opts).status()));

  // A non-empty directory that holds no sandbox is never taken over.
  std::string dir = FreshDir("occupied");
  fs::create_directories(dir);
  std::ofstream(dir + "/precious.txt") << "data";
  SandboxOptions in_dir;
  in_dir.root_dir = dir;
  auto refused = Sandbox::Start(in_dir);
  EXPECT_TRUE(absl::IsFailedPrecondition(refused.status())) << refused.status();
  EXPECT_TRUE(fs::exists(dir + "/precious.txt"));
  fs::remove_all(dir);

  EXPECT_TRUE(absl::IsNotFound(Sandbox::Attach(FreshDir("nothing")).status()));
}

TEST_F(SandboxPgTest, AbandonedSandboxIsCleanedUpByTheNextStart) {
  // A child starts a (non-persistent) sandbox and dies without stopping it,
  // as a crashed test would. Its servers keep running, re-parented to us.
  // Until we have looked at them we hold the cleanup lock on its directory,
  // so a sandbox starting concurrently in another test process waits instead
  // of cleaning it up under our feet.
  const std::string root = FreshDir("abandoned");
  ASSERT_TRUE(fs::create_directories(root));
  int lock_fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(lock_fd, 0);
  ASSERT_EQ(::flock(lock_fd, LOCK_EX), 0);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(fds[0]);
    SandboxOptions opts;
    opts.root_dir = root;
    opts.clusters = {"blue", "green"};
    auto sb = Sandbox::Start(opts);
    std::string msg = sb.ok() ? absl::StrCat((*sb)->ClusterPid("blue"), "\n", (*sb)->ClusterPid("green"),
                                             "\n", (*sb)->BouncerPid(), "\n")
                              : absl::StrCat("ERROR ", sb.status().ToString());
    ssize_t ignored = ::write(fds[1], msg.data(), msg.size());
    (void)ignored;
    ::_exit(sb.ok() ? 0 : 1);  // no destructors, no atexit: the sandbox is abandoned
  }
  ::close(fds[1]);
  std::string msg;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof(buf))) > 0) {
    msg.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << msg;
  std::vector<std::string> lines = absl::StrSplit(msg, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u) << msg;
  std::vector<pid_t> pids;
  for (const auto& line : lines) {
    int pid = 0;
    ASSERT_TRUE(absl::SimpleAtoi(line, &pid)) << line;
    pids.push_back(pid);
  }
  for (pid_t pid : pids) {
    EXPECT_TRUE(ct::ProcessRunning(pid)) << "pid " << pid << " should outlive its owner";
  }
  ASSERT_TRUE(fs::exists(root + "/sandbox.state"));
  ::close(lock_fd);  // from here on any cleaner may take it

  SandboxOptions opts;
  opts.clusters = {"blue"};
  opts.pgbouncer = false;
  auto next = Sandbox::Start(opts);
  ASSERT_TRUE(next.ok()) << next.status();
  for (pid_t pid : pids) {
    EXPECT_FALSE(ct::ProcessRunning(pid)) << "pid " << pid << " of the abandoned sandbox still runs";
    ct::ReapIfExited(pid);
  }
  EXPECT_FALSE(fs::exists(root));
  // Live sandboxes (the shared one, this one) are left alone.
  EXPECT_TRUE(ct::ProcessRunning((*next)->ClusterPid("blue")));
  EXPECT_TRUE(ct::ProcessRunning(ct::SharedSandbox().ClusterPid("blue")));
}

TEST_F(SandboxPgTest, PersistentStartOnAnOldSandboxReplacesIt) {
  SandboxOptions opts;
  opts.root_dir = FreshDir("persistent");
  opts.clusters = {"blue"};
  opts.persistent = true;
  auto first = Sandbox::Start(opts);
  ASSERT_TRUE(first.ok()) << first.status();
  pid_t old_pg = (*first)->ClusterPid("blue"), old_bouncer = (*first)->BouncerPid();
  std::string old_password = (*first)->password();
  first->reset();  // persistent: the servers keep running
  EXPECT_TRUE(ct::ProcessRunning(old_pg));
  EXPECT_TRUE(ct::ProcessRunning(old_bouncer));

  auto second = Sandbox::Start(opts);  // as after a crashed quickstart
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(ct::ProcessRunning(old_pg));
  EXPECT_FALSE(ct::ProcessRunning(old_bouncer));
  EXPECT_NE((*second)->password(), old_password);
  EXPECT_EQ(ct::QueryScalar((*second)->BouncerDsn("postgres"), "SELECT 1"), "1");
  pid_t pg = (*second)->ClusterPid("blue"), bouncer = (*second)->BouncerPid();
  ASSERT_OK((*second)->Stop());
  ExpectGone(pg, "blue");
  ExpectGone(bouncer, "pgbouncer");
  EXPECT_FALSE(fs::exists(opts.root_dir));
}

// ---- the CLI ----

int CountLines(const std::string& text, absl::string_view needle) {
  int n = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    n += absl::StrContains(line, needle) ? 1 : 0;
  }
  return n;
}

CommandResult RunCli(const std::vector<std::string>& args) {
  CommandSpec spec;
  spec.argv = {CUTOVER_SANDBOX_CLI};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.timeout = absl::Minutes(3);
  auto res = RunCommand(spec);
  EXPECT_TRUE(res.ok()) << res.status();
  if (!res.ok()) {
    return CommandResult{};
  }
  EXPECT_FALSE(res->timed_out);
  return *std::move(res);
}

TEST_F(SandboxPgTest, CliStartStatusEnvStopRoundTrip) {
  const std::string dir = FreshDir("cli");
  const std::string env_file = dir + ".env";

  CommandResult start = RunCli({"start", "--dir", dir, "--env-file", env_file});
  ASSERT_EQ(start.exit_code, 0) << start.err;
  EXPECT_THAT(start.out, HasSubstr("BLUE_DSN='host=127.0.0.1"));
  EXPECT_THAT(start.err, HasSubstr("started in " + dir));
  std::ifstream in(env_file);
  std::stringstream env_text;
  env_text << in.rdbuf();
  EXPECT_EQ(env_text.str(), start.out);

  // The servers outlive the CLI; the state file knows them.
  auto sb = Sandbox::Attach(dir);
  ASSERT_TRUE(sb.ok()) << sb.status();
  EXPECT_TRUE((*sb)->persistent());
  auto env = ParseEnv(env_text.str());
  EXPECT_EQ(env["BLUE_DSN"], (*sb)->Dsn("blue"));
  EXPECT_EQ(ct::QueryScalar(env["BOUNCER_DSN"], "SELECT inet_server_port()"), env["BLUE_PORT"]);
  EXPECT_EQ(ct::QueryScalar(env["GREEN_DSN"], "SELECT inet_server_port()"), env["GREEN_PORT"]);
  std::vector<pid_t> pids;
  for (const auto& s : (*sb)->Servers()) {
    EXPECT_TRUE(s.alive) << s.name;
    pids.push_back(s.pid);
  }
  ASSERT_EQ(pids.size(), 4u);

  CommandResult status = RunCli({"status", "--dir", dir});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  for (const char* name : {"blue", "green", "control", "pgbouncer"}) {
    EXPECT_THAT(status.out, HasSubstr(name));
  }
  EXPECT_EQ(CountLines(status.out, " alive"), 4) << status.out;

  CommandResult env_cmd = RunCli({"env", "--dir", dir});
  EXPECT_EQ(env_cmd.exit_code, 0) << env_cmd.err;
  EXPECT_EQ(env_cmd.out, env_text.str());

  // A server that died is reported, with exit code 1.
  ASSERT_OK((*sb)->StopCluster("green"));
  CommandResult degraded = RunCli({"status", "--dir", dir});
  EXPECT_EQ(degraded.exit_code, 1);
  EXPECT_EQ(CountLines(degraded.out, " alive"), 3) << degraded.out;
  EXPECT_EQ(CountLines(degraded.out, "not-running"), 1) << degraded.out;

  CommandResult stop = RunCli({"stop", "--dir", dir});
  EXPECT_EQ(stop.exit_code, 0) << stop.err;
  EXPECT_FALSE(fs::exists(dir));
  for (pid_t pid : pids) {
    ExpectGone(pid, "server started by the CLI");
  }

  CommandResult again = RunCli({"stop", "--dir", dir});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.err, HasSubstr("nothing to stop"));
  CommandResult gone = RunCli({"status", "--dir", dir});
  EXPECT_EQ(gone.exit_code, 1);
  EXPECT_THAT(gone.err, HasSubstr("no sandbox"));
  fs::remove(env_file);
}

TEST_F(SandboxPgTest, CliUsageErrorsExitWithTwo) {
  EXPECT_EQ(RunCli({}).exit_code, 2);
  EXPECT_EQ(RunCli({"start"}).exit_code, 2);
  EXPECT_EQ(RunCli({"frobnicate", "--dir", "/tmp/x"}).exit_code, 2);
  EXPECT_EQ(RunCli({"stop", "--dir", "/tmp/x", "--bogus"}).exit_code, 2);
  CommandResult help = RunCli({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("start"));
  // Not a sandbox: failure, not usage.
  std::string dir = FreshDir("notasandbox");
  fs::create_directories(dir);
  CommandResult stop = RunCli({"stop", "--dir", dir});
  EXPECT_EQ(stop.exit_code, 1);
  EXPECT_THAT(stop.err, HasSubstr("sandbox.state"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace cutover::sandbox
