#include "cutover/http/http_api.h"

#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "cutover/http/assets.h"
#include "cutover/service/cutover_service.h"
#include "cutover/v1/status.pb.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "prometheus/text_serializer.h"

namespace cutover::http {

namespace v1 = cutover::v1;

namespace {

constexpr char kJson[] = "application/json; charset=utf-8";
constexpr char kText[] = "text/plain; charset=utf-8";
// The Prometheus text exposition format, version 0.0.4.
constexpr char kMetrics[] = "text/plain; version=0.0.4; charset=utf-8";
constexpr char kApiPrefix[] = "/api/v1/cutovers";

HttpResponse Json(int code, std::string body) { return {code, kJson, std::move(body), ""}; }
HttpResponse Error(int code, absl::string_view message) { return Json(code, ErrorJson(message)); }

int HttpCode(const absl::Status& st) {
  switch (st.code()) {
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kInvalidArgument:
      return 400;
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      return 503;
    default:
      return 500;
  }
}

HttpResponse FromStatus(const absl::Status& st) { return Error(HttpCode(st), st.message()); }

HttpResponse ServeAsset(absl::string_view name) {
  const Asset* a = FindAsset(name);
  if (a == nullptr) return Error(404, absl::StrCat("no such file: ", name));
  return {200, a->content_type, std::string(a->bytes()), ""};
}

}  // namespace

std::string ToJson(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  o.always_print_primitive_fields = true;
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(m, &json, o);
  return json;
}

std::string ErrorJson(absl::string_view message) {
  google::protobuf::Struct s;
  (*s.mutable_fields())["error"].set_string_value(std::string(message));
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(s, &json);
  return json;
}

HttpApi::HttpApi(engine::CutoverApi* api, StatusSampler* sampler, std::shared_ptr<prometheus::Registry> registry,
                 std::vector<std::shared_ptr<prometheus::Collectable>> extra)
    : api_(api),
      sampler_(sampler),
      registry_(std::move(registry)),
      extra_(std::move(extra)),
      requests_(prometheus::BuildCounter()
                    .Name("cutover_http_requests_total")
                    .Help("Requests served by cutoverd's HTTP listener, by route and status code.")
                    .Register(*registry_)) {}

HttpResponse HttpApi::Handle(const HttpRequest& request) {
  HttpResponse r = Route(request);
  requests_.Add({{"handler", r.handler}, {"code", absl::StrCat(r.code)}}).Increment();
  return r;
}

HttpResponse HttpApi::Route(const HttpRequest& request) {
  std::string path = request.path;
  if (path.size() > 1 && absl::EndsWith(path, "/")) path.pop_back();

  auto named = [](HttpResponse r, const char* handler) {
    r.handler = handler;
    return r;
  };
  const char* handler = "not_found";
  if (path == "/metrics") {
    handler = "metrics";
  } else if (path == "/healthz") {
    handler = "healthz";
  } else if (path == "/" || path == "/index.html") {
    handler = "index";
  } else if (absl::StartsWith(path, "/static/")) {
    handler = "static";
  } else if (path == kApiPrefix) {
    handler = "cutovers";
  }
  std::string id, sub;
  if (absl::StartsWith(path, absl::StrCat(kApiPrefix, "/"))) {
    std::vector<std::string> parts = absl::StrSplit(path.substr(sizeof(kApiPrefix)), '/');
    if (parts.size() == 1 && !parts[0].empty()) {
      handler = "cutover";
    } else if (parts.size() == 2 && !parts[0].empty() && (parts[1] == "timeline" || parts[1] == "series")) {
      handler = parts[1] == "timeline" ? "timeline" : "series";
    }
    if (parts.size() <= 2) {
      id = parts[0];
      sub = parts.size() == 2 ? parts[1] : "";
    }
  }
  if (std::string(handler) == "not_found") {
    return named(Error(404, absl::StrCat("no such path: ", request.path)), handler);
  }
  if (request.method != "GET" && request.method != "HEAD") {
    return named(Error(405, absl::StrCat("method ", request.method, " not allowed: this API is read-only (GET)")),
                 handler);
  }

  const std::string h = handler;
  if (h == "metrics") return named(Metrics(), handler);
  if (h == "healthz") return named({200, kText, "ok\n", ""}, handler);
  if (h == "index") return named(ServeAsset("index.html"), handler);
  if (h == "static") return named(ServeAsset(path.substr(sizeof("/static/") - 1)), handler);
  if (h == "cutovers") {
    absl::StatusOr<std::vector<v1::Cutover>> all = api_->List({});
    if (!all.ok()) return named(FromStatus(all.status()), handler);
    v1::ListResponse resp;
    for (v1::Cutover& c : *all) {
      service::RedactSecrets(&c);
      *resp.add_cutovers() = std::move(c);
    }
    return named(Json(200, ToJson(resp)), handler);
  }
  return named(CutoverRoute(id, sub, request), handler);
}

HttpResponse HttpApi::CutoverRoute(const std::string& id, const std::string& sub, const HttpRequest& request) {
  if (sub.empty()) {
    absl::StatusOr<engine::CutoverView> v = api_->Get(id);
    if (!v.ok()) return FromStatus(v.status());
    service::RedactSecrets(&v->cutover);
    return Json(200, ToJson(v->cutover));
  }
  if (sub == "timeline") {
    int64_t after = 0;
    for (absl::string_view kv : absl::StrSplit(request.query, '&', absl::SkipEmpty())) {
      std::pair<absl::string_view, absl::string_view> p = absl::StrSplit(kv, absl::MaxSplits('=', 1));
      if (p.first != "after_seq") continue;
      if (!absl::SimpleAtoi(p.second, &after) || after < 0) {
        return Error(400, absl::StrCat("after_seq: expected a non-negative integer, got '", p.second, "'"));
      }
    }
    absl::StatusOr<std::vector<v1::Transition>> t = api_->ListTransitions(id, after);
    if (!t.ok()) return FromStatus(t.status());
    v1::ListTransitionsResponse resp;
    for (v1::Transition& x : *t) *resp.add_transitions() = std::move(x);
    return Json(200, ToJson(resp));
  }
  // series: 404 for an unknown cutover, an empty series before the first sample.
  absl::StatusOr<engine::CutoverView> v = api_->Get(id);
  if (!v.ok()) return FromStatus(v.status());
  if (sampler_ == nullptr) return Error(404, "this cutoverd does not sample series");
  return Json(200, ToJson(sampler_->Series(id)));
}

HttpResponse HttpApi::Metrics() {
  std::vector<prometheus::MetricFamily> families = registry_->Collect();
  for (const auto& c : extra_) {
    std::vector<prometheus::MetricFamily> more = c->Collect();
    families.insert(families.end(), std::make_move_iterator(more.begin()), std::make_move_iterator(more.end()));
  }
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families);
  return {200, kMetrics, out.str(), ""};
}

}  // namespace cutover::http
