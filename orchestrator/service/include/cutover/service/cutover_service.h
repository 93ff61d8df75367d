// cutover.v1.CutoverService: the gRPC adapter over engine::CutoverApi. Thin:
// every handler authorizes the caller first (Authenticator::Authorize, the
// one place roles are checked), passes engine::Caller to the API, and
// converts statuses with ToGrpcStatus. Reference: docs/api.md.
//
// Watch semantics: the current Cutover first, then one WatchEvent per change
// (one per new Transition when the change added timeline rows, each carrying
// the current Cutover). The stream ends after the event that shows a terminal
// phase (COMPLETED, ABORTED, ROLLED_BACK; FAILED is not terminal, an operator
// can resume it) or when the client cancels. A handler notices cancellation
// within about a second (it waits on the API in 1 s slices), so call
// grpc::Server::Shutdown with a deadline to bound shutdown.
//
// Thread-safe: gRPC calls the handlers from its own threads; `api` and `auth`
// must outlive this object.
#pragma once

#include <atomic>

#include "cutover/engine/api.h"
#include "cutover/service/auth.h"
#include "cutover/v1/cutover.grpc.pb.h"

namespace cutover::service {

// COMPLETED, ABORTED, ROLLED_BACK: nothing will change any more.
bool IsTerminalPhase(cutover::v1::Phase phase);

// Replaces a plan's secrets (DSN passwords, Kafka credential properties) by
// "***" in place. Every Cutover that leaves cutoverd goes through it: the
// gRPC handlers here and cutoverd's HTTP JSON API (orchestrator/http).
void RedactSecrets(cutover::v1::Cutover* c);

class CutoverServiceImpl final : public cutover::v1::CutoverService::Service {
 public:
  CutoverServiceImpl(engine::CutoverApi* api, const Authenticator* auth) : api_(api), auth_(auth) {}

  grpc::Status CreatePlan(grpc::ServerContext* context, const cutover::v1::CreatePlanRequest* request,
                          cutover::v1::Cutover* response) override;
  grpc::Status ValidatePlan(grpc::ServerContext* context, const cutover::v1::ValidatePlanRequest* request,
                            cutover::v1::ValidationResult* response) override;
  grpc::Status Start(grpc::ServerContext* context, const cutover::v1::StartRequest* request,
                     cutover::v1::Cutover* response) override;
  grpc::Status Get(grpc::ServerContext* context, const cutover::v1::GetRequest* request,
                   cutover::v1::Cutover* response) override;
  grpc::Status List(grpc::ServerContext* context, const cutover::v1::ListRequest* request,
                    cutover::v1::ListResponse* response) override;
  grpc::Status Watch(grpc::ServerContext* context, const cutover::v1::WatchRequest* request,
                     grpc::ServerWriter<cutover::v1::WatchEvent>* writer) override;
  grpc::Status Pause(grpc::ServerContext* context, const cutover::v1::PauseRequest* request,
                     cutover::v1::Cutover* response) override;
  grpc::Status Resume(grpc::ServerContext* context, const cutover::v1::ResumeRequest* request,
                      cutover::v1::Cutover* response) override;
  grpc::Status Approve(grpc::ServerContext* context, const cutover::v1::ApproveRequest* request,
                       cutover::v1::Cutover* response) override;
  grpc::Status Abort(grpc::ServerContext* context, const cutover::v1::AbortRequest* request,
                     cutover::v1::Cutover* response) override;
  grpc::Status Rollback(grpc::ServerContext* context, const cutover::v1::RollbackRequest* request,
                        cutover::v1::Cutover* response) override;
  grpc::Status GetReport(grpc::ServerContext* context, const cutover::v1::ReportRequest* request,
                         cutover::v1::Report* response) override;
  grpc::Status ListTransitions(grpc::ServerContext* context,
                               const cutover::v1::ListTransitionsRequest* request,
                               cutover::v1::ListTransitionsResponse* response) override;

  // Watch handlers currently running (tests: a cancelled Watch frees its handler).
  int ActiveWatchesForTest() const { return active_watches_.load(); }

 private:
  engine::CutoverApi* api_;
  const Authenticator* auth_;
  std::atomic<int> active_watches_{0};
};

}  // namespace cutover::service
