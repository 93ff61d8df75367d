// bench-copy: clones the Hydra-1.x-shaped dataset onto fresh green databases
// with our copier, with `pgcopydb clone` and with pg_dump -Fd + pg_restore,
// in one run, several rounds (tool order rotated each round), and prints
// medians, rates and the ratio to pgcopydb. Durable sandbox (fsync on).
//
//   bench-copy [--scale 0.5] [--runs 3] [--jobs 2] [--markdown FILE]
//
// Wall time = schema + data + indexes + constraints (+ ANALYZE for ours and
// pgcopydb, which runs VACUUM ANALYZE). Our verification is timed in the
// same run and reported in its own column, not in the wall time.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "cutover/common/pg.h"
#include "cutover/common/proto_time.h"
#include "cutover/common/subprocess.h"
#include "cutover/copy/copier.h"
#include "cutover/copy/schema.h"
#include "cutover/hydra/dataset.h"
#include "cutover/sandbox/sandbox.h"

namespace {

using cutover::CommandSpec;

struct Sample {
  double wall = 0;    // seconds
  double verify = 0;  // ours only
};

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

int Fail(const absl::Status& st, const std::string& what) {
  std::cerr << "bench-copy: " << what << ": " << st << "\n";
  return 1;
}

absl::Status Exec(const std::string& dsn, const std::string& sql) {
  ASSIGN_OR_RETURN(auto s, cutover::pg::Session::Connect(dsn, "bench"));
  return s->Exec(sql).status();
}

absl::StatusOr<double> RunOurs(const std::string& blue, const std::string& green, int jobs, double* verify) {
  cutover::copy::CopyRequest req;
  req.blue_dsn = blue;
  req.green_dsn = green;
  req.options.set_table_jobs(jobs);
  req.options.set_index_jobs(jobs);
  req.cutover_id = "bench";
  ASSIGN_OR_RETURN(auto report, cutover::copy::NewPgCopier()->Copy(req, nullptr, nullptr));
  *verify = absl::ToDoubleSeconds(cutover::FromProto(report.verify().duration()));
  return absl::ToDoubleSeconds(cutover::FromProto(report.total_duration())) - *verify;
}

absl::StatusOr<double> RunTimed(const std::vector<CommandSpec>& steps) {
  const absl::Time t0 = absl::Now();
  for (const auto& s : steps) {
    auto r = cutover::RunCommand(s);
    if (!r.ok()) return r.status();
    if (r->exit_code != 0) {
      return absl::InternalError(absl::StrCat(s.argv[0], " exited ", r->exit_code, ": ",
                                              r->err.substr(r->err.size() > 2000 ? r->err.size() - 2000 : 0)));
    }
  }
  return absl::ToDoubleSeconds(absl::Now() - t0);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"bench-copy: our copier vs pgcopydb vs pg_dump/pg_restore on the Hydra dataset"};
  double scale = 0.5;
  int runs = 3, jobs = 2;
  std::string markdown;
  app.add_option("--scale", scale, "dataset scale (0.5 = 500k access + 500k refresh tokens, ~1.6 GB)")
      ->check(CLI::Range(0.0001, 10.0));
  app.add_option("--runs", runs, "rounds per tool")->check(CLI::Range(1, 20));
  app.add_option("--jobs", jobs, "table and index jobs for every tool")->check(CLI::Range(1, 16));
  app.add_option("--markdown", markdown, "also write the result table to this file");
  CLI11_PARSE(app, argc, argv);

  cutover::sandbox::SandboxOptions opts;
  opts.clusters = {"blue", "green"};
  opts.pgbouncer = false;
  opts.fast = false;  // durable, like production
  opts.extra_settings = {{"max_wal_size", "8GB"}, {"checkpoint_timeout", "30min"}};
  auto sb = cutover::sandbox::Sandbox::Start(opts);
  if (!sb.ok()) return Fail(sb.status(), "starting the sandbox");
  auto& sandbox = **sb;
  if (auto st = sandbox.CreateDatabase("blue", "hydra"); !st.ok()) return Fail(st, "create blue db");
  const std::string blue = sandbox.Dsn("blue", "hydra");

  std::cerr << "generating the Hydra 1.11 dataset at scale " << scale << " ...\n";
  const absl::Time g0 = absl::Now();
  {
    auto s = cutover::pg::Session::Connect(blue, "blue");
    if (!s.ok()) return Fail(s.status(), "connect blue");
    if (auto st = cutover::hydra::CreateSchema11(**s); !st.ok()) return Fail(st, "schema");
    auto size = cutover::hydra::DatasetSize::AtScale(scale);
    int last = -1;
    if (auto st = cutover::hydra::Generate(**s, size,
                                           [&](absl::string_view step, double f) {
                                             int pct = static_cast<int>(f * 100);
                                             if (pct / 10 != last / 10) {
                                               std::cerr << "  " << pct << "% " << std::string(step) << "\n";
                                               last = pct;
                                             }
                                           });
        !st.ok())
      return Fail(st, "generate");
    (void)(*s)->Exec("VACUUM ANALYZE");
  }
  auto stats = [&](const std::string& sql) {
    auto s = cutover::pg::Session::Connect(blue, "blue");
    auto r = (*s)->Exec(sql);
    return r.ok() ? (*r)[0][0].as<int64_t>() : int64_t{0};
  };
  const int64_t db_bytes = stats("SELECT pg_database_size(current_database())");
  const int64_t rows = stats(
      "SELECT sum(n_live_tup)::bigint FROM pg_stat_user_tables");
  std::cerr << "dataset: " << cutover::HumanBytes(static_cast<double>(db_bytes)) << ", " << rows << " rows, generated in "
            << cutover::HumanDuration(absl::Now() - g0) << "\n";

  const auto [blue_nopw, password] = cutover::copy::SplitPassword(blue);
  const std::map<std::string, std::string> env = {{"PGPASSWORD", password},
                                                  {"PATH", absl::StrCat("/usr/lib/postgresql/15/bin:", getenv("PATH"))}};
  const std::vector<std::string> tools = {"cutover", "pgcopydb", "pg_dump+pg_restore"};
  std::map<std::string, std::vector<Sample>> samples;
  char tmpl[] = "/tmp/cutover-bench-XXXXXX";
  const std::string work = mkdtemp(tmpl);

  for (int round = 0; round < runs; ++round) {
    for (size_t k = 0; k < tools.size(); ++k) {
      const std::string& tool = tools[(k + round) % tools.size()];
      const std::string db = absl::StrCat("clone_", round, "_", (k + round) % tools.size());
      if (auto st = sandbox.CreateDatabase("green", db); !st.ok()) return Fail(st, "create green db");
      const std::string green = sandbox.Dsn("green", db);
      const auto [green_nopw, unused] = cutover::copy::SplitPassword(green);
      (void)Exec(sandbox.Dsn("green"), "CHECKPOINT");
      (void)Exec(blue, "CHECKPOINT");
      Sample s;
      absl::StatusOr<double> wall;
      if (tool == "cutover") {
        wall = RunOurs(blue, green, jobs, &s.verify);
      } else if (tool == "pgcopydb") {
        const std::string dir = absl::StrCat(work, "/pgcopydb-", round);
        wall = RunTimed({{{"pgcopydb", "clone", "--source", blue_nopw, "--target", green_nopw, "--table-jobs",
                           std::to_string(jobs), "--index-jobs", std::to_string(jobs), "--dir", dir},
                          env, "", absl::Hours(2), ""}});
      } else {
        const std::string dir = absl::StrCat(work, "/dump-", round);
        wall = RunTimed({{{cutover::PgProgram("pg_dump"), "-Fd", "-j", std::to_string(jobs), "-f", dir,
                           "--dbname=" + blue_nopw},
                          env, "", absl::Hours(2), ""},
                         {{cutover::PgProgram("pg_restore"), "-j", std::to_string(jobs), "--dbname=" + green_nopw, dir},
                          env, "", absl::Hours(2), ""}});
      }
      if (!wall.ok()) return Fail(wall.status(), tool);
      s.wall = *wall;
      samples[tool].push_back(s);
      std::cerr << absl::StrFormat("round %d  %-20s %8.1fs%s\n", round + 1, tool, s.wall,
                                   tool == "cutover" ? absl::StrFormat("  (verify %.1fs)", s.verify) : "");
      (void)sandbox.DropDatabase("green", db);
      (void)cutover::RunCommand({{"rm", "-rf", absl::StrCat(work, "/pgcopydb-", round), absl::StrCat(work, "/dump-", round)}, {}, "", absl::Minutes(5), ""});
    }
  }
  (void)cutover::RunCommand({{"rm", "-rf", work}, {}, "", absl::Minutes(5), ""});

  std::vector<double> ref;
  for (const auto& s : samples["pgcopydb"]) ref.push_back(s.wall);
  const double ref_med = Median(ref);
  std::string table = absl::StrFormat(
      "Hydra 1.11 dataset, scale %g: %s (pg_database_size), %d rows; %d run(s) per tool, %d table + %d index jobs, "
      "2 cores\n\n",
      scale, cutover::HumanBytes(static_cast<double>(db_bytes)), rows, runs, jobs, jobs);
  absl::StrAppend(&table, "| tool | median wall | min | max | rows/s | MB/s | vs pgcopydb | verify (median) |\n",
                  "|---|---|---|---|---|---|---|---|\n");
  for (const auto& tool : tools) {
    std::vector<double> w, v;
    for (const auto& s : samples[tool]) {
      w.push_back(s.wall);
      v.push_back(s.verify);
    }
    const double med = Median(w);
    absl::StrAppend(&table, absl::StrFormat("| %s | %.1f s | %.1f s | %.1f s | %s | %.1f | %.2f× | %s |\n", tool, med,
                                            *std::min_element(w.begin(), w.end()),
                                            *std::max_element(w.begin(), w.end()),
                                            cutover::HumanCount(rows / med), db_bytes / 1e6 / med, med / ref_med,
                                            tool == "cutover" ? absl::StrFormat("%.1f s", Median(v)) : "—"));
  }
  std::cout << "\n" << table;
  if (!markdown.empty()) {
    std::ofstream f(markdown);
    f << table;
  }
  return 0;
}
