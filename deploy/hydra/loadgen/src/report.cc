// The operation mix (parsing, drawing) and the summary's text and JSON forms.
#include <google/protobuf/util/json_util.h>

#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "cutover/common/proto_time.h"
#include "cutover/loadgen/loadgen.h"

namespace cutover::loadgen {

absl::string_view OpName(OpKind kind) {
  switch (kind) {
    case OpKind::kIssue:
      return "issue";
    case OpKind::kRotate:
      return "rotate";
    case OpKind::kRevokeToken:
      return "revoke_token";
    case OpKind::kRevokeConsent:
      return "revoke_consent";
    case OpKind::kRevokeLogin:
      return "revoke_login";
    case OpKind::kDeleteClient:
      return "delete_client";
  }
  return "issue";
}

int Mix::Total() const {
  int total = 0;
  for (int w : weights) {
    total += w;
  }
  return total;
}

OpKind Mix::Pick(double r) const {
  const double target = r * Total();
  double acc = 0;
  int last = 0;
  for (int i = 0; i < kNumOpKinds; ++i) {
    if (weights[i] <= 0) {
      continue;
    }
    last = i;
    acc += weights[i];
    if (target < acc) {
      return static_cast<OpKind>(i);
    }
  }
  return static_cast<OpKind>(last);
}

absl::StatusOr<Mix> ParseMix(absl::string_view text) {
  const std::string names = [] {
    std::vector<std::string> n;
    for (int i = 0; i < kNumOpKinds; ++i) {
      n.emplace_back(OpName(static_cast<OpKind>(i)));
    }
    return absl::StrJoin(n, ", ");
  }();
  Mix mix;
  mix.weights.fill(0);
  std::set<int> seen;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    part = absl::StripAsciiWhitespace(part);
    if (part.empty()) {
      continue;
    }
    std::vector<absl::string_view> kv = absl::StrSplit(part, absl::MaxSplits('=', 1));
    if (kv.size() != 2) {
      return absl::InvalidArgumentError(absl::StrCat("'", part, "' is not kind=weight (kinds: ", names, ")"));
    }
    const absl::string_view name = absl::StripAsciiWhitespace(kv[0]);
    int kind = -1;
    for (int i = 0; i < kNumOpKinds; ++i) {
      if (name == OpName(static_cast<OpKind>(i))) {
        kind = i;
      }
    }
    if (kind < 0) {
      return absl::InvalidArgumentError(absl::StrCat("unknown kind '", name, "' (kinds: ", names, ")"));
    }
    if (!seen.insert(kind).second) {
      return absl::InvalidArgumentError(absl::StrCat("kind '", name, "' given twice"));
    }
    int weight = -1;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(kv[1]), &weight) || weight < 0 || weight > 1'000'000) {
      return absl::InvalidArgumentError(
          absl::StrCat("weight of '", name, "' must be an integer from 0 to 1000000, got '", kv[1], "'"));
    }
    mix.weights[kind] = weight;
  }
  if (mix.Total() <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("no positive weight in '", text, "' (kinds: ", names, ")"));
  }
  return mix;
}

std::string FormatMix(const Mix& mix) {
  std::vector<std::string> parts;
  for (int i = 0; i < kNumOpKinds; ++i) {
    parts.push_back(absl::StrCat(OpName(static_cast<OpKind>(i)), "=", mix.weights[i]));
  }
  return absl::StrJoin(parts, ",");
}

namespace {

std::string Rfc3339(const google::protobuf::Timestamp& t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", FromProtoTime(t), absl::UTCTimeZone());
}

int64_t BySchema(const v1::LoadgenOpStats& o, const char* schema) {
  auto it = o.committed_by_schema().find(schema);
  return it == o.committed_by_schema().end() ? 0 : it->second;
}

}  // namespace

std::string FormatSummaryText(const v1::LoadgenSummary& s) {
  std::string out = absl::StrFormat(
      "cutover-loadgen: %d committed, %d failed in %.1f s (%.1f/s; target %s) on %s, %d clients, stop: "
      "%s\n\n",
      s.committed(), s.failed(), s.elapsed_seconds(), s.committed_per_second(),
      s.target_rate() > 0 ? absl::StrFormat("%g/s", s.target_rate()) : "unpaced", s.target(), s.clients(),
      s.stop_reason().empty() ? "-" : s.stop_reason());
  absl::StrAppendFormat(&out, "%-15s %8s %7s %6s %8s %7s %8s %8s %8s %8s %8s\n", "kind", "ok", "noop",
                        "stale", "skipped", "failed", "p50 ms", "p99 ms", "max ms", "on 1.x", "on 2.x");
  for (const auto& o : s.ops()) {
    const bool op = o.kind() != "connect" && o.kind() != "pool_refresh";
    if (op) {
      absl::StrAppendFormat(&out, "%-15s %8d %7d %6d %8d %7d %8.2f %8.2f %8.2f %8d %8d\n", o.kind(), o.ok(),
                            o.noop(), o.stale(), o.skipped(), o.failed(), o.latency().p50_ms(),
                            o.latency().p99_ms(), o.latency().max_ms(), BySchema(o, "1.x"),
                            BySchema(o, "2.x"));
    } else {
      absl::StrAppendFormat(&out, "%-15s %8d %7s %6s %8s %7d\n", o.kind(), o.ok(), "-", "-", "-", o.failed());
    }
  }
  absl::StrAppendFormat(&out, "%-15s %8d %7s %6d %8d %7d\n", "total (ok+noop)", s.committed(), "", s.stale(),
                        s.skipped(), s.failed());
  const auto& gap = s.longest_write_gap();
  if (gap.has_start()) {
    absl::StrAppendFormat(&out, "\nlongest write gap: %.3f s, from %s to %s\n", gap.seconds(),
                          Rfc3339(gap.start()), Rfc3339(gap.end()));
    if (s.client_deletion_pause_seconds() > 0) {
      absl::StrAppendFormat(&out, "  (not counting %.3f s in total while client deletions ran alone)\n",
                            s.client_deletion_pause_seconds());
    }
  }
  if (!s.ledger_path().empty()) {
    absl::StrAppendFormat(&out, "ledger: %s (%d revocations)\n", s.ledger_path(), s.ledger_lines());
  }
  bool header = false;
  for (const auto& o : s.ops()) {
    for (const auto& e : o.errors()) {
      if (!header) {
        out.append("\nfirst errors:\n");
        header = true;
      }
      absl::StrAppendFormat(&out, "  %s: %s\n", o.kind(), e);
    }
  }
  return out;
}

std::string FormatSummaryJson(const v1::LoadgenSummary& summary, bool pretty) {
  google::protobuf::util::JsonPrintOptions o;
  o.add_whitespace = pretty;
  o.preserve_proto_field_names = true;
  o.always_print_primitive_fields = true;
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(summary, &json, o);
  if (!json.empty() && json.back() != '\n') {
    json.push_back('\n');
  }
  return json;
}

}  // namespace cutover::loadgen
