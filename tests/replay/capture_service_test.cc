// CaptureService.RecordRevocation over real gRPC (in-process server on a
// free loopback port): field-level errors, cutover resolution, size limit.
#include <grpcpp/grpcpp.h>

#include "cutover/replay/memory_queue.h"
#include "cutover/service/capture_service.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cutover::service {
namespace {

using ::testing::HasSubstr;

class CaptureServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cutover::v1::CaptureRule r;
    r.set_name("app.session.delete");
    r.set_table("public.sessions");
    r.set_on_delete(true);
    r.add_key_columns("id");
    r.add_apply("DELETE FROM sessions WHERE id = :id");
    capture_ = std::make_unique<replay::ApiCapture>("c1", cutover::v1::DIRECTION_BLUE_TO_GREEN,
                                                    std::vector<cutover::v1::CaptureRule>{r}, &queue_);
    service_ = std::make_unique<CaptureServiceImpl>([this](const std::string& id) -> absl::StatusOr<replay::ApiCapture*> {
      if (!active_) return absl::FailedPreconditionError("no cutover is capturing revocations right now");
      if (!id.empty() && id != "c1") return absl::NotFoundError("cutover '" + id + "' does not exist");
      return capture_.get();
    });
    grpc::ServerBuilder b;
    b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    b.SetMaxReceiveMessageSize(64 * 1024);
    b.RegisterService(service_.get());
    server_ = b.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(port_, 0);
    stub_ = cutover::v1::CaptureService::NewStub(
        grpc::CreateChannel("127.0.0.1:" + std::to_string(port_), grpc::InsecureChannelCredentials()));
  }
  void TearDown() override { server_->Shutdown(); }

  grpc::Status Call(const cutover::v1::RecordRevocationRequest& req, cutover::v1::RecordRevocationResponse* resp) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    return stub_->RecordRevocation(&ctx, req, resp);
  }

  replay::MemoryQueue queue_{1};
  std::unique_ptr<replay::ApiCapture> capture_;
  std::unique_ptr<CaptureServiceImpl> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<cutover::v1::CaptureService::Stub> stub_;
  int port_ = 0;
  bool active_ = true;
};

TEST_F(CaptureServiceTest, RecordsAValidEvent) {
  cutover::v1::RecordRevocationRequest req;
  req.mutable_event()->set_kind("app.session.delete");
  (*req.mutable_event()->mutable_key())["id"].set_text("42");
  cutover::v1::RecordRevocationResponse resp;
  grpc::Status st = Call(req, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_TRUE(replay::IsUuid(resp.event_id()));
  EXPECT_EQ(queue_.size(), 1);
}

TEST_F(CaptureServiceTest, MalformedEventsGetFieldLevelErrors) {
  cutover::v1::RecordRevocationResponse resp;
  cutover::v1::RecordRevocationRequest req;
  grpc::Status st = Call(req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("event is missing"));
  req.mutable_event()->set_kind("app.session.delete");
  st = Call(req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), HasSubstr("event.key.id is missing"));
  (*req.mutable_event()->mutable_key())["id"].set_text("1");
  req.mutable_event()->set_event_id("not-a-uuid");
  st = Call(req, &resp);
  EXPECT_THAT(st.error_message(), HasSubstr("event.event_id 'not-a-uuid' is not a UUID"));
  EXPECT_EQ(queue_.size(), 0);
}

TEST_F(CaptureServiceTest, ResolutionAndLimits) {
  cutover::v1::RecordRevocationRequest req;
  req.mutable_event()->set_kind("app.session.delete");
  (*req.mutable_event()->mutable_key())["id"].set_text("1");
  req.mutable_event()->set_cutover_id("c9");
  cutover::v1::RecordRevocationResponse resp;
  EXPECT_EQ(Call(req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  active_ = false;
  req.mutable_event()->clear_cutover_id();
  grpc::Status st = Call(req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(st.error_message(), HasSubstr("no cutover is capturing"));
  active_ = true;
  (*req.mutable_event()->mutable_extra())["blob"].set_text(std::string(100 * 1024, 'x'));
  EXPECT_EQ(Call(req, &resp).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(queue_.size(), 0);
}

}  // namespace
}  // namespace cutover::service
