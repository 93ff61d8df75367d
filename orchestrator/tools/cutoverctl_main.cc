// cutoverctl: the command-line client of cutoverd's CutoverService. Every RPC
// is a subcommand; `watch` draws progress and the timeline; `wait` blocks for
// runbooks; `--output json` prints protobuf JSON. `lint-migrations` runs the
// migration linter locally (no server). Reference: docs/cutoverctl.md.
//
// Exit codes (stable, for scripts):
//   0 ok, 1 server-side error, 2 usage error, 3 validation failed (or lint errors),
//   4 wait timed out, 5 wait: the cutover ended in a different phase,
//   6 cannot reach the server, 7 unauthenticated / permission denied.
#include <grpcpp/grpcpp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cutover/common/plan_json.h"
#include "cutover/common/proto_time.h"
#include "cutover/migrate/lint.h"
#include "cutover/v1/cutover.grpc.pb.h"
#include "google/protobuf/util/json_util.h"

namespace {

namespace v1 = cutover::v1;

enum Exit : int {
  kOk = 0,
  kServerError = 1,
  kUsage = 2,
  kValidationFailed = 3,
  kWaitTimeout = 4,
  kWaitOtherPhase = 5,
  kUnreachable = 6,
  kDenied = 7,
};

constexpr char kExitCodesHelp[] =
    "Exit codes:\n"
    "  0  ok\n"
    "  1  server-side error (the server's message is printed)\n"
    "  2  usage error (bad arguments, unreadable or invalid plan file, unknown phase)\n"
    "  3  validation failed (validate: a check failed; lint-migrations: an error-level finding)\n"
    "  4  wait: timed out\n"
    "  5  wait: the cutover ended in another terminal phase, or FAILED\n"
    "  6  cannot reach the server\n"
    "  7  unauthenticated or permission denied\n"
    "Environment: CUTOVER_SERVER, CUTOVER_TOKEN.  Reference: docs/cutoverctl.md";

int Usage(const std::string& what) {
  std::cerr << "cutoverctl: " << what << "\n";
  return kUsage;
}

std::string PhaseName(v1::Phase p) {
  const std::string& n = v1::Phase_Name(p);
  absl::string_view v = n;
  absl::ConsumePrefix(&v, "PHASE_");
  return std::string(v);
}

// "ready", "PHASE_READY", "catching-up" -> PHASE_...
bool ParsePhase(absl::string_view text, v1::Phase* out) {
  std::string t = absl::AsciiStrToUpper(absl::StripAsciiWhitespace(text));
  for (char& c : t) {
    if (c == '-') c = '_';
  }
  if (!absl::StartsWith(t, "PHASE_")) t = "PHASE_" + t;
  return v1::Phase_Parse(t, out) && *out != v1::PHASE_UNSPECIFIED;
}

std::string AllPhaseNames() {
  std::vector<std::string> names;
  for (int i = v1::Phase_MIN + 1; i <= v1::Phase_MAX; ++i) {
    if (v1::Phase_IsValid(i)) names.push_back(absl::AsciiStrToLower(PhaseName(static_cast<v1::Phase>(i))));
  }
  return absl::StrJoin(names, ", ");
}

bool IsTerminal(v1::Phase p) {
  return p == v1::PHASE_COMPLETED || p == v1::PHASE_ABORTED || p == v1::PHASE_ROLLED_BACK;
}

// "5s", "1m30s", "250ms", or a bare number of seconds.
bool ParseTimeout(const std::string& text, absl::Duration* out) {
  double secs;
  if (absl::SimpleAtod(text, &secs)) {
    if (secs < 0) return false;
    *out = absl::Seconds(secs);
    return true;
  }
  return absl::ParseDuration(text, out) && *out >= absl::ZeroDuration();
}

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return true;
}

std::string ToJson(const google::protobuf::Message& m, bool pretty) {
  google::protobuf::util::JsonPrintOptions o;
  o.add_whitespace = pretty;
  o.preserve_proto_field_names = true;
  o.always_print_primitive_fields = true;
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(m, &json, o);
  if (pretty && !json.empty() && json.back() == '\n') json.pop_back();
  return json;
}

std::string Time(const google::protobuf::Timestamp& t) {
  if (t.seconds() == 0 && t.nanos() == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", cutover::FromProtoTime(t), absl::UTCTimeZone());
}

std::string Dur(const google::protobuf::Duration& d) { return cutover::HumanDuration(cutover::FromProto(d)); }

std::string Bar(double fraction, int width) {
  if (fraction < 0) fraction = 0;
  if (fraction > 1) fraction = 1;
  int full = static_cast<int>(fraction * width + 0.5);
  return "[" + std::string(full, '#') + std::string(width - full, '-') + "]";
}

std::string TableStateName(v1::TableState s) {
  absl::string_view n = v1::TableState_Name(s);
  absl::ConsumePrefix(&n, "TABLE_STATE_");
  return std::string(n);
}

// ----- text rendering -----

std::string CopyLine(const v1::CopyProgress& c) {
  const double total = static_cast<double>(c.bytes_estimated());
  const double frac = total > 0 ? static_cast<double>(c.bytes_copied()) / total : 0;
  std::string line = absl::StrFormat("copy    %s %5.1f%%  %s / %s", Bar(frac, 30), frac * 100,
                                     cutover::HumanBytes(c.bytes_copied()), cutover::HumanBytes(total));
  if (c.bytes_per_second() > 0) absl::StrAppend(&line, "  ", cutover::HumanBytes(c.bytes_per_second()), "/s");
  if (c.has_eta()) absl::StrAppend(&line, "  eta ", Dur(c.eta()));
  return line;
}

std::string ReplayLine(const v1::ReplayStats& r) {
  std::string line = absl::StrCat("replay  backlog ", r.backlog());
  if (r.has_oldest_event_age()) absl::StrAppend(&line, " (oldest ", Dur(r.oldest_event_age()), ")");
  absl::StrAppend(&line, "  captured ", r.captured(), "  applied ", r.applied(), "  duplicates ",
                  r.duplicates(), "  no-ops ", r.noops(), "  dead letters ", r.dead_letters());
  if (r.events_per_second() > 0)
    absl::StrAppend(&line, absl::StrFormat("  %.1f ev/s", r.events_per_second()));
  return line;
}

std::string ApprovalLine(const v1::Cutover& c) {
  const v1::FlipOptions& f = c.plan().flip();
  if (c.approved()) return "approval: approved";
  if (f.auto_flip()) return "approval: not needed (auto_flip)";
  std::string s =
      c.phase() == v1::PHASE_READY ? "approval: WAITING for approve" : "approval: not yet (needed at READY)";
  if (f.has_approval_deadline() && cutover::FromProto(f.approval_deadline()) > absl::ZeroDuration()) {
    absl::StrAppend(&s, ", deadline ", Dur(f.approval_deadline()), " after READY");
  }
  return s;
}

// The block `status` prints and `watch` redraws.
std::vector<std::string> StatusLines(const v1::Cutover& c) {
  std::vector<std::string> out;
  std::string head = absl::StrCat("cutover ", c.id());
  if (!c.plan().name().empty()) absl::StrAppend(&head, " (", c.plan().name(), ")");
  absl::StrAppend(&head, "  phase ", PhaseName(c.phase()));
  if (c.phase() == v1::PHASE_PAUSED)
    absl::StrAppend(&head, " (resumes into ", PhaseName(c.paused_phase()), ")");
  absl::StrAppend(&head, "  updated ", Time(c.updated_at()));
  out.push_back(head);
  if (!c.reason().empty()) out.push_back("reason: " + c.reason());
  if (c.has_copy()) {
    out.push_back(CopyLine(c.copy()));
    for (const v1::TableProgress& t : c.copy().tables()) {
      const double frac =
          t.bytes_estimated() > 0 ? static_cast<double>(t.bytes_copied()) / t.bytes_estimated() : 0;
      std::string line = absl::StrFormat("  %-40s %-9s %s %s rows", t.table(), TableStateName(t.state()),
                                         Bar(frac, 10), cutover::HumanCount(t.rows_copied()));
      if (t.indexes_total() > 0)
        absl::StrAppend(&line, absl::StrFormat("  indexes %d/%d", t.indexes_done(), t.indexes_total()));
      out.push_back(line);
    }
  }
  if (c.has_verify()) {
    int bad = 0;
    for (const auto& t : c.verify().tables()) bad += t.match() ? 0 : 1;
    out.push_back(absl::StrCat("verify  ", c.verify().tables_size(), " tables, ",
                               c.verify().all_match() ? "all match" : absl::StrCat(bad, " MISMATCH")));
  }
  if (c.has_replay()) out.push_back(ReplayLine(c.replay()));
  out.push_back(ApprovalLine(c));
  if (c.has_flip()) {
    const v1::FlipResult& f = c.flip();
    out.push_back(f.succeeded() ? absl::StrCat("flip    succeeded at ", Time(f.flipped_at()), ", write gap ",
                                               Dur(f.write_gap()), ", pause ", Dur(f.pause_duration()))
                                : absl::StrCat("flip    failed: ", f.failure_reason()));
  }
  if (!c.lease_holder().empty()) {
    out.push_back(absl::StrCat("lease   ", c.lease_holder(), " until ", Time(c.lease_expires_at())));
  }
  return out;
}

std::string TransitionRow(const v1::Transition& t) {
  std::string row = absl::StrFormat("%4d  %s  %-14s -> %-14s %-24s %s", t.seq(), Time(t.at()),
                                    PhaseName(t.from()), PhaseName(t.to()), t.actor(), t.action());
  if (!t.reason().empty()) absl::StrAppend(&row, ": ", t.reason());
  return row;
}

std::string ReportText(const v1::Report& r) {
  std::string s =
      absl::StrCat("cutover ", r.cutover_id(), " (", r.name(), ")  phase ", PhaseName(r.phase()), "\n");
  if (r.timings_size() > 0) {
    absl::StrAppend(&s, "\nphase timings:\n");
    for (const auto& t : r.timings()) {
      absl::StrAppend(&s, absl::StrFormat("  %-16s %s\n", PhaseName(t.phase()), Dur(t.duration())));
    }
  }
  if (r.has_copy()) {
    const v1::CopyReport& c = r.copy();
    absl::StrAppend(&s, "\ncopy: ", c.tables(), " tables, ", cutover::HumanCount(c.rows()), " rows, ",
                    cutover::HumanBytes(c.bytes()), ", ", c.indexes(), " indexes, ", c.constraints(),
                    " constraints; data ", Dur(c.data_duration()), ", data+indexes ",
                    Dur(c.data_and_index_duration()), ", total ", Dur(c.total_duration()), "\n");
    if (c.has_verify()) {
      absl::StrAppend(&s, "verify: ", c.verify().all_match() ? "all tables match" : "MISMATCH", "\n");
    }
  }
  if (r.has_replay()) absl::StrAppend(&s, "\n", ReplayLine(r.replay()), "\n");
  if (r.has_flip()) {
    absl::StrAppend(
        &s, "\nflip: ", r.flip().succeeded() ? "succeeded" : "failed: " + r.flip().failure_reason(),
        ", write gap ", Dur(r.flip().write_gap()), ", pause ", Dur(r.flip().pause_duration()), "\n");
  }
  absl::StrAppend(&s, "\naccepted losses (non-revocation writes on blue after the snapshot; upper bound):\n");
  if (r.accepted_losses_size() == 0) absl::StrAppend(&s, "  none\n");
  for (const auto& l : r.accepted_losses()) {
    absl::StrAppend(&s, absl::StrFormat("  %-44s inserts %d  updates %d  deletes %d\n", l.table(), l.inserts(),
                                        l.updates(), l.deletes()));
  }
  if (r.has_rollback()) {
    absl::StrAppend(&s, "\nrollback: ",
                    r.rollback().succeeded() ? "succeeded" : "failed: " + r.rollback().failure_reason(),
                    ", write gap ", Dur(r.rollback().write_gap()), ", ", r.rollback().tail_events(),
                    " tail event(s) from green\n");
    if (r.has_rollback_replay()) absl::StrAppend(&s, "rollback stream: ", ReplayLine(r.rollback_replay()), "\n");
    if (r.has_rollback_sweep()) {
      const auto& sw = r.rollback_sweep();
      if (!sw.skipped_reason().empty()) {
        absl::StrAppend(&s, "rollback sweep: skipped: ", sw.skipped_reason(), "\n");
      } else {
        absl::StrAppend(&s, "rollback sweep: ", sw.revoked(),
                        " row(s) written on blue after the copy snapshot and missing on green, revoked on blue (",
                        Dur(sw.duration()), ")\n");
        for (const auto& t : sw.tables()) {
          if (t.candidates() == 0) continue;
          absl::StrAppend(&s, absl::StrFormat("  %-44s %d written after the snapshot, %d %s\n", t.table(),
                                              t.candidates(), t.revoked(),
                                              t.action() == "delete" ? "deleted" : "deactivated"));
        }
      }
    }
  }
  if (r.timeline_size() > 0) {
    absl::StrAppend(&s, "\ntimeline:\n");
    for (const auto& t : r.timeline()) absl::StrAppend(&s, TransitionRow(t), "\n");
  }
  return s;
}

// ----- the connection -----

struct Globals {
  std::string server = "127.0.0.1:7400";
  std::string token;
  std::string token_file;
  std::string tls_ca, tls_cert, tls_key;
  std::string output = "text";
  std::string timeout = "30s";
};

class Client {
 public:
  bool json() const { return json_; }

  // Returns an exit code != 0 with the message printed on a bad setup.
  int Init(const Globals& g) {
    json_ = g.output == "json";
    if (!ParseTimeout(g.timeout, &timeout_))
      return Usage("--timeout: '" + g.timeout + "' is not a duration (e.g. 30s)");
    token_ = g.token;
    if (!g.token_file.empty()) {
      if (!ReadFile(g.token_file, &token_)) return Usage("--token-file: cannot read '" + g.token_file + "'");
      token_ = std::string(absl::StripAsciiWhitespace(token_));
    }
    std::shared_ptr<grpc::ChannelCredentials> creds;
    if (!g.tls_ca.empty() || !g.tls_cert.empty() || !g.tls_key.empty()) {
      if (g.tls_cert.empty() != g.tls_key.empty()) return Usage("--tls-cert and --tls-key go together");
      grpc::SslCredentialsOptions o;
      if (!g.tls_ca.empty() && !ReadFile(g.tls_ca, &o.pem_root_certs))
        return Usage("--tls-ca: cannot read '" + g.tls_ca + "'");
      if (!g.tls_cert.empty() && !ReadFile(g.tls_cert, &o.pem_cert_chain)) {
        return Usage("--tls-cert: cannot read '" + g.tls_cert + "'");
      }
      if (!g.tls_key.empty() && !ReadFile(g.tls_key, &o.pem_private_key)) {
        return Usage("--tls-key: cannot read '" + g.tls_key + "'");
      }
      creds = grpc::SslCredentials(o);
    } else {
      creds = grpc::InsecureChannelCredentials();
    }
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(4 * 1024 * 1024);
    channel_ = grpc::CreateCustomChannel(g.server, creds, args);
    stub_ = v1::CutoverService::NewStub(channel_);
    server_ = g.server;
    return kOk;
  }

  // A context with the bearer token and (when `deadline`) the RPC timeout.
  void Prepare(grpc::ClientContext* ctx, bool deadline = true) const {
    if (!token_.empty()) ctx->AddMetadata("authorization", "Bearer " + token_);
    if (deadline) ctx->set_deadline(absl::ToChronoTime(absl::Now() + timeout_));
  }

  v1::CutoverService::Stub* stub() const { return stub_.get(); }

  // Prints "cutoverctl: <what>: <message>" and returns the exit code for `st`.
  int Fail(const std::string& what, const grpc::Status& st) const {
    int code = kServerError;
    std::string msg = st.error_message();
    switch (st.error_code()) {
      case grpc::StatusCode::UNAUTHENTICATED:
      case grpc::StatusCode::PERMISSION_DENIED:
        code = kDenied;
        break;
      case grpc::StatusCode::UNAVAILABLE:
        code = kUnreachable;
        msg = absl::StrCat("cannot reach ", server_, ": ", msg);
        break;
      case grpc::StatusCode::DEADLINE_EXCEEDED:
        if (channel_->GetState(false) != GRPC_CHANNEL_READY) {
          code = kUnreachable;
          msg = absl::StrCat("cannot reach ", server_, ": ", msg);
        }
        break;
      default:
        break;
    }
    std::cerr << "cutoverctl: " << what << ": " << msg << "\n";
    return code;
  }

 private:
  bool json_ = false;
  absl::Duration timeout_ = absl::Seconds(30);
  std::string token_;
  std::string server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::CutoverService::Stub> stub_;
};

// Finds the first JSON syntax error of a plan file, as "LINE:COLUMN: what"
// ("" when the text is well-formed JSON). protobuf's parser says what is
// wrong but not where (it prints a snippet of the text), which is no help in
// a 200-line plan. Lines and columns count from 1; columns in bytes.
class JsonSyntaxCheck {
 public:
  explicit JsonSyntaxCheck(absl::string_view text) : t_(text) {}
  std::string FirstError() {
    Ws();
    if (i_ < t_.size() && t_[i_] != '{') {
      Fail("expected a JSON object '{...}' (the plan) at the top level");
      return Where();
    }
    if (!Value(0)) return Where();
    Ws();
    if (i_ < t_.size()) {
      Fail("unexpected text after the plan's closing '}'");
      return Where();
    }
    return "";
  }

 private:
  static constexpr int kMaxDepth = 100;  // protobuf's own recursion limit
  bool Fail(const char* what) {
    if (err_ == nullptr) err_ = what;
    return false;
  }
  std::string Where() const {
    int line = 1, col = 1;
    for (size_t k = 0; k < i_ && k < t_.size(); ++k) {
      if (t_[k] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    return absl::StrCat(line, ":", col, ": syntax error: ", err_ != nullptr ? err_ : "invalid JSON");
  }
  bool End() const { return i_ >= t_.size(); }
  char Peek() const { return End() ? '\0' : t_[i_]; }
  void Ws() {
    while (!End() && (t_[i_] == ' ' || t_[i_] == '\t' || t_[i_] == '\n' || t_[i_] == '\r')) ++i_;
  }
  bool Literal(absl::string_view word) {
    if (t_.substr(i_, word.size()) != word) return Fail("expected a value (object, array, \"string\", number, true, false or null)");
    i_ += word.size();
    return true;
  }
  bool Digits() {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(Peek()))) return Fail("malformed number: expected a digit");
    while (absl::ascii_isdigit(static_cast<unsigned char>(Peek()))) ++i_;
    return true;
  }
  bool Number() {
    if (Peek() == '-') ++i_;
    if (Peek() == '0') {
      ++i_;
    } else if (!Digits()) {
      return false;
    }
    if (Peek() == '.') {
      ++i_;
      if (!Digits()) return false;
    }
    if (Peek() == 'e' || Peek() == 'E') {
      ++i_;
      if (Peek() == '+' || Peek() == '-') ++i_;
      if (!Digits()) return false;
    }
    return true;
  }
  bool String() {
    ++i_;  // opening quote
    while (true) {
      if (End()) return Fail("unterminated string (missing closing '\"')");
      const unsigned char ch = static_cast<unsigned char>(t_[i_]);
      if (ch == '"') {
        ++i_;
        return true;
      }
      if (ch < 0x20) return Fail("control character inside a string (a line break before the closing '\"'?)");
      if (ch == '\\') {
        ++i_;
        const char e = Peek();
        if (e == 'u') {
          for (int k = 0; k < 4; ++k) {
            ++i_;
            if (!absl::ascii_isxdigit(static_cast<unsigned char>(Peek()))) return Fail("\\u needs 4 hex digits");
          }
        } else if (e == '\0' || std::string_view("\"\\/bfnrt").find(e) == std::string_view::npos) {
          return Fail("invalid escape in a string (valid: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)");
        }
      }
      ++i_;
    }
  }
  bool Value(int depth) {
    if (End()) return Fail("unexpected end of file: expected a value");
    const char ch = Peek();
    if (ch == '{' || ch == '[') {
      if (depth >= kMaxDepth) return Fail("nested too deeply");
      const bool object = ch == '{';
      const char close = object ? '}' : ']';
      ++i_;
      Ws();
      if (Peek() == close) {
        ++i_;
        return true;
      }
      while (true) {
        if (object) {
          if (Peek() != '"') return Fail("expected a \"field\" name in double quotes (a trailing comma?)");
          if (!String()) return false;
          Ws();
          if (Peek() != ':') return Fail("expected ':' after the field name");
          ++i_;
          Ws();
        }
        if (!Value(depth + 1)) return false;
        Ws();
        if (Peek() == ',') {
          ++i_;
          Ws();
          continue;
        }
        if (Peek() == close) {
          ++i_;
          return true;
        }
        if (End()) return Fail(object ? "unexpected end of file: missing '}'" : "unexpected end of file: missing ']'");
        return Fail(object ? "expected ',' or '}' after a field's value (a missing comma?)"
                           : "expected ',' or ']' after an array element (a missing comma?)");
      }
    }
    if (ch == '"') return String();
    if (ch == '-' || absl::ascii_isdigit(static_cast<unsigned char>(ch))) return Number();
    if (ch == 't') return Literal("true");
    if (ch == 'f') return Literal("false");
    if (ch == 'n') return Literal("null");
    return Fail("expected a value (object, array, \"string\", number, true, false or null)");
  }

  absl::string_view t_;
  size_t i_ = 0;
  const char* err_ = nullptr;
};

// Reads FILE.json as a Plan. Every problem is a usage error naming the file
// and what is wrong: a syntax error with FILE:LINE:COLUMN, an unknown field or
// a wrong type with the field's path (protobuf's message).
int LoadPlan(const std::string& cmd, const std::string& path, v1::Plan* plan) {
  std::string text;
  if (!ReadFile(path, &text)) {
    return Usage(absl::StrCat(cmd, ": cannot read plan file '", path, "': ", std::strerror(errno)));
  }
  if (absl::StripAsciiWhitespace(text).empty()) {
    return Usage(absl::StrCat(cmd, ": ", path, ": the plan file is empty (expected a JSON object, docs/cutoverctl.md)"));
  }
  if (std::string where = JsonSyntaxCheck(text).FirstError(); !where.empty()) {
    return Usage(absl::StrCat(cmd, ": ", path, ":", where));
  }
  absl::StatusOr<v1::Plan> parsed = cutover::ParsePlanJson(text);
  if (!parsed.ok()) return Usage(absl::StrCat(cmd, ": ", path, ": ", parsed.status().message()));
  *plan = *std::move(parsed);
  return kOk;
}

void PrintCutover(const Client& c, const v1::Cutover& cut, const std::string& verb) {
  if (c.json()) {
    std::cout << ToJson(cut, true) << "\n";
  } else {
    std::cout << "cutover " << cut.id() << " " << verb << ": phase " << PhaseName(cut.phase()) << "\n";
  }
}

// ----- subcommands -----

int CmdPlan(const Client& c, const std::string& file) {
  v1::CreatePlanRequest req;
  if (int rc = LoadPlan("plan", file, req.mutable_plan()); rc != kOk) return rc;
  grpc::ClientContext ctx;
  c.Prepare(&ctx);
  v1::Cutover resp;
  grpc::Status st = c.stub()->CreatePlan(&ctx, req, &resp);
  if (!st.ok()) return c.Fail("plan", st);
  if (c.json()) {
    std::cout << ToJson(resp, true) << "\n";
  } else {
    std::cout << "created cutover " << resp.id() << " (" << resp.plan().name() << "): phase "
              << PhaseName(resp.phase()) << "\n";
  }
  return kOk;
}

int CmdValidate(const Client& c, const std::string& file) {
  v1::ValidatePlanRequest req;
  if (int rc = LoadPlan("validate", file, req.mutable_plan()); rc != kOk) return rc;
  grpc::ClientContext ctx;
  c.Prepare(&ctx);
  v1::ValidationResult resp;
  grpc::Status st = c.stub()->ValidatePlan(&ctx, req, &resp);
  if (!st.ok()) return c.Fail("validate", st);
  int failed = 0;
  for (const auto& ch : resp.checks()) failed += ch.ok() ? 0 : 1;
  const bool ok = resp.ok() && failed == 0;
  if (c.json()) {
    std::cout << ToJson(resp, true) << "\n";
  } else {
    for (const auto& ch : resp.checks()) {
      std::cout << absl::StrFormat("  %-4s  %-28s %s\n", ch.ok() ? "ok" : "FAIL", ch.name(), ch.detail());
    }
    for (const auto& w : resp.warnings()) std::cout << "  warn  " << w.code() << ": " << w.message() << "\n";
    if (ok) {
      std::cout << "plan is valid (" << resp.checks_size() << " checks)\n";
    } else {
      std::cout << "plan is NOT valid: " << failed << " of " << resp.checks_size() << " checks failed\n";
    }
  }
  return ok ? kOk : kValidationFailed;
}

template <typename Req, typename Rpc>
int CmdMutate(const Client& c, const std::string& name, const std::string& verb, const std::string& id,
              const std::string* reason, Rpc rpc) {
  Req req;
  req.set_id(id);
  if constexpr (requires(Req r) { r.set_reason(std::string()); }) {
    if (reason != nullptr) req.set_reason(*reason);
  }
  grpc::ClientContext ctx;
  c.Prepare(&ctx);
  v1::Cutover resp;
  grpc::Status st = (c.stub()->*rpc)(&ctx, req, &resp);
  if (!st.ok()) return c.Fail(absl::StrCat(name, " ", id), st);
  PrintCutover(c, resp, verb);
  return kOk;
}

int CmdStatus(const Client& c, const std::string& id) {
  if (id.empty()) {
    grpc::ClientContext ctx;
    c.Prepare(&ctx);
    v1::ListResponse resp;
    grpc::Status st = c.stub()->List(&ctx, v1::ListRequest(), &resp);
    if (!st.ok()) return c.Fail("status", st);
    if (c.json()) {
      std::cout << ToJson(resp, true) << "\n";
      return kOk;
    }
    std::cout << absl::StrFormat("%-38s %-24s %-14s %s\n", "ID", "NAME", "PHASE", "UPDATED");
    for (const auto& cut : resp.cutovers()) {
      std::cout << absl::StrFormat("%-38s %-24s %-14s %s\n", cut.id(), cut.plan().name(),
                                   PhaseName(cut.phase()), Time(cut.updated_at()));
    }
    return kOk;
  }
  grpc::ClientContext ctx;
  c.Prepare(&ctx);
  v1::GetRequest req;
  req.set_id(id);
  v1::Cutover resp;
  grpc::Status st = c.stub()->Get(&ctx, req, &resp);
  if (!st.ok()) return c.Fail("status " + id, st);
  if (c.json()) {
    std::cout << ToJson(resp, true) << "\n";
  } else {
    for (const auto& line : StatusLines(resp)) std::cout << line << "\n";
  }
  return kOk;
}

int CmdEvents(const Client& c, const std::string& id) {
  grpc::ClientContext ctx;
  c.Prepare(&ctx);
  v1::ListTransitionsRequest req;
  req.set_id(id);
  v1::ListTransitionsResponse resp;
  grpc::Status st = c.stub()->ListTransitions(&ctx, req, &resp);
  if (!st.ok()) return c.Fail("events " + id, st);
  if (c.json()) {
    std::cout << ToJson(resp, true) << "\n";
  } else {
    for (const auto& t : resp.transitions()) std::cout << TransitionRow(t) << "\n";
  }
  return kOk;
}

int CmdReport(const Client& c, const std::string& id) {
  grpc::ClientContext ctx;
  c.Prepare(&ctx);
  v1::ReportRequest req;
  req.set_id(id);
  v1::Report resp;
  grpc::Status st = c.stub()->GetReport(&ctx, req, &resp);
  if (!st.ok()) return c.Fail("report " + id, st);
  std::cout << (c.json() ? ToJson(resp, true) + "\n" : ReportText(resp));
  return kOk;
}

int CmdWatch(const Client& c, const std::string& id) {
  const bool redraw = !c.json() && isatty(STDOUT_FILENO) != 0;
  if (redraw) {
    // History first, then the live part.
    grpc::ClientContext hctx;
    c.Prepare(&hctx);
    v1::ListTransitionsRequest hreq;
    hreq.set_id(id);
    v1::ListTransitionsResponse history;
    grpc::Status st = c.stub()->ListTransitions(&hctx, hreq, &history);
    if (!st.ok()) return c.Fail("watch " + id, st);
    for (const auto& t : history.transitions()) std::cout << TransitionRow(t) << "\n";
  }
  grpc::ClientContext ctx;
  c.Prepare(&ctx, /*deadline=*/false);
  v1::WatchRequest req;
  req.set_id(id);
  auto reader = c.stub()->Watch(&ctx, req);
  v1::WatchEvent ev;
  size_t drawn = 0;  // lines of the status block currently on screen
  while (reader->Read(&ev)) {
    if (!redraw) {
      std::cout << ToJson(ev, false) << std::endl;
      continue;
    }
    if (drawn > 0) std::cout << "\033[" << drawn << "A\033[J";  // back over the old block, clear it
    if (ev.has_transition()) std::cout << TransitionRow(ev.transition()) << "\n";
    std::vector<std::string> lines = StatusLines(ev.cutover());
    for (const auto& l : lines) std::cout << l << "\n";
    drawn = lines.size();
    std::cout.flush();
  }
  grpc::Status st = reader->Finish();
  if (!st.ok()) return c.Fail("watch " + id, st);
  return kOk;
}

int CmdWait(const Client& c, const std::string& id, const std::string& phases_text,
            const std::string& timeout_text) {
  std::set<v1::Phase> want;
  std::vector<std::string> want_names;
  for (absl::string_view p : absl::StrSplit(phases_text, ',', absl::SkipWhitespace())) {
    v1::Phase ph;
    if (!ParsePhase(p, &ph)) {
      return Usage(absl::StrCat("wait: unknown phase '", p, "' (one of: ", AllPhaseNames(), ")"));
    }
    want.insert(ph);
    want_names.push_back(PhaseName(ph));
  }
  if (want.empty()) return Usage("wait: --phase needs at least one phase");
  absl::Duration timeout = absl::InfiniteDuration();
  if (!timeout_text.empty() && !ParseTimeout(timeout_text, &timeout)) {
    return Usage("wait: --timeout: '" + timeout_text + "' is not a duration (e.g. 10m)");
  }
  grpc::ClientContext ctx;
  c.Prepare(&ctx, /*deadline=*/false);
  if (timeout != absl::InfiniteDuration()) ctx.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  v1::WatchRequest req;
  req.set_id(id);
  // Waiting for a rollback: a COMPLETED cutover with its window open is not over.
  const bool follow = want.count(v1::PHASE_ROLLING_BACK) > 0 || want.count(v1::PHASE_ROLLED_BACK) > 0;
  req.set_follow_rollback(follow);
  auto reader = c.stub()->Watch(&ctx, req);
  v1::WatchEvent ev;
  v1::Phase last = v1::PHASE_UNSPECIFIED;
  int rc = -1;
  while (rc < 0 && reader->Read(&ev)) {
    const v1::Cutover& cut = ev.cutover();
    last = cut.phase();
    if (want.count(last) > 0) {
      if (c.json()) {
        std::cout << ToJson(cut, true) << "\n";
      } else {
        std::cout << "cutover " << id << " reached " << PhaseName(last) << "\n";
      }
      rc = kOk;
    } else if ((IsTerminal(last) && !(follow && last == v1::PHASE_COMPLETED && cut.reverse_capture_installed())) ||
               last == v1::PHASE_FAILED) {
      std::cerr << "cutoverctl: wait " << id << ": cutover ended in " << PhaseName(last)
                << (cut.reason().empty() ? "" : " (" + cut.reason() + ")") << ", not "
                << absl::StrJoin(want_names, " or ") << "\n";
      rc = kWaitOtherPhase;
    }
  }
  if (rc >= 0) {
    ctx.TryCancel();
    (void)reader->Finish();
    return rc;
  }
  grpc::Status st = reader->Finish();
  if (st.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED && last != v1::PHASE_UNSPECIFIED) {
    std::cerr << "cutoverctl: wait " << id << ": timed out after " << absl::FormatDuration(timeout)
              << " waiting for " << absl::StrJoin(want_names, " or ") << " (phase is " << PhaseName(last)
              << ")\n";
    return kWaitTimeout;
  }
  if (st.ok()) {  // the stream ended at a terminal phase we already reported; defensive
    std::cerr << "cutoverctl: wait " << id << ": stream ended in " << PhaseName(last) << "\n";
    return kWaitOtherPhase;
  }
  return c.Fail("wait " + id, st);
}

// Local: lints DIR's *.sql files like the MIGRATING phase will run them.
int CmdLintMigrations(const Globals& g, const std::string& dir, const std::vector<std::string>& allow,
                      int pg_version) {
  cutover::migrate::LintOptions o;
  for (const std::string& rule : allow) {
    if (!cutover::migrate::IsKnownRule(rule)) {
      std::vector<std::string> ids;
      for (const auto& r : cutover::migrate::Rules()) ids.emplace_back(r.id);
      return Usage(absl::StrCat("lint-migrations: --allow: unknown rule '", rule,
                                "' (one of: ", absl::StrJoin(ids, ", "), ")"));
    }
    o.allowed_rules.insert(rule);
  }
  if (pg_version < 9 || pg_version > 99) {
    return Usage(
        absl::StrCat("lint-migrations: --pg-version: ", pg_version, " is not a PostgreSQL major version"));
  }
  o.server_major_version = pg_version;
  absl::StatusOr<v1::MigrationLintReport> report = cutover::migrate::LintDirectory(dir, o);
  if (!report.ok()) return Usage(absl::StrCat("lint-migrations: ", report.status().message()));
  if (g.output == "json") {
    std::cout << ToJson(*report, true) << "\n";
  } else {
    size_t loc_width = 0;
    size_t rule_width = 0;
    for (const auto& f : report->findings()) {
      loc_width = std::max(loc_width, absl::StrCat(f.file(), ":", f.line()).size());
      rule_width = std::max(rule_width, f.rule().size());
    }
    for (const auto& f : report->findings()) {
      std::cout << absl::StrFormat("%-*s  %-7s  %-*s  %s\n", loc_width, absl::StrCat(f.file(), ":", f.line()),
                                   f.severity() == v1::LINT_SEVERITY_ERROR ? "error" : "warning", rule_width,
                                   f.rule(), f.message());
    }
    std::cout << cutover::migrate::Summary(*report) << "\n";
  }
  return cutover::migrate::HasErrors(*report) ? kValidationFailed : kOk;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"cutoverctl: drive and watch blue-green PostgreSQL cutovers (client of cutoverd)"};
  app.footer(kExitCodesHelp);
  app.require_subcommand(1);
  app.fallthrough();
  Globals g;
  app.add_option("--server", g.server, "cutoverd address host:port")
      ->envname("CUTOVER_SERVER")
      ->capture_default_str();
  auto* tok = app.add_option("--token", g.token, "bearer token (prefer --token-file or CUTOVER_TOKEN)")
                  ->envname("CUTOVER_TOKEN");
  app.add_option("--token-file", g.token_file, "file holding the bearer token")->excludes(tok);
  app.add_option("--tls-ca", g.tls_ca, "PEM CA to verify the server (enables TLS)");
  app.add_option("--tls-cert", g.tls_cert, "PEM client certificate for mTLS");
  app.add_option("--tls-key", g.tls_key, "PEM client key for mTLS");
  app.add_option("-o,--output", g.output, "text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_option("--timeout", g.timeout, "deadline of each RPC (e.g. 30s)")->capture_default_str();

  std::string file, id, reason, phases, wait_timeout;
  auto* plan = app.add_subcommand("plan", "create a cutover from a plan file (CreatePlan); prints its id");
  plan->add_option("file", file, "plan JSON (protobuf JSON of cutover.v1.Plan)")->required();
  auto* validate =
      app.add_subcommand("validate", "preflight a plan file; every check ok/FAIL (exit 3 on failure)");
  validate->add_option("file", file, "plan JSON")->required();
  auto* start = app.add_subcommand("start", "start a PLANNED cutover");
  start->add_option("id", id, "cutover id")->required();
  auto* status = app.add_subcommand("status", "one cutover in detail, or all cutovers as a table");
  status->add_option("id", id, "cutover id (omit to list all)");
  auto* watch = app.add_subcommand("watch", "follow a cutover until a terminal phase");
  watch->add_option("id", id, "cutover id")->required();
  struct Mut {
    const char* name;
    const char* help;
    CLI::App* sub = nullptr;
  };
  std::vector<Mut> muts = {{"pause", "pause copy/replay (resumable)"},
                           {"resume", "resume a PAUSED or FAILED cutover"},
                           {"approve", "approve the flip of a READY cutover (approver role)"},
                           {"abort", "abort before the flip (capture removed, blue untouched)"},
                           {"rollback", "roll back after the flip (traffic back to blue)"}};
  for (Mut& m : muts) {
    m.sub = app.add_subcommand(m.name, m.help);
    m.sub->add_option("id", id, "cutover id")->required();
    m.sub->add_option("--reason", reason, "why (recorded in the audit timeline)");
  }
  auto* report =
      app.add_subcommand("report", "the cutover report (timings, copy, replay, flip, accepted losses)");
  report->add_option("id", id, "cutover id")->required();
  auto* events = app.add_subcommand("events", "the audit timeline (who, what, when, why)");
  events->add_option("id", id, "cutover id")->required();
  auto* wait = app.add_subcommand(
      "wait", "block until the cutover is in one of --phase (exit 4 timeout, 5 ended elsewhere)");
  wait->add_option("id", id, "cutover id")->required();
  wait->add_option("--phase", phases, "phase[,phase...], e.g. ready or PHASE_READY,completed")->required();
  wait->add_option("--timeout", wait_timeout, "give up after this long (e.g. 10m); default: wait forever");
  std::vector<std::string> lint_allow;
  int lint_pg_version = 15;
  auto* lint = app.add_subcommand(
      "lint-migrations", "check DIR/*.sql for lock hazards, locally (exit 3 on an error-level finding)");
  lint->add_option("dir", file, "directory of migration .sql files (the plan's migration.dir)")->required();
  lint->add_option("--allow", lint_allow, "rule ids never to report (repeatable or comma-separated)")
      ->delimiter(',');
  lint->add_option("--pg-version", lint_pg_version, "PostgreSQL major version of green")
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kOk : kUsage;
  }

  if (lint->parsed()) return CmdLintMigrations(g, file, lint_allow, lint_pg_version);

  Client client;
  if (int rc = client.Init(g); rc != kOk) return rc;

  if (plan->parsed()) return CmdPlan(client, file);
  if (validate->parsed()) return CmdValidate(client, file);
  if (start->parsed()) {
    return CmdMutate<v1::StartRequest>(client, "start", "started", id, nullptr,
                                       &v1::CutoverService::Stub::Start);
  }
  if (status->parsed()) return CmdStatus(client, id);
  if (watch->parsed()) return CmdWatch(client, id);
  if (muts[0].sub->parsed()) {
    return CmdMutate<v1::PauseRequest>(client, "pause", "paused", id, &reason,
                                       &v1::CutoverService::Stub::Pause);
  }
  if (muts[1].sub->parsed()) {
    return CmdMutate<v1::ResumeRequest>(client, "resume", "resumed", id, &reason,
                                        &v1::CutoverService::Stub::Resume);
  }
  if (muts[2].sub->parsed()) {
    return CmdMutate<v1::ApproveRequest>(client, "approve", "approved", id, &reason,
                                         &v1::CutoverService::Stub::Approve);
  }
  if (muts[3].sub->parsed()) {
    return CmdMutate<v1::AbortRequest>(client, "abort", "aborted", id, &reason,
                                       &v1::CutoverService::Stub::Abort);
  }
  if (muts[4].sub->parsed()) {
    return CmdMutate<v1::RollbackRequest>(client, "rollback", "rolling back", id, &reason,
                                          &v1::CutoverService::Stub::Rollback);
  }
  if (report->parsed()) return CmdReport(client, id);
  if (events->parsed()) return CmdEvents(client, id);
  if (wait->parsed()) return CmdWait(client, id, phases, wait_timeout);
  return Usage("no subcommand");
}
