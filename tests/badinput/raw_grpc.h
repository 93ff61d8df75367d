// One unary gRPC call with raw bytes as the request (grpc::GenericStub: no
// serialization on our side), for the "garbage request" rows of the
// bad-input matrix. Blocks up to 10 s; returns the call's status.
#pragma once

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>

namespace cutover::badinput {

inline grpc::Status RawUnary(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                             const std::string& payload, const std::string& bearer_token = "") {
  grpc::GenericStub generic(channel);
  grpc::ClientContext ctx;
  if (!bearer_token.empty()) ctx.AddMetadata("authorization", "Bearer " + bearer_token);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Slice slice(payload);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  grpc::CompletionQueue cq;
  auto call = generic.PrepareUnaryCall(&ctx, method, request, &cq);
  call->StartCall();
  grpc::Status st;
  call->Finish(&response, &st, reinterpret_cast<void*>(1));
  void* tag = nullptr;
  bool ok = false;
  if (!cq.Next(&tag, &ok)) return grpc::Status(grpc::StatusCode::UNKNOWN, "completion queue shut down");
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return st;
}

}  // namespace cutover::badinput
