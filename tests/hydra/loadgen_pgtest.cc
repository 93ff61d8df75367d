// cutover::loadgen against real PostgreSQL (the shared test sandbox): every
// operation kind on a Hydra 1.11 and on a Hydra 2.x database with 0
// failures and every ledger line in effect; the switch from 1.11 to 2.x
// under the clients' feet by repointing a PgBouncer entry mid-run; the
// pacing; and cutover-loadgen run as a command (ready file, stats JSON,
// ledger).
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "cutover/check/ledger.h"
#include "cutover/common/pg.h"
#include "cutover/common/subprocess.h"
#include "cutover/hydra/dataset.h"
#include "cutover/loadgen/ledger.h"
#include "cutover/loadgen/loadgen.h"
#include "cutover/router/pgbouncer_config.h"
#include "cutover/testing/sandbox_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cutover::loadgen {
namespace {

namespace ct = cutover::testing;
using ::testing::HasSubstr;

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Small, but with enough consents and sessions above the keep-a-pool floors
// and a few clients to delete.
hydra::DatasetSize SmallSize() {
  hydra::DatasetSize size = hydra::DatasetSize::AtScale(0.002);
  size.clients = 8;
  size.login_sessions = 300;
  size.login_requests = 600;
  size.consent_requests = 500;
  size.access_tokens = 2000;
  size.refresh_tokens = 2000;
  return size;
}

// Creates the shape in `dsn` and fills it with SmallSize().
void Populate(const std::string& dsn, hydra::Shape shape) {
  auto s = pg::Session::Connect(dsn, "test database");
  ASSERT_TRUE(s.ok()) << s.status();
  absl::Status st = shape == hydra::Shape::kHydra2x ? hydra::CreateSchema2x(**s) : hydra::CreateSchema11(**s);
  ASSERT_TRUE(st.ok()) << st;
  st = hydra::Generate(**s, SmallSize());
  ASSERT_TRUE(st.ok()) << st;
}

// The ledger as cutover-check reads it (its parser, not the loadgen's own).
std::vector<LedgerEntry> ReadLedger(const std::string& path) {
  std::vector<LedgerEntry> out;
  std::ifstream in(path);
  int n = 0;
  for (std::string line; std::getline(in, line);) {
    auto e = check::ParseLedgerLine(line, path, ++n);
    EXPECT_TRUE(e.ok()) << e.status();
    if (!e.ok()) continue;
    LedgerEntry entry{e->at, e->schema == check::LedgerSchema::kGreen ? Schema::k2x : Schema::k1x,
                      RevocationKind::kToken, e->key};
    for (RevocationKind k : {RevocationKind::kToken, RevocationKind::kRefresh, RevocationKind::kConsent,
                             RevocationKind::kLoginSession, RevocationKind::kClient}) {
      if (RevocationKindName(k) == check::LedgerKindName(e->kind)) entry.kind = k;
    }
    out.push_back(entry);
  }
  return out;
}

// How many rows still carry the revoked thing (0 = the revocation is in effect).
std::string RemainingSql(const LedgerEntry& e) {
  const std::string k = pg::QuoteLiteral(e.key);
  switch (e.kind) {
    case RevocationKind::kToken:
      return absl::StrCat("SELECT (SELECT count(*) FROM hydra_oauth2_access WHERE request_id = ", k,
                          ") + (SELECT count(*) FROM hydra_oauth2_refresh WHERE active AND request_id = ", k,
                          ")");
    case RevocationKind::kRefresh:
      return absl::StrCat("SELECT count(*) FROM hydra_oauth2_refresh WHERE active AND signature = ", k);
    case RevocationKind::kConsent:
      return absl::StrCat(
          e.schema == Schema::k2x
              ? "SELECT (SELECT count(*) FROM hydra_oauth2_flow WHERE consent_challenge_id = "
              : "SELECT (SELECT count(*) FROM hydra_oauth2_consent_request WHERE challenge = ",
          k, ") + (SELECT count(*) FROM hydra_oauth2_access WHERE challenge_id = ", k,
          ") + (SELECT count(*) FROM hydra_oauth2_refresh WHERE challenge_id = ", k, ")");
    case RevocationKind::kLoginSession:
      return absl::StrCat("SELECT count(*) FROM hydra_oauth2_authentication_session WHERE id = ", k);
    case RevocationKind::kClient:
      return absl::StrCat("SELECT (SELECT count(*) FROM hydra_client WHERE id = ", k,
                          ") + (SELECT count(*) FROM hydra_oauth2_access WHERE client_id = ", k,
                          ") + (SELECT count(*) FROM hydra_oauth2_refresh WHERE client_id = ", k, ")");
  }
  return "";
}

// Every ledger line's revocation is in effect in the database of its shape.
void ExpectLedgerInEffect(const std::vector<LedgerEntry>& entries, const std::map<Schema, std::string>& dsn) {
  std::map<Schema, std::unique_ptr<pg::Session>> sessions;
  for (const auto& [schema, d] : dsn) {
    auto s = pg::Session::Connect(d, "verify");
    ASSERT_TRUE(s.ok()) << s.status();
    sessions[schema] = std::move(*s);
  }
  int lost = 0;
  for (const LedgerEntry& e : entries) {
    ASSERT_TRUE(sessions.count(e.schema)) << FormatLedgerLine(e);
    auto r = sessions[e.schema]->Exec(RemainingSql(e));
    ASSERT_TRUE(r.ok()) << r.status();
    const int64_t left = (*r)[0][0].as<int64_t>();
    if (left != 0 && ++lost <= 5)
      ADD_FAILURE() << "not in effect (" << left << " rows): " << FormatLedgerLine(e);
  }
  EXPECT_EQ(lost, 0) << "of " << entries.size() << " ledger lines";
}

const v1::LoadgenOpStats* Op(const v1::LoadgenSummary& s, absl::string_view kind) {
  for (const auto& o : s.ops()) {
    if (o.kind() == kind) return &o;
  }
  return nullptr;
}

int64_t Committed(const v1::LoadgenSummary& s, const char* schema) {
  auto it = s.committed_by_schema().find(schema);
  return it == s.committed_by_schema().end() ? 0 : it->second;
}

// No failure anywhere; the first errors in the message otherwise.
void ExpectNoFailures(const v1::LoadgenSummary& s) { EXPECT_EQ(s.failed(), 0) << FormatSummaryText(s); }

class LoadgenPgTest : public ::testing::Test {
 protected:
  void SetUp() override {
    sb_ = &ct::SharedSandbox();
    db_ = ct::FreshDatabases("loadgen");
    ASSERT_FALSE(HasFailure());
    dir_ = absl::StrCat(sb_->root(), "/", db_.name);
    ASSERT_EQ(system(absl::StrCat("mkdir -p ", dir_).c_str()), 0);
  }

  // Every kind except rotations of loadgen's own tokens gets a fair share;
  // the run is bounded by max_ops.
  Options BoundedRun(const std::string& dsn, int64_t ops) {
    Options o;
    o.dsn = dsn;
    o.clients = 4;
    o.rate = 0;
    o.max_ops = ops;
    o.mix =
        *ParseMix("issue=30,rotate=20,revoke_token=20,revoke_consent=10,revoke_login=10,delete_client=10");
    o.max_client_deletions = 2;
    o.client_deletion_interval = absl::ZeroDuration();
    o.ledger_path = absl::StrCat(dir_, "/ledger.jsonl");
    o.seed = 7;
    return o;
  }

  v1::LoadgenSummary RunToEnd(const Options& o) {
    auto gen = LoadGenerator::Start(o);
    EXPECT_TRUE(gen.ok()) << gen.status();
    if (!gen.ok()) return {};
    EXPECT_TRUE(ct::WaitFor([&] { return (*gen)->Done(); }, absl::Seconds(120)));
    (*gen)->Stop("max_ops");
    v1::LoadgenSummary s = (*gen)->Summary();
    std::cout << FormatSummaryText(s);  // for the test log
    return s;
  }

  void EveryKindOnOneShape(hydra::Shape shape, const char* schema) {
    ASSERT_NO_FATAL_FAILURE(Populate(db_.blue, shape));
    const Options o = BoundedRun(db_.blue, 600);
    const v1::LoadgenSummary s = RunToEnd(o);
    ExpectNoFailures(s);
    EXPECT_EQ(s.stop_reason(), "max_ops");
    for (int k = 0; k < kNumOpKinds; ++k) {
      const v1::LoadgenOpStats* op = Op(s, OpName(static_cast<OpKind>(k)));
      ASSERT_NE(op, nullptr);
      EXPECT_GT(op->ok(), 0) << op->kind() << "\n" << FormatSummaryText(s);
      EXPECT_GT(op->latency().max_ms(), 0) << op->kind();
    }
    EXPECT_EQ(Op(s, "delete_client")->ok() + Op(s, "delete_client")->noop(), 2);
    EXPECT_EQ(Committed(s, schema), s.committed());
    EXPECT_GT(s.committed(), 400);
    const std::vector<LedgerEntry> ledger = ReadLedger(o.ledger_path);
    EXPECT_EQ(static_cast<int64_t>(ledger.size()), s.ledger_lines());
    int64_t revocations = 0;
    for (const char* kind : {"rotate", "revoke_token", "revoke_consent", "revoke_login", "delete_client"}) {
      revocations += Op(s, kind)->ok() + Op(s, kind)->noop();
    }
    EXPECT_EQ(static_cast<int64_t>(ledger.size()), revocations);
    std::map<RevocationKind, int> kinds;
    for (const auto& e : ledger) {
      EXPECT_EQ(SchemaName(e.schema), schema);
      ++kinds[e.kind];
    }
    EXPECT_EQ(kinds.size(), 5u);
    ExpectLedgerInEffect(ledger, {{Schema::k1x, db_.blue}, {Schema::k2x, db_.blue}});
  }

  sandbox::Sandbox* sb_ = nullptr;
  ct::TestDb db_;
  std::string dir_;
};

TEST_F(LoadgenPgTest, EveryKindOnHydra111WithoutFailures) {
  EveryKindOnOneShape(hydra::Shape::kHydra111, "1.x");
}

TEST_F(LoadgenPgTest, EveryKindOnHydra2xWithoutFailures) {
  EveryKindOnOneShape(hydra::Shape::kHydra2x, "2.x");
}

// Server connections of `db` in PgBouncer's pool: established ones, and
// ones still logging in. -1, -1 when the pool is not listed.
std::pair<int, int> BouncerServers(const std::string& admin_dsn, const std::string& db) {
  auto c = pg::RawConn::Connect(admin_dsn, "pgbouncer admin", "loadgen-test");
  if (!c.ok()) return {-1, -1};
  auto r = c->Query("SHOW POOLS");
  if (!r.ok()) return {-1, -1};
  PGresult* res = r->get();
  const int name = PQfnumber(res, "database");
  for (int i = 0; i < PQntuples(res); ++i) {
    if (db != PQgetvalue(res, i, name)) continue;
    int up = 0;
    for (const char* col : {"sv_active", "sv_idle", "sv_used", "sv_tested"}) {
      up += std::atoi(PQgetvalue(res, i, PQfnumber(res, col)));
    }
    return {up, std::atoi(PQgetvalue(res, i, PQfnumber(res, "sv_login")))};
  }
  return {-1, -1};
}

// PgBouncer moves the clients from a 1.11 database to a 2.x one between two
// transactions (PAUSE, rewrite the entry, RELOAD, RESUME, as the router
// does); the clients notice only through the shape check.
//
// The entry caps its pool at 4 server connections, and PAUSE waits until
// all 4 are up: PgBouncer 1.18 treats a server connection that PAUSE closes
// while it is still logging in as a failed login, and then refuses clients
// for server_login_retry (15 s) (pgbouncer/pgbouncer#420, unfixed). That
// would be a real failure of the flip, which the loadgen reports as such;
// here it is kept out so this test is about the loadgen.
TEST_F(LoadgenPgTest, FollowsTheSwitchFromHydra111To2xThroughPgBouncer) {
  ASSERT_NO_FATAL_FAILURE(Populate(db_.blue, hydra::Shape::kHydra111));
  ASSERT_NO_FATAL_FAILURE(Populate(db_.green, hydra::Shape::kHydra2x));
  const std::string ini_path = sb_->BouncerIniPath();
  const std::string original = ReadAll(ini_path);
  ASSERT_THAT(original, HasSubstr("[databases]\n"));
  const std::string blue =
      absl::StrCat("host=127.0.0.1 port=", sb_->Port("blue"), " dbname=", db_.name, " pool_size=4");
  const std::string green =
      absl::StrCat("host=127.0.0.1 port=", sb_->Port("green"), " dbname=", db_.name, " pool_size=4");
  const std::string on_blue = absl::StrReplaceAll(
      original, {{"[databases]\n", absl::StrCat("[databases]\n", db_.name, " = ", blue, "\n")}});
  ASSERT_TRUE(router::WriteFileAtomically(ini_path, on_blue).ok());
  ASSERT_NO_FATAL_FAILURE(ct::ExecOrDie(sb_->BouncerAdminDsn(), "RELOAD"));
  struct Restore {
    std::string path, ini, admin, db;
    ~Restore() {
      (void)ct::Exec(admin, absl::StrCat("RESUME ", db));
      EXPECT_TRUE(router::WriteFileAtomically(path, ini).ok());
      EXPECT_TRUE(ct::Exec(admin, "RELOAD").ok());
    }
  } restore{ini_path, original, sb_->BouncerAdminDsn(), db_.name};

  Options o = BoundedRun(db_.bouncer, 0);
  o.rate = 300;
  o.mix = Mix{};  // the demo's default mix
  o.pool_refresh = absl::Seconds(1);
  auto gen = LoadGenerator::Start(o);
  ASSERT_TRUE(gen.ok()) << gen.status();
  ASSERT_TRUE(ct::WaitFor([&] { return Committed((*gen)->Summary(), "1.x") >= 200; }, absl::Seconds(60)))
      << FormatSummaryText((*gen)->Summary());

  ASSERT_TRUE(
      ct::WaitFor([&] { return BouncerServers(sb_->BouncerAdminDsn(), db_.name) == std::make_pair(4, 0); },
                  absl::Seconds(30)));
  auto repoint = router::RewriteDatabaseEntry(on_blue, db_.name, green, ini_path);
  ASSERT_TRUE(repoint.ok()) << repoint.status();
  ASSERT_NO_FATAL_FAILURE(ct::ExecOrDie(sb_->BouncerAdminDsn(), absl::StrCat("PAUSE ", db_.name)));
  ASSERT_TRUE(router::WriteFileAtomically(ini_path, *repoint).ok());
  ASSERT_NO_FATAL_FAILURE(ct::ExecOrDie(sb_->BouncerAdminDsn(), "RELOAD"));
  ASSERT_NO_FATAL_FAILURE(ct::ExecOrDie(sb_->BouncerAdminDsn(), absl::StrCat("RESUME ", db_.name)));

  ASSERT_TRUE(ct::WaitFor([&] { return Committed((*gen)->Summary(), "2.x") >= 200; }, absl::Seconds(60)))
      << FormatSummaryText((*gen)->Summary());
  (*gen)->Stop("test");
  const v1::LoadgenSummary s = (*gen)->Summary();
  std::cout << FormatSummaryText(s);  // for the test log
  ExpectNoFailures(s);
  EXPECT_EQ(ct::QueryScalar(db_.bouncer, "SELECT inet_server_port()"), absl::StrCat(sb_->Port("green")));
  EXPECT_EQ(Committed(s, "1.x") + Committed(s, "2.x"), s.committed());
  EXPECT_GT(s.longest_write_gap().seconds(), 0);

  const std::vector<LedgerEntry> ledger = ReadLedger(o.ledger_path);
  int on_1x = 0, on_2x = 0;
  for (const auto& e : ledger) ++(e.schema == Schema::k1x ? on_1x : on_2x);
  EXPECT_GT(on_1x, 0);
  EXPECT_GT(on_2x, 0);
  // Nothing replays blue's revocations to green here: each line is checked
  // on the database it ran on.
  ExpectLedgerInEffect(ledger, {{Schema::k1x, db_.blue}, {Schema::k2x, db_.green}});
}

TEST_F(LoadgenPgTest, RespectsTheRate) {
  ASSERT_NO_FATAL_FAILURE(Populate(db_.blue, hydra::Shape::kHydra111));
  Options o = BoundedRun(db_.blue, 100);
  o.clients = 2;
  o.rate = 200;
  o.ledger_path.clear();
  const v1::LoadgenSummary s = RunToEnd(o);
  ExpectNoFailures(s);
  // 100 slots 5 ms apart: at least 0.495 s, whatever the machine's speed.
  EXPECT_GE(s.elapsed_seconds(), 0.4) << FormatSummaryText(s);
  EXPECT_LT(s.elapsed_seconds(), 30);
  EXPECT_LE(s.committed() + s.stale(), 100);
  EXPECT_GE(s.committed(), 50);
}

// The command as the demo script runs it: waits on --ready-file, reads the
// --stats-file JSON and the ledger.
TEST_F(LoadgenPgTest, CommandWritesReadyStatsAndLedgerFiles) {
  ASSERT_NO_FATAL_FAILURE(Populate(db_.blue, hydra::Shape::kHydra2x));
  const char* dir = std::getenv("CUTOVER_BINARY_DIR");
  const std::string ready = absl::StrCat(dir_, "/ready"), stats = absl::StrCat(dir_, "/stats.json"),
                    ledger = absl::StrCat(dir_, "/cli-ledger.jsonl");
  CommandSpec spec;
  spec.argv = {absl::StrCat(dir ? dir : ".", "/deploy/hydra/loadgen/cutover-loadgen"),
               "--dsn",
               db_.bouncer,
               "--clients",
               "3",
               "--rate",
               "0",
               "--duration",
               "0",
               "--max-ops",
               "300",
               "--ledger",
               ledger,
               "--stats-file",
               stats,
               "--ready-file",
               ready,
               "--seed",
               "11",
               "--output",
               "json",
               "--progress",
               "0",
               "--client-deletion-interval",
               "0"};
  spec.timeout = absl::Minutes(2);
  // A first run with the same seed leaves rows behind: the second one's new
  // tokens must not collide with them (their values are fresh per run).
  CommandSpec earlier = spec;
  for (auto& a : earlier.argv) {
    if (a == ready || a == stats || a == ledger) a += ".earlier";
  }
  auto e = RunCommand(earlier);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->exit_code, 0) << e->err;
  EXPECT_THAT(e->out, HasSubstr(R"("failed": "0")"));
  auto r = RunCommand(spec);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->exit_code, 0) << r->err;
  EXPECT_THAT(ReadAll(ready), HasSubstr("pid="));
  const std::string json = ReadAll(stats);
  EXPECT_EQ(json, r->out);
  EXPECT_THAT(json, HasSubstr(R"("failed": "0")"));
  EXPECT_THAT(json, HasSubstr(R"("stop_reason": "max_ops")"));
  EXPECT_THAT(json, HasSubstr(R"("committed_by_schema": {)"));
  EXPECT_THAT(json, HasSubstr(R"("2.x": ")"));
  const std::vector<LedgerEntry> entries = ReadLedger(ledger);
  EXPECT_GT(entries.size(), 50u);
  EXPECT_THAT(json, HasSubstr(absl::StrCat(R"("ledger_lines": ")", entries.size(), "\"")));
  ExpectLedgerInEffect(entries, {{Schema::k2x, db_.blue}});
}

}  // namespace
}  // namespace cutover::loadgen
