// The webhook configuration (cutoverd --webhook-config FILE): JSON of
// cutover.v1.WebhookConfig, checked field by field and resolved into
// EndpointSettings (defaults applied, secret loaded). Errors name the field
// ("endpoints[1].url: expected an http:// or https:// URL") and never contain
// a secret. Reference: docs/webhooks.md.
#pragma once

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "cutover/v1/webhook.pb.h"

namespace cutover::notify {

// One endpoint, ready to use: every default applied, the secret read.
struct EndpointSettings {
  std::string name;
  std::string url;
  std::string secret;                   // never logged
  std::set<cutover::v1::Phase> phases;  // empty = every phase change
  absl::Duration timeout = absl::Seconds(5);
  int max_attempts = 10;
  absl::Duration initial_backoff = absl::Seconds(1);
  absl::Duration max_backoff = absl::Seconds(60);
  std::vector<std::pair<std::string, std::string>> headers;
  int queue_size = 1000;
};

// Parses JSON (unknown fields rejected) into a WebhookConfig; `source`
// prefixes errors (the file name).
absl::StatusOr<cutover::v1::WebhookConfig> ParseWebhookConfig(absl::string_view json,
                                                              absl::string_view source);

// Checks every field and resolves defaults and secrets (secret_file is read,
// secret_env looked up now). All problems in one InvalidArgument, "; "-joined.
absl::StatusOr<std::vector<EndpointSettings>> ResolveWebhookConfig(const cutover::v1::WebhookConfig& config);

// ParseWebhookConfig + ResolveWebhookConfig of a file.
absl::StatusOr<std::vector<EndpointSettings>> LoadWebhookConfig(const std::string& path);

}  // namespace cutover::notify
