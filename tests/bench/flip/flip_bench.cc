// bench-flip: what clients see while traffic moves from blue to green.
// pgbench (TPC-B-like script + a token revocation script) runs through the
// sandbox's PgBouncer (transaction pooling) against blue while, --flip-at
// seconds into the run, one of these moves it to green:
//  (a) the hand-scripted alternative: PAUSE db, rewrite the [databases]
//      entry to green, RELOAD, RESUME db on the admin console (one open
//      admin connection, the file written as the router writes it);
//  (b) the full flip protocol of the real cutoverd (pause, fence blue, seal
//      the capture outbox into the queue, drain the tail to green, repoint,
//      resume), driven with the real cutoverctl: plan (autoFlip false) and
//      start before pgbench, wait READY, then approve at --flip-at and wait
//      COMPLETED.
// Sides alternate (a b, b a, ...), --runs each, each run on fresh blue /
// green databases (green a pgbench-initialised copy for (a), empty for (b),
// which copies it). Per side: median and worst run of the client max latency
// and p99, the write gap (longest interval without a committed transaction,
// from pgbench's per-transaction logs), failed transactions, TPS, and the
// b/a ratio of the medians; for (b) also the protocol's own step timings
// from `cutoverctl --output json report`. Target: 0 failed, max latency
// <= 100 ms, (b) <= 2x (a). Exits 2 when the target is not met.
//
//   bench-flip [--scale 10] [--clients 8] [--threads 2] [--seconds 20] [--flip-at 8] [--runs 3]
//              [--tpcb-weight 3] [--revoke-weight 1] [--rate 0] [--fast] [--markdown FILE] [--keep]
#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "cutover/common/pg.h"
#include "cutover/common/proto_time.h"
#include "cutover/common/status.h"
#include "cutover/common/subprocess.h"
#include "cutover/router/pgbouncer_config.h"
#include "cutover/sandbox/sandbox.h"
#include "cutover/testing/sandbox_env.h"
#include "cutover/v1/cutover.pb.h"
#include "e2e_support.h"  // Daemon, Ctl, JsonField, ReadAll: how the e2e tests drive cutoverd
#include "google/protobuf/util/json_util.h"

namespace {

using namespace cutover;
namespace ct = cutover::testing;
using e2e::Ctl;
using e2e::CtlResult;

constexpr char kTemplate[] = "flip_template";
constexpr int kTokens = 100000;

// A revocation as an auth server does it: issue a token, then revoke another
// one (delete it or deactivate it), in one transaction. Both revocation kinds
// match the capture rule of the plan below.
constexpr char kRevokeScript[] = R"(\set k random(1, :tokens)
\set del random(0, 1)
BEGIN;
INSERT INTO public.tokens(signature, request_id) VALUES (md5(random()::text || clock_timestamp()::text), 'r' || :k);
\if :del
DELETE FROM public.tokens WHERE signature = 'sig-' || :k;
\else
UPDATE public.tokens SET active = false WHERE signature = 'sig-' || :k;
\endif
COMMIT;
)";

// One pgbench run with one flip in it.
struct Run {
  double max_ms = 0, p99_ms = 0, tps = 0;
  double max_before_ms = 0;  // max latency of the transactions done before the trigger (noise floor)
  double gap_ms = 0;         // longest interval without a committed transaction
  double gap_at_s = 0;       // where it started, relative to the flip trigger
  int64_t failed = 0;
  int aborted_clients = 0;
  int64_t green_tpcb = 0;  // TPC-B transactions committed on green (pgbench_history rows)
  // (a): our own timing of the admin commands; (b): FlipResult.steps.
  std::vector<std::pair<std::string, double>> steps_ms;
  double flip_gap_ms = 0;  // paused -> resumed: (a) ours, (b) FlipResult.write_gap
  int64_t tail_events = 0;
  double approve_to_done_s = 0;
  std::string first_error;  // pgbench's first error line, if any
};

double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t i = static_cast<size_t>(pos);
  return i + 1 < v.size() ? v[i] + (v[i + 1] - v[i]) * (pos - static_cast<double>(i)) : v[i];
}
double Mid(const std::vector<double>& v) { return Quantile(v, 0.5); }
double Worst(const std::vector<double>& v) { return v.empty() ? 0 : *std::max_element(v.begin(), v.end()); }

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

// pgbench --log lines "client_id transaction_no time script_no time_epoch time_us":
// latencies (ms) and completion times (µs since the epoch) of the committed
// transactions, and the count of failed ones. Reads every
// "<prefix>.<pid>[.<thread>]" file in `dir`.
struct TxLog {
  std::vector<double> latency_ms;
  std::vector<int64_t> done_us;  // same order as latency_ms
  int64_t failed = 0;
};
absl::StatusOr<TxLog> ReadTxLog(const std::string& dir, const std::string& prefix) {
  TxLog out;
  std::vector<std::filesystem::path> files;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (absl::StartsWith(e.path().filename().string(), prefix + ".")) files.push_back(e.path());
  }
  if (files.empty()) return absl::InternalError("pgbench wrote no transaction log under " + dir);
  for (const auto& f : files) {
    std::ifstream in(f);
    std::string line;
    while (std::getline(in, line)) {
      std::vector<absl::string_view> c = absl::StrSplit(line, ' ', absl::SkipEmpty());
      if (c.size() < 6) continue;
      double us = 0;
      int64_t sec = 0, usec = 0;
      if (!absl::SimpleAtod(c[2], &us)) {
        ++out.failed;  // "failed" (or "skipped", which needs --latency-limit)
        continue;
      }
      if (!absl::SimpleAtoi(c[4], &sec) || !absl::SimpleAtoi(c[5], &usec)) continue;
      out.latency_ms.push_back(us / 1000.0);
      out.done_us.push_back(sec * 1000000 + usec);
    }
  }
  return out;
}

// The number after `key` in pgbench's summary ("tps = 1234.5 (...)"), or 0.
double SummaryNumber(const std::string& text, const std::string& key) {
  const size_t at = text.find(key);
  if (at == std::string::npos) return 0;
  double v = 0;
  std::string rest = text.substr(at + key.size(), 32);
  rest = rest.substr(0, rest.find_first_of(" \n"));
  return absl::SimpleAtod(rest, &v) ? v : 0;
}

struct Options {
  double scale = 10;
  int clients = 8, threads = 2, seconds = 20, runs = 3;
  double flip_at = 8;
  int tpcb_weight = 3, revoke_weight = 1, rate = 0;
  bool fast = false, keep = false;
  std::string markdown;
};

class Bench {
 public:
  Bench(const Options& o, sandbox::Sandbox* sb, std::string work) : o_(o), sb_(sb), work_(std::move(work)) {
    password_ = sb_->password();
    ini_path_ = sb_->BouncerIniPath();
    original_ini_ = e2e::ReadAll(ini_path_);
  }

  // A database `flip_template` on `cluster`: pgbench tables at --scale and
  // `tokens` with kTokens live tokens. Runs copy it (CREATE DATABASE ... TEMPLATE).
  absl::Status InitTemplate(const std::string& cluster) {
    RETURN_IF_ERROR(sb_->CreateDatabase(cluster, kTemplate));
    RETURN_IF_ERROR(
        Pgbench({"-i", "-q", "-s", absl::StrCat(o_.scale)}, sb_->Port(cluster), kTemplate, absl::Minutes(30))
            .status());
    RETURN_IF_ERROR(ct::Exec(
        sb_->Dsn(cluster, kTemplate),
        absl::StrCat("CREATE TABLE public.tokens (signature text PRIMARY KEY, request_id text NOT NULL, "
                     "active boolean NOT NULL DEFAULT true, payload text NOT NULL DEFAULT repeat('x', 200)); "
                     "INSERT INTO public.tokens(signature, request_id) "
                     "SELECT 'sig-' || g, 'req-' || g FROM generate_series(1, ",
                     kTokens, ") g")));
    return ct::Exec(sb_->Dsn(cluster, kTemplate), "VACUUM ANALYZE public.tokens");
  }

  // Starts the cutoverd that (b) uses for every run.
  absl::Status StartDaemon() {
    RETURN_IF_ERROR(sb_->CreateDatabase("control", "cutover_control"));
    daemon_ = std::make_unique<e2e::Daemon>(sb_->Dsn("control", "cutover_control"), "bench-flip", work_);
    server_ = daemon_->Address();
    if (server_.empty()) return absl::UnavailableError("cutoverd did not start:\n" + daemon_->log());
    return absl::OkStatus();
  }

  // One run of `side` ('a' or 'b'): fresh databases, pgbench with the flip in
  // it, then the PgBouncer config restored and the databases dropped.
  absl::StatusOr<Run> RunOnce(char side, int round) {
    const std::string db = absl::StrCat("flip_", round, "_", std::string(1, side));
    absl::Status set_up = SetUp(side, db);
    absl::StatusOr<Run> r = set_up.ok() ? Measure(side, db) : absl::StatusOr<Run>(set_up);
    // Leave PgBouncer as the sandbox wrote it, whatever happened.
    (void)ct::Exec(sb_->BouncerAdminDsn(), absl::StrCat("RESUME ", db));
    absl::Status restore = router::WriteFileAtomically(ini_path_, original_ini_);
    if (restore.ok()) restore = ct::Exec(sb_->BouncerAdminDsn(), "RELOAD");
    if (!o_.keep) {
      for (const char* cluster : {"blue", "green", "control"}) (void)sb_->DropDatabase(cluster, db);
    }
    if (r.ok() && !restore.ok()) return Annotate(restore, "restoring pgbouncer.ini");
    return r;
  }

 private:
  std::string Target(const std::string& cluster, const std::string& db) const {
    return absl::StrCat("host=127.0.0.1 port=", sb_->Port(cluster), " dbname=", db);
  }

  absl::StatusOr<CommandResult> Pgbench(std::vector<std::string> args, int port, const std::string& db,
                                        absl::Duration timeout) {
    CommandSpec spec;
    spec.argv = {PgProgram("pgbench"), "-h", "127.0.0.1", "-p", absl::StrCat(port), "-U", "postgres"};
    spec.argv.insert(spec.argv.end(), args.begin(), args.end());
    spec.argv.push_back(db);
    spec.env = {{"PGPASSWORD", password_}};
    spec.timeout = timeout;
    ASSIGN_OR_RETURN(CommandResult res, RunCommand(spec));
    // 2: some clients aborted (counted as failures by the caller).
    if (res.exit_code != 0 && res.exit_code != 2) {
      return absl::InternalError(absl::StrCat("pgbench exited with ", res.exit_code, ": ", res.err, res.out));
    }
    return res;
  }

  absl::Status SetUp(char side, const std::string& db) {
    RETURN_IF_ERROR(
        ct::Exec(sb_->Dsn("blue"), absl::StrCat("CREATE DATABASE ", db, " TEMPLATE ", kTemplate)));
    if (side == 'a') {
      RETURN_IF_ERROR(
          ct::Exec(sb_->Dsn("green"), absl::StrCat("CREATE DATABASE ", db, " TEMPLATE ", kTemplate)));
    } else {
      RETURN_IF_ERROR(sb_->CreateDatabase("green", db));  // empty: the cutover copies blue
      RETURN_IF_ERROR(sb_->CreateDatabase("control", db));
    }
    const std::string ini = absl::StrReplaceAll(
        original_ini_,
        {{"[databases]\n", absl::StrCat("[databases]\n", db, " = ", Target("blue", db), "\n")}});
    RETURN_IF_ERROR(router::WriteFileAtomically(ini_path_, ini));
    return ct::Exec(sb_->BouncerAdminDsn(), "RELOAD");
  }

  // (b) up to READY: plan with autoFlip false, start, wait.
  absl::StatusOr<std::string> PrepareCutover(const std::string& db) {
    const std::string plan = absl::StrCat(work_, "/", db, ".json");
    std::ofstream(plan) << R"({
  "name": ")" << db << R"(",
  "blue": {"dsn": ")" << sb_->Dsn("blue", db)
                        << R"("},
  "green": {"dsn": ")" << sb_->Dsn("green", db)
                        << R"("},
  "capture": {"profile": "generic", "rules": [{
    "name": "tokens", "table": "public.tokens", "revocationClass": "REVOCATION_CLASS_TOKEN",
    "onDelete": true, "onUpdate": [{"column": "active", "value": "false"}],
    "keyColumns": ["signature"], "extraColumns": ["request_id"],
    "apply": ["DELETE FROM public.tokens WHERE signature = :signature"]}]},
  "queue": {"postgres": {"dsn": ")"
                        << sb_->Dsn("control", db) << R"("}},
  "router": {"pgbouncer": {"adminDsn": ")"
                        << sb_->BouncerAdminDsn() << R"(", "configPath": ")" << ini_path_
                        << R"(", "database": ")" << db << R"(", "blueTarget": ")" << Target("blue", db)
                        << R"(", "greenTarget": ")" << Target("green", db) << R"("}},
  "flip": {"autoFlip": false, "flipTimeout": "20s", "maxBacklog": "1000"}
})";
    CtlResult created = Ctl(server_, {"--output", "json", "plan", plan});
    if (created.code != 0) return absl::InternalError("cutoverctl plan: " + created.err + created.out);
    const std::string id = e2e::JsonField(created.out, "id");
    CtlResult started = Ctl(server_, {"start", id});
    if (started.code != 0) return absl::InternalError("cutoverctl start: " + started.err);
    CtlResult ready = Ctl(server_, {"wait", id, "--phase", "ready", "--timeout", "20m"});
    if (ready.code != 0) return absl::InternalError("cutoverctl wait ready: " + ready.err + ready.out);
    return id;
  }

  // (a): the admin commands an SRE would script, timed like FlipResult.steps.
  absl::Status RawFlip(pg::RawConn& admin, const std::string& db, Run* run) {
    const absl::Time t0 = absl::Now();
    RETURN_IF_ERROR(admin.Exec(absl::StrCat("PAUSE ", db)));
    const absl::Time paused = absl::Now();
    ASSIGN_OR_RETURN(std::string ini, router::RewriteDatabaseEntry(e2e::ReadAll(ini_path_), db,
                                                                   Target("green", db), ini_path_));
    RETURN_IF_ERROR(router::WriteFileAtomically(ini_path_, ini));
    RETURN_IF_ERROR(admin.Exec("RELOAD"));
    const absl::Time repointed = absl::Now();
    RETURN_IF_ERROR(admin.Exec(absl::StrCat("RESUME ", db)));
    const absl::Time resumed = absl::Now();
    run->steps_ms = {
        {"pause", Ms(paused - t0)}, {"repoint", Ms(repointed - paused)}, {"resume", Ms(resumed - repointed)}};
    run->flip_gap_ms = Ms(resumed - paused);
    return absl::OkStatus();
  }

  // (b): approve (retried while a guardrail such as the backlog refuses it),
  // then wait until COMPLETED.
  absl::Status CutoverFlip(const std::string& id, Run* run) {
    const absl::Time t0 = absl::Now();
    while (true) {
      CtlResult a = Ctl(server_, {"approve", id, "--reason", "bench-flip"});
      if (a.code == 0) break;
      if (!absl::StrContains(a.err, "guardrails") || absl::Now() - t0 > absl::Seconds(5)) {
        return absl::InternalError("cutoverctl approve: " + a.err);
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    CtlResult done = Ctl(server_, {"wait", id, "--phase", "completed", "--timeout", "90s"});
    run->approve_to_done_s = absl::ToDoubleSeconds(absl::Now() - t0);
    if (done.code != 0) {
      return absl::InternalError(absl::StrCat("cutoverctl wait completed: exit ", done.code, " ", done.err,
                                              "\nstatus: ", Ctl(server_, {"status", id}).out));
    }
    return absl::OkStatus();
  }

  absl::Status ReadFlipResult(const std::string& id, Run* run) {
    CtlResult rep = Ctl(server_, {"--output", "json", "report", id});
    if (rep.code != 0) return absl::InternalError("cutoverctl report: " + rep.err);
    v1::Report report;
    google::protobuf::util::JsonParseOptions po;
    po.ignore_unknown_fields = true;
    auto st = google::protobuf::util::JsonStringToMessage(rep.out, &report, po);
    if (!st.ok()) return absl::InternalError(absl::StrCat("report JSON: ", st.ToString()));
    const v1::FlipResult& f = report.flip();
    if (!f.succeeded()) return absl::InternalError("flip did not succeed: " + f.failure_reason());
    for (const auto& s : f.steps()) run->steps_ms.emplace_back(s.step(), Ms(FromProto(s.duration())));
    run->flip_gap_ms = Ms(FromProto(f.write_gap()));
    run->tail_events = f.tail_events();
    return absl::OkStatus();
  }

  absl::StatusOr<Run> Measure(char side, const std::string& db) {
    Run run;
    std::string id;
    if (side == 'b') {
      ASSIGN_OR_RETURN(id, PrepareCutover(db));
    }
    std::optional<pg::RawConn> admin;  // (a): opened before the flip, as a script would
    if (side == 'a') {
      ASSIGN_OR_RETURN(admin,
                       pg::RawConn::Connect(sb_->BouncerAdminDsn(), "pgbouncer admin console", "bench-flip"));
    }
    for (const char* cluster : {"blue", "green", "control"})
      RETURN_IF_ERROR(ct::Exec(sb_->Dsn(cluster), "CHECKPOINT"));

    const std::string script = absl::StrCat(work_, "/revoke.sql");
    std::ofstream(script) << kRevokeScript;
    std::vector<std::string> args = {"-n",
                                     "-c",
                                     absl::StrCat(o_.clients),
                                     "-j",
                                     absl::StrCat(o_.threads),
                                     "-T",
                                     absl::StrCat(o_.seconds),
                                     "-D",
                                     absl::StrCat("tokens=", kTokens),
                                     "-l",
                                     "--log-prefix=" + work_ + "/tx_" + db,
                                     "-b",
                                     absl::StrCat("tpcb-like@", o_.tpcb_weight),
                                     "-f",
                                     absl::StrCat(script, "@", o_.revoke_weight)};
    if (o_.rate > 0) args.insert(args.end(), {"-R", absl::StrCat(o_.rate)});
    absl::StatusOr<CommandResult> bench = absl::UnknownError("not run");
    const absl::Time start = absl::Now();
    std::thread load([&] { bench = Pgbench(args, sb_->BouncerPort(), db, absl::Seconds(o_.seconds + 180)); });
    absl::SleepFor(start + absl::Seconds(o_.flip_at) - absl::Now());
    const absl::Time trigger = absl::Now();
    absl::Status flip = side == 'a' ? RawFlip(*admin, db, &run) : CutoverFlip(id, &run);
    load.join();
    RETURN_IF_ERROR(Annotate(flip, side == 'a' ? "(a) PAUSE/RELOAD/RESUME" : "(b) cutover flip"));
    RETURN_IF_ERROR(bench.status());
    if (side == 'b') RETURN_IF_ERROR(ReadFlipResult(id, &run));

    ASSIGN_OR_RETURN(TxLog log, ReadTxLog(work_, "tx_" + db));
    std::vector<int64_t> done = log.done_us;
    std::sort(done.begin(), done.end());
    for (size_t i = 1; i < done.size(); ++i) {
      const double gap = static_cast<double>(done[i] - done[i - 1]) / 1000.0;
      if (gap > run.gap_ms) {
        run.gap_ms = gap;
        run.gap_at_s = static_cast<double>(done[i - 1] - absl::ToUnixMicros(trigger)) / 1e6;
      }
    }
    run.max_ms = Worst(log.latency_ms);
    run.p99_ms = Quantile(log.latency_ms, 0.99);
    for (size_t i = 0; i < log.latency_ms.size(); ++i) {
      if (log.done_us[i] < absl::ToUnixMicros(trigger))
        run.max_before_ms = std::max(run.max_before_ms, log.latency_ms[i]);
    }
    std::ofstream(absl::StrCat(work_, "/", db, ".pgbench.txt"))
        << bench->out << bench->err << "\nflip triggered at " << absl::ToUnixMicros(trigger)
        << " µs since the epoch\n";
    for (absl::string_view line : absl::StrSplit(bench->err, '\n')) {
      if (absl::StrContains(line, "client ") && absl::StrContains(line, "aborted")) ++run.aborted_clients;
      if (run.first_error.empty() && absl::StrContains(line, "error")) run.first_error = std::string(line);
    }
    run.failed = std::max<int64_t>(
        log.failed, static_cast<int64_t>(SummaryNumber(bench->out, "number of failed transactions: ")));
    run.tps = SummaryNumber(bench->out, "tps = ");
    ASSIGN_OR_RETURN(std::string green_rows,
                     ct::Scalar(sb_->Dsn("green", db), "SELECT count(*) FROM pgbench_history"));
    (void)absl::SimpleAtoi(green_rows, &run.green_tpcb);
    if (run.green_tpcb == 0)
      return absl::InternalError("no TPC-B transaction reached green: the flip did not move traffic");
    return run;
  }

  const Options o_;
  sandbox::Sandbox* const sb_;
  const std::string work_;
  std::string password_, ini_path_, original_ini_, server_;
  std::unique_ptr<e2e::Daemon> daemon_;
};

std::string MsText(double ms) { return absl::StrFormat("%.1f ms", ms); }

// The result tables (markdown); sets *met to whether the target is met.
std::string Tables(const Options& o, const std::map<char, std::vector<Run>>& runs, bool* met) {
  std::map<char, std::map<std::string, std::vector<double>>> m;
  std::map<char, int64_t> failed;
  for (const auto& [side, rs] : runs) {
    for (const Run& r : rs) {
      auto& s = m[side];
      s["max"].push_back(r.max_ms);
      s["max before"].push_back(r.max_before_ms);
      s["p99"].push_back(r.p99_ms);
      s["gap"].push_back(r.gap_ms);
      s["tps"].push_back(r.tps);
      s["flip gap"].push_back(r.flip_gap_ms);
      s["tail"].push_back(static_cast<double>(r.tail_events));
      double in_steps = 0;
      for (const auto& [step, ms] : r.steps_ms) {
        s["step " + step].push_back(ms);
        if (step != "pause") in_steps += ms;
      }
      // Outside the step timers: mostly the two flip-step markers stored in the control store.
      s["between steps"].push_back(r.flip_gap_ms - in_steps);
      failed[side] += r.failed + r.aborted_clients;
    }
  }
  auto& a = m['a'];
  auto& b = m['b'];
  std::string t = absl::StrFormat(
      "pgbench -c %d -j %d -T %d (tpcb-like@%d + revocation@%d%s) through PgBouncer 1.18 (pool_mode "
      "transaction), scale %g, flip triggered at %g s, %d run(s) per side alternating, %s sandbox, 2 "
      "cores\n\n",
      o.clients, o.threads, o.seconds, o.tpcb_weight, o.revoke_weight,
      o.rate > 0 ? absl::StrCat(", -R ", o.rate) : "", o.scale, o.flip_at, o.runs,
      o.fast ? "fast (fsync off)" : "durable (fsync on)");
  absl::StrAppend(
      &t,
      "| side | max latency (median / worst run) | p99 (median / worst) | write gap (median / worst) | "
      "failed tx | TPS (median) | max latency before the trigger (median / worst) "
      "|\n|---|---|---|---|---|---|---|\n");
  for (char side : {'a', 'b'}) {
    auto& s = m[side];
    absl::StrAppend(
        &t,
        absl::StrFormat("| %s | %s / %s | %s / %s | %s / %s | %d | %.0f | %s / %s |\n",
                        side == 'a' ? "(a) PAUSE / rewrite / RELOAD / RESUME" : "(b) cutover flip",
                        MsText(Mid(s["max"])), MsText(Worst(s["max"])), MsText(Mid(s["p99"])),
                        MsText(Worst(s["p99"])), MsText(Mid(s["gap"])), MsText(Worst(s["gap"])), failed[side],
                        Mid(s["tps"]), MsText(Mid(s["max before"])), MsText(Worst(s["max before"]))));
  }
  const double r_max = Mid(b["max"]) / Mid(a["max"]), r_p99 = Mid(b["p99"]) / Mid(a["p99"]),
               r_gap = Mid(b["gap"]) / Mid(a["gap"]), r_tps = Mid(b["tps"]) / Mid(a["tps"]);
  absl::StrAppend(&t, absl::StrFormat("| b/a (medians) | %.2f× | %.2f× | %.2f× | | %.2f× | |\n\n", r_max,
                                      r_p99, r_gap, r_tps));

  const bool zero_failed = failed['a'] + failed['b'] == 0;
  const bool under_100 = Worst(b["max"]) <= 100;
  const bool within_2x = r_max <= 2 && r_gap <= 2;
  *met = zero_failed && under_100 && within_2x;
  absl::StrAppend(
      &t, "Target: 0 failed -> ", zero_failed ? "met" : "NOT met",
      absl::StrFormat("; (b) max latency <= 100 ms in every run -> %s (worst %.1f ms; (a) worst %.1f ms)",
                      under_100 ? "met" : "NOT met", Worst(b["max"]), Worst(a["max"])),
      absl::StrFormat("; (b) <= 2x (a) on max latency and write gap -> %s (%.2f×, %.2f×)\n\n",
                      within_2x ? "met" : "NOT met", r_max, r_gap));

  absl::StrAppend(
      &t,
      "Where the time goes (paused -> resumed; (a) timed by the bench, (b) FlipResult of `cutoverctl "
      "report`):\n\n| step | (a) median | (b) median | (b) worst |\n|---|---|---|---|\n");
  auto row = [&](const std::string& name, const std::string& key) {
    auto cell = [](std::vector<double>& v, bool worst) {
      return v.empty() ? std::string("—") : MsText(worst ? Worst(v) : Mid(v));
    };
    absl::StrAppend(&t, "| ", name, " | ", cell(a[key], false), " | ", cell(b[key], false), " | ",
                    cell(b[key], true), " |\n");
  };
  for (const char* step : {"pause", "fence", "seal", "drain", "repoint", "resume"})
    row(step, absl::StrCat("step ", step));
  a.erase("between steps");  // (a) has nothing between its steps
  row("outside the steps (the PAUSING and REPOINTING markers stored in the control store)", "between steps");
  row("**paused -> resumed**", "flip gap");
  absl::StrAppend(&t,
                  absl::StrFormat("\n(b) tail events applied during the drain: median %.0f, worst %.0f\n\n",
                                  Mid(b["tail"]), Worst(b["tail"])));

  absl::StrAppend(&t,
                  "Runs:\n\n| run | side | max latency (before the trigger) | p99 | write gap (starts at, "
                  "from trigger) | failed tx "
                  "(aborted clients) | TPS | TPC-B tx on green | approve -> COMPLETED "
                  "|\n|---|---|---|---|---|---|---|---|---|\n");
  for (int i = 0; i < o.runs; ++i) {
    // Listed in the order they ran.
    for (char side : i % 2 == 0 ? std::string("ab") : std::string("ba")) {
      const Run& r = runs.at(side)[i];
      absl::StrAppend(
          &t, absl::StrFormat("| %d | %c | %s (%s) | %s | %s (%+.2f s) | %d (%d) | %.0f | %d | %s |\n", i + 1,
                              side, MsText(r.max_ms), MsText(r.max_before_ms), MsText(r.p99_ms),
                              MsText(r.gap_ms), r.gap_at_s, r.failed, r.aborted_clients, r.tps, r.green_tpcb,
                              side == 'b' ? absl::StrFormat("%.2f s", r.approve_to_done_s) : "—"));
    }
  }
  return t;
}

int Fail(const absl::Status& st, const std::string& what) {
  std::cerr << "bench-flip: " << what << ": " << st << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "bench-flip: client latency and write gap during a raw PgBouncer flip vs the cutover flip protocol"};
  Options o;
  app.add_option("--scale", o.scale, "pgbench scale factor of blue")->check(CLI::Range(1.0, 1000.0));
  app.add_option("--clients", o.clients, "pgbench clients")->check(CLI::Range(1, 64));
  app.add_option("--threads", o.threads, "pgbench threads")->check(CLI::Range(1, 16));
  app.add_option("--seconds", o.seconds, "seconds per pgbench run")->check(CLI::Range(4, 3600));
  app.add_option("--flip-at", o.flip_at, "seconds into the run at which the flip is triggered");
  app.add_option("--runs", o.runs, "runs per side")->check(CLI::Range(1, 20));
  app.add_option("--tpcb-weight", o.tpcb_weight, "weight of the TPC-B-like script")
      ->check(CLI::Range(0, 100));
  app.add_option("--revoke-weight", o.revoke_weight, "weight of the revocation script")
      ->check(CLI::Range(0, 100));
  app.add_option("--rate", o.rate, "pgbench -R target TPS (0: as fast as it goes)")
      ->check(CLI::Range(0, 1000000));
  app.add_flag("--fast", o.fast, "sandbox with fsync off (as the tests), instead of durable");
  app.add_option("--markdown", o.markdown, "also write the result tables to this file");
  app.add_flag("--keep", o.keep, "keep the sandbox, the databases and the work directory");
  CLI11_PARSE(app, argc, argv);
  o.threads = std::min(o.threads, o.clients);
  if (o.flip_at <= 1 || o.flip_at >= o.seconds - 1) {
    std::cerr << "bench-flip: --flip-at must leave at least 1 s of steady load on each side\n";
    return 2;
  }
  if (o.tpcb_weight + o.revoke_weight == 0) {
    std::cerr << "bench-flip: one script needs a weight > 0\n";
    return 2;
  }
  if (std::getenv("CUTOVER_BINARY_DIR") == nullptr)
    setenv("CUTOVER_BINARY_DIR", CUTOVER_DEFAULT_BINARY_DIR, 1);
  const absl::Time begin = absl::Now();

  sandbox::SandboxOptions sopts;
  sopts.fast = o.fast;
  sopts.keep_dir = o.keep;
  // Checkpoints only when asked for (before each run), not in the middle of one.
  sopts.extra_settings = {{"max_wal_size", "8GB"}, {"checkpoint_timeout", "30min"}};
  auto sb = sandbox::Sandbox::Start(sopts);
  if (!sb.ok()) return Fail(sb.status(), "starting the sandbox");
  std::cerr << "sandbox: " << (*sb)->root() << "\n";
  char dir_tmpl[] = "/tmp/cutover-bench-flip-XXXXXX";
  const std::string work = mkdtemp(dir_tmpl);

  std::map<char, std::vector<Run>> runs;
  {
    Bench b(o, sb->get(), work);
    std::cerr << "initialising pgbench (scale " << o.scale << ") + tokens on blue and green...\n";
    for (const char* cluster : {"blue", "green"}) {
      if (auto st = b.InitTemplate(cluster); !st.ok())
        return Fail(st, absl::StrCat("initialising ", cluster));
    }
    if (auto st = b.StartDaemon(); !st.ok()) return Fail(st, "cutoverd");
    for (int round = 0; round < o.runs; ++round) {
      // Alternate which side goes first, so a drift of the machine hits both alike.
      for (char side : round % 2 == 0 ? std::string("ab") : std::string("ba")) {
        absl::StatusOr<Run> r = b.RunOnce(side, round);
        if (!r.ok())
          return Fail(r.status(), absl::StrCat("run ", round + 1, " (", std::string(1, side), ")"));
        std::cerr << absl::StrFormat(
            "run %d %c: max %7.1f ms (before trigger %5.1f)  p99 %6.1f ms  write gap %7.1f ms at %+.2f s  "
            "failed %d (aborted clients %d)  "
            "%5.0f tps  green tpcb %d  paused->resumed %.1f ms\n",
            round + 1, side, r->max_ms, r->max_before_ms, r->p99_ms, r->gap_ms, r->gap_at_s, r->failed,
            r->aborted_clients, r->tps, r->green_tpcb, r->flip_gap_ms);
        std::string steps;
        for (const auto& [step, ms] : r->steps_ms)
          absl::StrAppend(&steps, " ", step, " ", absl::StrFormat("%.1f", ms));
        std::cerr << "  steps (ms):" << steps
                  << (side == 'b' ? absl::StrCat("  tail events ", r->tail_events) : "") << "\n";
        if (!r->first_error.empty()) std::cerr << "  pgbench: " << r->first_error << "\n";
        runs[side].push_back(*std::move(r));
      }
    }
  }
  if (!o.keep) {
    std::error_code ec;
    std::filesystem::remove_all(work, ec);
  }
  bool met = false;
  const std::string table = Tables(o, runs, &met);
  std::cout << "\n" << table;
  std::cout << absl::StrFormat("\nbench-flip took %.0f s\n", absl::ToDoubleSeconds(absl::Now() - begin));
  if (!o.markdown.empty()) std::ofstream(o.markdown) << table;
  return met ? 0 : 2;
}
