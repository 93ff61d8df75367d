#include "cutover/service/server.h"

#include <arpa/inet.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <chrono>
#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "cutover/service/grpc_status.h"

namespace cutover::service {

namespace {

absl::StatusOr<std::string> ReadPem(const std::string& path, absl::string_view what) {
  std::ifstream in(path);
  if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read ", what, " '", path, "'"));
  std::stringstream ss;
  ss << in.rdbuf();
  if (ss.str().find("-----BEGIN") == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(what, " '", path, "' is not a PEM file"));
  }
  return ss.str();
}

// CaptureService behind the same role check as CutoverService (operator),
// delegating to the caller's CaptureServiceImpl.
class AuthorizedCaptureService final : public cutover::v1::CaptureService::Service {
 public:
  AuthorizedCaptureService(CaptureServiceImpl* impl, const Authenticator* auth) : impl_(impl), auth_(auth) {}
  grpc::Status RecordRevocation(grpc::ServerContext* context,
                                const cutover::v1::RecordRevocationRequest* request,
                                cutover::v1::RecordRevocationResponse* response) override {
    auto caller = auth_->Authorize(*context, "/cutover.v1.CaptureService/RecordRevocation");
    if (!caller.ok()) return ToGrpcStatus(caller.status());
    return impl_->RecordRevocation(context, request, response);
  }

 private:
  CaptureServiceImpl* impl_;
  const Authenticator* auth_;
};

}  // namespace

bool IsLoopbackAddress(const std::string& listen_address) {
  absl::string_view a = listen_address;
  if (absl::StartsWith(a, "unix:") || absl::StartsWith(a, "unix-abstract:")) return true;
  absl::ConsumePrefix(&a, "ipv4:");
  absl::ConsumePrefix(&a, "ipv6:");
  absl::string_view host;
  if (absl::ConsumePrefix(&a, "[")) {
    size_t end = a.find(']');
    if (end == absl::string_view::npos) return false;
    host = a.substr(0, end);
  } else {
    size_t colon = a.rfind(':');
    host = colon == absl::string_view::npos ? a : a.substr(0, colon);
  }
  if (host == "localhost") return true;
  std::string h(host);
  in_addr v4;
  if (inet_pton(AF_INET, h.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6;
  if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
  return false;
}

ControlServer::~ControlServer() { Shutdown(); }

void ControlServer::Shutdown(absl::Duration grace) {
  if (shut_down_ || server_ == nullptr) return;
  shut_down_ = true;
  server_->Shutdown(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(grace));
  server_->Wait();
}

absl::StatusOr<std::unique_ptr<ControlServer>> StartControlServer(const ServerConfig& config,
                                                                  engine::CutoverApi* api,
                                                                  CaptureServiceImpl* capture,
                                                                  int* bound_port) {
  if (api == nullptr) return absl::InvalidArgumentError("StartControlServer: api is null");
  const bool loopback = IsLoopbackAddress(config.listen_address);
  const bool tls = !config.tls_cert_path.empty() || !config.tls_key_path.empty();
  if (config.insecure_local && !loopback) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--insecure-local makes every caller an approver, so it is allowed only on a loopback address; '",
        config.listen_address, "' is not loopback (use 127.0.0.1:PORT, or TLS with an auth config)"));
  }
  if (!loopback && !tls) {
    return absl::InvalidArgumentError(absl::StrCat(
        "listening on '", config.listen_address,
        "' without TLS would send bearer tokens and cutover state in clear text over the network: "
        "give a TLS certificate and key, or listen on a loopback address"));
  }
  if (config.insecure_local && config.auth.has_value()) {
    return absl::InvalidArgumentError("--insecure-local and an auth config exclude each other");
  }
  if (!config.insecure_local && !config.auth.has_value()) {
    return absl::InvalidArgumentError(
        "no auth config: give one (tokens / client certificates to roles) or, on loopback only, "
        "--insecure-local");
  }
  if (config.require_client_cert && config.tls_client_ca_path.empty()) {
    return absl::InvalidArgumentError(
        "require_client_cert needs a client CA to verify client certificates against");
  }
  if (!config.tls_client_ca_path.empty() && !tls) {
    return absl::InvalidArgumentError("a client CA needs TLS: give the server certificate and key too");
  }

  std::shared_ptr<grpc::ServerCredentials> creds;
  if (tls) {
    if (config.tls_cert_path.empty() || config.tls_key_path.empty()) {
      return absl::InvalidArgumentError("TLS needs both a certificate and a key");
    }
    grpc::SslServerCredentialsOptions opts;
    auto cert = ReadPem(config.tls_cert_path, "TLS certificate");
    if (!cert.ok()) return cert.status();
    auto key = ReadPem(config.tls_key_path, "TLS key");
    if (!key.ok()) return key.status();
    opts.pem_key_cert_pairs.push_back({*key, *cert});
    if (!config.tls_client_ca_path.empty()) {
      auto ca = ReadPem(config.tls_client_ca_path, "client CA");
      if (!ca.ok()) return ca.status();
      opts.pem_root_certs = *ca;
      opts.client_certificate_request = config.require_client_cert
                                            ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                                            : GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
    } else {
      opts.client_certificate_request = GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
    }
    creds = grpc::SslServerCredentials(opts);
  } else {
    creds = grpc::InsecureServerCredentials();
  }

  std::unique_ptr<ControlServer> cs(new ControlServer());
  cs->auth_ =
      config.insecure_local ? Authenticator::InsecureLocal() : std::make_unique<Authenticator>(*config.auth);
  cs->cutover_service_ = std::make_unique<CutoverServiceImpl>(api, cs->auth_.get());
  if (capture != nullptr)
    cs->capture_service_ = std::make_unique<AuthorizedCaptureService>(capture, cs->auth_.get());

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen_address, creds, &cs->port_);
  builder.SetMaxReceiveMessageSize(config.max_message_bytes);
  builder.SetMaxSendMessageSize(config.max_message_bytes);
  builder.RegisterService(cs->cutover_service_.get());
  if (cs->capture_service_ != nullptr) builder.RegisterService(cs->capture_service_.get());
  cs->server_ = builder.BuildAndStart();
  if (cs->server_ == nullptr || cs->port_ == 0) {
    cs->server_.reset();
    return absl::UnavailableError(
        absl::StrCat("cannot listen on '", config.listen_address, "' (address in use or not local?)"));
  }
  if (auto* health = cs->server_->GetHealthCheckService(); health != nullptr) {
    health->SetServingStatus(true);
  }
  if (bound_port != nullptr) *bound_port = cs->port_;
  return cs;
}

}  // namespace cutover::service
