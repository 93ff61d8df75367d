// A control server on a free loopback port over FakeCutoverApi, with the test
// auth config (viewer "dash", operator "ops-1" given as sha256:, approver
// "lead"), shared by the service and cutoverctl tests.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cutover/service/server.h"
#include "fake_cutover_api.h"
#include "gtest/gtest.h"

namespace cutover::service::testing {

inline std::string TestAuthConfigText() {
  Sha256Digest op = Sha256(kOperatorToken);
  std::string hex =
      absl::BytesToHexString(absl::string_view(reinterpret_cast<const char*>(op.data()), op.size()));
  return absl::StrCat("# test auth config\n", "token ", kViewerToken, " viewer dash\n\n",
                      "token sha256:", hex, "   operator ops-1\n", "token ", kApproverToken,
                      "\tapprover lead\n", "cert alice.example.com approver\n");
}

class TestServer {
 public:
  // Starts with the test auth config (or insecure-local); fails the test otherwise.
  void Start(bool insecure_local = false, CaptureServiceImpl* capture = nullptr) {
    ServerConfig config;
    config.listen_address = "127.0.0.1:0";
    if (insecure_local) {
      config.insecure_local = true;
    } else {
      auto auth = ParseAuthConfig(TestAuthConfigText(), "test");
      ASSERT_TRUE(auth.ok()) << auth.status();
      config.auth = *auth;
    }
    auto server = StartControlServer(config, &api, capture, &port);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    ASSERT_GT(port, 0);
    channel = grpc::CreateChannel(address(), grpc::InsecureChannelCredentials());
    stub = cutover::v1::CutoverService::NewStub(channel);
  }
  ~TestServer() {
    if (server_ != nullptr) server_->Shutdown(absl::Seconds(2));
  }

  std::string address() const { return absl::StrCat("127.0.0.1:", port); }
  ControlServer* server() const { return server_.get(); }

  FakeCutoverApi api;
  int port = 0;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<cutover::v1::CutoverService::Stub> stub;

 private:
  std::unique_ptr<ControlServer> server_;
};

// Polls `cond` until true or 10 s passed (no sleeps as synchronization:
// the condition is what we wait for, the sleep only paces the polling).
template <typename F>
bool Eventually(F cond) {
  absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (absl::Now() < deadline) {
    if (cond()) return true;
    absl::SleepFor(absl::Milliseconds(10));
  }
  return cond();
}

// A client context with `token` as bearer (none when empty) and a deadline.
inline void PrepareContext(grpc::ClientContext* ctx, const std::string& token, int seconds = 20) {
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
}

}  // namespace cutover::service::testing
