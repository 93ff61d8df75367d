// cutover.v1.CaptureService: the gRPC adapter over replay::ApiCapture for
// applications that report revocations themselves. Thin: it resolves which
// cutover the event belongs to and converts statuses at the edge.
//
// Thread-safe: gRPC calls it from its own threads; the resolver must be
// thread-safe too.
#pragma once

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "cutover/replay/api_capture.h"
#include "cutover/v1/cutover.grpc.pb.h"

namespace cutover::service {

// Returns the ApiCapture of the cutover `cutover_id` names, or of the single
// cutover currently capturing when it is empty. FailedPrecondition when no
// cutover is capturing (or several are and none was named).
using CaptureResolver = std::function<absl::StatusOr<replay::ApiCapture*>(const std::string& cutover_id)>;

class CaptureServiceImpl final : public cutover::v1::CaptureService::Service {
 public:
  explicit CaptureServiceImpl(CaptureResolver resolver) : resolver_(std::move(resolver)) {}

  grpc::Status RecordRevocation(grpc::ServerContext* context, const cutover::v1::RecordRevocationRequest* request,
                                cutover::v1::RecordRevocationResponse* response) override;

 private:
  CaptureResolver resolver_;
};

}  // namespace cutover::service
