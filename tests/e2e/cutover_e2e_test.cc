// End to end on the sandbox: real cutoverd processes (driven with the real
// cutoverctl), PgBouncer in front of blue, a client workload through
// PgBouncer that issues and revokes tokens the whole time. Checks the
// product's promises: 0 failed client transactions, every committed
// revocation in effect on green, blue fenced and free of capture after the
// flip, kill -9 of cutoverd mid-copy resumed by a second daemon, and an abort
// before the flip leaving blue exactly as it was.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <mutex>
#include <random>
#include <set>
#include <thread>

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

namespace cutover {
namespace {

namespace ct = cutover::testing;
using ::testing::HasSubstr;

std::string Bin(const std::string& name) {
  const char* dir = std::getenv("CUTOVER_BINARY_DIR");
  return absl::StrCat(dir ? dir : ".", "/orchestrator/tools/", name);
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// One cutoverd process; killed with SIGKILL or stopped with SIGTERM by pid.
class Daemon {
 public:
  Daemon(const std::string& control_dsn, const std::string& identity, const std::string& dir) {
    port_file_ = absl::StrCat(dir, "/", identity, ".port");
    std::remove(port_file_.c_str());
    log_ = absl::StrCat(dir, "/", identity, ".log");
    pid_ = fork();
    if (pid_ == 0) {
      FILE* f = std::freopen(log_.c_str(), "a", stderr);
      (void)f;
      dup2(2, 1);
      execl(Bin("cutoverd").c_str(), "cutoverd", "--control-dsn", control_dsn.c_str(), "--listen", "127.0.0.1:0",
            "--port-file", port_file_.c_str(), "--insecure-local", "--identity", identity.c_str(), "--lease-ttl", "2",
            static_cast<char*>(nullptr));
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
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
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
std::string JsonField(const std::string& json, const std::string& key) {
  const std::string k = absl::StrCat("\"", key, "\": \"");
  auto a = json.find(k);
  if (a == std::string::npos) return "";
  a += k.size();
  return json.substr(a, json.find('"', a) - a);
}

CtlResult Ctl(const std::string& server, std::vector<std::string> args) {
  CommandSpec spec;
  spec.argv = {Bin("cutoverctl"), "--server", server};
  spec.argv.insert(spec.argv.end(), args.begin(), args.end());
  spec.timeout = absl::Minutes(3);
  absl::StatusOr<CommandResult> r = RunCommand(spec);
  if (!r.ok()) return {-1, "", std::string(r.status().message())};
  return {r->exit_code, r->out, r->err};
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

class CutoverE2eTest : public ::testing::Test {
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

  std::string WritePlan(bool auto_flip, int64_t max_bytes_per_second) {
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
  "flip": {"autoFlip": )" << (auto_flip ? "true" : "false") << R"(, "flipTimeout": "20s", "maxBacklog": "50"}
})";
    return path;
  }

  std::string Phase(const std::string& server, const std::string& id) {
    return JsonField(Ctl(server, {"--output", "json", "status", id}).out, "phase");
  }

  // Every revocation the workload committed is in effect on green.
  void ExpectEveryRevocationOnGreen(const std::set<std::string>& revoked) {
    int lost = 0;
    std::string first;
    for (const std::string& sig : revoked) {
      absl::StatusOr<std::string> active = ct::Scalar(
          db_.green, absl::StrCat("SELECT coalesce((SELECT active::text FROM public.tokens WHERE signature = '", sig,
                                  "'), 'gone')"));
      ASSERT_TRUE(active.ok()) << active.status();
      if (*active == "true") {
        ++lost;
        if (first.empty()) first = sig;
      }
    }
    EXPECT_EQ(lost, 0) << "lost revocations on green, first: " << first << " of " << revoked.size();
  }

  sandbox::Sandbox* sb_ = nullptr;
  ct::TestDb db_;
  std::string dir_, ini_path_, original_ini_, blue_target_, green_target_;
};

TEST_F(CutoverE2eTest, FullCutoverUnderLoadSurvivesKillNineMidCopy) {
  // ~1 MB at 300 kB/s: the copy lasts a few seconds, long enough to kill in.
  const std::string plan = WritePlan(/*auto_flip=*/true, 300'000);
  auto a = std::make_unique<Daemon>(db_.control, "daemon-a", dir_);
  const std::string server_a = a->Address();
  ASSERT_FALSE(server_a.empty()) << a->log();
  Workload load(db_.bouncer);

  CtlResult created = Ctl(server_a, {"--output", "json", "plan", plan});
  ASSERT_EQ(created.code, 0) << created.out << created.err;
  const std::string id = JsonField(created.out, "id");
  ASSERT_FALSE(id.empty());
  CtlResult started = Ctl(server_a, {"start", id});
  ASSERT_EQ(started.code, 0) << started.out << started.err;
  CtlResult copying = Ctl(server_a, {"wait", id, "--phase", "copying", "--timeout", "60s"});
  ASSERT_EQ(copying.code, 0) << copying.out << copying.err;
  a->KillNine();

  // A second daemon takes the cutover over once the lease expires.
  Daemon b(db_.control, "daemon-b", dir_);
  const std::string server_b = b.Address();
  ASSERT_FALSE(server_b.empty()) << b.log();
  CtlResult done = Ctl(server_b, {"wait", id, "--phase", "completed", "--timeout", "150s"});
  EXPECT_EQ(done.code, 0) << done.out << done.err << "\nphase: " << Phase(server_b, id) << "\n" << b.log();
  absl::SleepFor(absl::Milliseconds(300));  // some traffic on green too
  load.Stop();

  EXPECT_EQ(load.failed(), 0) << "client transactions failed, e.g. "
                              << (load.errors().empty() ? "" : load.errors()[0]);
  EXPECT_GT(load.ok(), 50);
  ExpectEveryRevocationOnGreen(load.revoked());
  // Traffic is on green, blue is fenced and carries no capture.
  EXPECT_THAT(ReadAll(ini_path_), HasSubstr(absl::StrCat(db_.name, " = ", green_target_)));
  EXPECT_EQ(ct::QueryScalar(db_.blue, "SELECT count(*) FROM pg_namespace WHERE nspname = 'cutover_capture'"), "0");
  EXPECT_EQ(ct::QueryScalar(db_.blue, "SHOW default_transaction_read_only"), "on");
  // The timeline shows the takeover and the report is complete.
  CtlResult events = Ctl(server_b, {"events", id});
  EXPECT_THAT(events.out, HasSubstr("daemon-b"));
  CtlResult report = Ctl(server_b, {"--output", "json", "report", id});
  EXPECT_EQ(report.code, 0);
  EXPECT_THAT(report.out, HasSubstr("\"succeeded\": true"));
  // Let the next test use blue again.
  ct::ExecOrDie(db_.blue, absl::StrCat("BEGIN READ WRITE; ALTER DATABASE ", db_.name,
                                       " RESET default_transaction_read_only; COMMIT"));
  std::printf("workload: %lld transactions ok, %lld failed, %zu tokens revoked, all in effect on green\n",
              static_cast<long long>(load.ok()), static_cast<long long>(load.failed()), load.revoked().size());
}

TEST_F(CutoverE2eTest, AbortBeforeTheFlipLeavesBlueExactlyAsItWas) {
  const std::string before = ct::SchemaDump(db_.blue);
  const std::string plan = WritePlan(/*auto_flip=*/false, 0);
  Daemon d(db_.control, "daemon-abort", dir_);
  const std::string server = d.Address();
  ASSERT_FALSE(server.empty()) << d.log();
  CtlResult created = Ctl(server, {"--output", "json", "plan", plan});
  ASSERT_EQ(created.code, 0) << created.err;
  const std::string id = JsonField(created.out, "id");
  CtlResult started = Ctl(server, {"start", id});
  ASSERT_EQ(started.code, 0) << started.out << started.err;
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
}  // namespace cutover
