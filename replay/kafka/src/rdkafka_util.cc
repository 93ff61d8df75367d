#include "rdkafka_util.h"

#include <algorithm>
#include <climits>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace cutover::replay::kafka {
namespace {

// syslog(3) levels -> spdlog. librdkafka logs connection failures it
// retries by itself ("Connect to ... failed") at LOG_ERR: they become
// warnings, so an error line means something an operator must look at
// (fatal and authentication errors come through ErrorCallback at error).
spdlog::level::level_enum ToSpdlogLevel(int level) {
  if (level <= 2) {
    return spdlog::level::critical;  // emerg, alert, crit
  }
  if (level <= 4) {
    return spdlog::level::warn;  // err, warning
  }
  if (level <= 6) {
    return spdlog::level::info;  // notice, info
  }
  return spdlog::level::debug;
}

void LogCallback(const rd_kafka_t* rk, int level, const char* fac, const char* buf) {
  // librdkafka's own lines carry metadata (brokers, partitions, offsets),
  // never message payloads.
  spdlog::log(ToSpdlogLevel(level), "kafka {} {}: {}", rk ? rd_kafka_name(rk) : "-", fac ? fac : "-",
              buf ? buf : "");
}

void ErrorCallback(rd_kafka_t* rk, int err, const char* reason, void* /*opaque*/) {
  const auto code = static_cast<rd_kafka_resp_err_t>(err);
  switch (code) {
    case RD_KAFKA_RESP_ERR__FATAL: {
      char fatal[512] = {0};
      const rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
      spdlog::error("kafka {}: FATAL error {}: {}", rd_kafka_name(rk), rd_kafka_err2name(orig), fatal);
      return;
    }
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__RESOLVE:
      // Already in the log through log_cb (facility FAIL); retried.
      spdlog::debug("kafka {}: {} ({})", rd_kafka_name(rk), reason ? reason : "", rd_kafka_err2name(code));
      return;
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR__SSL:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
      // Retried too, but it will not heal without an operator.
      spdlog::error("kafka {}: {} ({})", rd_kafka_name(rk), reason ? reason : "", rd_kafka_err2name(code));
      return;
    default:
      // All brokers down, timeouts, ...: librdkafka keeps retrying; the
      // caller sees a status if it gives up.
      spdlog::warn("kafka {}: {} ({})", rd_kafka_name(rk), reason ? reason : "", rd_kafka_err2name(code));
  }
}

}  // namespace

ConfHandle NewConf() {
  ConfHandle conf(rd_kafka_conf_new());
  rd_kafka_conf_set_log_cb(conf.get(), &LogCallback);
  rd_kafka_conf_set_error_cb(conf.get(), &ErrorCallback);
  return conf;
}

bool IsSecretProperty(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  for (const char* s : {"password", "secret", "key", "token", "jaas", "credential"}) {
    if (absl::StrContains(lower, s)) {
      return true;
    }
  }
  return false;
}

absl::Status SetConf(rd_kafka_conf_t* conf, const std::string& name, const std::string& value,
                     absl::string_view field) {
  char errstr[512] = {0};
  const rd_kafka_conf_res_t res =
      rd_kafka_conf_set(conf, name.c_str(), value.c_str(), errstr, sizeof(errstr));
  if (res == RD_KAFKA_CONF_OK) {
    return absl::OkStatus();
  }
  if (res == RD_KAFKA_CONF_UNKNOWN) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": unknown librdkafka property '", name, "'"));
  }
  if (IsSecretProperty(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": invalid value for '", name, "' (value redacted)"));
  }
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", errstr));
}

absl::Status NewHandle(rd_kafka_type_t type, ConfHandle& conf, rd_kafka_t** out) {
  char errstr[512] = {0};
  rd_kafka_t* rk = rd_kafka_new(type, conf.get(), errstr, sizeof(errstr));
  if (rk == nullptr) {
    // Failure: the configuration is still ours and `conf` destroys it.
    return absl::InvalidArgumentError(absl::StrCat("cannot create the kafka client: ", errstr));
  }
  // Success: rd_kafka_new() owns the configuration now.
  (void)conf.release();
  *out = rk;
  return absl::OkStatus();
}

absl::Status ErrorToStatus(rd_kafka_resp_err_t err, absl::string_view what) {
  const std::string msg = absl::StrCat(what, ": ", rd_kafka_err2str(err), " (", rd_kafka_err2name(err), ")");
  switch (err) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
      return absl::OkStatus();
    // Local timeouts: the operation may have happened.
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
      return absl::DeadlineExceededError(msg);
    // Configuration / input the operator must fix.
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
    case RD_KAFKA_RESP_ERR_RECORD_LIST_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_REQUIRED_ACKS:
    case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR_INVALID_RECORD:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_FOR_MESSAGE_FORMAT:
    case RD_KAFKA_RESP_ERR_POLICY_VIOLATION:
      return absl::InvalidArgumentError(msg);
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION:
      return absl::NotFoundError(msg);
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
      return absl::PermissionDeniedError(msg);
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_SASL_AUTHENTICATION_FAILED:
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_SASL_MECHANISM:
      return absl::UnauthenticatedError(msg);
    case RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION:
    case RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE:
    case RD_KAFKA_RESP_ERR_SECURITY_DISABLED:
      return absl::FailedPreconditionError(msg);
    // The producer lost its idempotence state (possible gap or reordering):
    // a bug or an incident, never retried blindly.
    case RD_KAFKA_RESP_ERR__FATAL:
    case RD_KAFKA_RESP_ERR__GAPLESS_GUARANTEE:
    case RD_KAFKA_RESP_ERR__INCONSISTENT:
    case RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER:
    case RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH:
    case RD_KAFKA_RESP_ERR_PRODUCER_FENCED:
    case RD_KAFKA_RESP_ERR__FENCED:
    case RD_KAFKA_RESP_ERR__BAD_MSG:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
      return absl::InternalError(msg);
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
    case RD_KAFKA_RESP_ERR__DESTROY:
      return absl::CancelledError(msg);
    default:
      // Transport, leadership, replication (NOT_ENOUGH_REPLICAS, ...),
      // throttling and anything unknown: retrying later may succeed, and
      // a retry is what keeps a revocation from being lost.
      return absl::UnavailableError(msg);
  }
}

int ToMillis(absl::Duration d) {
  const int64_t ms = absl::ToInt64Milliseconds(d);
  return static_cast<int>(std::clamp<int64_t>(ms, 0, INT_MAX));
}

}  // namespace cutover::replay::kafka
