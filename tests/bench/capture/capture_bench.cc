// bench-capture: the latency cost of trigger capture on blue. pgbench runs a
// custom script that revokes grants the way Hydra 1.x does (DELETE access +
// UPDATE refresh SET active = false, by request_id, in one transaction) on
// the Hydra 1.11 dataset, with and without the built-in Hydra capture, in a
// durable sandbox (fsync and synchronous_commit on). Prints TPS, p50 and p99
// latency (from pgbench's per-transaction log) and the with/without p50
// ratio (target <= 1.15).
//
// Two ways to compare, both in one run of this program:
//  * interleaved (default): one database holds two identical copies of the
//    dataset, `public` with capture installed and `plain` without; one
//    pgbench run mixes the two scripts 1:1, so every "with" transaction has
//    "without" transactions running beside it under the same machine
//    conditions. Robust on a shared, noisy machine; it measures the latency
//    a revocation gains, while extra CPU or WAL of the "with" transactions
//    also slows the "without" ones a little (so it slightly understates the
//    whole-system effect).
//  * alternating: separate runs without and with capture, on fresh copies
//    of the dataset, order alternating per round; also shows the throughput
//    effect, but swings with everything else the machine does.
// Each round starts from an identical copy (CREATE DATABASE ... TEMPLATE).
//
//   bench-capture [--mode interleaved|alternating|both] [--scale 0.1] [--clients 4] [--threads 2]
//                 [--seconds 20] [--rounds 3] [--synchronous-commit on] [--markdown FILE] [--verbose]
#include <dirent.h>
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>

#include "CLI/CLI.hpp"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "cutover/common/pg.h"
#include "cutover/common/subprocess.h"
#include "cutover/hydra/dataset.h"
#include "cutover/replay/capture.h"
#include "cutover/replay/hydra_profile.h"
#include "cutover/sandbox/sandbox.h"

namespace {

// The revocation, on the copy of the dataset in `schema`.
std::string Script(const std::string& schema) {
  return absl::StrCat(
      "\\set n random(1, :grants)\n", "BEGIN;\n", "DELETE FROM ", schema,
      ".hydra_oauth2_access WHERE request_id = (SELECT request_id FROM public.bench_grants WHERE n "
      "= :n);\n",
      "UPDATE ", schema,
      ".hydra_oauth2_refresh SET active = false WHERE request_id = (SELECT request_id FROM "
      "public.bench_grants WHERE n = :n);\n",
      "COMMIT;\n");
}

struct Sample {
  double tps = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  int64_t transactions = 0;
  int64_t events = 0;
};

// One round: "with" and "without" samples.
struct Round {
  Sample with, without;
};

int Fail(const absl::Status& st, const std::string& what) {
  std::cerr << "bench-capture: " << what << ": " << st << "\n";
  return 1;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double idx = p * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(idx);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (idx - static_cast<double>(lo));
}

double Median(std::vector<double> v) { return Percentile(std::move(v), 0.5); }

double GeoMean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += std::log(x);
  return v.empty() ? 0 : std::exp(s / static_cast<double>(v.size()));
}

absl::Status Exec(const std::string& dsn, const std::string& sql) {
  ASSIGN_OR_RETURN(auto s, cutover::pg::Session::Connect(dsn, "blue", "bench-capture"));
  return s->Exec(sql).status();
}

absl::StatusOr<int64_t> Count(const std::string& dsn, const std::string& sql) {
  ASSIGN_OR_RETURN(auto s, cutover::pg::Session::Connect(dsn, "blue", "bench-capture"));
  ASSIGN_OR_RETURN(auto r, s->Exec(sql));
  return r[0][0].as<int64_t>();
}

// Latencies (ms) per script number from pgbench --log files
// "<prefix>.<pid>[.<thread>]": "client_id transaction_no latency_us script_no epoch epoch_us".
absl::StatusOr<std::map<int, std::vector<double>>> ReadLatencies(const std::string& dir,
                                                                 const std::string& prefix) {
  std::map<int, std::vector<double>> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return absl::InternalError("cannot open " + dir);
  std::vector<std::string> files;
  while (dirent* e = readdir(d)) {
    if (absl::StartsWith(e->d_name, prefix + ".")) files.push_back(dir + "/" + e->d_name);
  }
  closedir(d);
  if (files.empty()) return absl::InternalError("pgbench wrote no transaction log under " + dir);
  for (const auto& f : files) {
    std::ifstream in(f);
    std::string line;
    while (std::getline(in, line)) {
      std::vector<absl::string_view> cols = absl::StrSplit(line, ' ', absl::SkipEmpty());
      double us = 0;
      int script = 0;
      if (cols.size() >= 4 && absl::SimpleAtod(cols[2], &us) && absl::SimpleAtoi(cols[3], &script)) {
        out[script].push_back(us / 1000.0);
      }
    }
    std::remove(f.c_str());
  }
  return out;
}

struct Bench {
  cutover::sandbox::Sandbox* sandbox = nullptr;
  std::map<std::string, std::string> dsn;  // host, port, user, password
  std::string work;
  int64_t grants = 0;
  int clients = 4, threads = 2, seconds = 20;
  std::string sync_commit = "on";
  bool verbose = false;

  // A fresh copy of the dataset, optionally with capture on `public`.
  absl::StatusOr<std::string> FreshDatabase(const std::string& name, bool capture) {
    RETURN_IF_ERROR(Exec(sandbox->Dsn("blue"),
                         absl::StrCat("CREATE DATABASE ", name, " TEMPLATE hydra STRATEGY FILE_COPY")));
    const std::string d = sandbox->Dsn("blue", name);
    if (capture) {
      ASSIGN_OR_RETURN(auto s, cutover::pg::Session::Connect(d, "blue", "bench-capture"));
      cutover::replay::CaptureInstallOptions o;
      o.cutover_id = "bench";
      o.direction = cutover::v1::DIRECTION_BLUE_TO_GREEN;
      RETURN_IF_ERROR(cutover::replay::InstallCapture(*s, cutover::replay::HydraRules(), o));
    }
    RETURN_IF_ERROR(Exec(d, "VACUUM ANALYZE"));
    RETURN_IF_ERROR(Exec(d, "CHECKPOINT"));
    return d;
  }

  // Runs pgbench with `scripts` (weight 1 each) on database `db`; returns
  // latencies per script index and the run's wall seconds.
  absl::StatusOr<std::map<int, std::vector<double>>> Pgbench(const std::string& db,
                                                             const std::vector<std::string>& scripts,
                                                             const std::string& prefix) {
    std::vector<std::string> argv = {cutover::PgProgram("pgbench"),
                                     "-n",
                                     "-M",
                                     "prepared",
                                     "-c",
                                     std::to_string(clients),
                                     "-j",
                                     std::to_string(threads),
                                     "-T",
                                     std::to_string(seconds),
                                     "-D",
                                     absl::StrCat("grants=", grants),
                                     "--log",
                                     "--log-prefix=" + work + "/" + prefix,
                                     "-h",
                                     dsn.at("host"),
                                     "-p",
                                     dsn.at("port"),
                                     "-U",
                                     dsn.at("user")};
    if (verbose) argv.push_back("-r");
    for (size_t i = 0; i < scripts.size(); ++i) {
      const std::string file = absl::StrCat(work, "/", prefix, "_", i, ".sql");
      std::ofstream(file) << scripts[i];
      argv.push_back("-f");
      argv.push_back(file + "@1");
    }
    argv.push_back(db);
    cutover::CommandSpec spec{
        argv,
        {{"PGPASSWORD", dsn.at("password")}, {"PGOPTIONS", "-c synchronous_commit=" + sync_commit}},
        "",
        absl::Seconds(seconds + 120),
        ""};
    ASSIGN_OR_RETURN(std::string out, cutover::RunCommandOk(spec));
    if (verbose) std::cerr << out;
    return ReadLatencies(work, prefix);
  }

  Sample Summarize(const std::vector<double>& lat) const {
    Sample s;
    s.transactions = static_cast<int64_t>(lat.size());
    s.tps = static_cast<double>(lat.size()) / seconds;
    s.p50_ms = Percentile(lat, 0.5);
    s.p99_ms = Percentile(lat, 0.99);
    return s;
  }

  absl::StatusOr<Round> Interleaved(int round) {
    const std::string db = absl::StrCat("interleaved_", round);
    ASSIGN_OR_RETURN(std::string d, FreshDatabase(db, /*capture=*/true));
    ASSIGN_OR_RETURN(auto lat, Pgbench(db, {Script("public"), Script("plain")}, db));
    Round r;
    r.with = Summarize(lat[0]);
    r.without = Summarize(lat[1]);
    ASSIGN_OR_RETURN(r.with.events, Count(d, "SELECT count(*) FROM cutover_capture.outbox"));
    RETURN_IF_ERROR(sandbox->DropDatabase("blue", db));
    return r;
  }

  absl::StatusOr<Round> Alternating(int round) {
    Round r;
    for (int k = 0; k < 2; ++k) {
      // Alternate which goes first, so a drift of the machine hits both alike.
      const bool with = (k + round) % 2 == 1;
      const std::string db = absl::StrCat("alternating_", round, with ? "_with" : "_without");
      ASSIGN_OR_RETURN(std::string d, FreshDatabase(db, with));
      ASSIGN_OR_RETURN(auto lat, Pgbench(db, {Script("public")}, db));
      Sample s = Summarize(lat[0]);
      if (with) {
        ASSIGN_OR_RETURN(s.events, Count(d, "SELECT count(*) FROM cutover_capture.outbox"));
        r.with = s;
      } else {
        r.without = s;
      }
      RETURN_IF_ERROR(sandbox->DropDatabase("blue", db));
    }
    return r;
  }
};

// The result table of one mode; returns the headline ratio.
double Report(const std::string& mode, const std::vector<Round>& rounds, std::string* table) {
  std::vector<double> ratios;
  std::vector<std::string> shown;
  std::vector<double> tps_w, tps_wo, p50_w, p50_wo, p99_w, p99_wo;
  int64_t events = 0, txns_w = 0;
  for (const auto& r : rounds) {
    ratios.push_back(r.with.p50_ms / r.without.p50_ms);
    shown.push_back(absl::StrFormat("%.3f", ratios.back()));
    tps_w.push_back(r.with.tps);
    tps_wo.push_back(r.without.tps);
    p50_w.push_back(r.with.p50_ms);
    p50_wo.push_back(r.without.p50_ms);
    p99_w.push_back(r.with.p99_ms);
    p99_wo.push_back(r.without.p99_ms);
    events += r.with.events;
    txns_w += r.with.transactions;
  }
  // Geometric mean of the per-round ratios: with alternating order it
  // cancels a linear drift of the machine.
  const double ratio = GeoMean(ratios);
  absl::StrAppend(table, "### ", mode, "\n\n",
                  "| capture | TPS (median of rounds) | p50 latency | p99 latency | events captured |\n",
                  "|---|---|---|---|---|\n",
                  absl::StrFormat("| without | %.0f | %.3f ms | %.3f ms | — |\n", Median(tps_wo),
                                  Median(p50_wo), Median(p99_wo)),
                  absl::StrFormat("| with | %.0f | %.3f ms | %.3f ms | %lld (%.2f per revocation) |\n",
                                  Median(tps_w), Median(p50_w), Median(p99_w), static_cast<long long>(events),
                                  txns_w ? static_cast<double>(events) / static_cast<double>(txns_w) : 0.0),
                  absl::StrFormat("\np50 with/without: **%.3f** (geometric mean of the per-round ratios %s); "
                                  "target <= 1.15 -> %s\n\n",
                                  ratio, absl::StrJoin(shown, ", "), ratio <= 1.15 ? "PASS" : "FAIL"));
  return ratio;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench-capture: revocation latency on blue without and with trigger capture"};
  double scale = 0.1;
  int rounds = 3;
  std::string mode = "interleaved", markdown;
  Bench b;
  app.add_option("--mode", mode,
                 "interleaved (one pgbench run, both schemas), alternating (separate runs), both")
      ->check(CLI::IsMember({"interleaved", "alternating", "both"}));
  app.add_option("--scale", scale, "Hydra dataset scale (0.1 = 100k access + 100k refresh tokens)")
      ->check(CLI::Range(0.001, 5.0));
  app.add_option("--clients", b.clients, "pgbench clients")->check(CLI::Range(1, 64));
  app.add_option("--threads", b.threads, "pgbench threads")->check(CLI::Range(1, 16));
  app.add_option("--seconds", b.seconds, "seconds per pgbench run")->check(CLI::Range(1, 3600));
  app.add_option("--rounds", rounds, "rounds per mode")->check(CLI::Range(1, 20));
  app.add_option("--synchronous-commit", b.sync_commit,
                 "synchronous_commit of the pgbench sessions (off isolates the CPU cost from WAL flushes)")
      ->check(CLI::IsMember({"on", "off", "local", "remote_write", "remote_apply"}));
  app.add_option("--markdown", markdown, "also write the result tables to this file");
  app.add_flag("--verbose", b.verbose, "print pgbench's output (with per-statement latencies)");
  CLI11_PARSE(app, argc, argv);
  b.threads = std::min(b.threads, b.clients);

  cutover::sandbox::SandboxOptions opts;
  opts.clusters = {"blue"};
  opts.pgbouncer = false;
  opts.fast = false;  // durable, like production
  opts.extra_settings = {{"max_wal_size", "8GB"}, {"checkpoint_timeout", "30min"}};
  auto sb = cutover::sandbox::Sandbox::Start(opts);
  if (!sb.ok()) return Fail(sb.status(), "starting the sandbox");
  b.sandbox = sb->get();
  if (auto st = b.sandbox->CreateDatabase("blue", "hydra"); !st.ok()) return Fail(st, "create database");
  const std::string tmpl = b.sandbox->Dsn("blue", "hydra");

  std::cerr << "generating two copies of the Hydra 1.11 dataset at scale " << scale << " ...\n";
  {
    auto s = cutover::pg::Session::Connect(tmpl, "blue", "bench-capture");
    if (!s.ok()) return Fail(s.status(), "connect");
    for (const char* schema : {"plain", "public"}) {
      if (auto r = (*s)->Exec(
              absl::StrCat("CREATE SCHEMA IF NOT EXISTS ", schema, "; SET search_path = ", schema));
          !r.ok())
        return Fail(r.status(), "schema");
      if (auto st = cutover::hydra::CreateSchema11(**s); !st.ok()) return Fail(st, "schema");
      if (auto st = cutover::hydra::Generate(**s, cutover::hydra::DatasetSize::AtScale(scale)); !st.ok())
        return Fail(st, "generate");
    }
    auto r = (*s)->Exec(
        "SET search_path = public;"
        "CREATE TABLE public.bench_grants (n int PRIMARY KEY, request_id varchar(40) NOT NULL);"
        "INSERT INTO public.bench_grants SELECT row_number() OVER (ORDER BY request_id), request_id "
        "  FROM (SELECT DISTINCT request_id FROM public.hydra_oauth2_access) g;"
        "SELECT count(*) FROM public.bench_grants");
    if (!r.ok()) return Fail(r.status(), "bench_grants");
    b.grants = (*r)[0][0].as<int64_t>();
    auto same = (*s)->Exec(
        "SELECT (SELECT count(*) FROM public.hydra_oauth2_access a JOIN plain.hydra_oauth2_access p "
        "USING (signature, request_id)) = (SELECT count(*) FROM plain.hydra_oauth2_access)");
    if (!same.ok() || !(*same)[0][0].as<bool>()) {
      return Fail(same.ok() ? absl::InternalError("the two copies differ") : same.status(), "copies");
    }
  }
  auto dsn_opts = cutover::pg::ParseDsn(tmpl, "blue DSN");
  if (!dsn_opts.ok()) return Fail(dsn_opts.status(), "dsn");
  b.dsn = *dsn_opts;
  const int64_t access_rows = *Count(tmpl, "SELECT count(*) FROM public.hydra_oauth2_access");
  std::cerr << "dataset: " << access_rows << " access tokens per copy, " << b.grants
            << " grants to revoke from\n";

  char dir_tmpl[] = "/tmp/cutover-bench-capture-XXXXXX";
  b.work = mkdtemp(dir_tmpl);

  std::string table = absl::StrFormat(
      "Hydra 1.11 dataset, scale %g (%lld access tokens); pgbench -M prepared, %d clients, %d threads, %d s "
      "per "
      "run, %d round(s) per mode; durable sandbox (fsync on, synchronous_commit %s); one revocation = DELETE "
      "access + UPDATE refresh SET active = false by request_id, in one transaction, on a random grant.\n\n",
      scale, static_cast<long long>(access_rows), b.clients, b.threads, b.seconds, rounds, b.sync_commit);
  double headline = 0;
  for (const std::string m : {"interleaved", "alternating"}) {
    if (mode != "both" && mode != m) continue;
    std::vector<Round> results;
    for (int round = 0; round < rounds; ++round) {
      auto r = m == "interleaved" ? b.Interleaved(round) : b.Alternating(round);
      if (!r.ok()) return Fail(r.status(), m);
      std::cerr << absl::StrFormat(
          "%s round %d: without %6.0f tps p50 %6.3f ms p99 %6.3f ms | with %6.0f tps p50 %6.3f ms p99 %6.3f "
          "ms "
          "(%lld events) | p50 ratio %.3f\n",
          m, round + 1, r->without.tps, r->without.p50_ms, r->without.p99_ms, r->with.tps, r->with.p50_ms,
          r->with.p99_ms, static_cast<long long>(r->with.events), r->with.p50_ms / r->without.p50_ms);
      results.push_back(*r);
    }
    const double ratio = Report(m, results, &table);
    if (headline == 0) headline = ratio;
  }
  (void)cutover::RunCommand({{"rm", "-rf", b.work}, {}, "", absl::Minutes(1), ""});
  std::cout << "\n" << table;
  if (!markdown.empty()) std::ofstream(markdown) << table;
  return headline <= 1.15 ? 0 : 2;
}
