// The bad-input matrix, PostgreSQL part (docs/bad-input.md): plans whose
// databases cannot be used — malformed DSN, unreachable host or port, a
// database that does not exist, a wrong password, roles without the
// privileges a cutover needs, capture rules naming a missing table or column
// or a value of the wrong type — are refused by preflight with the failing
// check named, and preflight changes nothing on blue, green or the control
// database. Garbage bytes in the PostgreSQL queue table are dead-lettered
// with their reason and offset while the good events around them are
// applied (queue_garbage.h).
#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cutover/common/pg.h"
#include "cutover/engine/orchestrator.h"
#include "cutover/engine/pg_backend.h"
#include "cutover/replay/pg_queue.h"
#include "cutover/testing/sandbox_env.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "queue_garbage.h"

namespace cutover::badinput {
namespace {

namespace ct = cutover::testing;
using ::testing::HasSubstr;

// Replaces the value of `key` in a keyword=value DSN (adds it when absent).
std::string WithDsnOption(const std::string& dsn, const std::string& key, const std::string& value) {
  auto opts = pg::ParseDsn(dsn, "test DSN");
  EXPECT_TRUE(opts.ok()) << opts.status();
  if (!opts.ok()) return dsn;
  (*opts)[key] = value;
  return pg::FormatDsn(*opts);
}

class PreflightTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = ct::FreshDatabases("badin");
    ASSERT_FALSE(HasFailure());
    ASSERT_NO_FATAL_FAILURE(ct::ExecOrDie(
        db_.blue, "CREATE TABLE public.tokens (id bigint PRIMARY KEY, active boolean NOT NULL, owner text);"
                  "INSERT INTO public.tokens SELECT g, true, 'u' || g FROM generate_series(1, 5) g"));
  }

  v1::Plan Plan() {
    v1::Plan p;
    p.set_name("badinput");
    p.mutable_blue()->set_dsn(db_.blue);
    p.mutable_green()->set_dsn(db_.green);
    p.mutable_queue()->mutable_postgres()->set_dsn(db_.control);
    auto* router = p.mutable_router()->mutable_command();
    for (auto* cmd : {router->mutable_pause(), router->mutable_resume(), router->mutable_repoint_green(),
                      router->mutable_repoint_blue()}) {
      *cmd = "true";
    }
    v1::CaptureRule* r = p.mutable_capture()->add_rules();
    p.mutable_capture()->set_profile("generic");
    r->set_name("app.token.revoke");
    r->set_table("public.tokens");
    r->set_on_delete(true);
    v1::RevokedValue* v = r->add_on_update();
    v->set_column("active");
    v->set_value("false");
    r->add_key_columns("id");
    r->add_extra_columns("owner");
    r->add_apply("DELETE FROM public.tokens WHERE id = :id");
    return p;
  }

  // Blue's, green's and the control database's schemas (catalog text) and
  // blue's rows: what "preflight changed nothing" compares.
  std::string World() {
    return absl::StrCat(ct::SchemaDump(db_.blue), "\n--green--\n", ct::SchemaDump(db_.green), "\n--control--\n",
                        ct::SchemaDump(db_.control), "\n--rows--\n",
                        ct::QueryScalar(db_.blue, "SELECT string_agg(id || ':' || active, ',' ORDER BY id) FROM tokens"));
  }

  v1::ValidationResult Preflight(const v1::Plan& plan) {
    std::unique_ptr<engine::BackendFactory> f = engine::NewPgBackendFactory();
    auto b = f->Create(db_.name, plan);
    EXPECT_TRUE(b.ok()) << b.status();
    if (!b.ok()) return {};
    return (*b)->Preflight();
  }

  static std::string Failed(const v1::ValidationResult& vr) {
    std::vector<std::string> out;
    for (const auto& c : vr.checks()) {
      if (!c.ok()) out.push_back(absl::StrCat(c.name(), ": ", c.detail()));
    }
    return absl::StrJoin(out, "\n");
  }

  ct::TestDb db_;
};

TEST_F(PreflightTest, AGoodPlanPasses) {
  v1::ValidationResult vr = Preflight(Plan());
  EXPECT_TRUE(vr.ok()) << Failed(vr);
}

struct PreflightCase {
  const char* name;
  std::function<void(PreflightTest*, v1::Plan&)> tweak;
  const char* check;                // the failing check's name
  std::vector<std::string> says;    // substrings of its detail
};

TEST_F(PreflightTest, UnusableDatabasesFailTheNamedCheckAndChangeNothing) {
  const std::string sandbox_password = ct::SharedSandbox().password();
  ASSERT_FALSE(sandbox_password.empty());
  const std::vector<PreflightCase> cases = {
      {"malformed blue DSN", [](PreflightTest*, v1::Plan& p) { p.mutable_blue()->set_dsn("host=127.0.0.1 port"); },
       "blue.dsn", {"blue DSN is malformed"}},
      {"unknown DSN option",
       [](PreflightTest*, v1::Plan& p) { p.mutable_green()->set_dsn(p.green().dsn() + " colour=green"); },
       "green.dsn", {"green DSN is malformed", "colour"}},
      {"nothing listens on the port",
       [](PreflightTest*, v1::Plan& p) { p.mutable_blue()->set_dsn(WithDsnOption(p.blue().dsn(), "port", "1")); },
       "blue.connect", {"cannot connect to blue at 127.0.0.1:1/"}},
      {"host does not resolve",
       [](PreflightTest*, v1::Plan& p) {
         p.mutable_green()->set_dsn(WithDsnOption(p.green().dsn(), "host", "no-such-host.invalid"));
       },
       "green.connect", {"cannot connect to green at no-such-host.invalid:"}},
      {"database does not exist",
       [](PreflightTest*, v1::Plan& p) {
         p.mutable_blue()->set_dsn(WithDsnOption(p.blue().dsn(), "dbname", "no_such_db"));
       },
       "blue.connect", {"no_such_db", "does not exist"}},
      {"wrong password",
       [](PreflightTest*, v1::Plan& p) {
         p.mutable_blue()->set_dsn(WithDsnOption(p.blue().dsn(), "password", "wrong-password-123"));
       },
       "blue.connect", {"password authentication failed", "check the user and password of the blue DSN"}},
      {"wrong password on the queue",
       [](PreflightTest*, v1::Plan& p) {
         p.mutable_queue()->mutable_postgres()->set_dsn(
             WithDsnOption(p.queue().postgres().dsn(), "password", "wrong-password-123"));
       },
       "queue.postgres", {"password authentication failed"}},
      {"capture rule on a missing table",
       [](PreflightTest*, v1::Plan& p) { p.mutable_capture()->mutable_rules(0)->set_table("public.tokenz"); },
       "capture.blue_catalog", {"capture.rules[app.token.revoke].table", "public.tokenz does not exist on blue"}},
      {"capture rule on a missing key column",
       [](PreflightTest*, v1::Plan& p) {
         p.mutable_capture()->mutable_rules(0)->set_key_columns(0, "token_id");
         p.mutable_capture()->mutable_rules(0)->set_apply(0, "DELETE FROM public.tokens WHERE id = :token_id");
       },
       "capture.blue_catalog", {"capture.rules[app.token.revoke].key_columns", "token_id does not exist"}},
      {"capture rule on a missing extra column",
       [](PreflightTest*, v1::Plan& p) { p.mutable_capture()->mutable_rules(0)->set_extra_columns(0, "subject"); },
       "capture.blue_catalog", {"capture.rules[app.token.revoke].extra_columns", "subject does not exist"}},
      {"revoked value of the wrong type",
       [](PreflightTest*, v1::Plan& p) {
         p.mutable_capture()->mutable_rules(0)->mutable_on_update(0)->set_value("maybe");
       },
       "capture.blue_catalog", {"capture.rules[app.token.revoke].on_update", "maybe", "boolean"}},
      {"malformed capture rule",
       [](PreflightTest*, v1::Plan& p) {
         p.mutable_capture()->mutable_rules(0)->set_apply(0, "TRUNCATE public.tokens");
       },
       "capture.rules", {"capture.rules[app.token.revoke].apply[0]"}},
  };
  const std::string before = World();
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    v1::Plan plan = Plan();
    c.tweak(this, plan);
    v1::ValidationResult vr = Preflight(plan);
    EXPECT_FALSE(vr.ok());
    const v1::Check* failed = nullptr;
    for (const auto& ch : vr.checks()) {
      if (ch.name() == c.check) failed = &ch;
    }
    if (failed == nullptr) {
      ADD_FAILURE() << "no check " << c.check << "; failed: " << Failed(vr);
      continue;
    }
    EXPECT_FALSE(failed->ok()) << failed->detail();
    for (const auto& s : c.says) EXPECT_THAT(failed->detail(), HasSubstr(s)) << Failed(vr);
    // No secret in any check (the sandbox's password or the wrong one).
    const std::string all = vr.DebugString();
    EXPECT_THAT(all, ::testing::Not(HasSubstr(sandbox_password)));
    EXPECT_THAT(all, ::testing::Not(HasSubstr("wrong-password-123")));
  }
  EXPECT_EQ(World(), before) << "preflight changed a database";
}

// Roles without the privileges a cutover needs (created in the sandbox):
// refused at preflight naming what is missing, not halfway through.
TEST_F(PreflightTest, RolesWithoutPrivilegesAreNamedAtPreflight) {
  const std::string role = ct::UniqueName("badin_role");
  const std::string password = "role-password-456";
  for (const std::string& dsn : {db_.blue, db_.green, db_.control}) {
    ASSERT_NO_FATAL_FAILURE(ct::ExecOrDie(dsn, absl::StrCat("CREATE ROLE ", role, " LOGIN PASSWORD '", password, "'")));
    ASSERT_NO_FATAL_FAILURE(ct::ExecOrDie(dsn, absl::StrCat("REVOKE ALL ON DATABASE ", db_.name, " FROM PUBLIC")));
    ASSERT_NO_FATAL_FAILURE(ct::ExecOrDie(dsn, absl::StrCat("GRANT CONNECT ON DATABASE ", db_.name, " TO ", role)));
  }
  auto as_role = [&](const std::string& dsn) {
    return WithDsnOption(WithDsnOption(dsn, "user", role), "password", password);
  };
  const std::string before = World();
  v1::Plan plan = Plan();
  plan.mutable_blue()->set_dsn(as_role(db_.blue));
  plan.mutable_green()->set_dsn(as_role(db_.green));
  plan.mutable_queue()->mutable_postgres()->set_dsn(as_role(db_.control));
  v1::ValidationResult vr = Preflight(plan);
  EXPECT_FALSE(vr.ok());
  std::map<std::string, v1::Check> checks;
  for (const auto& c : vr.checks()) checks[c.name()] = c;
  const std::string failed = Failed(vr);
  EXPECT_FALSE(checks["blue.privileges"].ok()) << failed;
  EXPECT_THAT(checks["blue.privileges"].detail(), HasSubstr("cannot read public.tokens"));
  EXPECT_FALSE(checks["green.privileges"].ok()) << failed;
  EXPECT_THAT(checks["green.privileges"].detail(), HasSubstr(absl::StrCat(role, " lacks CREATE")));
  EXPECT_FALSE(checks["queue.postgres"].ok()) << failed;
  EXPECT_THAT(checks["queue.postgres"].detail(), HasSubstr("may not CREATE in the control database"));
  EXPECT_FALSE(checks["blue.fence"].ok()) << failed;
  EXPECT_THAT(vr.DebugString(), ::testing::Not(HasSubstr(password)));

  EXPECT_FALSE(checks["capture.blue_privileges"].ok()) << failed;
  EXPECT_THAT(checks["capture.blue_privileges"].detail(),
              HasSubstr("CREATE on the database (for schema cutover_capture), ownership of public.tokens"));

  // SELECT on blue (enough to copy) and owner of the database (enough to
  // fence, with pg_signal_backend), but not owner of the captured table: capture could be installed
  // with a TRIGGER grant but never removed again. Refused up front.
  ASSERT_NO_FATAL_FAILURE(ct::ExecOrDie(db_.blue, absl::StrCat("GRANT SELECT, TRIGGER ON public.tokens TO ", role,
                                                               "; ALTER DATABASE ", db_.name, " OWNER TO ", role,
                                                               "; GRANT pg_signal_backend TO ", role)));
  vr = Preflight(plan);
  checks.clear();
  for (const auto& c : vr.checks()) checks[c.name()] = c;
  EXPECT_TRUE(checks["blue.privileges"].ok()) << Failed(vr);
  EXPECT_TRUE(checks["blue.fence"].ok()) << Failed(vr);
  EXPECT_FALSE(checks["capture.blue_privileges"].ok()) << Failed(vr);
  EXPECT_THAT(checks["capture.blue_privileges"].detail(),
              HasSubstr(absl::StrCat("the blue user ", role, " cannot install capture: it lacks ownership of public.tokens")));
  EXPECT_THAT(checks["capture.blue_privileges"].detail(), ::testing::Not(HasSubstr("CREATE on the database")));
  ASSERT_NO_FATAL_FAILURE(ct::ExecOrDie(db_.blue, absl::StrCat("ALTER DATABASE ", db_.name, " OWNER TO postgres; "
                                                               "REVOKE SELECT, TRIGGER ON public.tokens FROM ", role)));
  EXPECT_EQ(World(), before) << "preflight changed a database";
  for (const std::string& dsn : {db_.blue, db_.green, db_.control}) {
    (void)ct::Exec(dsn, absl::StrCat("DROP OWNED BY ", role, "; DROP ROLE ", role));
  }
}

// ---------------------------------------------------------------------------
// The control API refuses such a plan at CreatePlan with every failed check
// in the message, stores nothing: covered through the real Orchestrator in
// badinput_test (fake backend); here the whole message from the real one.
TEST_F(PreflightTest, CreatePlanNamesTheFailedChecksAndStoresNothing) {
  std::unique_ptr<store::ControlStore> store = store::NewMemoryControlStore();
  std::unique_ptr<engine::BackendFactory> f = engine::NewPgBackendFactory();
  engine::Orchestrator orch(store.get(), f.get(), Clock::Real(), {});
  v1::Plan plan = Plan();
  plan.mutable_blue()->set_dsn(WithDsnOption(plan.blue().dsn(), "password", "wrong-password-123"));
  plan.mutable_capture()->mutable_rules(0)->set_table("public.tokenz");
  absl::StatusOr<v1::Cutover> c = orch.CreatePlan(plan, {"token:ops", engine::Role::kOperator});
  EXPECT_EQ(c.status().code(), absl::StatusCode::kFailedPrecondition) << c.status();
  EXPECT_THAT(c.status().message(), HasSubstr("preflight failed: "));
  EXPECT_THAT(c.status().message(), HasSubstr("blue.connect: "));
  EXPECT_THAT(c.status().message(), ::testing::Not(HasSubstr("wrong-password-123")));
  auto all = store->List({});
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->empty());
  // A DSN libpq cannot parse is a plan error naming the field.
  plan = Plan();
  plan.mutable_green()->set_dsn("host=127.0.0.1 port");
  c = orch.CreatePlan(plan, {"token:ops", engine::Role::kOperator});
  EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << c.status();
  EXPECT_THAT(c.status().message(), HasSubstr("plan.green.dsn is malformed"));
}

// ---------------------------------------------------------------------------
// Garbage in the PostgreSQL queue.

TEST(PgQueueGarbageTest, BadMessagesAreDeadLetteredGoodOnesAppliedNothingLost) {
  ct::TestDb db = ct::FreshDatabases("badin_q");
  ASSERT_FALSE(::testing::Test::HasFailure());
  auto queue = replay::OpenPgQueue({db.control, db.name});
  ASSERT_TRUE(queue.ok()) << queue.status();
  ExpectGarbageDeadLetteredAndGoodEventsApplied(queue->get(), db.name, db.green);
}

}  // namespace
}  // namespace cutover::badinput
