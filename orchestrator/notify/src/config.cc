#include "cutover/notify/config.h"

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "cutover/common/proto_time.h"
#include "google/protobuf/util/json_util.h"

namespace cutover::notify {

namespace v1 = cutover::v1;

namespace {

bool ValidName(absl::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  for (char c : s) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

// An RFC 7230 token (header field name).
bool ValidHeaderName(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c))) continue;
    if (!absl::StrContains("!#$%&'*+-.^_`|~", c)) return false;
  }
  return true;
}

// http(s)://host[:port][/path]; nothing fancier is needed to catch typos.
bool ValidUrl(absl::string_view url) {
  absl::string_view rest = url;
  if (!absl::ConsumePrefix(&rest, "http://") && !absl::ConsumePrefix(&rest, "https://")) return false;
  const size_t end = rest.find_first_of("/?#");
  const absl::string_view authority = rest.substr(0, end);
  if (authority.empty() || authority.front() == ':') return false;
  for (char c : url) {
    if (std::isspace(static_cast<unsigned char>(c)) || std::iscntrl(static_cast<unsigned char>(c)))
      return false;
  }
  return true;
}

bool Negative(const google::protobuf::Duration& d) { return d.seconds() < 0 || d.nanos() < 0; }

// Headers the notifier sets itself; a configured one would break signing or framing.
bool ReservedHeader(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  return lower == "content-type" || lower == "content-length" || lower == "host" || lower == "user-agent" ||
         lower == "transfer-encoding" || absl::StartsWith(lower, "x-cutover-");
}

}  // namespace

absl::StatusOr<v1::WebhookConfig> ParseWebhookConfig(absl::string_view json, absl::string_view source) {
  v1::WebhookConfig config;
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = false;
  const auto st = google::protobuf::util::JsonStringToMessage(std::string(json), &config, opts);
  if (!st.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        source, ": not a valid webhook config (", std::string(st.message()),
        "; expected {\"endpoints\": [{\"name\", \"url\", \"secret_file\" or \"secret_env\", ...}]}, "
        "docs/webhooks.md)"));
  }
  return config;
}

absl::StatusOr<std::vector<EndpointSettings>> ResolveWebhookConfig(const v1::WebhookConfig& config) {
  std::vector<std::string> errors;
  std::vector<EndpointSettings> out;
  std::set<std::string> names;
  if (config.endpoints().empty()) errors.push_back("endpoints: empty (expected at least one endpoint)");
  for (int i = 0; i < config.endpoints_size(); ++i) {
    const v1::WebhookEndpoint& e = config.endpoints(i);
    const std::string at = absl::StrCat("endpoints[", i, "]");
    auto error = [&](absl::string_view field, absl::string_view what) {
      errors.push_back(absl::StrCat(at, ".", field, ": ", what));
    };
    EndpointSettings s;
    s.name = e.name();
    if (!ValidName(e.name())) {
      error("name", e.name().empty() ? "empty (expected a short unique name, e.g. \"ops-chat\")"
                                     : "expected 1-64 characters of A-Z a-z 0-9 - _ .");
    } else if (!names.insert(e.name()).second) {
      error("name",
            absl::StrCat("duplicate \"", e.name(), "\" (names must be unique: they label the metrics)"));
    }
    s.url = e.url();
    if (!ValidUrl(e.url()))
      error("url", "expected an http:// or https:// URL, e.g. \"https://hooks.example.com/cutover\"");

    if (!e.secret_file().empty() && !e.secret_env().empty()) {
      error("secret_file", "set secret_file or secret_env, not both");
    } else if (!e.secret_file().empty()) {
      std::ifstream in(e.secret_file(), std::ios::binary);
      if (!in) {
        error("secret_file", absl::StrCat("cannot read ", e.secret_file()));
      } else {
        std::ostringstream ss;
        ss << in.rdbuf();
        s.secret = std::string(absl::StripTrailingAsciiWhitespace(ss.str()));
        if (s.secret.empty())
          error("secret_file", absl::StrCat(e.secret_file(), " is empty (expected the signing secret)"));
      }
    } else if (!e.secret_env().empty()) {
      const char* v = std::getenv(e.secret_env().c_str());
      if (v == nullptr || *v == '\0') {
        error("secret_env", absl::StrCat("environment variable ", e.secret_env(), " is unset or empty"));
      } else {
        s.secret = v;
      }
    } else {
      error("secret_file",
            "no signing secret: set secret_file (a file holding it) or secret_env (a variable name)");
    }

    for (int p = 0; p < e.phases_size(); ++p) {
      if (e.phases(p) == v1::PHASE_UNSPECIFIED) {
        error(absl::StrCat("phases[", p, "]"), "expected a phase name such as \"PHASE_COMPLETED\"");
      } else {
        s.phases.insert(e.phases(p));
      }
    }
    if (Negative(e.timeout())) error("timeout", "negative (expected e.g. \"5s\")");
    if (e.has_timeout() && FromProto(e.timeout()) > absl::ZeroDuration()) s.timeout = FromProto(e.timeout());
    if (e.max_attempts() < 0) error("max_attempts", "negative (expected 1 or more; 0 = default 10)");
    if (e.max_attempts() > 0) s.max_attempts = e.max_attempts();
    if (Negative(e.initial_backoff())) error("initial_backoff", "negative (expected e.g. \"1s\")");
    if (Negative(e.max_backoff())) error("max_backoff", "negative (expected e.g. \"60s\")");
    if (e.has_initial_backoff() && FromProto(e.initial_backoff()) > absl::ZeroDuration()) {
      s.initial_backoff = FromProto(e.initial_backoff());
    }
    if (e.has_max_backoff() && FromProto(e.max_backoff()) > absl::ZeroDuration())
      s.max_backoff = FromProto(e.max_backoff());
    if (s.max_backoff < s.initial_backoff) {
      error("max_backoff", absl::StrCat(absl::FormatDuration(s.max_backoff), " is below initial_backoff ",
                                        absl::FormatDuration(s.initial_backoff)));
    }
    if (e.queue_size() < 0) error("queue_size", "negative (expected 1 or more; 0 = default 1000)");
    if (e.queue_size() > 0) s.queue_size = e.queue_size();
    std::map<std::string, std::string> sorted(e.headers().begin(), e.headers().end());
    for (const auto& [k, v] : sorted) {
      if (!ValidHeaderName(k)) {
        error(absl::StrCat("headers[\"", k, "\"]"), "not a valid HTTP header name");
      } else if (ReservedHeader(k)) {
        error(absl::StrCat("headers[\"", k, "\"]"),
              "set by cutoverd itself (Content-Type, User-Agent, X-Cutover-*)");
      } else if (absl::StrContains(v, '\r') || absl::StrContains(v, '\n')) {
        error(absl::StrCat("headers[\"", k, "\"]"), "the value contains a line break");
      } else {
        s.headers.emplace_back(k, v);
      }
    }
    out.push_back(std::move(s));
  }
  if (!errors.empty()) return absl::InvalidArgumentError(absl::StrJoin(errors, "; "));
  return out;
}

absl::StatusOr<std::vector<EndpointSettings>> LoadWebhookConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot read the webhook config"));
  std::ostringstream ss;
  ss << in.rdbuf();
  absl::StatusOr<v1::WebhookConfig> config = ParseWebhookConfig(ss.str(), path);
  if (!config.ok()) return config.status();
  absl::StatusOr<std::vector<EndpointSettings>> out = ResolveWebhookConfig(*config);
  if (!out.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", out.status().message()));
  return out;
}

}  // namespace cutover::notify
