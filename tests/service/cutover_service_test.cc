// CutoverService over real gRPC (in-process server on a free loopback port)
// and a fake CutoverApi: auth and roles, the caller reaching the API, server
// guardrails, health, reflection, Watch streaming, ending and cancellation.
#include "cutover/service/cutover_service.h"

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "absl/time/clock.h"
#include "cutover/common/subprocess.h"
#include "cutover/service/auth.h"
#include "cutover/service/server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_server.h"

namespace cutover::service {
namespace {

using testing::Eventually;
using testing::FakeCutoverApi;
using ::testing::HasSubstr;
using testing::kApproverToken;
using testing::kOperatorToken;
using testing::kViewerToken;
using ::testing::Not;
using testing::PrepareContext;
using testing::TestServer;
namespace v1 = cutover::v1;

// One request, one response over a generic (schema-less) call: used for the
// health and reflection services, whose generated stubs are not installed.
std::string RawCall(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                    const std::string& request, grpc::Status* status) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  void* tag;
  bool ok;
  auto call = stub.PrepareCall(&ctx, method, &cq);
  call->StartCall(reinterpret_cast<void*>(1));
  cq.Next(&tag, &ok);
  grpc::Slice slice(request);
  grpc::ByteBuffer req(&slice, 1);
  call->Write(req, reinterpret_cast<void*>(2));
  cq.Next(&tag, &ok);
  call->WritesDone(reinterpret_cast<void*>(3));
  cq.Next(&tag, &ok);
  grpc::ByteBuffer resp;
  call->Read(&resp, reinterpret_cast<void*>(4));
  cq.Next(&tag, &ok);
  const bool got = ok;
  call->Finish(status, reinterpret_cast<void*>(5));
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  std::string out;
  if (got) {
    std::vector<grpc::Slice> slices;
    (void)resp.Dump(&slices);
    for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

class CutoverServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.Start();
    server_.api.AddForTest("c1", v1::PHASE_PLANNED);
  }
  grpc::Status StartAs(const std::string& token, const std::string& id = "c1") {
    grpc::ClientContext ctx;
    PrepareContext(&ctx, token);
    v1::StartRequest req;
    req.set_id(id);
    v1::Cutover resp;
    return server_.stub->Start(&ctx, req, &resp);
  }
  grpc::Status ApproveAs(const std::string& token) {
    grpc::ClientContext ctx;
    PrepareContext(&ctx, token);
    v1::ApproveRequest req;
    req.set_id("c1");
    req.set_reason("change ticket 42");
    v1::Cutover resp;
    return server_.stub->Approve(&ctx, req, &resp);
  }
  TestServer server_;
};

// The plan's secrets stay on the server: DSN passwords and Kafka credentials
// are "***" in every Cutover a client receives (Get, List, Watch, CreatePlan).
TEST_F(CutoverServiceTest, PlanSecretsNeverReachClients) {
  server_.api.MutateForTest("c1", [](v1::Cutover& c) {
    v1::Plan* p = c.mutable_plan();
    p->mutable_blue()->set_dsn("host=blue user=app password=s3cret-blue dbname=hydra");
    p->mutable_green()->set_dsn("postgresql://app:s3cret-green@green:5432/hydra");
    p->mutable_router()->mutable_pgbouncer()->set_admin_dsn("host=pgb port=6432 password='s3cret admin'");
    auto* props = p->mutable_queue()->mutable_kafka()->mutable_properties();
    (*props)["sasl.password"] = "s3cret-kafka";
    (*props)["ssl.key.password"] = "s3cret-key";
    (*props)["security.protocol"] = "SASL_SSL";
  });
  grpc::ClientContext ctx;
  PrepareContext(&ctx, kViewerToken);
  v1::GetRequest req;
  req.set_id("c1");
  v1::Cutover got;
  ASSERT_TRUE(server_.stub->Get(&ctx, req, &got).ok());
  const std::string text = got.DebugString();
  EXPECT_EQ(text.find("s3cret"), std::string::npos) << text;
  EXPECT_THAT(got.plan().blue().dsn(), HasSubstr("password='***'"));
  EXPECT_THAT(got.plan().blue().dsn(), HasSubstr("blue"));
  EXPECT_EQ(got.plan().queue().kafka().properties().at("sasl.password"), "***");
  EXPECT_EQ(got.plan().queue().kafka().properties().at("security.protocol"), "SASL_SSL");
  grpc::ClientContext lctx;
  PrepareContext(&lctx, kViewerToken);
  v1::ListResponse list;
  ASSERT_TRUE(server_.stub->List(&lctx, v1::ListRequest(), &list).ok());
  EXPECT_EQ(list.DebugString().find("s3cret"), std::string::npos);
  grpc::ClientContext wctx;
  PrepareContext(&wctx, kViewerToken);
  v1::WatchRequest wreq;
  wreq.set_id("c1");
  auto reader = server_.stub->Watch(&wctx, wreq);
  v1::WatchEvent ev;
  ASSERT_TRUE(reader->Read(&ev));
  EXPECT_EQ(ev.DebugString().find("s3cret"), std::string::npos);
  wctx.TryCancel();
  (void)reader->Finish();
}

TEST_F(CutoverServiceTest, NoTokenIsUnauthenticated) {
  grpc::ClientContext ctx;
  PrepareContext(&ctx, "");
  v1::GetRequest req;
  req.set_id("c1");
  v1::Cutover resp;
  grpc::Status st = server_.stub->Get(&ctx, req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(st.error_message(), HasSubstr("no credentials"));
  EXPECT_TRUE(server_.api.calls().empty());
}

TEST_F(CutoverServiceTest, UnknownOrMalformedTokenIsUnauthenticatedWithoutEchoingIt) {
  grpc::Status st = StartAs("not-a-configured-token-xyz");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(st.error_message(), Not(HasSubstr("not-a-configured-token-xyz")));

  grpc::ClientContext ctx;
  ctx.AddMetadata("authorization", std::string("Basic ") + kOperatorToken);
  v1::StartRequest req;
  req.set_id("c1");
  v1::Cutover resp;
  st = server_.stub->Start(&ctx, req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(st.error_message(), Not(HasSubstr(kOperatorToken)));
  EXPECT_TRUE(server_.api.calls().empty());
}

TEST_F(CutoverServiceTest, ViewerMayReadButStartIsDeniedNamingBothRoles) {
  grpc::ClientContext ctx;
  PrepareContext(&ctx, kViewerToken);
  v1::GetRequest req;
  req.set_id("c1");
  v1::Cutover resp;
  ASSERT_TRUE(server_.stub->Get(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.phase(), v1::PHASE_PLANNED);

  grpc::Status st = StartAs(kViewerToken);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(st.error_message(), HasSubstr("Start needs role operator"));
  EXPECT_THAT(st.error_message(), HasSubstr("token:dash has role viewer"));
  EXPECT_TRUE(server_.api.calls().empty());
}

TEST_F(CutoverServiceTest, OperatorMayNotApproveApproverMay) {
  server_.api.SetPhaseForTest("c1", v1::PHASE_READY);
  grpc::Status st = ApproveAs(kOperatorToken);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(st.error_message(), HasSubstr("Approve needs role approver"));
  EXPECT_THAT(st.error_message(), HasSubstr("has role operator"));
  EXPECT_TRUE(server_.api.calls().empty());

  st = ApproveAs(kApproverToken);
  ASSERT_TRUE(st.ok()) << st.error_message();
  auto calls = server_.api.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].method, "Approve");
  EXPECT_EQ(calls[0].caller.identity, "token:lead");
  EXPECT_EQ(calls[0].caller.role, engine::Role::kApprover);
  EXPECT_EQ(calls[0].reason, "change ticket 42");
}

TEST_F(CutoverServiceTest, CallerIdentityReachesTheApiAndErrorsKeepTheirCode) {
  ASSERT_TRUE(StartAs(kOperatorToken).ok());  // operator given as sha256: in the config
  auto calls = server_.api.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].caller.identity, "token:ops-1");
  EXPECT_EQ(calls[0].caller.role, engine::Role::kOperator);

  grpc::Status st = StartAs(kApproverToken);  // approver includes operator
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(st.error_message(), HasSubstr("needs phase PHASE_PLANNED"));
  st = StartAs(kOperatorToken, "nope");
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(st.error_message(), HasSubstr("'nope' does not exist"));
}

TEST(AuthTest, TokenLookupComparesEveryEntryInConstantTime) {
  auto config = ParseAuthConfig(testing::TestAuthConfigText(), "test");
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_EQ(config->tokens.size(), 3u);
  Authenticator auth(*config);
  // Whether the first, the last or no entry matches, every entry is compared.
  for (const char* token : {kViewerToken, kApproverToken, "unknown-token-0123456789"}) {
    const int64_t before = auth.TokenComparisonsForTest();
    auto found = auth.FindToken(token);
    EXPECT_EQ(auth.TokenComparisonsForTest() - before, 3) << token;
    EXPECT_EQ(found.ok(), std::string(token) != "unknown-token-0123456789");
  }
  EXPECT_EQ((*auth.FindToken(kOperatorToken))->name, "ops-1");
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
}

TEST(AuthTest, ConfigErrorsNameTheLineButNeverTheSecret) {
  auto bad_role = ParseAuthConfig("token supersecretvalue-123456 admin ops\n", "auth.conf");
  ASSERT_FALSE(bad_role.ok());
  EXPECT_THAT(bad_role.status().message(), HasSubstr("auth.conf:1: unknown role 'admin'"));
  EXPECT_THAT(bad_role.status().message(), Not(HasSubstr("supersecretvalue")));
  auto short_token = ParseAuthConfig("# x\ntoken short viewer v\n", "auth.conf");
  ASSERT_FALSE(short_token.ok());
  EXPECT_THAT(short_token.status().message(), HasSubstr("auth.conf:2: token for 'v' is shorter than 16"));
  EXPECT_THAT(short_token.status().message(), Not(HasSubstr("short ")));
  EXPECT_FALSE(ParseAuthConfig("token sha256:abcd viewer v\n").ok());
  EXPECT_FALSE(ParseAuthConfig("user bob viewer\n").ok());
  EXPECT_FALSE(
      ParseAuthConfig("token same-secret-0123456789 viewer a\ntoken same-secret-0123456789 operator b\n")
          .ok());
  EXPECT_THAT(ParseAuthConfig("cert alice approver extra\n").status().message(), HasSubstr("3 fields"));
}

TEST(AuthTest, RequiredRolePerRpc) {
  using engine::Role;
  const std::string p = "/cutover.v1.CutoverService/";
  for (const char* m : {"Get", "List", "Watch", "GetReport", "ListTransitions", "ValidatePlan"}) {
    EXPECT_EQ(RequiredRole(p + m), Role::kViewer) << m;
  }
  for (const char* m : {"CreatePlan", "Start", "Pause", "Resume", "Abort", "Rollback"}) {
    EXPECT_EQ(RequiredRole(p + m), Role::kOperator) << m;
  }
  EXPECT_EQ(RequiredRole(p + "Approve"), Role::kApprover);
  EXPECT_EQ(RequiredRole("/cutover.v1.CaptureService/RecordRevocation"), Role::kOperator);
  EXPECT_EQ(RequiredRole("/cutover.v1.CutoverService/SomethingNew"), Role::kApprover);
}

TEST(ServerConfigTest, GuardrailsRefuseUnsafeListenAddresses) {
  FakeCutoverApi api;
  ServerConfig c;
  c.listen_address = "0.0.0.0:0";
  c.insecure_local = true;
  auto s = StartControlServer(c, &api, nullptr, nullptr);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("only on a loopback address"));

  c.insecure_local = false;
  c.auth = AuthConfig{};
  s = StartControlServer(c, &api, nullptr, nullptr);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("without TLS"));

  c.listen_address = "127.0.0.1:0";
  c.auth.reset();
  s = StartControlServer(c, &api, nullptr, nullptr);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.status().message(), HasSubstr("no auth config"));

  EXPECT_TRUE(IsLoopbackAddress("127.0.0.1:7400"));
  EXPECT_TRUE(IsLoopbackAddress("127.3.2.1:7400"));
  EXPECT_TRUE(IsLoopbackAddress("localhost:7400"));
  EXPECT_TRUE(IsLoopbackAddress("[::1]:7400"));
  EXPECT_TRUE(IsLoopbackAddress("unix:/run/cutover.sock"));
  EXPECT_FALSE(IsLoopbackAddress("0.0.0.0:7400"));
  EXPECT_FALSE(IsLoopbackAddress("[::]:7400"));
  EXPECT_FALSE(IsLoopbackAddress("10.0.0.5:7400"));
  EXPECT_FALSE(IsLoopbackAddress("cutover.internal:7400"));
}

TEST(ServerConfigTest, InsecureLocalCallerIsApproverLocal) {
  TestServer server;
  server.Start(/*insecure_local=*/true);
  server.api.AddForTest("c1", v1::PHASE_READY);
  grpc::ClientContext ctx;
  PrepareContext(&ctx, "");
  v1::ApproveRequest req;
  req.set_id("c1");
  v1::Cutover resp;
  ASSERT_TRUE(server.stub->Approve(&ctx, req, &resp).ok());
  auto calls = server.api.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].caller.identity, "local");
  EXPECT_EQ(calls[0].caller.role, engine::Role::kApprover);
}

TEST_F(CutoverServiceTest, HealthCheckIsServing) {
  grpc::Status st;
  std::string resp = RawCall(server_.channel, "/grpc.health.v1.Health/Check", "", &st);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp, std::string("\x08\x01", 2));  // HealthCheckResponse{status: SERVING}
}

TEST_F(CutoverServiceTest, ReflectionListsTheServices) {
  grpc::Status st;
  // ServerReflectionRequest{list_services: ""} (field 7).
  std::string resp =
      RawCall(server_.channel, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
              std::string("\x3a\x00", 2), &st);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_THAT(resp, HasSubstr("cutover.v1.CutoverService"));
  EXPECT_THAT(resp, HasSubstr("grpc.health.v1.Health"));
}

TEST_F(CutoverServiceTest, WatchStreamsInitialStateThenChangesAndEndsAtTerminalPhase) {
  grpc::ClientContext ctx;
  PrepareContext(&ctx, kViewerToken);
  v1::WatchRequest req;
  req.set_id("c1");
  auto reader = server_.stub->Watch(&ctx, req);
  v1::WatchEvent ev;
  ASSERT_TRUE(reader->Read(&ev));
  EXPECT_EQ(ev.cutover().phase(), v1::PHASE_PLANNED);
  EXPECT_FALSE(ev.has_transition());  // history is not replayed as events

  server_.api.SetPhaseForTest("c1", v1::PHASE_COPYING);
  ASSERT_TRUE(reader->Read(&ev));
  EXPECT_EQ(ev.cutover().phase(), v1::PHASE_COPYING);
  ASSERT_TRUE(ev.has_transition());
  EXPECT_EQ(ev.transition().from(), v1::PHASE_PLANNED);
  EXPECT_EQ(ev.transition().to(), v1::PHASE_COPYING);

  // FAILED is not terminal: the stream goes on.
  server_.api.SetPhaseForTest("c1", v1::PHASE_FAILED, "green disk full");
  ASSERT_TRUE(reader->Read(&ev));
  EXPECT_EQ(ev.cutover().phase(), v1::PHASE_FAILED);
  EXPECT_EQ(ev.transition().reason(), "green disk full");

  server_.api.SetPhaseForTest("c1", v1::PHASE_ABORTED);
  std::vector<v1::Phase> seen;
  while (reader->Read(&ev)) seen.push_back(ev.transition().to());
  EXPECT_THAT(seen, ::testing::ElementsAre(v1::PHASE_ABORTED));
  grpc::Status st = reader->Finish();
  EXPECT_TRUE(st.ok()) << st.error_message();
}

TEST_F(CutoverServiceTest, WatchSendsEveryTransitionOfACoalescedChange) {
  grpc::ClientContext ctx;
  PrepareContext(&ctx, kViewerToken);
  v1::WatchRequest req;
  req.set_id("c1");
  auto reader = server_.stub->Watch(&ctx, req);
  v1::WatchEvent ev;
  ASSERT_TRUE(reader->Read(&ev));
  server_.api.SetPhaseForTest("c1", v1::PHASE_READY);
  server_.api.SetPhaseForTest("c1", v1::PHASE_FLIPPING);
  server_.api.SetPhaseForTest("c1", v1::PHASE_COMPLETED);
  std::vector<v1::Phase> transitions;
  v1::Phase last = v1::PHASE_UNSPECIFIED;
  while (reader->Read(&ev)) {
    if (ev.has_transition()) transitions.push_back(ev.transition().to());
    last = ev.cutover().phase();
  }
  EXPECT_THAT(transitions, ::testing::ElementsAre(v1::PHASE_READY, v1::PHASE_FLIPPING, v1::PHASE_COMPLETED));
  EXPECT_EQ(last, v1::PHASE_COMPLETED);
  EXPECT_TRUE(reader->Finish().ok());
}

TEST_F(CutoverServiceTest, WatchOfATerminalCutoverSendsItAndEnds) {
  server_.api.AddForTest("done", v1::PHASE_ROLLED_BACK);
  grpc::ClientContext ctx;
  PrepareContext(&ctx, kViewerToken);
  v1::WatchRequest req;
  req.set_id("done");
  auto reader = server_.stub->Watch(&ctx, req);
  v1::WatchEvent ev;
  ASSERT_TRUE(reader->Read(&ev));
  EXPECT_EQ(ev.cutover().phase(), v1::PHASE_ROLLED_BACK);
  EXPECT_FALSE(reader->Read(&ev));
  EXPECT_TRUE(reader->Finish().ok());

  grpc::ClientContext ctx2;
  PrepareContext(&ctx2, kViewerToken);
  req.set_id("missing");
  auto reader2 = server_.stub->Watch(&ctx2, req);
  EXPECT_FALSE(reader2->Read(&ev));
  EXPECT_EQ(reader2->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(CutoverServiceTest, CancelledWatchFreesItsHandler) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  PrepareContext(ctx.get(), kViewerToken);
  v1::WatchRequest req;
  req.set_id("c1");
  auto reader = server_.stub->Watch(ctx.get(), req);
  v1::WatchEvent ev;
  ASSERT_TRUE(reader->Read(&ev));
  ASSERT_TRUE(Eventually([&] { return server_.server()->cutover_service()->ActiveWatchesForTest() == 1; }));
  ctx->TryCancel();
  EXPECT_FALSE(reader->Read(&ev));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(Eventually([&] { return server_.server()->cutover_service()->ActiveWatchesForTest() == 0; }));
  EXPECT_TRUE(Eventually([&] { return server_.api.waiters() == 0; }));
}

TEST(CaptureAuthTest, RecordRevocationNeedsOperator) {
  CaptureServiceImpl capture([](const std::string&) -> absl::StatusOr<replay::ApiCapture*> {
    return absl::FailedPreconditionError("no cutover is capturing revocations right now");
  });
  TestServer server;
  server.Start(/*insecure_local=*/false, &capture);
  auto stub = v1::CaptureService::NewStub(server.channel);
  v1::RecordRevocationRequest req;
  req.mutable_event()->set_kind("x");
  v1::RecordRevocationResponse resp;
  {
    grpc::ClientContext ctx;
    PrepareContext(&ctx, kViewerToken);
    grpc::Status st = stub->RecordRevocation(&ctx, req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
    EXPECT_THAT(st.error_message(), HasSubstr("RecordRevocation needs role operator"));
  }
  {
    grpc::ClientContext ctx;
    PrepareContext(&ctx, kOperatorToken);
    grpc::Status st = stub->RecordRevocation(&ctx, req, &resp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);  // past auth, into the service
  }
}

}  // namespace
}  // namespace cutover::service

namespace cutover::service {
namespace {

// mTLS end to end: certificates made with the openssl CLI (as in docs/api.md),
// the client certificate's CN mapped to a role by a `cert` line.
class MtlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/cutover-mtls-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    const std::string d = dir_;
    const std::string script =
        "set -e; cd " + d +
        "; openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=test-ca -keyout ca.key -out ca.crt"
        "; openssl req -newkey rsa:2048 -nodes -subj /CN=cutoverd -keyout server.key -out server.csr"
        "; printf 'subjectAltName=DNS:localhost,IP:127.0.0.1' > server.ext"
        "; openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 -extfile "
        "server.ext "
        "-out server.crt"
        "; openssl req -newkey rsa:2048 -nodes -subj /CN=alice.example.com -keyout alice.key -out alice.csr"
        "; printf 'extendedKeyUsage=clientAuth' > client.ext"
        "; openssl x509 -req -in alice.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 -extfile "
        "client.ext "
        "-out alice.crt";
    CommandSpec spec;
    spec.argv = {"sh", "-c", script};
    spec.timeout = absl::Seconds(60);
    auto r = RunCommand(spec);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->exit_code, 0) << r->err;
  }
  void TearDown() override {
    CommandSpec rm;
    rm.argv = {"rm", "-rf", dir_};
    (void)RunCommand(rm);
  }
  std::string Read(const std::string& name) {
    std::ifstream in(dir_ + "/" + name);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  std::string dir_;
};

TEST_F(MtlsTest, ClientCertificateCnMapsToItsRole) {
  FakeCutoverApi api;
  api.AddForTest("c1", v1::PHASE_READY);
  ServerConfig config;
  config.listen_address = "127.0.0.1:0";
  config.tls_cert_path = dir_ + "/server.crt";
  config.tls_key_path = dir_ + "/server.key";
  config.tls_client_ca_path = dir_ + "/ca.crt";
  config.require_client_cert = true;
  auto auth = ParseAuthConfig(testing::TestAuthConfigText(), "test");
  ASSERT_TRUE(auth.ok());
  config.auth = *auth;
  int port = 0;
  auto server = StartControlServer(config, &api, nullptr, &port);
  ASSERT_TRUE(server.ok()) << server.status();

  grpc::SslCredentialsOptions o;
  o.pem_root_certs = Read("ca.crt");
  o.pem_cert_chain = Read("alice.crt");
  o.pem_private_key = Read("alice.key");
  auto stub = v1::CutoverService::NewStub(
      grpc::CreateChannel("localhost:" + std::to_string(port), grpc::SslCredentials(o)));
  grpc::ClientContext ctx;
  PrepareContext(&ctx, "");
  v1::ApproveRequest req;
  req.set_id("c1");
  v1::Cutover resp;
  grpc::Status st = stub->Approve(&ctx, req, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  auto calls = api.calls();
  ASSERT_EQ(calls.size(), 1u);
  EXPECT_EQ(calls[0].caller.identity, "cert:CN=alice.example.com");
  EXPECT_EQ(calls[0].caller.role, engine::Role::kApprover);

  // Without a client certificate the handshake is refused.
  grpc::SslCredentialsOptions no_cert;
  no_cert.pem_root_certs = o.pem_root_certs;
  auto anon = v1::CutoverService::NewStub(
      grpc::CreateChannel("localhost:" + std::to_string(port), grpc::SslCredentials(no_cert)));
  grpc::ClientContext ctx2;
  PrepareContext(&ctx2, "", 10);
  v1::GetRequest get;
  get.set_id("c1");
  EXPECT_FALSE(anon->Get(&ctx2, get, &resp).ok());

  // cutoverctl over mTLS.
  CommandSpec ctl;
  const char* bin = std::getenv("CUTOVER_BINARY_DIR");
  ASSERT_NE(bin, nullptr);
  ctl.argv = {std::string(bin) + "/orchestrator/tools/cutoverctl",
              "--server",
              "localhost:" + std::to_string(port),
              "--tls-ca",
              dir_ + "/ca.crt",
              "--tls-cert",
              dir_ + "/alice.crt",
              "--tls-key",
              dir_ + "/alice.key",
              "status",
              "c1"};
  ctl.env = {{"CUTOVER_TOKEN", ""}};
  ctl.timeout = absl::Seconds(60);
  auto r = RunCommand(ctl);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 0) << r->err;
  EXPECT_THAT(r->out, HasSubstr("phase FLIPPING"));
  (*server)->Shutdown(absl::Seconds(2));
}

}  // namespace
}  // namespace cutover::service
