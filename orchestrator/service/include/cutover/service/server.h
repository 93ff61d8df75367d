// Starts cutoverd's gRPC control server: CutoverService (+ CaptureService when
// given), gRPC health checking and server reflection, 4 MiB message limits,
// TLS/mTLS, and the auth check in front of every RPC. Reference: docs/api.md.
//
// Guardrails (refused with InvalidArgument, the message says why):
//  - a listen address that is not loopback without TLS (tokens would cross
//    the network in clear text);
//  - --insecure-local (no auth config: every caller is approver "local") on a
//    non-loopback address;
//  - no auth config and not insecure-local (nobody could call anything).
#pragma once

#include <grpcpp/server.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "cutover/engine/api.h"
#include "cutover/service/auth.h"
#include "cutover/service/capture_service.h"
#include "cutover/service/cutover_service.h"

namespace cutover::service {

struct ServerConfig {
  // host:port; "127.0.0.1:0" picks a free port (see bound_port).
  std::string listen_address = "127.0.0.1:7400";
  // PEM files. cert + key enable TLS; client_ca additionally verifies client
  // certificates that are presented (and require_client_cert demands one).
  std::string tls_cert_path;
  std::string tls_key_path;
  std::string tls_client_ca_path;
  bool require_client_cert = false;
  std::optional<AuthConfig> auth;
  bool insecure_local = false;
  int max_message_bytes = 4 * 1024 * 1024;
};

// True for 127.0.0.0/8, ::1, localhost and unix: sockets.
bool IsLoopbackAddress(const std::string& listen_address);

// Owns the running grpc::Server and everything its handlers use (services,
// authenticator). The CutoverApi and CaptureServiceImpl stay the caller's and
// must outlive it. Destruction shuts down with a 5 s grace period (blocks).
class ControlServer {
 public:
  ~ControlServer();
  grpc::Server* server() const { return server_.get(); }
  int port() const { return port_; }
  // Stops accepting calls and cancels in-flight ones after `grace` (Watch
  // streams end then). Idempotent; blocks until handlers returned.
  void Shutdown(absl::Duration grace = absl::Seconds(5));
  CutoverServiceImpl* cutover_service() const { return cutover_service_.get(); }

 private:
  friend absl::StatusOr<std::unique_ptr<ControlServer>> StartControlServer(const ServerConfig&,
                                                                           engine::CutoverApi*,
                                                                           CaptureServiceImpl*, int*);
  ControlServer() = default;
  std::unique_ptr<Authenticator> auth_;
  std::unique_ptr<CutoverServiceImpl> cutover_service_;
  std::unique_ptr<grpc::Service> capture_service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  bool shut_down_ = false;
};

// Builds and starts the server; `capture` may be null (no CaptureService).
// *bound_port (optional) receives the port actually bound.
absl::StatusOr<std::unique_ptr<ControlServer>> StartControlServer(const ServerConfig& config,
                                                                  engine::CutoverApi* api,
                                                                  CaptureServiceImpl* capture,
                                                                  int* bound_port);

}  // namespace cutover::service
