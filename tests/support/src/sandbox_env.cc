#include "cutover/testing/sandbox_env.h"

#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <stdexcept>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "cutover/common/pg.h"
#include "cutover/common/subprocess.h"
#include "gtest/gtest.h"

namespace cutover::testing {
namespace {

using sandbox::Sandbox;

absl::Mutex g_mu(absl::kConstInit);
// Deliberately leaked: stopped explicitly (Environment / atexit), never by a
// static destructor whose order we do not control.
Sandbox* g_shared ABSL_GUARDED_BY(g_mu) = nullptr;
absl::Status* g_start_error ABSL_GUARDED_BY(g_mu) = nullptr;
pid_t g_creator ABSL_GUARDED_BY(g_mu) = 0;

void StopShared() {
  absl::MutexLock l(&g_mu);
  // A fork()ed child (death test, crash test) must not stop its parent's servers.
  if (g_shared == nullptr || ::getpid() != g_creator) {
    return;
  }
  absl::Status st = g_shared->Stop();
  if (!st.ok()) {
    std::cerr << "cutover test sandbox: stop failed: " << st.message() << std::endl;
  }
}

class SharedSandboxEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { StopShared(); }
};

// Registered before main(): gtest tears environments down after the last
// test, also when tests failed.
const bool kEnvironmentRegistered = [] {
  ::testing::AddGlobalTestEnvironment(new SharedSandboxEnvironment);
  return true;
}();

}  // namespace

absl::StatusOr<Sandbox*> TrySharedSandbox() {
  absl::MutexLock l(&g_mu);
  if (g_shared != nullptr) {
    return g_shared;
  }
  if (g_start_error != nullptr) {
    return *g_start_error;
  }
  sandbox::SandboxOptions opts;
  const char* keep = std::getenv("CUTOVER_SANDBOX_KEEP");
  opts.keep_dir = keep != nullptr && std::string(keep) == "1";
  auto sb = Sandbox::Start(opts);
  if (!sb.ok()) {
    g_start_error = new absl::Status(absl::Status(
        sb.status().code(), absl::StrCat("cannot start the shared test sandbox: ", sb.status().message())));
    return *g_start_error;
  }
  g_shared = sb->release();
  g_creator = ::getpid();
  std::cerr << "cutover test sandbox: " << g_shared->root() << (opts.keep_dir ? " (kept after the run)" : "")
            << std::endl;
  std::atexit(StopShared);
  return g_shared;
}

Sandbox& SharedSandbox() {
  auto sb = TrySharedSandbox();
  if (!sb.ok()) {
    // gtest reports an exception escaping a test body (or SetUp, or
    // SetUpTestSuite) as a failure of that test, with this message.
    throw std::runtime_error(sb.status().ToString());
  }
  return **sb;
}

std::string UniqueName(absl::string_view prefix) {
  static std::atomic<int> counter{0};
  std::string p = absl::AsciiStrToLower(prefix);
  for (char& c : p) {
    if (!absl::ascii_isalnum(c) && c != '_') {
      c = '_';
    }
  }
  if (p.empty() || !absl::ascii_isalpha(p[0])) {
    p = "t_" + p;
  }
  std::string suffix = absl::StrCat("_", ::getpid(), "_", ++counter);
  if (p.size() + suffix.size() > 63) {
    p.resize(63 - suffix.size());
  }
  return p + suffix;
}

absl::StatusOr<TestDb> TryFreshDatabases(absl::string_view prefix) {
  auto sb_or = TrySharedSandbox();
  if (!sb_or.ok()) {
    return sb_or.status();
  }
  Sandbox& sb = **sb_or;
  TestDb db;
  db.name = UniqueName(prefix);
  for (const char* cluster : {"blue", "green", "control"}) {
    if (auto st = sb.CreateDatabase(cluster, db.name); !st.ok()) {
      return st;
    }
  }
  db.blue = sb.Dsn("blue", db.name);
  db.green = sb.Dsn("green", db.name);
  db.control = sb.Dsn("control", db.name);
  db.bouncer = sb.BouncerDsn(db.name);
  return db;
}

TestDb FreshDatabases(absl::string_view prefix) {
  auto db = TryFreshDatabases(prefix);
  if (!db.ok()) {
    ADD_FAILURE() << "FreshDatabases(" << prefix << "): " << db.status();
    return TestDb{};
  }
  return *std::move(db);
}

absl::Status Exec(const std::string& dsn, const std::string& sql) {
  auto conn = pg::RawConn::Connect(dsn, "test connection", "cutover-test");
  if (!conn.ok()) {
    return conn.status();
  }
  return conn->Exec(sql);
}

absl::StatusOr<std::string> Scalar(const std::string& dsn, const std::string& sql) {
  auto conn = pg::RawConn::Connect(dsn, "test connection", "cutover-test");
  if (!conn.ok()) {
    return conn.status();
  }
  auto res = conn->Query(sql);
  if (!res.ok()) {
    return res.status();
  }
  PGresult* r = res->get();
  if (PQntuples(r) < 1 || PQnfields(r) < 1) {
    return absl::NotFoundError(absl::StrCat("query returned no rows: ", sql));
  }
  if (PQgetisnull(r, 0, 0)) {
    return std::string();
  }
  return std::string(PQgetvalue(r, 0, 0));
}

void ExecOrDie(const std::string& dsn, const std::string& sql) {
  absl::Status st = Exec(dsn, sql);
  if (!st.ok()) {
    FAIL() << "SQL failed on " << pg::DescribeDsn(dsn) << ": " << st << "\n  SQL: " << sql;
  }
}

std::string QueryScalar(const std::string& dsn, const std::string& sql) {
  auto v = Scalar(dsn, sql);
  if (!v.ok()) {
    // FAIL() needs a void function: record the fatal failure from a lambda.
    [&] {
      FAIL() << "query failed on " << pg::DescribeDsn(dsn) << ": " << v.status() << "\n  SQL: " << sql;
    }();
    return "";
  }
  return *std::move(v);
}

bool WaitFor(const std::function<bool()>& pred, absl::Duration timeout, absl::Duration poll) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (pred()) {
      return true;
    }
    if (absl::Now() >= deadline) {
      return false;
    }
    absl::SleepFor(poll);
  }
}

void AdoptOrphans() { ::prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); }

bool ReapIfExited(pid_t pid) {
  int status = 0;
  pid_t r = ::waitpid(pid, &status, WNOHANG);
  if (r == pid) {
    return true;
  }
  if (r < 0 && errno == ECHILD) {
    return true;
  }
  return false;
}

bool ProcessRunning(pid_t pid) {
  if (pid <= 0) {
    return false;
  }
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  if (!in) {
    return false;
  }
  std::string line;
  std::getline(in, line);
  auto close = line.rfind(')');
  if (close == std::string::npos || close + 2 >= line.size()) {
    return false;
  }
  char state = line[close + 2];
  return state != 'Z' && state != 'X';
}

std::string SchemaDump(const std::string& dsn, const std::vector<std::string>& exclude_schemas) {
  auto opts = pg::ParseDsn(dsn, "dsn");
  EXPECT_TRUE(opts.ok()) << opts.status();
  if (!opts.ok()) return "";
  const std::string password = (*opts)["password"];
  opts->erase("password");
  CommandSpec spec{{PgProgram("pg_dump"), "--schema-only", "--dbname=" + pg::FormatDsn(*opts)},
                   {{"PGPASSWORD", password}},
                   "",
                   absl::Minutes(2),
                   ""};
  for (const auto& s : exclude_schemas) spec.argv.push_back("--exclude-schema=" + s);
  auto out = RunCommandOk(spec);
  EXPECT_TRUE(out.ok()) << out.status();
  std::string kept;
  for (absl::string_view line : absl::StrSplit(out.ok() ? *out : "", '\n')) {
    if (line.empty() || absl::StartsWith(line, "--") || absl::StartsWith(line, "\\restrict") ||
        absl::StartsWith(line, "\\unrestrict")) {
      continue;
    }
    absl::StrAppend(&kept, line, "\n");
  }
  return kept;
}

}  // namespace cutover::testing
