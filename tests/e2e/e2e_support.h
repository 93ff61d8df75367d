// Support for the e2e tests: real cutoverd processes (Daemon), the real
// cutoverctl (Ctl), a client workload through PgBouncer that issues and
// revokes tokens (Workload), and a fixture with fresh blue/green/control
// databases behind the sandbox's PgBouncer and a plan writer.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "cutover/common/pg.h"
#include "cutover/common/subprocess.h"
#include "cutover/router/pgbouncer_config.h"
#include "cutover/testing/sandbox_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cutover::e2e {

namespace ct = cutover::testing;
using ::testing::HasSubstr;

inline std::string Bin(const std::string& name) {
  const char* dir = std::getenv("CUTOVER_BINARY_DIR");
  return absl::StrCat(dir ? dir : ".", "/orchestrator/tools/", name);
}

inline std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// One cutoverd process; killed with SIGKILL or stopped with SIGTERM by pid.
class Daemon {
 public:
  // `failpoints`: CUTOVER_FAILPOINTS for this process (see common/failpoint.h);
  // `extra_args` replace --insecure-local when given (e.g. {"--auth-config", F}:
  // cutoverd refuses --insecure-local together with --auth-config).
  Daemon(const std::string& control_dsn, const std::string& identity, const std::string& dir,
         const std::string& failpoints = "", std::vector<std::string> extra_args = {"--insecure-local"}) {
    port_file_ = absl::StrCat(dir, "/", identity, ".port");
    std::remove(port_file_.c_str());
    log_ = absl::StrCat(dir, "/", identity, ".log");
    std::vector<std::string> args = {"cutoverd",    "--control-dsn", control_dsn, "--listen",   "127.0.0.1:0",
                                     "--port-file", port_file_,      "--identity", identity, "--lease-ttl", "2"};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    const std::string bin = Bin("cutoverd");
    pid_ = fork();
    if (pid_ == 0) {
      FILE* f = std::freopen(log_.c_str(), "a", stderr);
      (void)f;
      dup2(2, 1);
      if (failpoints.empty()) {
        unsetenv("CUTOVER_FAILPOINTS");
      } else {
        setenv("CUTOVER_FAILPOINTS", failpoints.c_str(), 1);
      }
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(bin.c_str(), argv.data());
      _exit(127);
    }
  }
  ~Daemon() {
    if (pid_ > 0 && ct::ProcessRunning(pid_)) {
      kill(pid_, SIGTERM);
      if (!ct::WaitFor([&] { return ct::ReapIfExited(pid_); }, absl::Seconds(20))) {
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
      }
    }
  }
  // The server address once it serves ("" after 20 s).
  std::string Address() {
    std::string port;
    ct::WaitFor([&] {
      port = std::string(absl::StripTrailingAsciiWhitespace(ReadAll(port_file_)));
      return !port.empty();
    }, absl::Seconds(20));
    return port.empty() ? "" : absl::StrCat("127.0.0.1:", port);
  }
  void KillNine() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    pid_ = -1;
  }
  // True once the process has exited (e.g. a failpoint killed it); reaps it.
  bool Exited() {
    if (pid_ <= 0) return true;
    if (ct::ReapIfExited(pid_)) {
      pid_ = -1;
      return true;
    }
    return false;
  }
  pid_t pid() const { return pid_; }
  std::string log() const { return ReadAll(log_); }

 private:
  pid_t pid_ = -1;
  std::string port_file_, log_;
};

struct CtlResult {
  int code = -1;
  std::string out, err;
};
// The value of the first "key": "value" pair in protobuf JSON output.
inline std::string JsonField(const std::string& json, const std::string& key) {
  const std::string k = absl::StrCat("\"", key, "\": \"");
  auto a = json.find(k);
  if (a == std::string::npos) return "";
  a += k.size();
  return json.substr(a, json.find('"', a) - a);
}

inline CtlResult Ctl(const std::string& server, std::vector<std::string> args) {
  CommandSpec spec;
  spec.argv = {Bin("cutoverctl"), "--server", server};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.timeout = absl::Minutes(3);
  absl::StatusOr<CommandResult> r = RunCommand(spec);
  if (!r.ok()) return {-1, "", std::string(r.status().message())};
  return {r->exit_code, r->out, r->err};
}

// `cutoverctl plan` + `start`; the cutover's id ("" after a recorded failure).
inline std::string PlanAndStart(const std::string& server, const std::string& plan_path) {
  CtlResult created = Ctl(server, {"--output", "json", "plan", plan_path});
  EXPECT_EQ(created.code, 0) << created.out << created.err;
  const std::string id = JsonField(created.out, "id");
  EXPECT_FALSE(id.empty()) << created.out;
  if (created.code != 0 || id.empty()) return "";
  CtlResult started = Ctl(server, {"start", id});
  EXPECT_EQ(started.code, 0) << started.out << started.err;
  return started.code == 0 ? id : "";
}

// Issues and revokes tokens through PgBouncer until stopped; remembers every
// revocation whose COMMIT was acknowledged.
class Workload {
 public:
  explicit Workload(std::string dsn) : dsn_(std::move(dsn)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~Workload() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int64_t ok() const { return ok_; }
  int64_t failed() const { return failed_; }
  std::vector<std::string> errors() {
    std::lock_guard<std::mutex> l(mu_);
    return errors_;
  }
  std::set<std::string> revoked() {
    std::lock_guard<std::mutex> l(mu_);
    return revoked_;
  }

 private:
  void Run() {
    std::mt19937 rng(42);
    absl::StatusOr<pg::RawConn> c = pg::RawConn::Connect(dsn_, "bouncer", "loadgen");
    int n = 0;
    while (!stop_) {
      if (!c.ok()) {
        Fail(std::string(c.status().message()));
        c = pg::RawConn::Connect(dsn_, "bouncer", "loadgen");
        continue;
      }
      ++n;
      const int victim = static_cast<int>(rng() % 2000);
      const std::string sig = absl::StrCat("sig-", victim);
      const bool del = n % 2 == 0;
      const std::string sql =
          absl::StrCat("BEGIN; INSERT INTO public.tokens(signature, request_id) VALUES ('new-", n, "-", rng(), "', 'r",
                       n, "'); ",
                       del ? absl::StrCat("DELETE FROM public.tokens WHERE signature = '", sig, "'")
                           : absl::StrCat("UPDATE public.tokens SET active = false WHERE signature = '", sig, "'"),
                       "; COMMIT");
      absl::Status st = c->Exec(sql);
      if (st.ok()) {
        ++ok_;
        std::lock_guard<std::mutex> l(mu_);
        revoked_.insert(sig);
      } else {
        Fail(std::string(st.message()));
        c = pg::RawConn::Connect(dsn_, "bouncer", "loadgen");
      }
      absl::SleepFor(absl::Milliseconds(2));
    }
  }
  void Fail(const std::string& why) {
    ++failed_;
    std::lock_guard<std::mutex> l(mu_);
    if (errors_.size() < 5) errors_.push_back(why);
    absl::SleepFor(absl::Milliseconds(20));
  }
  std::string dsn_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> ok_{0}, failed_{0};
  std::mutex mu_;
  std::vector<std::string> errors_;
  std::set<std::string> revoked_;
};

class E2eFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    sb_ = &ct::SharedSandbox();
    db_ = ct::FreshDatabases("e2e");
    ASSERT_FALSE(HasFailure());
    dir_ = absl::StrCat(sb_->root(), "/", db_.name);
    ASSERT_EQ(system(absl::StrCat("mkdir -p ", dir_).c_str()), 0);
    ini_path_ = sb_->BouncerIniPath();
    original_ini_ = ReadAll(ini_path_);
    blue_target_ = absl::StrCat("host=127.0.0.1 port=", sb_->Port("blue"), " dbname=", db_.name);
    green_target_ = absl::StrCat("host=127.0.0.1 port=", sb_->Port("green"), " dbname=", db_.name);
    const std::string ini = absl::StrReplaceAll(
        original_ini_, {{"[databases]\n", absl::StrCat("[databases]\n", db_.name, " = ", blue_target_, "\n")}});
    ASSERT_TRUE(router::WriteFileAtomically(ini_path_, ini).ok());
    ASSERT_NO_FATAL_FAILURE(ct::ExecOrDie(sb_->BouncerAdminDsn(), "RELOAD"));
    // A non-Hydra token table with 2000 live tokens (generic profile).
    ASSERT_NO_FATAL_FAILURE(ct::ExecOrDie(
        db_.blue,
        "CREATE TABLE public.tokens (signature text PRIMARY KEY, request_id text NOT NULL, "
        "active boolean NOT NULL DEFAULT true, payload text NOT NULL DEFAULT repeat('x', 400)); "
        "INSERT INTO public.tokens(signature, request_id) SELECT 'sig-' || g, 'req-' || g FROM generate_series(0, 1999) g"));
  }
  void TearDown() override {
    if (sb_ == nullptr) return;
    (void)ct::Exec(sb_->BouncerAdminDsn(), absl::StrCat("RESUME ", db_.name));
    if (!original_ini_.empty()) {
      EXPECT_TRUE(router::WriteFileAtomically(ini_path_, original_ini_).ok());
      EXPECT_TRUE(ct::Exec(sb_->BouncerAdminDsn(), "RELOAD").ok());
    }
  }

  // `flip_extra`: more members of "flip", e.g. R"(, "rollbackWindow": "600s")".
  std::string WritePlan(bool auto_flip, int64_t max_bytes_per_second, const std::string& flip_extra = "") {
    const std::string path = absl::StrCat(dir_, "/plan.json");
    std::ofstream out(path);
    out << R"({
  "name": "e2e",
  "blue": {"dsn": ")" << db_.blue << R"("},
  "green": {"dsn": ")" << db_.green << R"("},
  "copy": {"maxBytesPerSecond": ")" << max_bytes_per_second << R"("},
  "capture": {"profile": "generic", "rules": [{
    "name": "tokens", "table": "public.tokens", "revocationClass": "REVOCATION_CLASS_TOKEN",
    "onDelete": true, "onUpdate": [{"column": "active", "value": "false"}],
    "keyColumns": ["signature"], "extraColumns": ["request_id"],
    "apply": ["DELETE FROM public.tokens WHERE signature = :signature"]}]},
  "queue": {"postgres": {"dsn": ")" << db_.control << R"("}},
  "router": {"pgbouncer": {"adminDsn": ")" << sb_->BouncerAdminDsn() << R"(", "configPath": ")" << ini_path_
        << R"(", "database": ")" << db_.name << R"(", "blueTarget": ")" << blue_target_ << R"(", "greenTarget": ")"
        << green_target_ << R"("}},
  "flip": {"autoFlip": )" << (auto_flip ? "true" : "false") << R"(, "flipTimeout": "20s", "maxBacklog": "50")" << flip_extra << R"(}
})";
    return path;
  }

  std::string Phase(const std::string& server, const std::string& id) {
    return JsonField(Ctl(server, {"--output", "json", "status", id}).out, "phase");
  }

  // Every revocation in `revoked` is in effect on `dsn` (the token is gone
  // or inactive there); one query.
  void ExpectEveryRevocationOn(const std::string& dsn, const std::string& side, const std::set<std::string>& revoked) {
    ASSERT_FALSE(revoked.empty());
    std::string list;
    for (const std::string& sig : revoked) absl::StrAppend(&list, list.empty() ? "" : ", ", pg::QuoteLiteral(sig));
    EXPECT_EQ(ct::QueryScalar(dsn, absl::StrCat("SELECT count(*) || ' ' || coalesce(min(signature), '-') "
                                                "FROM public.tokens WHERE active AND signature IN (",
                                                list, ")")),
              "0 -")
        << "revocations lost on " << side << " (count, first) of " << revoked.size();
  }
  // Every revocation the workload committed is in effect on green.
  void ExpectEveryRevocationOnGreen(const std::set<std::string>& revoked) {
    ExpectEveryRevocationOn(db_.green, "green", revoked);
  }

  // PgBouncer's `paused` column for the test database ("" if not listed).
  std::string BouncerPaused() {
    absl::StatusOr<pg::RawConn> c = pg::RawConn::Connect(sb_->BouncerAdminDsn(), "pgbouncer admin", "e2e");
    if (!c.ok()) return absl::StrCat("<", c.status().message(), ">");
    absl::StatusOr<pg::PgResultPtr> r = c->Query("SHOW DATABASES");
    if (!r.ok()) return absl::StrCat("<", r.status().message(), ">");
    PGresult* res = r->get();
    const int name = PQfnumber(res, "name"), paused = PQfnumber(res, "paused");
    if (name < 0 || paused < 0) return "<no name/paused column>";
    for (int i = 0; i < PQntuples(res); ++i) {
      if (db_.name == PQgetvalue(res, i, name)) return PQgetvalue(res, i, paused);
    }
    return "";
  }

  // After COMPLETED: stops the workload; 0 failed transactions, every
  // revocation on green, PgBouncer on green and not paused, blue fenced and
  // without capture, the report's flip succeeded.
  void ExpectFlippedToGreen(const std::string& server, const std::string& id, Workload& load) {
    absl::SleepFor(absl::Milliseconds(300));  // not for synchronisation: some traffic on green too
    load.Stop();
    EXPECT_EQ(load.failed(), 0) << "client transactions failed, e.g. "
                                << (load.errors().empty() ? "" : load.errors()[0]);
    EXPECT_GT(load.ok(), 50);
    ExpectEveryRevocationOnGreen(load.revoked());
    EXPECT_THAT(ReadAll(ini_path_), HasSubstr(absl::StrCat(db_.name, " = ", green_target_)));
    EXPECT_EQ(BouncerPaused(), "0");
    EXPECT_EQ(ct::QueryScalar(db_.bouncer, "SELECT inet_server_port()"), absl::StrCat(sb_->Port("green")));
    EXPECT_EQ(
        ct::QueryScalar(db_.blue, "SELECT count(*) FROM pg_namespace WHERE nspname = 'cutover_capture'"),
        "0");
    EXPECT_EQ(ct::QueryScalar(db_.blue, "SHOW default_transaction_read_only"), "on");
    CtlResult report = Ctl(server, {"--output", "json", "report", id});
    EXPECT_EQ(report.code, 0) << report.err;
    EXPECT_THAT(report.out, HasSubstr("\"succeeded\": true"));
    // The workload inserted tokens on blue after the snapshot: accepted losses.
    EXPECT_THAT(report.out, HasSubstr("\"accepted_losses\""));
    EXPECT_THAT(report.out, HasSubstr("\"table\": \"public.tokens\""));
  }

  // COMPLETED leaves blue fenced (ROLLED_BACK green); let later tests use
  // the database again.
  void LowerFence(const std::string& dsn) {
    ct::ExecOrDie(dsn, absl::StrCat("BEGIN READ WRITE; ALTER DATABASE ", db_.name,
                                    " RESET default_transaction_read_only; COMMIT"));
  }
  void LowerBlueFence() { LowerFence(db_.blue); }

  cutover::sandbox::Sandbox* sb_ = nullptr;
  ct::TestDb db_;
  std::string dir_, ini_path_, original_ini_, blue_target_, green_target_;
};

}  // namespace cutover::e2e
