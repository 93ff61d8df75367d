// bench-capture: the latency cost of trigger capture on blue. Runs pgbench
// with a custom script that revokes grants the way Hydra 1.x does
// (DELETE access + UPDATE refresh SET active = false, by request_id, in one
// transaction) on the Hydra 1.11 dataset, alternating runs without and with
// the built-in Hydra capture installed, several rounds, in one sandbox
// (durable: fsync and synchronous_commit on). Each run starts from an
// identical copy of the dataset (CREATE DATABASE ... TEMPLATE). Prints TPS,
// p50 and p99 latency (from pgbench's per-transaction log) per mode and the
// with/without p50 ratio (target <= 1.15).
//
//   bench-capture [--scale 0.1] [--clients 4] [--threads 2] [--seconds 10] [--rounds 8] [--markdown FILE]
//   [--verbose]
#include <dirent.h>
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include "CLI/CLI.hpp"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "cutover/common/pg.h"
#include "cutover/common/proto_time.h"
#include "cutover/common/subprocess.h"
#include "cutover/hydra/dataset.h"
#include "cutover/replay/capture.h"
#include "cutover/replay/hydra_profile.h"
#include "cutover/sandbox/sandbox.h"

namespace {

constexpr char kScript[] = R"(\set n random(1, :grants)
BEGIN;
DELETE FROM hydra_oauth2_access WHERE request_id = (SELECT request_id FROM bench_grants WHERE n = :n);
UPDATE hydra_oauth2_refresh SET active = false WHERE request_id = (SELECT request_id FROM bench_grants WHERE n = :n);
COMMIT;
)";

struct Run {
  std::string mode;  // "without" | "with"
  int round = 0;
  double tps = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  int64_t transactions = 0;
  int64_t events = 0;
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

absl::Status Exec(const std::string& dsn, const std::string& sql) {
  ASSIGN_OR_RETURN(auto s, cutover::pg::Session::Connect(dsn, "blue", "bench-capture"));
  return s->Exec(sql).status();
}

absl::StatusOr<int64_t> Count(const std::string& dsn, const std::string& sql) {
  ASSIGN_OR_RETURN(auto s, cutover::pg::Session::Connect(dsn, "blue", "bench-capture"));
  ASSIGN_OR_RETURN(auto r, s->Exec(sql));
  return r[0][0].as<int64_t>();
}

// Latencies (ms) from pgbench --log files "<prefix>.<pid>[.<thread>]":
// "client_id transaction_no latency_us script_no epoch epoch_us".
absl::StatusOr<std::vector<double>> ReadLatencies(const std::string& dir, const std::string& prefix) {
  std::vector<double> out;
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
      if (cols.size() >= 3 && absl::SimpleAtod(cols[2], &us)) out.push_back(us / 1000.0);
    }
    std::remove(f.c_str());
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench-capture: revocation latency on blue without and with trigger capture"};
  double scale = 0.1;
  int clients = 4, threads = 2, seconds = 10, rounds = 8;
  std::string markdown;
  bool verbose = false;
  std::string sync_commit = "on";
  app.add_option("--synchronous-commit", sync_commit,
                 "synchronous_commit of the pgbench sessions (off isolates the CPU cost from WAL flushes)")
      ->check(CLI::IsMember({"on", "off", "local", "remote_write", "remote_apply"}));
  app.add_flag("--verbose", verbose, "print pgbench's output (with per-statement latencies)");
  app.add_option("--scale", scale, "Hydra dataset scale (0.1 = 100k access + 100k refresh tokens)")
      ->check(CLI::Range(0.001, 5.0));
  app.add_option("--clients", clients, "pgbench clients")->check(CLI::Range(1, 64));
  app.add_option("--threads", threads, "pgbench threads")->check(CLI::Range(1, 16));
  app.add_option("--seconds", seconds, "seconds per run")->check(CLI::Range(1, 3600));
  app.add_option("--rounds", rounds, "rounds (each: one run without and one with capture)")
      ->check(CLI::Range(1, 20));
  app.add_option("--markdown", markdown, "also write the result table to this file");
  CLI11_PARSE(app, argc, argv);
  threads = std::min(threads, clients);

  cutover::sandbox::SandboxOptions opts;
  opts.clusters = {"blue"};
  opts.pgbouncer = false;
  opts.fast = false;  // durable, like production
  opts.extra_settings = {{"max_wal_size", "8GB"}, {"checkpoint_timeout", "30min"}};
  auto sb = cutover::sandbox::Sandbox::Start(opts);
  if (!sb.ok()) return Fail(sb.status(), "starting the sandbox");
  auto& sandbox = **sb;
  if (auto st = sandbox.CreateDatabase("blue", "hydra"); !st.ok()) return Fail(st, "create database");
  const std::string tmpl = sandbox.Dsn("blue", "hydra");

  std::cerr << "generating the Hydra 1.11 dataset at scale " << scale << " ...\n";
  int64_t grants = 0;
  {
    auto s = cutover::pg::Session::Connect(tmpl, "blue", "bench-capture");
    if (!s.ok()) return Fail(s.status(), "connect");
    if (auto st = cutover::hydra::CreateSchema11(**s); !st.ok()) return Fail(st, "schema");
    if (auto st = cutover::hydra::Generate(**s, cutover::hydra::DatasetSize::AtScale(scale)); !st.ok())
      return Fail(st, "generate");
    auto r = (*s)->Exec(
        "CREATE TABLE bench_grants (n int PRIMARY KEY, request_id varchar(40) NOT NULL);"
        "INSERT INTO bench_grants SELECT row_number() OVER (ORDER BY request_id), request_id "
        "  FROM (SELECT DISTINCT request_id FROM hydra_oauth2_access) g;"
        "SELECT count(*) FROM bench_grants");
    if (!r.ok()) return Fail(r.status(), "bench_grants");
    if (auto v = (*s)->Exec("VACUUM ANALYZE"); !v.ok()) return Fail(v.status(), "vacuum");
    grants = (*r)[0][0].as<int64_t>();
  }
  const auto dsn_opts = cutover::pg::ParseDsn(tmpl, "blue DSN");
  if (!dsn_opts.ok()) return Fail(dsn_opts.status(), "dsn");
  const std::string password = dsn_opts->at("password");
  const int64_t access_rows = *Count(tmpl, "SELECT count(*) FROM hydra_oauth2_access");
  std::cerr << "dataset: " << access_rows << " access tokens, " << grants << " grants to revoke from\n";

  char dir_tmpl[] = "/tmp/cutover-bench-capture-XXXXXX";
  const std::string work = mkdtemp(dir_tmpl);
  {
    std::ofstream f(work + "/revoke.sql");
    f << kScript;
  }

  std::vector<Run> runs;
  for (int round = 0; round < rounds; ++round) {
    for (int k = 0; k < 2; ++k) {
      // Alternate which mode goes first, so drift over time hits both alike.
      const bool with = (k + round) % 2 == 1;
      Run run;
      run.mode = with ? "with" : "without";
      run.round = round + 1;
      const std::string db = absl::StrCat("run_", round, "_", run.mode);
      if (auto st = Exec(sandbox.Dsn("blue"),
                         absl::StrCat("CREATE DATABASE ", db, " TEMPLATE hydra STRATEGY FILE_COPY"));
          !st.ok())
        return Fail(st, "create run database");
      const std::string dsn = sandbox.Dsn("blue", db);
      if (with) {
        auto s = cutover::pg::Session::Connect(dsn, "blue", "bench-capture");
        if (!s.ok()) return Fail(s.status(), "connect");
        cutover::replay::CaptureInstallOptions o;
        o.cutover_id = "bench";
        o.direction = cutover::v1::DIRECTION_BLUE_TO_GREEN;
        if (auto st = cutover::replay::InstallCapture(**s, cutover::replay::HydraRules(), o); !st.ok())
          return Fail(st, "install capture");
      }
      (void)Exec(dsn, "VACUUM ANALYZE hydra_oauth2_access, hydra_oauth2_refresh, bench_grants");
      (void)Exec(dsn, "CHECKPOINT");
      const std::string prefix = absl::StrCat("log_", round, "_", run.mode);
      cutover::CommandSpec spec{
          {cutover::PgProgram("pgbench"),
           "-n",
           "-r",
           "-M",
           "prepared",
           "-c",
           std::to_string(clients),
           "-j",
           std::to_string(threads),
           "-T",
           std::to_string(seconds),
           "-f",
           work + "/revoke.sql",
           "-D",
           absl::StrCat("grants=", grants),
           "--log",
           "--log-prefix=" + work + "/" + prefix,
           "-h",
           dsn_opts->at("host"),
           "-p",
           dsn_opts->at("port"),
           "-U",
           dsn_opts->at("user"),
           db},
          {{"PGPASSWORD", password}, {"PGOPTIONS", "-c synchronous_commit=" + sync_commit}},
          "",
          absl::Seconds(seconds + 120),
          ""};
      auto out = cutover::RunCommandOk(spec);
      if (!out.ok()) return Fail(out.status(), "pgbench");
      if (verbose) std::cerr << *out;
      for (absl::string_view line : absl::StrSplit(*out, '\n')) {
        if (absl::StartsWith(line, "tps = ")) {
          std::vector<absl::string_view> w = absl::StrSplit(line, ' ', absl::SkipEmpty());
          if (w.size() >= 3) (void)absl::SimpleAtod(w[2], &run.tps);
        }
      }
      auto lat = ReadLatencies(work, prefix);
      if (!lat.ok()) return Fail(lat.status(), "pgbench log");
      run.transactions = static_cast<int64_t>(lat->size());
      run.p50_ms = Percentile(*lat, 0.50);
      run.p99_ms = Percentile(*lat, 0.99);
      if (with) {
        auto n = Count(dsn, "SELECT count(*) FROM cutover_capture.outbox");
        if (!n.ok()) return Fail(n.status(), "outbox");
        run.events = *n;
      }
      std::cerr << absl::StrFormat(
          "round %d  %-7s  %8.0f tps  p50 %6.3f ms  p99 %6.3f ms  %lld txns  %lld events\n", run.round,
          run.mode, run.tps, run.p50_ms, run.p99_ms, static_cast<long long>(run.transactions),
          static_cast<long long>(run.events));
      runs.push_back(run);
      if (auto st = sandbox.DropDatabase("blue", db); !st.ok()) return Fail(st, "drop run database");
    }
  }
  (void)cutover::RunCommand({{"rm", "-rf", work}, {}, "", absl::Minutes(1), ""});

  std::map<std::string, std::vector<double>> tps, p50, p99;
  std::map<std::string, int64_t> events;
  std::map<int, std::map<std::string, double>> by_round;
  for (const auto& r : runs) {
    tps[r.mode].push_back(r.tps);
    p50[r.mode].push_back(r.p50_ms);
    p99[r.mode].push_back(r.p99_ms);
    events[r.mode] += r.events;
    by_round[r.round][r.mode] = r.p50_ms;
  }
  std::vector<std::string> ratios;
  std::vector<double> ratio_values;
  for (const auto& [round, m] : by_round) {
    ratio_values.push_back(m.at("with") / m.at("without"));
    ratios.push_back(absl::StrFormat("%.3f", ratio_values.back()));
  }
  // Paired per round (the two runs of a round are back to back) and the
  // order alternates between rounds, so the geometric mean of the per-round
  // ratios cancels a linear drift of the machine (other load, disk state);
  // a median would not (it lands between the with-first and with-second
  // halves).
  double log_sum = 0;
  for (double r : ratio_values) log_sum += std::log(r);
  const double ratio = std::exp(log_sum / static_cast<double>(ratio_values.size()));
  const double ratio_of_medians = Median(p50["with"]) / Median(p50["without"]);
  std::string table = absl::StrFormat(
      "Hydra 1.11 dataset, scale %g (%lld access tokens, %lld grants); pgbench -M prepared, %d clients, %d "
      "threads, "
      "%d s per run, %d round(s), durable sandbox (fsync on, synchronous_commit %s), one revocation = DELETE "
      "access + UPDATE "
      "refresh by "
      "request_id in one transaction\n\n",
      scale, static_cast<long long>(access_rows), static_cast<long long>(grants), clients, threads, seconds,
      rounds);
  absl::StrAppend(
      &table, "| capture | TPS (median) | p50 latency (median) | p99 latency (median) | events captured |\n",
      "|---|---|---|---|---|\n");
  for (const std::string mode : {"without", "with"}) {
    absl::StrAppend(&table, absl::StrFormat("| %s | %.0f | %.3f ms | %.3f ms | %s |\n", mode,
                                            Median(tps[mode]), Median(p50[mode]), Median(p99[mode]),
                                            mode == "with" ? std::to_string(events[mode]) : "—"));
  }
  absl::StrAppend(
      &table, absl::StrFormat(
                  "\np50 ratio with/without: %.3f, geometric mean of the per-round ratios (%s); ratio of the "
                  "medians %.3f. Target <= 1.15 -> %s\n",
                  ratio, absl::StrJoin(ratios, ", "), ratio_of_medians, ratio <= 1.15 ? "PASS" : "FAIL"));
  std::cout << "\n" << table;
  if (!markdown.empty()) {
    std::ofstream f(markdown);
    f << table;
  }
  return ratio <= 1.15 ? 0 : 2;
}
