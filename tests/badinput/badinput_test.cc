// The bad-input matrix, hermetic part (docs/bad-input.md): plan files given to
// the real cutoverctl binary, bad requests to a real gRPC control server over
// the real Orchestrator (memory control store, FakeBackend), unauthenticated
// and wrong-role calls, a repeated approve, and every command in every phase
// where it is not allowed. Each row states the input, the code the caller
// gets, a substring naming the problem, and checks that nothing changed:
// the store's cutovers, their versions and timelines, and that the server
// still answers.
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "cutover/common/pg.h"
#include "cutover/common/proto_time.h"
#include "cutover/common/subprocess.h"
#include "cutover/engine/orchestrator.h"
#include "cutover/replay/rules.h"
#include "cutover/service/server.h"
#include "cutover/store/control_store.h"
#include "fake_backend.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "raw_grpc.h"
#include "test_server.h"

namespace cutover {
namespace {

namespace v1 = cutover::v1;
using ::testing::HasSubstr;
using service::testing::kApproverToken;
using service::testing::kOperatorToken;
using service::testing::kViewerToken;

const engine::Caller kLead{"token:lead", engine::Role::kApprover};

v1::Plan GoodPlan() {
  v1::Plan p;
  p.set_name("badinput");
  p.mutable_blue()->set_dsn("host=blue dbname=hydra");
  p.mutable_green()->set_dsn("host=green dbname=hydra");
  p.mutable_queue()->mutable_postgres()->set_dsn("host=control dbname=cutover");
  p.mutable_router()->mutable_command()->set_pause("true");
  p.mutable_capture()->set_profile("hydra");
  p.mutable_flip()->mutable_flip_timeout()->set_seconds(5);
  p.mutable_flip()->set_max_backlog(10);
  return p;
}

// Everything the store holds, for "nothing changed" assertions: per cutover
// its phase, version and number of timeline rows.
struct StoreSnapshot {
  std::map<std::string, std::string> rows;
  bool operator==(const StoreSnapshot& o) const { return rows == o.rows; }
};

void PrintTo(const StoreSnapshot& s, std::ostream* os) {
  for (const auto& [id, row] : s.rows) *os << id << "=" << row << " ";
}

// A real Orchestrator (no workers unless StartWorkers) behind a real gRPC
// control server with the test auth config (viewer / operator / approver).
class Harness {
 public:
  Harness() : store_(store::NewMemoryControlStore(Clock::Real())), factory_(&fake_) {
    engine::OrchestratorOptions o;
    o.identity = "api-only";
    o.tick = absl::Milliseconds(5);
    o.scan_interval = absl::Milliseconds(20);
    orch_ = std::make_unique<engine::Orchestrator>(store_.get(), &factory_, Clock::Real(), o);
  }
  ~Harness() {
    if (server_ != nullptr) server_->Shutdown(absl::Seconds(2));
    if (workers_ != nullptr) workers_->Stop();
  }
  void StartServer() {
    service::ServerConfig config;
    config.listen_address = "127.0.0.1:0";
    auto auth = service::ParseAuthConfig(service::testing::TestAuthConfigText(), "test");
    ASSERT_TRUE(auth.ok()) << auth.status();
    config.auth = *auth;
    auto server = service::StartControlServer(config, orch_.get(), nullptr, &port_);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(64 * 1024 * 1024);  // let oversized requests reach the server
    channel_ = grpc::CreateCustomChannel(address(), grpc::InsecureChannelCredentials(), args);
    stub_ = v1::CutoverService::NewStub(channel_);
  }
  // A second orchestrator on the same store that runs workers (adopts the
  // running cutovers), as a daemon would.
  engine::Orchestrator* StartWorkers() {
    engine::OrchestratorOptions o;
    o.identity = "worker";
    o.tick = absl::Milliseconds(5);
    o.scan_interval = absl::Milliseconds(20);
    o.undo_timeout = absl::Seconds(2);
    workers_ = std::make_unique<engine::Orchestrator>(store_.get(), &factory_, Clock::Real(), o);
    workers_->Start();
    return workers_.get();
  }
  void StopWorkers() {
    if (workers_ != nullptr) workers_->Stop();
  }

  // Stores a cutover directly in `phase` (as if a worker had driven it there).
  std::string Put(v1::Phase phase, const std::function<void(v1::Cutover&)>& tweak = nullptr) {
    v1::Cutover c;
    c.set_id(absl::StrCat("c-", v1::Phase_Name(phase), "-", ++n_));
    *c.mutable_plan() = GoodPlan();
    c.set_phase(phase);
    *c.mutable_phase_entered_at() = ToProtoTime(absl::Now());
    if (tweak) tweak(c);
    auto s = store_->Create(c, {v1::PHASE_UNSPECIFIED, phase, "test", "test-setup", ""});
    EXPECT_TRUE(s.ok()) << s.status();
    return c.id();
  }

  StoreSnapshot Snapshot() {
    StoreSnapshot out;
    auto all = store_->List({});
    EXPECT_TRUE(all.ok()) << all.status();
    if (!all.ok()) return out;
    for (const auto& s : *all) {
      auto t = store_->Transitions(s.cutover.id(), 0);
      out.rows[s.cutover.id()] = absl::StrCat(v1::Phase_Name(s.cutover.phase()), " v", s.version, " rows ",
                                              t.ok() ? static_cast<int64_t>(t->size()) : -1);
    }
    return out;
  }
  std::vector<v1::Transition> Timeline(const std::string& id) {
    auto t = store_->Transitions(id, 0);
    EXPECT_TRUE(t.ok()) << t.status();
    return t.ok() ? *t : std::vector<v1::Transition>{};
  }
  int CountActions(const std::string& id, const std::string& action) {
    int n = 0;
    for (const auto& t : Timeline(id)) n += t.action() == action;
    return n;
  }
  v1::Phase PhaseOf(const std::string& id) {
    auto s = store_->Get(id);
    return s.ok() ? s->cutover.phase() : v1::PHASE_UNSPECIFIED;
  }
  bool WaitPhase(const std::string& id, v1::Phase phase) {
    return service::testing::Eventually([&] { return PhaseOf(id) == phase; });
  }

  // The daemon still answers an authenticated read.
  void ExpectServing() {
    grpc::ClientContext ctx;
    service::testing::PrepareContext(&ctx, kViewerToken, 10);
    v1::ListResponse resp;
    grpc::Status st = stub_->List(&ctx, v1::ListRequest(), &resp);
    EXPECT_TRUE(st.ok()) << "the server stopped answering: " << st.error_message();
  }

  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  engine::Orchestrator* orch() { return orch_.get(); }
  v1::CutoverService::Stub* stub() { return stub_.get(); }
  std::shared_ptr<grpc::Channel> channel() { return channel_; }
  engine::FakeBackend& fake() { return fake_; }

 private:
  engine::FakeBackend fake_;
  std::unique_ptr<store::ControlStore> store_;
  engine::FakeFactory factory_;
  std::unique_ptr<engine::Orchestrator> orch_;
  std::unique_ptr<engine::Orchestrator> workers_;
  std::unique_ptr<service::ControlServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::CutoverService::Stub> stub_;
  int port_ = 0;
  int n_ = 0;
};

// ---------------------------------------------------------------------------
// Plan files: the real cutoverctl, exit code and message.

std::string CtlPath() {
  const char* dir = std::getenv("CUTOVER_BINARY_DIR");
  return std::string(dir != nullptr ? dir : CUTOVER_DEFAULT_BINARY_DIR) + "/orchestrator/tools/cutoverctl";
}

class PlanFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/badinput-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_NO_FATAL_FAILURE(h_.StartServer());
  }
  void TearDown() override {
    CommandSpec rm;
    rm.argv = {"rm", "-rf", dir_};
    (void)RunCommand(rm);
  }
  CommandResult Ctl(const std::vector<std::string>& args) {
    CommandSpec spec;
    spec.argv = {CtlPath(), "--server", h_.address(), "--token", kOperatorToken};
    spec.argv.insert(spec.argv.end(), args.begin(), args.end());
    spec.env = {{"CUTOVER_TOKEN", ""}, {"CUTOVER_SERVER", ""}};
    spec.timeout = absl::Seconds(60);
    auto r = RunCommand(spec);
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? *r : CommandResult{};
  }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  Harness h_;
  std::string dir_;
};

struct PlanFileCase {
  const char* name;
  std::string text;
  int exit_code;
  std::vector<std::string> says;  // substrings of stderr
};

// A complete, valid plan as JSON with `members` spliced in (later members of
// the same name are a JSON duplicate that protobuf takes last-wins, so the
// rows below replace whole sections instead).
std::string PlanJson(const std::string& replace_section = "", const std::string& with = "") {
  std::map<std::string, std::string> sections = {
      {"name", R"("badinput")"},
      {"blue", R"({"dsn": "host=blue dbname=hydra"})"},
      {"green", R"({"dsn": "host=green dbname=hydra"})"},
      {"queue", R"({"postgres": {"dsn": "host=control dbname=cutover"}})"},
      {"router", R"({"command": {"pause": "true"}})"},
      {"capture", R"({"profile": "hydra"})"},
      {"flip", R"({"flip_timeout": "5s", "max_backlog": 10})"},
  };
  if (!replace_section.empty()) {
    if (with.empty()) {
      sections.erase(replace_section);
    } else {
      sections[replace_section] = with;
    }
  }
  std::string out = "{\n";
  bool first = true;
  for (const auto& [k, v] : sections) {
    absl::StrAppend(&out, first ? "" : ",\n", "  \"", k, "\": ", v);
    first = false;
  }
  return out + "\n}\n";
}

TEST_F(PlanFileTest, EveryMalformedPlanFileIsAUsageErrorNamingWhereAndWhat) {
  const std::vector<PlanFileCase> cases = {
      // Syntax: FILE:LINE:COLUMN and what was expected.
      {"missing_comma", "{\n  \"name\": \"x\"\n  \"blue\": {}\n}\n", 2, {":3:3: syntax error", "expected ',' or '}'"}},
      {"trailing_comma", "{\"name\": \"x\",}", 2, {":1:14: syntax error", "trailing comma"}},
      {"unterminated_string", "{\n\"name\": \"x}\n", 2, {":2:12: syntax error", "line break before the closing"}},
      {"truncated", "{\"name\": \"x\", \"blue\": {\"dsn\": \"a\"}", 2, {"syntax error", "missing '}'"}},
      {"single_quotes", "{'name': 'x'}", 2, {":1:2: syntax error", "double quotes"}},
      {"bare_word", "{\"name\": hydra}", 2, {":1:10: syntax error", "expected a value"}},
      {"text_after", "{\"name\": \"x\"} trailing", 2, {":1:15: syntax error", "after the plan's closing"}},
      {"empty_file", "", 2, {"the plan file is empty"}},
      {"top_level_array", "[{\"name\": \"x\"}]", 2, {":1:1: syntax error", "expected a JSON object"}},
      {"binary_garbage", std::string("\x89PNG\r\n\x1a\n\0\0", 10), 2, {":1:1: syntax error"}},
      // Unknown fields: refused, named with their path.
      {"unknown_top_field", PlanJson("bleu", R"({"dsn": "x"})"), 2, {"bleu", "Cannot find field"}},
      {"unknown_nested_field", PlanJson("flip", R"({"flip_timeout": "5s", "maxBacklogg": 3})"), 2,
       {"(flip) maxBacklogg", "Cannot find field"}},
      // Wrong types: the field path and the type expected.
      {"string_for_int", PlanJson("copy", R"({"table_jobs": "many"})"), 2, {"copy.table_jobs", "many", "INT32"}},
      {"bad_duration", PlanJson("flip", R"({"flip_timeout": "thirty"})"), 2, {"flip.flip_timeout", "duration"}},
      // protobuf also takes "true"/"yes"/"1" (and "false"/"no"/"0") for a bool.
      {"string_for_bool", PlanJson("flip", R"({"auto_flip": "maybe"})"), 2, {"flip.auto_flip", "maybe"}},
      {"string_for_message", PlanJson("blue", R"("host=blue")"), 2, {"blue"}},
      {"array_for_message", PlanJson("capture", R"(["hydra"])"), 2, {"capture"}},
      {"number_for_string", PlanJson("name", "42"), 2, {"name"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = Write(absl::StrCat(c.name, ".json"), c.text);
    for (const char* cmd : {"validate", "plan"}) {
      CommandResult r = Ctl({cmd, path});
      EXPECT_EQ(r.exit_code, c.exit_code) << cmd << " stderr: " << r.err;
      EXPECT_THAT(r.err, HasSubstr(absl::StrCat("cutoverctl: ", cmd, ": ", path)));
      for (const auto& s : c.says) EXPECT_THAT(r.err, HasSubstr(s)) << cmd;
      // One line: no multi-line snippet of the file.
      EXPECT_LE(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    }
  }
  CommandResult r = Ctl({"plan", dir_ + "/no-such-plan.json"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("cannot read plan file"));
  EXPECT_THAT(r.err, HasSubstr("No such file or directory"));
  EXPECT_TRUE(h_.Snapshot().rows.empty()) << "nothing reached the store";
  h_.ExpectServing();
}

TEST_F(PlanFileTest, PlansMissingOrInvalidFieldsAreRefusedByTheServerNamingTheField) {
  const std::vector<PlanFileCase> cases = {
      {"empty_object", "{}", 1, {"plan.name is empty", "plan.blue.dsn is empty", "plan.green.dsn is empty",
                                 "plan.queue: set postgres or kafka", "plan.router: set pgbouncer or command",
                                 "plan.capture: set profile"}},
      {"no_blue", PlanJson("blue", ""), 1, {"plan.blue.dsn is empty"}},
      {"no_queue_dsn", PlanJson("queue", R"({"postgres": {}})"), 1, {"plan.queue.postgres.dsn is empty"}},
      {"kafka_without_topic", PlanJson("queue", R"({"kafka": {"bootstrap_servers": "127.0.0.1:9092"}})"), 1,
       {"plan.queue.kafka.topic is empty"}},
      {"same_blue_green", PlanJson("green", R"({"dsn": "host=blue dbname=hydra"})"), 1,
       {"plan.green.dsn is the same as plan.blue.dsn"}},
      {"dsn_syntax", PlanJson("blue", R"({"dsn": "host=blue port"})"), 1, {"plan.blue.dsn is malformed"}},
      {"dsn_unknown_option", PlanJson("green", R"({"dsn": "host=green colour=green"})"), 1,
       {"plan.green.dsn is malformed", "colour"}},
      {"dsn_bad_uri", PlanJson("queue", R"({"postgres": {"dsn": "postgresql://[::1"}})"), 1,
       {"plan.queue.postgres.dsn is malformed"}},
      {"negative_timeout", PlanJson("flip", R"({"flip_timeout": "-5s"})"), 1, {"plan.flip.flip_timeout is negative"}},
      {"negative_backlog", PlanJson("flip", R"({"max_backlog": "-1"})"), 1, {"plan.flip.max_backlog is negative"}},
      {"negative_jobs", PlanJson("copy", R"({"table_jobs": -2})"), 1, {"plan.copy.table_jobs is negative"}},
      {"unknown_lint_rule", PlanJson("migration", R"({"dir": "/m", "allowed_lint_rules": ["no-such-rule"]})"), 1,
       {"plan.migration.allowed_lint_rules[0]: unknown rule \"no-such-rule\""}},
      {"dir_and_command", PlanJson("migration", R"({"dir": "/m", "command": "true"})"), 1,
       {"plan.migration: set dir or command, not both"}},
      {"long_name", PlanJson("name", absl::StrCat("\"", std::string(200, 'n'), "\"")), 1,
       {"plan.name is 200 bytes long (expected a short name, at most 128)"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string path = Write(absl::StrCat(c.name, ".json"), c.text);
    for (const char* cmd : {"validate", "plan"}) {
      CommandResult r = Ctl({cmd, path});
      EXPECT_EQ(r.exit_code, c.exit_code) << cmd << " stderr: " << r.err;
      for (const auto& s : c.says) EXPECT_THAT(r.err, HasSubstr(s)) << cmd;
      EXPECT_THAT(r.err, ::testing::Not(HasSubstr("password"))) << "no secret in errors";
    }
  }
  EXPECT_TRUE(h_.Snapshot().rows.empty()) << "a refused plan is never stored";
  // The same plan, fixed, is accepted: the rows above failed for their reason only.
  CommandResult ok = Ctl({"plan", Write("good.json", PlanJson())});
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  EXPECT_EQ(h_.Snapshot().rows.size(), 1u);
}

// cutoverd's own command line: usage errors exit 2 naming the flag, an
// unusable control database exits 1 naming it, no password in either, and
// nothing is left running.
TEST(DaemonFlagsTest, BadFlagsExit2AndAnUnusableControlStoreExits1WithoutSecrets) {
  const char* dir = std::getenv("CUTOVER_BINARY_DIR");
  const std::string cutoverd = std::string(dir != nullptr ? dir : CUTOVER_DEFAULT_BINARY_DIR) +
                               "/orchestrator/tools/cutoverd";
  const std::string unreachable = "host=127.0.0.1 port=1 dbname=cutover user=cutover password=topsecret";
  struct FlagCase {
    std::vector<std::string> args;
    int exit_code;
    std::vector<std::string> says;
  };
  const std::vector<FlagCase> cases = {
      {{"--listen", "127.0.0.1:0", "--insecure-local"}, 2, {"--control-dsn is required"}},
      {{"--control-dsn", unreachable, "--listne", "127.0.0.1:0"}, 2, {"--listne"}},
      {{"--control-dsn", unreachable, "--lease-ttl", "-5"}, 2, {"--lease-ttl", "-5"}},
      {{"--control-dsn", unreachable, "--auth-config", "/nonexistent/auth.conf"}, 2, {"--auth-config", "/nonexistent"}},
      {{"--control-dsn", unreachable, "--log-level", "loud"}, 2, {"--log-level", "loud"}},
      {{"--control-dsn", "host=127.0.0.1 password=top secret", "--listen", "127.0.0.1:0", "--insecure-local"}, 1,
       {"control database DSN is malformed"}},
      {{"--control-dsn", unreachable, "--listen", "127.0.0.1:0", "--insecure-local"}, 1,
       {"cannot connect to control database at 127.0.0.1:1/cutover"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(absl::StrJoin(c.args, " "));
    CommandSpec spec;
    spec.argv = {cutoverd};
    spec.argv.insert(spec.argv.end(), c.args.begin(), c.args.end());
    spec.timeout = absl::Seconds(60);
    auto r = RunCommand(spec);
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_FALSE(r->timed_out) << "cutoverd kept running on bad input";
    EXPECT_EQ(r->exit_code, c.exit_code) << r->err;
    for (const auto& s : c.says) EXPECT_THAT(r->err, HasSubstr(s));
    EXPECT_THAT(r->err + r->out, ::testing::Not(HasSubstr("secret"))) << "a password reached the output";
  }
}

// Malformed DSNs: the error names the field and libpq's reason, but never a
// piece of the password (libpq quotes the offending word of the DSN).
TEST(DsnSyntaxTest, MalformedDsnErrorsNameTheFieldButNoSecret) {
  struct DsnCase {
    std::string dsn;
    std::string says;
    std::string secret;
  };
  const std::vector<DsnCase> cases = {
      {"host=blue password=se cret", "missing \"=\" after \"***\"", "cret"},
      {"host=blue password=secret cret=1", "invalid connection option \"***\"", "cret"},
      {"postgresql://app:sec%zzret@blue/hydra", "invalid percent-encoded token: \"***\"", "zzret"},
      {"postgresql://app:s3cr3t@[::1/hydra", "matching \"]\"", "s3cr3t"},
      {"host=blue pasword=x", "invalid connection option \"pasword\"", "\x01"},
      {"host=blue password='top secret' colour=blue", "invalid connection option \"colour\"", "secret"},
      {"host=blue password=top secret colour=blue", "missing \"=\" after \"***\"", "secret"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.dsn);
    absl::StatusOr<pg::DsnOptions> o = pg::ParseDsn(c.dsn, "plan.blue.dsn");
    ASSERT_EQ(o.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(o.status().message(), HasSubstr("plan.blue.dsn is malformed"));
    EXPECT_THAT(o.status().message(), HasSubstr(c.says));
    EXPECT_THAT(o.status().message(), ::testing::Not(HasSubstr(c.secret)));
    v1::Plan plan = GoodPlan();
    plan.mutable_blue()->set_dsn(c.dsn);
    absl::Status st = engine::ValidatePlanFields(plan);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(st.message(), ::testing::Not(HasSubstr(c.secret)));
  }
}

// ---------------------------------------------------------------------------
// gRPC: oversized and malformed messages.

class GrpcBadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(h_.StartServer());
    id_ = h_.Put(v1::PHASE_READY);
  }
  Harness h_;
  std::string id_;
};

TEST_F(GrpcBadInputTest, OversizedRequestIsResourceExhaustedAndTheDaemonCarriesOn) {
  const StoreSnapshot before = h_.Snapshot();
  v1::CreatePlanRequest req;
  *req.mutable_plan() = GoodPlan();
  req.mutable_plan()->set_name(std::string(5 * 1024 * 1024, 'x'));  // above the 4 MiB server limit
  grpc::ClientContext ctx;
  service::testing::PrepareContext(&ctx, kOperatorToken);
  v1::Cutover resp;
  grpc::Status st = h_.stub()->CreatePlan(&ctx, req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
  EXPECT_THAT(st.error_message(), HasSubstr("larger than max"));
  EXPECT_THAT(st.error_message(), HasSubstr("4194304"));
  EXPECT_EQ(h_.Snapshot(), before);
  h_.ExpectServing();
  // Just under the limit passes the transport (and is then refused for its
  // field), so the limit is the server's, not an accident.
  v1::ValidatePlanRequest under;
  *under.mutable_plan() = GoodPlan();
  under.mutable_plan()->set_name(std::string(3 * 1024 * 1024, 'y'));
  grpc::ClientContext ctx2;
  service::testing::PrepareContext(&ctx2, kViewerToken);
  v1::ValidationResult vr;
  st = h_.stub()->ValidatePlan(&ctx2, under, &vr);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
  EXPECT_THAT(st.error_message(), HasSubstr("plan.name is 3145728 bytes long"));
}

TEST_F(GrpcBadInputTest, GarbageBytesToEveryMethodAreRefusedWithoutCrashOrChange) {
  const StoreSnapshot before = h_.Snapshot();
  const std::vector<std::string> payloads = {
      std::string("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11),  // overlong varint tag
      std::string("\x0a\xff\xff\xff\x0f", 5),                        // field 1, length ~4 GB
      std::string("\x0a\x05\x61\x62", 4),                            // truncated length-delimited
      std::string("\x0b\x14", 2),                                    // group 1 closed as group 2
  };
  for (const char* method : {"CreatePlan", "ValidatePlan", "Start", "Get", "Approve", "Abort", "Rollback", "Watch"}) {
    for (size_t i = 0; i < payloads.size(); ++i) {
      SCOPED_TRACE(absl::StrCat(method, " payload ", i));
      grpc::Status st = badinput::RawUnary(h_.channel(), absl::StrCat("/cutover.v1.CutoverService/", method), payloads[i],
                                          kApproverToken);
      // gRPC refuses it before any handler (and any auth check) runs:
      // INTERNAL with protobuf's InitializationErrorString(), empty for
      // proto3 messages. No cutover code sees the bytes.
      EXPECT_EQ(st.error_code(), grpc::StatusCode::INTERNAL) << st.error_message();
    }
  }
  EXPECT_EQ(h_.Snapshot(), before);
  h_.ExpectServing();
}

TEST_F(GrpcBadInputTest, UnknownIdsAndUnknownMethodsAreNamed) {
  const StoreSnapshot before = h_.Snapshot();
  for (const char* id : {"no-such-cutover", ""}) {
    grpc::ClientContext ctx;
    service::testing::PrepareContext(&ctx, kApproverToken);
    v1::StartRequest req;
    req.set_id(id);
    v1::Cutover resp;
    grpc::Status st = h_.stub()->Start(&ctx, req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND) << st.error_message();
    EXPECT_THAT(st.error_message(), HasSubstr(absl::StrCat("no cutover with id ", id)));
  }
  grpc::Status st = badinput::RawUnary(h_.channel(), "/cutover.v1.CutoverService/DropEverything", "", kApproverToken);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNIMPLEMENTED) << st.error_message();
  EXPECT_EQ(h_.Snapshot(), before);
  h_.ExpectServing();
}

// ---------------------------------------------------------------------------
// Unauthenticated and wrong-role calls: refused before anything happens.

TEST_F(GrpcBadInputTest, UnauthenticatedAndWrongRoleCallsChangeNothing) {
  struct AuthCase {
    const char* who;
    std::string token;
    grpc::StatusCode code;
    std::vector<std::string> says;
  };
  const std::vector<AuthCase> cases = {
      {"no token", "", grpc::StatusCode::UNAUTHENTICATED, {}},
      {"unknown token", "not-a-configured-token", grpc::StatusCode::UNAUTHENTICATED, {}},
      {"viewer", kViewerToken, grpc::StatusCode::PERMISSION_DENIED, {"needs role", "token:dash has role viewer"}},
  };
  const StoreSnapshot before = h_.Snapshot();
  for (const auto& c : cases) {
    SCOPED_TRACE(c.who);
    auto expect = [&](const char* method, const grpc::Status& st) {
      EXPECT_EQ(st.error_code(), c.code) << method << ": " << st.error_message();
      for (const auto& s : c.says) EXPECT_THAT(st.error_message(), HasSubstr(s)) << method;
      EXPECT_THAT(st.error_message(), ::testing::Not(HasSubstr("not-a-configured-token"))) << "token echoed";
    };
    v1::Cutover resp;
    const std::vector<std::pair<const char*, std::function<grpc::Status(grpc::ClientContext*)>>> calls = {
        {"CreatePlan",
         [&](grpc::ClientContext* ctx) {
           v1::CreatePlanRequest req;
           *req.mutable_plan() = GoodPlan();
           return h_.stub()->CreatePlan(ctx, req, &resp);
         }},
        {"Approve",
         [&](grpc::ClientContext* ctx) {
           v1::ApproveRequest req;
           req.set_id(id_);
           return h_.stub()->Approve(ctx, req, &resp);
         }},
        {"Abort",
         [&](grpc::ClientContext* ctx) {
           v1::AbortRequest req;
           req.set_id(id_);
           return h_.stub()->Abort(ctx, req, &resp);
         }},
        {"Pause",
         [&](grpc::ClientContext* ctx) {
           v1::PauseRequest req;
           req.set_id(id_);
           return h_.stub()->Pause(ctx, req, &resp);
         }},
    };
    for (const auto& [method, call] : calls) {
      grpc::ClientContext ctx;
      service::testing::PrepareContext(&ctx, c.token);
      expect(method, call(&ctx));
    }
  }
  // An operator may not approve: the message names both roles.
  grpc::ClientContext ctx;
  service::testing::PrepareContext(&ctx, kOperatorToken);
  v1::ApproveRequest req;
  req.set_id(id_);
  v1::Cutover resp;
  grpc::Status st = h_.stub()->Approve(&ctx, req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(st.error_message(), HasSubstr("Approve needs role approver; token:ops-1 has role operator"));
  EXPECT_EQ(h_.Snapshot(), before);
  h_.ExpectServing();
}

// ---------------------------------------------------------------------------
// Commands in the wrong phase: FAILED_PRECONDITION naming the current phase
// and what the command needs; the cutover (phase, version, timeline) is
// unchanged. The table is the whole phase x command matrix: a command not
// listed as allowed in a phase must be refused there.

using Command = absl::StatusOr<v1::Cutover> (*)(engine::Orchestrator*, const std::string&);

struct CommandRow {
  const char* name;
  Command call;
  std::set<v1::Phase> allowed;
  const char* needs;  // substring of the refusal that says what is allowed
};

TEST(WrongPhaseTest, EveryCommandInEveryPhaseWhereItIsNotAllowedIsRefusedWithoutChange) {
  Harness h;
  const std::vector<CommandRow> commands = {
      {"start", [](engine::Orchestrator* o, const std::string& id) { return o->Start(id, kLead); },
       {v1::PHASE_PLANNED}, "start needs PLANNED"},
      {"pause", [](engine::Orchestrator* o, const std::string& id) { return o->Pause(id, "", kLead); },
       {v1::PHASE_COPYING, v1::PHASE_INDEXING, v1::PHASE_VERIFYING_COPY, v1::PHASE_CATCHING_UP, v1::PHASE_READY},
       "pause needs COPYING, INDEXING, VERIFYING_COPY, CATCHING_UP or READY"},
      {"resume", [](engine::Orchestrator* o, const std::string& id) { return o->Resume(id, "", kLead); },
       {v1::PHASE_PAUSED, v1::PHASE_FAILED}, "resume needs PAUSED or FAILED"},
      {"approve", [](engine::Orchestrator* o, const std::string& id) { return o->Approve(id, "", kLead); },
       {v1::PHASE_CAPTURING, v1::PHASE_COPYING, v1::PHASE_INDEXING, v1::PHASE_VERIFYING_COPY, v1::PHASE_MIGRATING,
        v1::PHASE_CATCHING_UP, v1::PHASE_READY, v1::PHASE_PAUSED},
       "approve needs a phase from CAPTURING to READY, or PAUSED"},
      {"abort", [](engine::Orchestrator* o, const std::string& id) { return o->Abort(id, "", kLead); },
       {v1::PHASE_PLANNED, v1::PHASE_CAPTURING, v1::PHASE_COPYING, v1::PHASE_INDEXING, v1::PHASE_VERIFYING_COPY,
        v1::PHASE_MIGRATING, v1::PHASE_CATCHING_UP, v1::PHASE_READY, v1::PHASE_PAUSED, v1::PHASE_FAILED},
       "abort needs a phase before FLIPPING"},
      // DRAINING and COMPLETED allow a rollback only with a rollback window
      // (refused below with the reason: this plan has none).
      {"rollback", [](engine::Orchestrator* o, const std::string& id) { return o->Rollback(id, "", kLead); },
       {v1::PHASE_DRAINING, v1::PHASE_COMPLETED}, "rollback needs DRAINING or COMPLETED"},
  };
  int refused = 0;
  for (int p = v1::PHASE_PLANNED; p <= v1::PHASE_ROLLED_BACK; ++p) {
    const auto phase = static_cast<v1::Phase>(p);
    const std::string name = engine::PhaseName(phase);
    for (const CommandRow& cmd : commands) {
      if (cmd.allowed.count(phase) && std::string(cmd.name) != "rollback") continue;
      SCOPED_TRACE(absl::StrCat(cmd.name, " in ", name));
      // FAILED before the flip (resume/abort are allowed there).
      const std::string id = h.Put(phase, [](v1::Cutover& c) {
        if (c.phase() == v1::PHASE_FAILED) c.set_failed_phase(v1::PHASE_COPYING);
        if (c.phase() == v1::PHASE_PAUSED) c.set_paused_phase(v1::PHASE_COPYING);
      });
      const StoreSnapshot before = h.Snapshot();
      absl::StatusOr<v1::Cutover> r = cmd.call(h.orch(), id);
      EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
      if (cmd.allowed.count(phase)) {
        EXPECT_THAT(r.status().message(), HasSubstr("plan.flip.rollback_window is 0"));
      } else {
        EXPECT_THAT(r.status().message(), HasSubstr(absl::StrCat("is in ", name)));
        EXPECT_THAT(r.status().message(), HasSubstr(cmd.needs));
      }
      EXPECT_EQ(h.Snapshot(), before) << "a refused command changed the store";
      ++refused;
    }
  }
  EXPECT_GE(refused, 60);
  // Hints where the operator likely wanted another command.
  const std::string ready = h.Put(v1::PHASE_READY);
  EXPECT_THAT(h.orch()->Rollback(ready, "", kLead).status().message(), HasSubstr("use abort"));
  const std::string draining = h.Put(v1::PHASE_DRAINING);
  EXPECT_THAT(h.orch()->Abort(draining, "", kLead).status().message(), HasSubstr("use rollback"));
  const std::string planned = h.Put(v1::PHASE_PLANNED);
  EXPECT_THAT(h.orch()->Approve(planned, "", kLead).status().message(), HasSubstr("start it first"));
  // FAILED after traffic moved to green: abort would lose green's writes.
  const std::string failed_after =
      h.Put(v1::PHASE_FAILED, [](v1::Cutover& c) { c.set_failed_phase(v1::PHASE_DRAINING); });
  absl::Status st = h.orch()->Abort(failed_after, "", kLead).status();
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(st.message(), HasSubstr("abort would lose green's writes"));
}

// ---------------------------------------------------------------------------
// A repeated approve is idempotent: OK with the cutover as it is, no second
// request, one flip.

TEST(RepeatedApproveTest, ASecondApproveIsIdempotentAndTheFlipHappensOnce) {
  Harness h;
  v1::Plan plan = GoodPlan();
  plan.mutable_flip()->set_auto_flip(false);
  absl::StatusOr<v1::Cutover> created = h.orch()->CreatePlan(plan, kLead);
  ASSERT_TRUE(created.ok()) << created.status();
  const std::string id = created->id();
  ASSERT_TRUE(h.orch()->Start(id, kLead).ok());
  h.StartWorkers();
  ASSERT_TRUE(h.WaitPhase(id, v1::PHASE_READY));
  // Stop the worker so that both approves land before anyone handles them.
  h.StopWorkers();
  absl::StatusOr<v1::Cutover> first = h.orch()->Approve(id, "CHG-1", kLead);
  ASSERT_TRUE(first.ok()) << first.status();
  const StoreSnapshot after_first = h.Snapshot();
  absl::StatusOr<v1::Cutover> second = h.orch()->Approve(id, "CHG-1 retried", kLead);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->phase(), v1::PHASE_READY);
  EXPECT_EQ(h.Snapshot(), after_first) << "the pending approve was not requested twice";
  EXPECT_EQ(h.CountActions(id, "request:approve"), 1);

  h.StartWorkers();
  ASSERT_TRUE(h.WaitPhase(id, v1::PHASE_COMPLETED));
  EXPECT_EQ(h.CountActions(id, "approved"), 1);
  EXPECT_EQ(h.CountActions(id, "flip"), 1);
  // After the flip: refused, naming the phase.
  absl::Status late = h.orch()->Approve(id, "", kLead).status();
  EXPECT_EQ(late.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(late.message(), HasSubstr("is in COMPLETED"));
  h.StopWorkers();  // the rows below are not driven

  // Already approved (stored): OK, nothing recorded.
  const std::string approved = h.Put(v1::PHASE_CATCHING_UP, [](v1::Cutover& c) { c.set_approved(true); });
  const StoreSnapshot before = h.Snapshot();
  absl::StatusOr<v1::Cutover> again = h.orch()->Approve(approved, "", kLead);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->approved());
  EXPECT_EQ(h.Snapshot(), before);
}

// ---------------------------------------------------------------------------
// Capture rules that cannot be right whatever the database: refused before
// anything is installed, naming the rule and field (the catalog checks —
// missing table / column, wrong type — are in badinput_pgtest).

TEST(CaptureRuleSyntaxTest, MalformedRulesAreRefusedNamingRuleAndField) {
  auto rule = [] {
    v1::CaptureRule r;
    r.set_name("app.token.delete");
    r.set_table("public.tokens");
    r.set_on_delete(true);
    r.add_key_columns("id");
    r.add_apply("DELETE FROM public.tokens WHERE id = :id");
    return r;
  };
  struct RuleCase {
    const char* name;
    std::function<void(v1::CaptureRule&)> tweak;
    std::string says;
  };
  const std::vector<RuleCase> cases = {
      {"no_schema", [](v1::CaptureRule& r) { r.set_table("tokens"); }, "capture.rules[app.token.delete].table"},
      {"no_key", [](v1::CaptureRule& r) { r.clear_key_columns(); }, "capture.rules[app.token.delete].key_columns"},
      {"no_trigger", [](v1::CaptureRule& r) { r.set_on_delete(false); }, "capture.rules[app.token.delete]"},
      {"insert_apply", [](v1::CaptureRule& r) { r.set_apply(0, "INSERT INTO public.tokens VALUES (:id)"); },
       "capture.rules[app.token.delete].apply[0]"},
      {"two_statements",
       [](v1::CaptureRule& r) { r.set_apply(0, "DELETE FROM public.tokens WHERE id = :id; DROP TABLE x"); },
       "capture.rules[app.token.delete].apply[0]"},
      {"unknown_placeholder",
       [](v1::CaptureRule& r) { r.set_apply(0, "DELETE FROM public.tokens WHERE id = :ident"); }, "ident"},
      {"bad_name", [](v1::CaptureRule& r) { r.set_name("Bad Name!"); }, "capture.rules[0].name"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    v1::CaptureOptions o;
    o.set_profile("generic");
    *o.add_rules() = rule();
    c.tweak(*o.mutable_rules(0));
    absl::StatusOr<std::vector<v1::CaptureRule>> r = replay::ResolveRules(o);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
    EXPECT_THAT(r.status().message(), HasSubstr(c.says));
  }
  v1::CaptureOptions unknown_profile;
  unknown_profile.set_profile("hydra3");
  EXPECT_THAT(replay::ResolveRules(unknown_profile).status().message(), HasSubstr("hydra3"));
}

}  // namespace
}  // namespace cutover
