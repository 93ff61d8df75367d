// The copier on real PostgreSQL (sandbox): schema fidelity, snapshot
// consistency under concurrent writes, verification catching planted
// differences, every bad input refused before anything is written, and a
// copy killed midway restarting clean.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>
#include <sys/wait.h>

#include <atomic>
#include <iostream>
#include <cstdlib>
#include <regex>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cutover/common/pg.h"
#include "cutover/common/subprocess.h"
#include "cutover/copy/copier.h"
#include "cutover/copy/report.h"
#include "cutover/copy/schema.h"
#include "cutover/testing/sandbox_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cutover::copy {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

void Exec(const std::string& dsn, const std::string& sql) {
  auto s = pg::Session::Connect(dsn, "test");
  ASSERT_TRUE(s.ok()) << s.status();
  auto r = (*s)->Exec(sql);
  ASSERT_TRUE(r.ok()) << r.status() << "\n" << sql;
}

std::string Scalar(const std::string& dsn, const std::string& sql) {
  auto s = pg::Session::Connect(dsn, "test");
  if (!s.ok()) return "<" + std::string(s.status().message()) + ">";
  auto r = (*s)->Exec(sql);
  if (!r.ok()) return "<" + std::string(r.status().message()) + ">";
  if (r->empty() || (*r)[0][0].is_null()) return "";
  return (*r)[0][0].as<std::string>();
}

// A loopback port nothing listens on (bound, read, released).
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

class CopyPgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto& sb = testing::SharedSandbox();
    db_ = testing::UniqueName("copy");
    ASSERT_TRUE(sb.CreateDatabase("blue", db_).ok());
    ASSERT_TRUE(sb.CreateDatabase("green", db_).ok());
    blue_ = sb.Dsn("blue", db_);
    green_ = sb.Dsn("green", db_);
  }
  void TearDown() override {
    auto& sb = testing::SharedSandbox();
    (void)sb.DropDatabase("blue", db_);
    (void)sb.DropDatabase("green", db_);
  }
  CopyRequest Request() {
    CopyRequest r;
    r.blue_dsn = blue_;
    r.green_dsn = green_;
    r.cutover_id = db_;
    r.progress_interval = absl::Milliseconds(100);
    return r;
  }
  // Green holds nothing at all: not even the attempt marker.
  void ExpectGreenUntouched() {
    EXPECT_EQ(Scalar(green_, "SELECT count(*) FROM pg_namespace WHERE nspname = 'cutover_replay'"), "0");
    EXPECT_EQ(Scalar(green_, "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                             "WHERE n.nspname = 'public'"),
              "0");
  }
  std::string db_, blue_, green_;
};

constexpr char kRichSchema[] = R"sql(
CREATE EXTENSION btree_gist;
CREATE SCHEMA app;
CREATE TYPE app.mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN app.posint AS integer CHECK (VALUE > 0);
CREATE TABLE app.accounts (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  email text NOT NULL UNIQUE,
  mood app.mood,
  score app.posint,
  meta jsonb,
  avatar bytea,
  tags text[],
  balance numeric(12,2) DEFAULT 0 CHECK (balance >= 0),
  created timestamptz NOT NULL DEFAULT '2026-01-01',
  ratio float8,
  iv interval,
  uid uuid,
  bio text,
  serial_no bigserial,
  email_len int GENERATED ALWAYS AS (length(email)) STORED
);
CREATE INDEX accounts_meta_gin ON app.accounts USING gin (meta);
CREATE INDEX accounts_lower_email ON app.accounts (lower(email));
CREATE INDEX accounts_partial ON app.accounts (created) WHERE mood = 'happy';
COMMENT ON TABLE app.accounts IS 'people';
COMMENT ON INDEX app.accounts_partial IS 'happy ones';
ALTER TABLE app.accounts CLUSTER ON accounts_lower_email;
CREATE TABLE app.sessions (
  id serial PRIMARY KEY,
  account_id bigint NOT NULL REFERENCES app.accounts(id) ON DELETE CASCADE,
  room int,
  during tstzrange,
  token text UNIQUE DEFERRABLE INITIALLY DEFERRED,
  EXCLUDE USING gist (room WITH =, during WITH &&)
);
CREATE INDEX sessions_account ON app.sessions (account_id);
CREATE TABLE app.audit (id bigserial, at timestamptz, what text);
CREATE FUNCTION app.touch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.at := coalesce(NEW.at, '2026-01-01'::timestamptz); RETURN NEW; END $$;
CREATE TRIGGER audit_touch BEFORE INSERT ON app.audit FOR EACH ROW EXECUTE FUNCTION app.touch();
CREATE TABLE app.events (id bigint, at date NOT NULL, payload jsonb, PRIMARY KEY (id, at)) PARTITION BY RANGE (at);
CREATE TABLE app.events_2025 PARTITION OF app.events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE app.events_2026 PARTITION OF app.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE INDEX events_payload ON app.events USING gin (payload);
CREATE TABLE app.event_notes (event_id bigint, event_at date, note text,
  FOREIGN KEY (event_id, event_at) REFERENCES app.events (id, at));
CREATE VIEW app.happy AS SELECT id, email FROM app.accounts WHERE mood = 'happy';
CREATE MATERIALIZED VIEW app.mood_counts AS SELECT mood, count(*) AS n FROM app.accounts GROUP BY mood;
CREATE TABLE public.plain (k text PRIMARY KEY, v text);
CREATE UNIQUE INDEX plain_v_nnd ON public.plain (v) NULLS NOT DISTINCT;
ALTER TABLE public.plain REPLICA IDENTITY USING INDEX plain_pkey;
CREATE TABLE public.child_nv (k text);
ALTER TABLE public.child_nv ADD CONSTRAINT child_nv_k_fkey FOREIGN KEY (k) REFERENCES public.plain (k) NOT VALID;
CREATE SEQUENCE public.standalone_seq START 100 INCREMENT 7;
CREATE TABLE public.empty_table (a int PRIMARY KEY);
CREATE TABLE "Mixed Case"."odd" (x int);
)sql";

// The schema above needs "Mixed Case" to exist first.
std::string RichSchema() { return absl::StrCat("CREATE SCHEMA \"Mixed Case\";", kRichSchema); }

constexpr char kRichData[] = R"sql(
INSERT INTO app.accounts (email, mood, score, meta, avatar, tags, balance, ratio, iv, uid, bio)
SELECT 'user' || g || '@example.org',
       (ARRAY['sad','ok','happy'])[1 + g % 3]::app.mood,
       CASE WHEN g % 7 = 0 THEN NULL ELSE g END,
       CASE WHEN g % 5 = 0 THEN NULL ELSE jsonb_build_object('g', g, 'nested', jsonb_build_array(g, 'x', true, null)) END,
       CASE WHEN g % 11 = 0 THEN NULL ELSE decode(md5(g::text), 'hex') END,
       CASE WHEN g % 3 = 0 THEN NULL ELSE ARRAY['a' || g, NULL, 'quote"s, comma'] END,
       (g % 1000) / 3.0,
       CASE g % 97 WHEN 0 THEN 'NaN'::float8 WHEN 1 THEN 'Infinity'::float8 WHEN 2 THEN -0.0::float8
            ELSE g / 7.0 END,
       make_interval(days => g % 30, secs => g % 61),
       md5(g::text)::uuid,
       CASE WHEN g % 4000 = 0 THEN repeat('large text ' || g, 200000) ELSE 'bio ' || g END
FROM generate_series(1, 20000) g;
INSERT INTO app.sessions (account_id, room, during, token)
SELECT 1 + g % 20000, g % 50, tstzrange('2026-01-01'::timestamptz + g * interval '1 hour',
                                          '2026-01-01'::timestamptz + g * interval '1 hour' + interval '30 minutes'),
       CASE WHEN g % 9 = 0 THEN NULL ELSE 'tok' || g END
FROM generate_series(1, 30000) g;
INSERT INTO app.audit (what) SELECT 'did ' || g FROM generate_series(1, 5000) g;
INSERT INTO app.events SELECT g, date '2025-01-01' + (g % 700), jsonb_build_object('e', g) FROM generate_series(1, 40000) g;
INSERT INTO app.event_notes SELECT g, date '2025-01-01' + (g % 700), 'n' FROM generate_series(1, 1000) g;
REFRESH MATERIALIZED VIEW app.mood_counts;
INSERT INTO public.plain SELECT 'k' || g, CASE WHEN g = 1 THEN NULL ELSE 'v' || g END FROM generate_series(1, 500) g;
INSERT INTO public.child_nv VALUES ('k1'), ('k2');
SELECT nextval('public.standalone_seq'), nextval('public.standalone_seq');
INSERT INTO "Mixed Case"."odd" VALUES (1), (NULL);
)sql";

TEST_F(CopyPgTest, SchemaFidelityAndData) {
  ASSERT_NO_FATAL_FAILURE(Exec(blue_, RichSchema()));
  ASSERT_NO_FATAL_FAILURE(Exec(blue_, kRichData));
  CopyRequest req = Request();
  auto report = NewPgCopier()->Copy(req, nullptr, nullptr);
  ASSERT_TRUE(report.ok()) << report.status();
  std::cout << FormatCopyReport(*report);
  EXPECT_TRUE(report->verify().all_match());
  EXPECT_TRUE(report->verify().content_hashed());

  // The schema is the same object for object (pg_dump of both sides).
  EXPECT_EQ(testing::SchemaDump(blue_), testing::SchemaDump(green_, {"cutover_replay"}));

  // Data: counts and content hashes were verified; spot-check special values.
  EXPECT_EQ(Scalar(green_, "SELECT count(*) FROM app.accounts WHERE ratio = 'NaN'"),
            Scalar(blue_, "SELECT count(*) FROM app.accounts WHERE ratio = 'NaN'"));
  EXPECT_EQ(Scalar(green_, "SELECT sum(length(bio)) FROM app.accounts"),
            Scalar(blue_, "SELECT sum(length(bio)) FROM app.accounts"));
  EXPECT_EQ(Scalar(green_, "SELECT count(*) FROM app.accounts WHERE meta IS NULL AND avatar IS NULL"),
            Scalar(blue_, "SELECT count(*) FROM app.accounts WHERE meta IS NULL AND avatar IS NULL"));
  EXPECT_EQ(Scalar(green_, "SELECT count(*) FROM app.events_2026"), Scalar(blue_, "SELECT count(*) FROM app.events_2026"));
  EXPECT_EQ(Scalar(green_, "SELECT sum(n) FROM app.mood_counts"), "20000");
  EXPECT_EQ(Scalar(green_, "SELECT count(*) FROM \"Mixed Case\".odd"), "2");
  // Constraints are valid exactly where they were on blue.
  const char* kInvalid = "SELECT string_agg(conname, ',' ORDER BY conname) FROM pg_constraint WHERE NOT convalidated";
  EXPECT_EQ(Scalar(green_, kInvalid), Scalar(blue_, kInvalid));
  // Sequences carry blue's values: the next value on green follows blue's.
  EXPECT_EQ(Scalar(green_, "SELECT nextval('public.standalone_seq')"), "114");
  EXPECT_EQ(Scalar(green_, "SELECT last_value FROM app.accounts_serial_no_seq"), "20000");
  Exec(green_, "INSERT INTO app.accounts (email) VALUES ('new@example.org')");
  EXPECT_EQ(Scalar(green_, "SELECT max(id) FROM app.accounts"), "20001");
  // Constraints enforce on green: the FK cascade and the exclusion constraint work.
  Exec(green_, "DELETE FROM app.accounts WHERE id = 1");
  EXPECT_EQ(Scalar(green_, "SELECT count(*) FROM app.sessions WHERE account_id = 1"), "0");
  auto s = pg::Session::Connect(green_, "green");
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE((*s)->Exec("INSERT INTO app.sessions (account_id, room, during) "
                          "SELECT account_id, room, during FROM app.sessions WHERE id = 2").ok());
  // The triggers work and no capture artifacts came along.
  Exec(green_, "INSERT INTO app.audit (what) VALUES ('x')");
  EXPECT_EQ(Scalar(green_, "SELECT count(*) FROM app.audit WHERE at IS NULL"), "0");
  // The attempt is recorded as verified.
  EXPECT_EQ(Scalar(green_, "SELECT state FROM cutover_replay.copy_attempt"), "verified");
  // Report figures.
  EXPECT_EQ(report->tables(), 10);  // plain tables and partitions (empty ones included)
  EXPECT_GE(report->indexes(), 9);
  EXPECT_GT(report->rows(), 90000);
}

TEST_F(CopyPgTest, CaptureSchemaAndTriggersNeverReachGreen) {
  Exec(blue_,
       "CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t SELECT generate_series(1, 100);"
       "CREATE SCHEMA cutover_capture; CREATE TABLE cutover_capture.outbox (id bigserial, payload text);"
       "CREATE FUNCTION cutover_capture.capture() RETURNS trigger LANGUAGE plpgsql AS "
       "$$BEGIN INSERT INTO cutover_capture.outbox (payload) VALUES ('x'); RETURN OLD; END$$;"
       "CREATE TRIGGER cutover_capture_t AFTER DELETE ON t FOR EACH ROW EXECUTE FUNCTION cutover_capture.capture();");
  auto report = NewPgCopier()->Copy(Request(), nullptr, nullptr);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(Scalar(green_, "SELECT count(*) FROM pg_namespace WHERE nspname = 'cutover_capture'"), "0");
  EXPECT_EQ(Scalar(green_, "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal"), "0");
  EXPECT_EQ(Scalar(green_, "SELECT count(*) FROM t"), "100");
}

// Rows committed on blue after the snapshot never reach green, and every
// table is copied as of the same instant.
TEST_F(CopyPgTest, SnapshotConsistentUnderConcurrentWrites) {
  Exec(blue_,
       "CREATE TABLE a (id bigint PRIMARY KEY, pad text); CREATE TABLE b (id bigint PRIMARY KEY);"
       "INSERT INTO a SELECT g, repeat('p', 200) FROM generate_series(1, 300000) g;"
       "INSERT INTO b SELECT generate_series(1, 10);");
  std::atomic<bool> stop{false};
  std::atomic<int64_t> committed{0};
  std::thread writer([&] {
    auto s = pg::Session::Connect(blue_, "writer");
    ASSERT_TRUE(s.ok());
    for (int64_t id = 1'000'000; !stop; ++id) {
      auto r = (*s)->Exec(absl::StrCat("BEGIN; INSERT INTO a VALUES (", id, ", 'w'); INSERT INTO b VALUES (", id,
                                       "); COMMIT;"));
      ASSERT_TRUE(r.ok()) << r.status();
      ++committed;
    }
  });
  // Let the writer get going, then copy one table at a time (a first, b
  // long after the writer committed more).
  while (committed < 20) std::this_thread::yield();
  CopyRequest req = Request();
  req.options.set_table_jobs(1);
  req.options.set_index_jobs(1);
  const int64_t before = committed;
  auto report = NewPgCopier()->Copy(req, nullptr, nullptr);
  const int64_t after = committed;
  stop = true;
  writer.join();
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_GT(after - before, 10) << "the writer must have committed during the copy for this test to mean anything";
  const std::string ga = Scalar(green_, "SELECT count(*) FROM a WHERE id >= 1000000");
  const std::string gb = Scalar(green_, "SELECT count(*) FROM b WHERE id >= 1000000");
  EXPECT_EQ(ga, gb) << "a and b were copied from different points in time";
  // Green holds a contiguous prefix of the writer's commits...
  EXPECT_EQ(Scalar(green_, "SELECT max(id) - 1000000 + 1 = count(*) FROM b WHERE id >= 1000000"), "t");
  // ...and not the commits made after the snapshot.
  EXPECT_LT(std::stoll(gb), std::stoll(Scalar(blue_, "SELECT count(*) FROM b WHERE id >= 1000000")));
}

// Modifies green right before verification starts.
class PlantingObserver : public CopyObserver {
 public:
  PlantingObserver(std::string dsn, std::string sql) : dsn_(std::move(dsn)), sql_(std::move(sql)) {}
  absl::Status OnStage(CopyStage stage) override {
    if (stage == CopyStage::kVerifying) Exec(dsn_, sql_);
    return absl::OkStatus();
  }

 private:
  std::string dsn_, sql_;
};

TEST_F(CopyPgTest, VerifyCatchesAMissingRow) {
  Exec(blue_, "CREATE TABLE x (id int PRIMARY KEY, v text); INSERT INTO x SELECT g, 'v' || g FROM generate_series(1, 1000) g;"
              "CREATE TABLE y (id int); INSERT INTO y VALUES (1);");
  PlantingObserver plant(green_, "DELETE FROM x WHERE id = 5");
  auto report = NewPgCopier()->Copy(Request(), &plant, nullptr);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(report.status().message()), HasSubstr("public.x: blue 1000 rows"));
  EXPECT_THAT(std::string(report.status().message()), HasSubstr("green 999 rows"));
  EXPECT_THAT(std::string(report.status().message()), Not(HasSubstr("public.y")));
  // The attempt is failed: the next copy resets green and succeeds.
  EXPECT_EQ(Scalar(green_, "SELECT state FROM cutover_replay.copy_attempt ORDER BY id DESC LIMIT 1"), "failed");
  auto again = NewPgCopier()->Copy(Request(), nullptr, nullptr);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(Scalar(green_, "SELECT count(*) FROM x"), "1000");
  EXPECT_EQ(Scalar(green_, "SELECT string_agg(state, ',' ORDER BY id) FROM cutover_replay.copy_attempt"),
            "reset,verified");
}

TEST_F(CopyPgTest, VerifyCatchesAChangedValueWithTheSameRowCount) {
  Exec(blue_, "CREATE TABLE x (id int PRIMARY KEY, v text); INSERT INTO x SELECT g, 'v' || g FROM generate_series(1, 1000) g;");
  PlantingObserver plant(green_, "UPDATE x SET v = 'tampered' WHERE id = 7");
  auto report = NewPgCopier()->Copy(Request(), &plant, nullptr);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(report.status().message()), HasSubstr("public.x: blue 1000 rows hash"));
}

// ---- Bad input: each refused before anything is written ----

void ExpectRefused(const absl::Status& st, absl::StatusCode code, const std::string& text) {
  EXPECT_EQ(st.code(), code) << st;
  EXPECT_THAT(std::string(st.message()), HasSubstr(text));
}

TEST_F(CopyPgTest, RefusesMalformedDsn) {
  CopyRequest req = Request();
  req.blue_dsn = "host=127.0.0.1 port";
  auto r = NewPgCopier()->Copy(req, nullptr, nullptr);
  ExpectRefused(r.status(), absl::StatusCode::kInvalidArgument, "blue DSN is malformed");
  ExpectGreenUntouched();
  req = Request();
  req.green_dsn = "postgresql://[::1";
  r = NewPgCopier()->Copy(req, nullptr, nullptr);
  ExpectRefused(r.status(), absl::StatusCode::kInvalidArgument, "green DSN is malformed");
}

TEST_F(CopyPgTest, RefusesUnreachableBlue) {
  CopyRequest req = Request();
  const int port = FreePort();
  req.blue_dsn = absl::StrCat("host=127.0.0.1 port=", port, " dbname=x user=postgres connect_timeout=3");
  auto r = NewPgCopier()->Copy(req, nullptr, nullptr);
  ExpectRefused(r.status(), absl::StatusCode::kUnavailable, absl::StrCat("cannot connect to blue at 127.0.0.1:", port));
  ExpectGreenUntouched();
}

TEST_F(CopyPgTest, RefusesWrongPassword) {
  CopyRequest req = Request();
  req.green_dsn = green_ + " password=wrong";
  auto r = NewPgCopier()->Copy(req, nullptr, nullptr);
  ExpectRefused(r.status(), absl::StatusCode::kUnauthenticated, "password authentication failed");
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("check the user and password of the green DSN"));
  EXPECT_THAT(std::string(r.status().message()), Not(HasSubstr("wrong")));
}

TEST_F(CopyPgTest, RefusesMissingPrivileges) {
  const std::string role = testing::UniqueName("limited");
  Exec(blue_, absl::StrCat("CREATE TABLE open_t (id int); CREATE TABLE secret_t (id int);"
                           "CREATE ROLE ", role, " LOGIN PASSWORD 'pw';"
                           "GRANT SELECT ON open_t TO ", role, ";"));
  CopyRequest req = Request();
  req.blue_dsn = absl::StrCat(blue_, " user=", role, " password=pw");
  auto r = NewPgCopier()->Copy(req, nullptr, nullptr);
  ExpectRefused(r.status(), absl::StatusCode::kPermissionDenied, "cannot read public.secret_t");
  EXPECT_THAT(std::string(r.status().message()), Not(HasSubstr("open_t")));
  ExpectGreenUntouched();
  Exec(blue_, absl::StrCat("DROP OWNED BY ", role, "; DROP ROLE ", role));
}

TEST_F(CopyPgTest, RefusesNonEmptyGreen) {
  Exec(blue_, "CREATE TABLE t (id int)");
  Exec(green_, "CREATE TABLE squatter (id int)");
  auto r = NewPgCopier()->Copy(Request(), nullptr, nullptr);
  ExpectRefused(r.status(), absl::StatusCode::kFailedPrecondition, "green is not empty");
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("public.squatter (table)"));
  EXPECT_EQ(Scalar(green_, "SELECT count(*) FROM pg_namespace WHERE nspname = 'cutover_replay'"), "0");
  EXPECT_EQ(Scalar(green_, "SELECT count(*) FROM squatter"), "0");
}

TEST_F(CopyPgTest, RefusesUnsupportedObjects) {
  Exec(blue_, "CREATE TABLE t (id int); CREATE EXTENSION postgres_fdw;"
              "CREATE SERVER elsewhere FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '127.0.0.1', port '1');"
              "CREATE FOREIGN TABLE remote_users (id int) SERVER elsewhere; SELECT lo_create(0);");
  auto r = NewPgCopier()->Copy(Request(), nullptr, nullptr);
  ExpectRefused(r.status(), absl::StatusCode::kFailedPrecondition, "foreign table");
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("public.remote_users"));
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("large objects"));
  ExpectGreenUntouched();
}

TEST_F(CopyPgTest, RefusesSameDatabaseAndBadOptions) {
  CopyRequest req = Request();
  req.green_dsn = blue_;
  ExpectRefused(NewPgCopier()->Copy(req, nullptr, nullptr).status(), absl::StatusCode::kInvalidArgument,
                "same database");
  req = Request();
  req.options.set_table_jobs(1000);
  ExpectRefused(NewPgCopier()->Copy(req, nullptr, nullptr).status(), absl::StatusCode::kInvalidArgument,
                "copy.table_jobs is 1000: expected 1..64");
  req = Request();
  req.options.set_maintenance_work_mem("lots");
  ExpectRefused(NewPgCopier()->Copy(req, nullptr, nullptr).status(), absl::StatusCode::kInvalidArgument,
                "copy.maintenance_work_mem 'lots'");
  ExpectGreenUntouched();
}

TEST_F(CopyPgTest, RefusesMissingOwnerRoleOnGreenUnlessNoOwner) {
  // Roles are per cluster: this one exists on blue only.
  const std::string role = testing::UniqueName("owner");
  Exec(blue_, absl::StrCat("CREATE ROLE ", role, "; CREATE TABLE owned (id int); ALTER TABLE owned OWNER TO ", role,
                           "; INSERT INTO owned VALUES (1)"));
  auto r = NewPgCopier()->Copy(Request(), nullptr, nullptr);
  ExpectRefused(r.status(), absl::StatusCode::kFailedPrecondition, role);
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("copy.no_owner"));
  ExpectGreenUntouched();
  CopyRequest req = Request();
  req.options.set_no_owner(true);
  auto ok = NewPgCopier()->Copy(req, nullptr, nullptr);
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(Scalar(green_, "SELECT count(*) FROM owned"), "1");
  Exec(blue_, absl::StrCat("DROP TABLE owned; DROP ROLE ", role));
}

// ---- Crashes: never a silently mixed copy ----

void MakeBigTable(const std::string& dsn) {
  Exec(dsn, "CREATE TABLE big (id bigint PRIMARY KEY, pad text);"
            "INSERT INTO big SELECT g, repeat(md5(g::text), 4) FROM generate_series(1, 150000) g;"
            "CREATE TABLE small (id int PRIMARY KEY); INSERT INTO small SELECT generate_series(1, 10);");
}

TEST_F(CopyPgTest, CancelledCopyIsResetByTheNextRun) {
  MakeBigTable(blue_);
  CopyControl control;
  CopyRequest req = Request();
  req.options.set_max_bytes_per_second(2'000'000);  // about 10 s for big
  std::thread canceller([&] {
    // Cancel once green is receiving big's rows.
    ASSERT_TRUE(testing::WaitFor(
        [&] { return Scalar(green_, "SELECT coalesce(sum(tuples_processed), 0) > 0 FROM pg_stat_progress_copy") == "t"; },
        absl::Seconds(60)));
    control.Cancel(absl::CancelledError("operator abort"));
  });
  auto r = NewPgCopier()->Copy(req, nullptr, &control);
  canceller.join();
  ExpectRefused(r.status(), absl::StatusCode::kCancelled, "operator abort");
  EXPECT_EQ(Scalar(green_, "SELECT state FROM cutover_replay.copy_attempt"), "failed");
  // The half-copied table was rolled back with its transaction.
  EXPECT_EQ(Scalar(green_, "SELECT count(*) FROM big"), "0");
  auto again = NewPgCopier()->Copy(Request(), nullptr, nullptr);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(Scalar(green_, "SELECT count(*) FROM big"), "150000");
}

TEST_F(CopyPgTest, KilledCopyRestartsCleanFromANewSnapshot) {
  MakeBigTable(blue_);
  const char* bindir = std::getenv("CUTOVER_BINARY_DIR");
  ASSERT_NE(bindir, nullptr);
  const std::string tool = absl::StrCat(bindir, "/orchestrator/copy/cutover-copy");
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    execl(tool.c_str(), tool.c_str(), "--blue", blue_.c_str(), "--green", green_.c_str(), "--table-jobs", "1",
          "--max-bytes-per-second", "1000000", "--quiet", static_cast<char*>(nullptr));
    _exit(127);
  }
  const bool mid_copy = testing::WaitFor(
      [&] { return Scalar(green_, "SELECT coalesce(sum(tuples_processed), 0) > 1000 FROM pg_stat_progress_copy") == "t"; },
      absl::Seconds(60));
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(mid_copy) << "the copy never got going";
  const std::string first_snapshot = Scalar(green_, "SELECT snapshot_id FROM cutover_replay.copy_attempt");
  EXPECT_EQ(Scalar(green_, "SELECT state FROM cutover_replay.copy_attempt"), "running");
  // The killed client's backends go away on their own.
  ASSERT_TRUE(testing::WaitFor(
      [&] {
        return Scalar(blue_, "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'cutover-%'") == "0";
      },
      absl::Seconds(30)));

  auto r = NewPgCopier()->Copy(Request(), nullptr, nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NE(r->snapshot_id(), first_snapshot);
  EXPECT_EQ(Scalar(green_, "SELECT string_agg(state, ',' ORDER BY id) FROM cutover_replay.copy_attempt"),
            "reset,verified");
  EXPECT_EQ(Scalar(green_, "SELECT count(*) FROM big"), "150000");
  EXPECT_EQ(testing::SchemaDump(blue_), testing::SchemaDump(green_, {"cutover_replay"}));
}

TEST_F(CopyPgTest, RefusesToOverwriteAFinishedCopy) {
  Exec(blue_, "CREATE TABLE t (id int); INSERT INTO t VALUES (1)");
  ASSERT_TRUE(NewPgCopier()->Copy(Request(), nullptr, nullptr).ok());
  auto r = NewPgCopier()->Copy(Request(), nullptr, nullptr);
  ExpectRefused(r.status(), absl::StatusCode::kFailedPrecondition, "already holds a verified copy");
  EXPECT_EQ(Scalar(green_, "SELECT count(*) FROM t"), "1");
}

TEST_F(CopyPgTest, PreflightListsEveryCheck) {
  Exec(blue_, "CREATE TABLE t (id int)");
  auto checks = NewPgCopier()->Preflight(Request());
  std::vector<std::string> names;
  for (const auto& c : checks) {
    EXPECT_TRUE(c.status.ok()) << c.name << ": " << c.status;
    names.push_back(c.name);
  }
  EXPECT_THAT(names, ::testing::IsSupersetOf({"blue.connect", "green.connect", "versions", "pg_dump",
                                              "blue.supported", "blue.privileges", "green.privileges",
                                              "green.empty", "green.roles"}));
  ExpectGreenUntouched();
}

}  // namespace
}  // namespace cutover::copy
