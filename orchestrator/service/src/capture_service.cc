#include "cutover/service/capture_service.h"

#include "cutover/service/grpc_status.h"

namespace cutover::service {

grpc::Status CaptureServiceImpl::RecordRevocation(grpc::ServerContext* context,
                                                  const cutover::v1::RecordRevocationRequest* request,
                                                  cutover::v1::RecordRevocationResponse* response) {
  if (!request->has_event()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "event is missing: expected a RevocationEvent");
  }
  auto capture = resolver_(request->event().cutover_id());
  if (!capture.ok()) return ToGrpcStatus(capture.status());
  auto resp = (*capture)->Record(request->event());
  if (!resp.ok()) return ToGrpcStatus(resp.status());
  *response = std::move(*resp);
  return grpc::Status::OK;
}

}  // namespace cutover::service
