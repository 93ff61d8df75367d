// The routes of cutoverd's HTTP listener (docs/api.md, "HTTP"), apart from
// the HTTP server that carries them: Handle() maps a GET request to a
// response. Read-only by design: metrics, health, the embedded status page
// and JSON views of the control API (plan secrets redacted with
// service::RedactSecrets, as over gRPC). Every request is counted in
// cutover_http_requests_total{handler,code} (handler = route name, bounded).
// Thread-safe: Handle() runs on the server's threads concurrently; `api`,
// `sampler` and the collectables must outlive this object.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cutover/engine/api.h"
#include "cutover/http/status_sampler.h"
#include "prometheus/collectable.h"
#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/registry.h"

namespace cutover::http {

struct HttpRequest {
  std::string method = "GET";
  // Decoded path ("/api/v1/cutovers/c-1"); the query string apart, undecoded.
  std::string path;
  std::string query;
};

struct HttpResponse {
  int code = 200;
  std::string content_type;
  std::string body;
  // Route name: metrics, healthz, index, static, cutovers, cutover, timeline,
  // series, not_found.
  std::string handler;
};

class HttpApi {
 public:
  // `registry` gets cutover_http_requests_total and is served on /metrics
  // with every collectable of `extra` (the MetricsCollector). `sampler` may be
  // null (then /series answers 404).
  HttpApi(engine::CutoverApi* api, StatusSampler* sampler, std::shared_ptr<prometheus::Registry> registry,
          std::vector<std::shared_ptr<prometheus::Collectable>> extra);

  HttpResponse Handle(const HttpRequest& request);

 private:
  HttpResponse Route(const HttpRequest& request);
  HttpResponse Metrics();
  HttpResponse CutoverRoute(const std::string& id, const std::string& sub, const HttpRequest& request);

  engine::CutoverApi* const api_;
  StatusSampler* const sampler_;
  const std::shared_ptr<prometheus::Registry> registry_;
  const std::vector<std::shared_ptr<prometheus::Collectable>> extra_;
  prometheus::Family<prometheus::Counter>& requests_;
};

// JSON of a message as the HTTP API writes it: json_util with snake_case
// field names, default values printed, int64 as strings, enums by name.
std::string ToJson(const google::protobuf::Message& m);
// {"error": "<message>"}
std::string ErrorJson(absl::string_view message);

}  // namespace cutover::http
