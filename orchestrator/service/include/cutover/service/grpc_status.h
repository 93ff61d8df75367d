// The one place where absl::Status becomes grpc::Status (the service edge).
// Codes map one to one; messages pass through unchanged (they already name
// the field and what was expected, and never carry secrets).
#pragma once

#include <grpcpp/support/status.h>

#include "absl/status/status.h"

namespace cutover::service {

grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace cutover::service
