// cutover::hydra_fixture against a real PostgreSQL: both schemas create
// cleanly, Generate writes the expected, foreign-key-consistent rows, both
// shapes carry the same ids, and the cascade facts of DESIGN.md's Hydra
// profile hold.
//
// Each test body is a function of an admin DSN (a role that may CREATE
// DATABASE); it works in a scratch database of its own and drops it. The DSN
// comes from CUTOVER_TEST_PG_DSN; without it the tests fail and say so.
#include <unistd.h>

#include <cstdlib>
#include <memory>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "cutover/common/pg.h"
#include "cutover/hydra/dataset.h"
#include "cutover/testing/sandbox_env.h"
#include "gtest/gtest.h"

namespace cutover::hydra {
namespace {

#define ASSERT_OK(expr)                                       \
  do {                                                        \
    const absl::Status assert_ok_status_ = (expr);            \
    ASSERT_TRUE(assert_ok_status_.ok()) << assert_ok_status_; \
  } while (0)

// A database created for one test and dropped (WITH FORCE) afterwards.
class ScratchDb {
 public:
  static std::unique_ptr<ScratchDb> Create(const std::string& admin_dsn) {
    auto admin = pg::Session::Connect(admin_dsn, "test admin database");
    EXPECT_TRUE(admin.ok()) << admin.status();
    if (!admin.ok()) {
      return nullptr;
    }
    static int counter = 0;
    std::string name = absl::StrCat("hydra_fixture_", getpid(), "_", ++counter);
    auto created = (*admin)->Exec(absl::StrCat("CREATE DATABASE ", pg::QuoteIdent(name)));
    EXPECT_TRUE(created.ok()) << created.status();
    if (!created.ok()) {
      return nullptr;
    }
    auto opts = pg::ParseDsn(admin_dsn, "test DSN");
    EXPECT_TRUE(opts.ok()) << opts.status();
    if (!opts.ok()) {
      return nullptr;
    }
    (*opts)["dbname"] = name;
    return std::unique_ptr<ScratchDb>(new ScratchDb(std::move(*admin), name, pg::FormatDsn(*opts)));
  }
  ~ScratchDb() {
    auto st = admin_->Exec(absl::StrCat("DROP DATABASE IF EXISTS ", pg::QuoteIdent(name_), " WITH (FORCE)"));
    EXPECT_TRUE(st.ok()) << st.status();
  }
  const std::string& dsn() const { return dsn_; }
  std::unique_ptr<pg::Session> Connect() const {
    auto s = pg::Session::Connect(dsn_, "scratch database");
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }

 private:
  ScratchDb(std::unique_ptr<pg::Session> admin, std::string name, std::string dsn)
      : admin_(std::move(admin)), name_(std::move(name)), dsn_(std::move(dsn)) {}
  std::unique_ptr<pg::Session> admin_;
  std::string name_;
  std::string dsn_;
};

int64_t Scalar(pg::Session& s, const std::string& sql) {
  auto r = s.Exec(sql);
  EXPECT_TRUE(r.ok()) << sql << ": " << r.status();
  if (!r.ok() || r->empty() || (*r)[0][0].is_null()) {
    return -1;
  }
  return (*r)[0][0].as<int64_t>();
}

std::string Text(pg::Session& s, const std::string& sql) {
  auto r = s.Exec(sql);
  EXPECT_TRUE(r.ok()) << sql << ": " << r.status();
  if (!r.ok() || r->empty() || (*r)[0][0].is_null()) {
    return "";
  }
  return (*r)[0][0].as<std::string>();
}

std::set<std::string> TablesInDb(pg::Session& s) {
  std::set<std::string> out;
  auto r = s.Exec("SELECT tablename FROM pg_tables WHERE schemaname = 'public'");
  EXPECT_TRUE(r.ok()) << r.status();
  if (r.ok()) {
    for (const auto& row : *r) {
      out.insert(row[0].as<std::string>());
    }
  }
  return out;
}

// Every index and constraint definition of the public schema, to compare
// before and after Generate (which drops and rebuilds some of them).
std::string SchemaObjects(pg::Session& s) {
  return Text(s,
              "SELECT string_agg(d, E'\\n' ORDER BY d) FROM ("
              "  SELECT indexdef AS d FROM pg_indexes WHERE schemaname = 'public'"
              "  UNION ALL SELECT conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)"
              "  FROM pg_constraint WHERE connamespace = 'public'::regnamespace) AS x");
}

// A small size that still puts rows into every table.
DatasetSize SmallSize() {
  DatasetSize size = DatasetSize::AtScale(0.001);
  size.clients = 5;
  size.auth_codes = 40;
  size.logout_requests = 6;
  size.obfuscated_sessions = 7;
  size.jti_blacklist = 8;
  size.trust_grants = 3;
  return size;
}

const char* const kTokenTables[] = {"hydra_oauth2_access", "hydra_oauth2_refresh", "hydra_oauth2_code",
                                    "hydra_oauth2_oidc", "hydra_oauth2_pkce"};

// ---- test bodies (each takes the admin DSN) ----

void Schema11CreatesCleanly(const std::string& admin_dsn) {
  auto db = ScratchDb::Create(admin_dsn);
  ASSERT_NE(db, nullptr);
  auto s = db->Connect();
  ASSERT_NE(s, nullptr);
  ASSERT_OK(CreateSchema11(*s));
  auto shape = DetectShape(*s);
  ASSERT_TRUE(shape.ok()) << shape.status();
  EXPECT_EQ(*shape, Shape::kHydra111);
  const auto& tables = Tables(Shape::kHydra111);
  EXPECT_EQ(TablesInDb(*s), std::set<std::string>(tables.begin(), tables.end()));
  auto counts = Count(*s);
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_EQ(counts->Rows("schema_migration"), 1);
  EXPECT_EQ(counts->Total(), 1);
  // Every token table has the columns the capture rules key on.
  for (const char* t : kTokenTables) {
    EXPECT_EQ(
        Scalar(*s, absl::StrCat("SELECT count(*) FROM information_schema.columns WHERE table_name = '", t,
                                "' AND column_name IN ('signature', 'request_id', 'client_id', 'subject', "
                                "'active', 'requested_at', 'challenge_id')")),
        7)
        << t;
  }
  // A second run fails as a whole and leaves the first one intact.
  const std::string before = SchemaObjects(*s);
  absl::Status again = CreateSchema11(*s);
  EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition) << again;
  EXPECT_EQ(SchemaObjects(*s), before);
}

void Schema2xCreatesCleanly(const std::string& admin_dsn) {
  auto db = ScratchDb::Create(admin_dsn);
  ASSERT_NE(db, nullptr);
  auto s = db->Connect();
  ASSERT_NE(s, nullptr);
  ASSERT_OK(CreateSchema2x(*s));
  auto shape = DetectShape(*s);
  ASSERT_TRUE(shape.ok()) << shape.status();
  EXPECT_EQ(*shape, Shape::kHydra2x);
  const auto& tables = Tables(Shape::kHydra2x);
  EXPECT_EQ(TablesInDb(*s), std::set<std::string>(tables.begin(), tables.end()));
  EXPECT_EQ(Scalar(*s, "SELECT count(*) FROM networks"), 1);
  // Every Hydra table has nid uuid NOT NULL referencing networks.
  for (const auto& t : tables) {
    if (t == "networks" || t == "schema_migration") {
      continue;
    }
    EXPECT_EQ(Text(*s, absl::StrCat("SELECT data_type || ' ' || is_nullable FROM information_schema.columns "
                                    "WHERE table_name = '",
                                    t, "' AND column_name = 'nid'")),
              "uuid NO")
        << t;
    EXPECT_EQ(
        Scalar(*s, absl::StrCat("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND conrelid = '", t,
                                "'::regclass AND confrelid = 'networks'::regclass AND confdeltype = 'c'")),
        1)
        << t;
  }
  // Token challenge ids point at the flow's consent challenge.
  for (const char* t : kTokenTables) {
    EXPECT_EQ(
        Text(*s, absl::StrCat("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = '", t,
                              "_challenge_id_fk'")),
        "FOREIGN KEY (challenge_id) REFERENCES hydra_oauth2_flow(consent_challenge_id) ON DELETE CASCADE")
        << t;
  }
  EXPECT_EQ(
      Text(*s,
           "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'hydra_client'::regclass "
           "AND contype = 'p'"),
      "PRIMARY KEY (id, nid)");
}

void Generate11GivesExpectedConsistentRows(const std::string& admin_dsn) {
  auto db = ScratchDb::Create(admin_dsn);
  ASSERT_NE(db, nullptr);
  auto s = db->Connect();
  ASSERT_NE(s, nullptr);
  ASSERT_OK(CreateSchema11(*s));
  const std::string objects = SchemaObjects(*s);
  const DatasetSize size = SmallSize();
  std::vector<std::pair<std::string, double>> reports;
  ASSERT_OK(Generate(*s, size,
                     [&](absl::string_view step, double f) { reports.emplace_back(std::string(step), f); }));

  // Indexes and constraints are back, exactly as created.
  EXPECT_EQ(SchemaObjects(*s), objects);
  // Progress is monotonic and ends at 1.
  ASSERT_FALSE(reports.empty());
  for (size_t i = 1; i < reports.size(); ++i) {
    EXPECT_GE(reports[i].second, reports[i - 1].second);
  }
  EXPECT_EQ(reports.back(), std::make_pair(std::string("analyze"), 1.0));

  auto counts = Count(*s);
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_EQ(counts->rows, ExpectedRows(Shape::kHydra111, size));
  EXPECT_EQ(counts->Rows("hydra_oauth2_access"), 1000);
  EXPECT_EQ(counts->Rows("hydra_oauth2_refresh"), 1000);
  EXPECT_EQ(counts->Rows("hydra_oauth2_consent_request"), 200);
  EXPECT_EQ(counts->Rows("hydra_oauth2_consent_request_handled"), 200);
  EXPECT_EQ(counts->Rows("hydra_oauth2_authentication_request_handled"), 200);
  EXPECT_EQ(counts->Rows("hydra_oauth2_pkce"), 8);

  // Every token's client exists, and its consent (when it has one) was
  // given by the same subject to the same client.
  for (const char* t : kTokenTables) {
    EXPECT_EQ(Scalar(*s, absl::StrCat(
                             "SELECT count(*) FROM ", t,
                             " x WHERE NOT EXISTS (SELECT 1 FROM hydra_client c WHERE c.id = x.client_id)")),
              0)
        << t;
    EXPECT_EQ(
        Scalar(*s, absl::StrCat("SELECT count(*) FROM ", t,
                                " x JOIN hydra_oauth2_consent_request c ON c.challenge = x.challenge_id "
                                "WHERE c.client_id <> x.client_id OR c.subject <> x.subject")),
        0)
        << t;
  }
  // One access token in four is client_credentials: no consent, the client
  // is the subject.
  EXPECT_EQ(
      Scalar(*s,
             "SELECT count(*) FROM hydra_oauth2_access WHERE challenge_id IS NULL AND subject = client_id"),
      250);
  // Active refresh tokens pair with an access token of the same grant.
  EXPECT_EQ(
      Scalar(*s,
             "SELECT count(*) FROM hydra_oauth2_refresh r WHERE r.active AND NOT EXISTS ("
             "SELECT 1 FROM hydra_oauth2_access a WHERE a.request_id = r.request_id "
             "AND a.client_id = r.client_id AND a.subject = r.subject AND a.challenge_id = r.challenge_id)"),
      0);
  EXPECT_EQ(Scalar(*s, "SELECT count(*) FROM hydra_oauth2_refresh WHERE active"), 750);
  // Rotated-out refresh tokens are inactive, older, and share the request id
  // of their chain's active refresh token.
  EXPECT_EQ(Scalar(*s,
                   "SELECT count(*) FROM hydra_oauth2_refresh o WHERE NOT o.active AND NOT EXISTS ("
                   "SELECT 1 FROM hydra_oauth2_refresh n WHERE n.active AND n.request_id = o.request_id "
                   "AND n.requested_at > o.requested_at)"),
            0);
  EXPECT_EQ(Scalar(*s, "SELECT count(DISTINCT request_id) FROM hydra_oauth2_refresh"), 750);
  // Codes: oidc rows share the code's signature and request id; pkce rows
  // exist for the codes not exchanged yet.
  EXPECT_EQ(Scalar(*s,
                   "SELECT count(*) FROM hydra_oauth2_code c JOIN hydra_oauth2_oidc o USING (signature, "
                   "request_id)"),
            size.auth_codes);
  EXPECT_EQ(Scalar(*s,
                   "SELECT count(*) FROM hydra_oauth2_pkce p JOIN hydra_oauth2_code c USING (signature) "
                   "WHERE c.active"),
            8);
  EXPECT_EQ(Scalar(*s,
                   "SELECT count(*) FROM hydra_oauth2_code c WHERE NOT EXISTS ("
                   "SELECT 1 FROM hydra_oauth2_access a WHERE a.request_id = c.request_id)"),
            0);
  // Consents follow logins of the same subject, client and login session.
  EXPECT_EQ(Scalar(*s,
                   "SELECT count(*) FROM hydra_oauth2_consent_request c JOIN "
                   "hydra_oauth2_authentication_request l ON l.challenge = c.login_challenge "
                   "WHERE l.subject = c.subject AND l.client_id = c.client_id "
                   "AND l.login_session_id IS NOT DISTINCT FROM c.login_session_id"),
            200);
  EXPECT_EQ(
      Scalar(
          *s,
          "SELECT count(*) FROM hydra_oauth2_authentication_request l JOIN "
          "hydra_oauth2_authentication_session s ON s.id = l.login_session_id WHERE s.subject <> l.subject"),
      0);
  // Realistic widths.
  EXPECT_EQ(Scalar(*s,
                   "SELECT count(*) FROM hydra_oauth2_access WHERE length(signature) <> 86 "
                   "OR length(request_id) <> 36 OR length(session_data) NOT BETWEEN 300 AND 600 "
                   "OR length(form_data) NOT BETWEEN 90 AND 250"),
            0);
  EXPECT_GT(Scalar(*s, "SELECT count(DISTINCT client_id) FROM hydra_oauth2_access"), 1);

  // A second Generate refuses to mix into existing data.
  absl::Status again = Generate(*s, size);
  EXPECT_EQ(again.code(), absl::StatusCode::kFailedPrecondition) << again;
}

// The same size in both shapes yields the same token ids, and 2.x flows
// carry the 1.x consent challenges: what a 1.11 -> 2.x migration keeps.
void BothShapesShareIds(const std::string& admin_dsn) {
  auto db11 = ScratchDb::Create(admin_dsn);
  auto db2x = ScratchDb::Create(admin_dsn);
  ASSERT_NE(db11, nullptr);
  ASSERT_NE(db2x, nullptr);
  auto s11 = db11->Connect();
  auto s2x = db2x->Connect();
  ASSERT_NE(s11, nullptr);
  ASSERT_NE(s2x, nullptr);
  ASSERT_OK(CreateSchema11(*s11));
  ASSERT_OK(CreateSchema2x(*s2x));
  const DatasetSize size = SmallSize();
  ASSERT_OK(Generate(*s11, size));
  ASSERT_OK(Generate(*s2x, size));
  auto counts = Count(*s2x);
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_EQ(counts->rows, ExpectedRows(Shape::kHydra2x, size));

  for (const char* t : kTokenTables) {
    const std::string digest = absl::StrCat(
        "SELECT md5(string_agg(concat_ws('/', signature, request_id, requested_at, client_id, subject, "
        "challenge_id, "
        "active, scope, form_data, session_data), ',' ORDER BY signature)) FROM ",
        t);
    const std::string d11 = Text(*s11, digest);
    EXPECT_EQ(d11.size(), 32u) << t;
    EXPECT_EQ(d11, Text(*s2x, digest)) << t;
  }
  const std::string consents11 =
      "SELECT md5(string_agg(concat_ws('/', challenge, login_challenge, client_id, subject, "
      "login_session_id), ',' "
      "ORDER BY challenge)) FROM hydra_oauth2_consent_request";
  const std::string consents2x =
      "SELECT md5(string_agg(concat_ws('/', consent_challenge_id, login_challenge, client_id, subject, "
      "login_session_id), ',' ORDER BY consent_challenge_id)) FROM hydra_oauth2_flow "
      "WHERE consent_challenge_id IS NOT NULL";
  const std::string c11 = Text(*s11, consents11);
  EXPECT_EQ(c11.size(), 32u);
  EXPECT_EQ(c11, Text(*s2x, consents2x));
  EXPECT_EQ(
      Scalar(*s2x, "SELECT count(DISTINCT nid) FROM hydra_oauth2_access a JOIN networks n ON n.id = a.nid"),
      1);
}

// DESIGN.md: deleting a client cascades to its tokens and flows; deleting a
// consent cascades to its handled row and from there to its tokens.
void Cascades11(const std::string& admin_dsn) {
  auto db = ScratchDb::Create(admin_dsn);
  ASSERT_NE(db, nullptr);
  auto s = db->Connect();
  ASSERT_NE(s, nullptr);
  ASSERT_OK(CreateSchema11(*s));
  ASSERT_OK(Generate(*s, SmallSize()));

  auto tokens_of = [&](const std::string& where) {
    int64_t n = 0;
    for (const char* t : kTokenTables) {
      n += Scalar(*s, absl::StrCat("SELECT count(*) FROM ", t, " WHERE ", where));
    }
    return n;
  };
  auto all_tokens = [&] { return tokens_of("true"); };

  // Consent withdrawal.
  const std::string challenge =
      Text(*s,
           "SELECT challenge_id FROM hydra_oauth2_refresh WHERE challenge_id IS NOT NULL "
           "GROUP BY challenge_id ORDER BY count(*) DESC, challenge_id LIMIT 1");
  ASSERT_FALSE(challenge.empty());
  const std::string by_challenge = absl::StrCat("challenge_id = ", pg::QuoteLiteral(challenge));
  const int64_t under_consent = tokens_of(by_challenge);
  ASSERT_GT(under_consent, 1);
  const int64_t before = all_tokens();
  auto del = s->Exec(absl::StrCat("DELETE FROM hydra_oauth2_consent_request WHERE challenge = ",
                                  pg::QuoteLiteral(challenge)));
  ASSERT_TRUE(del.ok()) << del.status();
  EXPECT_EQ(
      Scalar(*s, absl::StrCat("SELECT count(*) FROM hydra_oauth2_consent_request_handled WHERE challenge = ",
                              pg::QuoteLiteral(challenge))),
      0);
  EXPECT_EQ(tokens_of(by_challenge), 0);
  EXPECT_EQ(all_tokens(), before - under_consent);

  // Client deletion.
  const std::string client = Text(*s,
                                  "SELECT client_id FROM hydra_oauth2_access GROUP BY client_id "
                                  "ORDER BY count(*) DESC, client_id LIMIT 1");
  ASSERT_FALSE(client.empty());
  const std::string by_client = absl::StrCat("client_id = ", pg::QuoteLiteral(client));
  const int64_t of_client = tokens_of(by_client);
  ASSERT_GT(of_client, 0);
  const int64_t before_client = all_tokens();
  del = s->Exec(absl::StrCat("DELETE FROM hydra_client WHERE id = ", pg::QuoteLiteral(client)));
  ASSERT_TRUE(del.ok()) << del.status();
  EXPECT_EQ(tokens_of(by_client), 0);
  EXPECT_EQ(all_tokens(), before_client - of_client);
  for (const char* t : {"hydra_oauth2_authentication_request", "hydra_oauth2_consent_request"}) {
    EXPECT_EQ(Scalar(*s, absl::StrCat("SELECT count(*) FROM ", t, " WHERE ", by_client)), 0) << t;
  }
  // Consent handled rows of that client went with their requests.
  EXPECT_EQ(Scalar(*s,
                   "SELECT count(*) FROM hydra_oauth2_consent_request_handled h WHERE NOT EXISTS ("
                   "SELECT 1 FROM hydra_oauth2_consent_request c WHERE c.challenge = h.challenge)"),
            0);
}

// The same cascades on 2.x, through hydra_oauth2_flow.
void Cascades2x(const std::string& admin_dsn) {
  auto db = ScratchDb::Create(admin_dsn);
  ASSERT_NE(db, nullptr);
  auto s = db->Connect();
  ASSERT_NE(s, nullptr);
  ASSERT_OK(CreateSchema2x(*s));
  ASSERT_OK(Generate(*s, SmallSize()));
  const std::string challenge =
      Text(*s,
           "SELECT challenge_id FROM hydra_oauth2_access WHERE challenge_id IS NOT NULL "
           "GROUP BY challenge_id ORDER BY count(*) DESC, challenge_id LIMIT 1");
  ASSERT_FALSE(challenge.empty());
  ASSERT_GT(Scalar(*s, absl::StrCat("SELECT count(*) FROM hydra_oauth2_refresh WHERE challenge_id = ",
                                    pg::QuoteLiteral(challenge))),
            0);
  auto del = s->Exec(absl::StrCat("DELETE FROM hydra_oauth2_flow WHERE consent_challenge_id = ",
                                  pg::QuoteLiteral(challenge)));
  ASSERT_TRUE(del.ok()) << del.status();
  for (const char* t : kTokenTables) {
    EXPECT_EQ(Scalar(*s, absl::StrCat("SELECT count(*) FROM ", t,
                                      " WHERE challenge_id = ", pg::QuoteLiteral(challenge))),
              0)
        << t;
  }
  const std::string client = Text(*s, "SELECT id FROM hydra_client ORDER BY id LIMIT 1");
  del = s->Exec(absl::StrCat("DELETE FROM hydra_client WHERE id = ", pg::QuoteLiteral(client)));
  ASSERT_TRUE(del.ok()) << del.status();
  for (const char* t :
       {"hydra_oauth2_flow", "hydra_oauth2_access", "hydra_oauth2_refresh", "hydra_oauth2_code"}) {
    EXPECT_EQ(
        Scalar(*s, absl::StrCat("SELECT count(*) FROM ", t, " WHERE client_id = ", pg::QuoteLiteral(client))),
        0)
        << t;
  }
}

void GenerateRefusesBadInput(const std::string& admin_dsn) {
  auto db = ScratchDb::Create(admin_dsn);
  ASSERT_NE(db, nullptr);
  auto s = db->Connect();
  ASSERT_NE(s, nullptr);
  // No schema yet.
  absl::Status st = Generate(*s, SmallSize());
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  ASSERT_OK(CreateSchema11(*s));
  DatasetSize bad = SmallSize();
  bad.consent_requests = bad.login_requests + 1;
  st = Generate(*s, bad);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_NE(st.message().find("consent_requests"), absl::string_view::npos) << st;
  bad = SmallSize();
  bad.access_tokens = -1;
  EXPECT_EQ(Generate(*s, bad).code(), absl::StatusCode::kInvalidArgument);
  // Nothing was written.
  auto counts = Count(*s);
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_EQ(counts->Total(), 1);
}

// ---- wiring: the DSN is the shared sandbox's blue superuser ----

#define HYDRA_PG_TEST(name, body)                                         \
  TEST(HydraDatasetPgTest, name) {                                        \
    body(cutover::testing::SharedSandbox().Dsn("blue", "postgres"));      \
  }

HYDRA_PG_TEST(Schema11CreatesCleanly, Schema11CreatesCleanly)
HYDRA_PG_TEST(Schema2xCreatesCleanly, Schema2xCreatesCleanly)
HYDRA_PG_TEST(Generate11GivesExpectedConsistentRows, Generate11GivesExpectedConsistentRows)
HYDRA_PG_TEST(BothShapesShareIds, BothShapesShareIds)
HYDRA_PG_TEST(Cascades11, Cascades11)
HYDRA_PG_TEST(Cascades2x, Cascades2x)
HYDRA_PG_TEST(GenerateRefusesBadInput, GenerateRefusesBadInput)

}  // namespace
}  // namespace cutover::hydra
