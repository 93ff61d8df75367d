#include "cutover/http/http_server.h"

#include <arpa/inet.h>

#include <mutex>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "civetweb.h"
#include "spdlog/spdlog.h"

namespace cutover::http {

absl::Status ParseListenAddress(absl::string_view listen, std::string* host, int* port) {
  const auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("expected ADDR:PORT (e.g. 127.0.0.1:7401 or [::1]:7401), got '",
                                                   listen, "': ", why));
  };
  const size_t colon = listen.rfind(':');
  if (colon == absl::string_view::npos) return bad("no ':PORT'");
  absl::string_view addr = listen.substr(0, colon);
  int p = -1;
  if (!absl::SimpleAtoi(listen.substr(colon + 1), &p) || p < 0 || p > 65535) {
    return bad("the port must be a number from 0 to 65535");
  }
  unsigned char buf[16];
  if (addr.size() > 2 && addr.front() == '[' && addr.back() == ']') {
    const std::string a(addr.substr(1, addr.size() - 2));
    if (inet_pton(AF_INET6, a.c_str(), buf) != 1) return bad("not an IPv6 address in brackets");
  } else {
    const std::string a(addr);
    if (inet_pton(AF_INET, a.c_str(), buf) != 1) return bad("ADDR must be an IPv4 address or [IPv6]");
  }
  *host = std::string(addr);
  *port = p;
  return absl::OkStatus();
}

HttpServer::~HttpServer() { Shutdown(); }

void HttpServer::Shutdown() {
  if (ctx_ == nullptr) return;
  // mg_stop joins civetweb's threads, so no handler runs after it returns.
  mg_stop(ctx_);
  ctx_ = nullptr;
}

int HttpServer::OnRequest(::mg_connection* conn, void* self) {
  const mg_request_info* info = mg_get_request_info(conn);
  HttpRequest req;
  req.method = info->request_method ? info->request_method : "";
  req.path = info->local_uri ? info->local_uri : "/";
  req.query = info->query_string ? info->query_string : "";
  const HttpResponse r = static_cast<HttpServer*>(self)->api_->Handle(req);
  mg_printf(conn,
            "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nCache-Control: no-store\r\n"
            "X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
            r.code, mg_get_response_code_text(conn, r.code), r.content_type.c_str(), r.body.size());
  if (req.method != "HEAD") mg_write(conn, r.body.data(), r.body.size());
  return r.code;
}

namespace {
int LogMessage(const mg_connection*, const char* message) {
  spdlog::warn("http: {}", message);
  return 1;
}
}  // namespace

absl::StatusOr<std::unique_ptr<HttpServer>> StartHttpServer(const HttpServerOptions& options, HttpApi* api) {
  std::string host;
  int port = 0;
  if (absl::Status st = ParseListenAddress(options.listen, &host, &port); !st.ok()) return st;
  static std::once_flag init;
  std::call_once(init, [] { mg_init_library(0); });

  std::unique_ptr<HttpServer> server(new HttpServer(api));
  const std::string threads = absl::StrCat(options.threads > 0 ? options.threads : 1);
  // No document_root: civetweb serves no files; every path goes to OnRequest.
  const char* mg_options[] = {"listening_ports", options.listen.c_str(),
                              "num_threads", threads.c_str(),
                              "request_timeout_ms", "10000",
                              "enable_keep_alive", "no",
                              nullptr};
  mg_callbacks callbacks{};
  callbacks.log_message = &LogMessage;
  server->ctx_ = mg_start(&callbacks, nullptr, mg_options);
  if (server->ctx_ == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot listen on ", options.listen,
                                               " (address in use or not available on this host)"));
  }
  mg_set_request_handler(server->ctx_, "/", &HttpServer::OnRequest, server.get());
  std::vector<mg_server_port> ports(4);
  const int n = mg_get_server_ports(server->ctx_, static_cast<int>(ports.size()), ports.data());
  if (n < 1 || ports[0].port <= 0) {
    server->Shutdown();
    return absl::InternalError(absl::StrCat("listening on ", options.listen, " but the bound port is unknown"));
  }
  server->port_ = ports[0].port;
  return server;
}

}  // namespace cutover::http
