// cutoverd's HTTP listener: a civetweb server carrying HttpApi's routes
// (docs/api.md, "HTTP"). Plain HTTP, no TLS and no auth: it serves no
// secrets and no mutating call, so keep it on loopback (the default) or a
// private network, or put it behind a reverse proxy that adds TLS/auth.
// Thread-safe: civetweb's worker threads call HttpApi::Handle concurrently.
// Shutdown() (and the destructor) stop accepting and block until every
// running handler has returned; `api` must outlive the server.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cutover/http/http_api.h"

struct mg_context;
struct mg_connection;

namespace cutover::http {

struct HttpServerOptions {
  // "ADDR:PORT": an IPv4 address or a bracketed IPv6 one ("[::1]:7401");
  // port 0 picks a free port (see HttpServer::port()).
  std::string listen = "127.0.0.1:0";
  int threads = 4;
};

// Checks "ADDR:PORT" (errors name what was expected).
absl::Status ParseListenAddress(absl::string_view listen, std::string* host, int* port);

class HttpServer {
 public:
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // The bound port (the real one when asked for port 0).
  int port() const { return port_; }
  // Idempotent.
  void Shutdown();

 private:
  friend absl::StatusOr<std::unique_ptr<HttpServer>> StartHttpServer(const HttpServerOptions&, HttpApi*);
  HttpServer(HttpApi* api) : api_(api) {}
  static int OnRequest(::mg_connection* conn, void* self);

  HttpApi* const api_;
  mg_context* ctx_ = nullptr;
  int port_ = 0;
};

// Binds and starts serving; InvalidArgument for a bad address, Unavailable
// when the port cannot be bound.
absl::StatusOr<std::unique_ptr<HttpServer>> StartHttpServer(const HttpServerOptions& options, HttpApi* api);

}  // namespace cutover::http
