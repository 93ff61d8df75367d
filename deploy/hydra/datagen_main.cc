// cutover-datagen: creates a Hydra-shaped schema (1.11 or 2.x) in a database
// and fills it with the generated dataset of deploy/hydra/README.md.
//
//   cutover-datagen --dsn DSN [--scale 0.01] [--schema 1.11|2.x] [--no-data]
//
// Progress goes to stderr, the summary table (rows and size per table,
// database size, seconds) to stdout. Exit codes: 0 done, 1 the database
// refused (connection, existing tables, ...), 2 bad command line.
#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cutover/common/pg.h"
#include "cutover/hydra/dataset.h"

namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

struct Flags {
  std::string dsn;
  std::string scale = "0.01";
  std::string schema = "1.11";
  bool no_data = false;
};

int Usage(const std::string& message) {
  std::cerr << "cutover-datagen: " << message << "\nRun 'cutover-datagen --help' for usage.\n";
  return kExitUsage;
}

int Fail(const absl::Status& status) {
  std::cerr << "cutover-datagen: " << status.message() << "\n";
  return status.code() == absl::StatusCode::kInvalidArgument ? kExitUsage : kExitFailure;
}

double Seconds(absl::Time since) { return absl::ToDoubleSeconds(absl::Now() - since); }

int Run(const Flags& flags) {
  double scale = 0;
  if (!absl::SimpleAtod(flags.scale, &scale) || !std::isfinite(scale) || scale <= 0 || scale > 1000) {
    return Usage(
        absl::StrCat("--scale: expected a number greater than 0 and at most 1000 (1.0 is about 1M "
                     "access tokens), got '",
                     flags.scale, "'"));
  }
  cutover::hydra::Shape shape;
  if (flags.schema == "1.11") {
    shape = cutover::hydra::Shape::kHydra111;
  } else if (flags.schema == "2.x") {
    shape = cutover::hydra::Shape::kHydra2x;
  } else {
    return Usage(absl::StrCat("--schema: expected '1.11' or '2.x', got '", flags.schema, "'"));
  }
  if (auto parsed = cutover::pg::ParseDsn(flags.dsn, "--dsn"); !parsed.ok()) {
    return Usage(std::string(parsed.status().message()));
  }

  auto session = cutover::pg::Session::Connect(flags.dsn, "target database", "cutover-datagen");
  if (!session.ok()) {
    return Fail(session.status());
  }
  cutover::pg::Session& db = **session;

  const absl::Time start = absl::Now();
  std::cerr << "cutover-datagen: creating the Hydra " << flags.schema << " schema in "
            << cutover::pg::DescribeDsn(flags.dsn) << "\n";
  absl::Status st = shape == cutover::hydra::Shape::kHydra2x ? cutover::hydra::CreateSchema2x(db)
                                                             : cutover::hydra::CreateSchema11(db);
  if (!st.ok()) {
    return Fail(st);
  }
  const double schema_seconds = Seconds(start);

  double data_seconds = 0;
  if (!flags.no_data) {
    const auto size = cutover::hydra::DatasetSize::AtScale(scale);
    std::cerr << absl::StrFormat(
        "cutover-datagen: generating scale %g: %d clients, %d login sessions, %d login / %d consent "
        "requests, "
        "%d access / %d refresh tokens\n",
        scale, size.clients, size.login_sessions, size.login_requests, size.consent_requests,
        size.access_tokens, size.refresh_tokens);
    const absl::Time gen_start = absl::Now();
    // One line per step, and within a step at most one per 5%.
    std::string last_step;
    double last_fraction = -1;
    st = cutover::hydra::Generate(db, size, [&](absl::string_view step, double fraction) {
      if (step == last_step && fraction < last_fraction + 0.05 && fraction < 1.0) {
        return;
      }
      last_step = std::string(step);
      last_fraction = fraction;
      std::cerr << absl::StrFormat("[%7.1fs] %5.1f%%  %s\n", Seconds(gen_start), 100 * fraction, last_step);
    });
    if (!st.ok()) {
      return Fail(st);
    }
    data_seconds = Seconds(gen_start);
  }

  auto counts = cutover::hydra::Count(db);
  if (!counts.ok()) {
    return Fail(counts.status());
  }
  std::string names;
  for (const auto& [t, n] : counts->rows) {
    absl::StrAppend(&names, names.empty() ? "" : ", ", cutover::pg::QuoteLiteral(t));
  }
  auto sizes = db.Exec(absl::StrCat("SELECT t, pg_total_relation_size(to_regclass(t)), ",
                                    "pg_database_size(current_database()) FROM unnest(ARRAY[", names,
                                    "]::text[]) AS t"));
  if (!sizes.ok()) {
    return Fail(sizes.status());
  }
  std::map<std::string, int64_t> table_bytes;
  int64_t db_bytes = 0;
  for (const auto& row : *sizes) {
    table_bytes[row[0].as<std::string>()] = row[1].as<int64_t>();
    db_bytes = row[2].as<int64_t>();
  }

  std::printf("%-48s %12s %12s\n", "table", "rows", "MB (+index)");
  for (const auto& t : cutover::hydra::Tables(shape)) {
    std::printf("%-48s %12lld %12.1f\n", t.c_str(), static_cast<long long>(counts->Rows(t)),
                static_cast<double>(table_bytes[t]) / (1024.0 * 1024.0));
  }
  std::printf("%-48s %12lld\n", "total rows", static_cast<long long>(counts->Total()));
  std::printf("%-48s %12.1f MB\n", "database size (pg_database_size)",
              static_cast<double>(db_bytes) / (1024.0 * 1024.0));
  std::printf("%-48s %12.1f s\n", "schema", schema_seconds);
  std::printf("%-48s %12.1f s\n", "data (generate + analyze)", data_seconds);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  CLI::App app{"Create a Hydra-shaped schema (1.11 or 2.x) and fill it with generated data.",
               "cutover-datagen"};
  app.add_option("--dsn", flags.dsn, "libpq connection string or postgresql:// URI of the target database")
      ->required();
  app.add_option("--scale", flags.scale,
                 "dataset scale: 1.0 = 1,000 clients, 100k login sessions, 200k login and consent requests, "
                 "1M access and 1M refresh tokens (about 3 GB, 3 minutes)")
      ->capture_default_str();
  app.add_option("--schema", flags.schema, "schema shape to create: 1.11 (blue) or 2.x (green)")
      ->capture_default_str();
  app.add_flag("--no-data", flags.no_data, "create the schema only");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return Usage(e.what());
  }
  return Run(flags);
}
