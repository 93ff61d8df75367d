// cutover-loadgen: the demo's Hydra-shaped client workload (cutover::loadgen)
// as a command.
//
//   cutover-loadgen --dsn DSN [--clients 4] [--rate 200] [--duration 60s|0]
//                   [--max-ops N] [--mix issue=50,rotate=20,...] [--ledger F]
//                   [--stats-file F] [--ready-file F] [--seed N]
//                   [--output text|json]
//
// Runs until --duration passes, --max-ops operations were attempted, or
// SIGINT/SIGTERM; then prints the summary to stdout (a table, or JSON with
// --output json) and writes it as JSON to --stats-file. Progress goes to
// stderr. Exit codes: 0 the run ended (its failures are in the summary, not
// in the exit code), 1 could not start or could not write the ledger or the
// stats file, 2 bad command line (the message names the flag).
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "cutover/common/pg.h"
#include "cutover/loadgen/loadgen.h"

namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

volatile sig_atomic_t g_signalled = 0;
void OnSignal(int) { g_signalled = 1; }

struct Flags {
  std::string dsn;
  int clients = 4;
  std::string rate = "200";
  std::string duration = "60s";
  int64_t max_ops = 0;
  std::string mix = cutover::loadgen::FormatMix(cutover::loadgen::Mix{});
  std::string ledger;
  std::string stats_file;
  std::string ready_file;
  uint64_t seed = 1;
  std::string output = "text";
  int max_client_deletions = 3;
  std::string client_deletion_interval = "auto";
  std::string pool_refresh = "5s";
  std::string progress = "5s";
};

int Usage(const std::string& message) {
  std::cerr << "cutover-loadgen: " << message << "\nRun 'cutover-loadgen --help' for usage.\n";
  return kExitUsage;
}

// "60s", "1m30s", "250ms" or plain seconds ("60", "0.5").
bool ParseDuration(const std::string& text, absl::Duration* out) {
  double secs;
  if (absl::SimpleAtod(text, &secs)) {
    if (!(secs >= 0)) {
      return false;
    }
    *out = absl::Seconds(secs);
    return true;
  }
  return absl::ParseDuration(text, out) && *out >= absl::ZeroDuration() && *out != absl::InfiniteDuration();
}

// Replaces `path` with `contents` (temporary file + rename).
bool WriteFile(const std::string& path, const std::string& contents, std::string* error) {
  const std::string tmp = absl::StrCat(path, ".tmp.", getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "w");
  if (f == nullptr) {
    *error = absl::StrCat(tmp, ": ", std::strerror(errno));
    return false;
  }
  const bool written = std::fwrite(contents.data(), 1, contents.size(), f) == contents.size();
  const bool closed = std::fclose(f) == 0;
  if (!written || !closed || std::rename(tmp.c_str(), path.c_str()) != 0) {
    *error = absl::StrCat(path, ": ", std::strerror(errno));
    std::remove(tmp.c_str());
    return false;
  }
  return true;
}

int Run(const Flags& flags) {
  cutover::loadgen::Options options;
  if (auto parsed = cutover::pg::ParseDsn(flags.dsn, "--dsn"); !parsed.ok()) {
    return Usage(std::string(parsed.status().message()));
  }
  options.dsn = flags.dsn;
  if (flags.clients < 1 || flags.clients > 1000) {
    return Usage(absl::StrCat("--clients: expected 1 to 1000 concurrent clients, got ", flags.clients));
  }
  options.clients = flags.clients;
  if (!absl::SimpleAtod(flags.rate, &options.rate) || !(options.rate >= 0) || options.rate > 1e6) {
    return Usage(
        absl::StrCat("--rate: expected transactions per second, 0 (as fast as possible) up to 1e6, got '",
                     flags.rate, "'"));
  }
  absl::Duration duration;
  if (!ParseDuration(flags.duration, &duration)) {
    return Usage(absl::StrCat("--duration: expected a duration such as 60s, 5m or 0 (until signalled), got '",
                              flags.duration, "'"));
  }
  if (flags.max_ops < 0) {
    return Usage(absl::StrCat("--max-ops: expected 0 (no limit) or a positive count, got ", flags.max_ops));
  }
  options.max_ops = flags.max_ops;
  auto mix = cutover::loadgen::ParseMix(flags.mix);
  if (!mix.ok()) {
    return Usage(absl::StrCat("--mix: ", mix.status().message()));
  }
  options.mix = *mix;
  options.ledger_path = flags.ledger;
  options.seed = flags.seed;
  if (flags.output != "text" && flags.output != "json") {
    return Usage(absl::StrCat("--output: expected 'text' or 'json', got '", flags.output, "'"));
  }
  if (flags.max_client_deletions < 0) {
    return Usage(
        absl::StrCat("--max-client-deletions: expected 0 or more, got ", flags.max_client_deletions));
  }
  options.max_client_deletions = flags.max_client_deletions;
  if (flags.client_deletion_interval == "auto") {
    // Spread over the run: with --duration 60s and 3 deletions, at about
    // 15 s, 30 s and 45 s.
    options.client_deletion_interval =
        duration > absl::ZeroDuration() ? duration / (options.max_client_deletions + 1) : absl::Seconds(10);
  } else if (!ParseDuration(flags.client_deletion_interval, &options.client_deletion_interval)) {
    return Usage(absl::StrCat("--client-deletion-interval: expected 'auto' or a duration such as 10s, got '",
                              flags.client_deletion_interval, "'"));
  }
  if (!ParseDuration(flags.pool_refresh, &options.pool_refresh) ||
      options.pool_refresh < absl::Milliseconds(100)) {
    return Usage(absl::StrCat("--pool-refresh: expected a duration of at least 100ms, got '",
                              flags.pool_refresh, "'"));
  }
  absl::Duration progress;
  if (!ParseDuration(flags.progress, &progress)) {
    return Usage(absl::StrCat("--progress: expected a duration such as 5s, or 0 for none, got '",
                              flags.progress, "'"));
  }

  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  std::cerr << "cutover-loadgen: connecting " << options.clients << " clients to "
            << cutover::pg::DescribeDsn(options.dsn) << "\n";
  auto gen = cutover::loadgen::LoadGenerator::Start(options);
  if (!gen.ok()) {
    std::cerr << "cutover-loadgen: " << gen.status().message() << "\n";
    return kExitFailure;
  }
  const absl::Time start = absl::Now();
  std::string error;
  if (!flags.ready_file.empty() &&
      !WriteFile(flags.ready_file, absl::StrCat("pid=", getpid(), "\n"), &error)) {
    std::cerr << "cutover-loadgen: cannot write --ready-file " << error << "\n";
    (*gen)->Stop("ready file not written");
    return kExitFailure;
  }
  std::cerr << absl::StrFormat("cutover-loadgen: running (rate %s, mix %s, %s)\n",
                               options.rate > 0 ? absl::StrCat(options.rate, "/s") : "unpaced",
                               cutover::loadgen::FormatMix(options.mix),
                               duration > absl::ZeroDuration()
                                   ? absl::StrCat("for ", absl::FormatDuration(duration))
                               : options.max_ops > 0 ? absl::StrCat(options.max_ops, " operations")
                                                     : "until signalled");

  std::string reason;
  absl::Time last_report = start;
  int64_t last_committed = 0;
  while (true) {
    absl::SleepFor(absl::Milliseconds(50));
    const absl::Time now = absl::Now();
    if (g_signalled) {
      reason = "signal";
    } else if (duration > absl::ZeroDuration() && now - start >= duration) {
      reason = "duration";
    } else if ((*gen)->Done()) {
      reason = options.max_ops > 0 ? "max_ops" : "stopped";
    }
    if (!reason.empty()) {
      break;
    }
    if (progress > absl::ZeroDuration() && now - last_report >= progress) {
      const cutover::v1::LoadgenSummary s = (*gen)->Summary();
      const auto& by = s.committed_by_schema();
      std::cerr << absl::StrFormat(
          "[%6.1fs] %7.1f tx/s  committed %d (1.x %d, 2.x %d)  failed %d  stale %d  ledger %d\n",
          absl::ToDoubleSeconds(now - start),
          static_cast<double>(s.committed() - last_committed) / absl::ToDoubleSeconds(now - last_report),
          s.committed(), by.count("1.x") ? by.at("1.x") : 0, by.count("2.x") ? by.at("2.x") : 0, s.failed(),
          s.stale(), s.ledger_lines());
      last_report = now;
      last_committed = s.committed();
    }
  }
  (*gen)->Stop(reason);
  const cutover::v1::LoadgenSummary summary = (*gen)->Summary();
  if (flags.output == "json") {
    std::cout << cutover::loadgen::FormatSummaryJson(summary, true);
  } else {
    std::cout << cutover::loadgen::FormatSummaryText(summary);
  }
  std::cout.flush();
  int code = 0;
  if (!flags.stats_file.empty() &&
      !WriteFile(flags.stats_file, cutover::loadgen::FormatSummaryJson(summary, true), &error)) {
    std::cerr << "cutover-loadgen: cannot write --stats-file " << error << "\n";
    code = kExitFailure;
  }
  if (summary.stop_reason().rfind("ledger write failed", 0) == 0) {
    std::cerr << "cutover-loadgen: " << summary.stop_reason() << "\n";
    code = kExitFailure;
  }
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  CLI::App app{
      "Hydra-shaped client workload: N clients issue, rotate and revoke tokens, revoke consents and login "
      "sessions and delete clients, each one transaction, on a Hydra 1.11 or 2.x database (found per "
      "transaction, so PgBouncer may move them between the two); every acknowledged revocation goes to the "
      "ledger.",
      "cutover-loadgen"};
  app.add_option("--dsn", flags.dsn, "libpq connection string or URI; through PgBouncer in the demo")
      ->required();
  app.add_option("--clients", flags.clients, "concurrent clients, one connection each")
      ->capture_default_str();
  app.add_option("--rate", flags.rate,
                 "total transactions per second over all clients; 0 = as fast as possible")
      ->capture_default_str();
  app.add_option("--duration", flags.duration,
                 "how long to run (60s, 5m); 0 = until SIGINT/SIGTERM or --max-ops")
      ->capture_default_str();
  app.add_option("--max-ops", flags.max_ops, "stop after this many operations; 0 = no limit")
      ->capture_default_str();
  app.add_option("--mix", flags.mix,
                 "relative weights: issue, rotate, revoke_token, revoke_consent, revoke_login, delete_client")
      ->capture_default_str();
  app.add_option("--ledger", flags.ledger,
                 "JSON-lines file of every acknowledged revocation (for cutover-check)");
  app.add_option("--stats-file", flags.stats_file, "write the JSON summary here at exit");
  app.add_option("--ready-file", flags.ready_file, "written once every client is connected");
  app.add_option("--seed", flags.seed,
                 "seed of the operation and target choices (new token values are fresh in every run)")
      ->capture_default_str();
  app.add_option("--output", flags.output, "summary on stdout: text or json")->capture_default_str();
  app.add_option("--max-client-deletions", flags.max_client_deletions, "client deletions per run at most")
      ->capture_default_str();
  app.add_option("--client-deletion-interval", flags.client_deletion_interval,
                 "time between client deletions, and before the first; auto = --duration / (max + 1), "
                 "or 10s without a duration")
      ->capture_default_str();
  app.add_option("--pool-refresh", flags.pool_refresh, "how often targets are re-sampled")
      ->capture_default_str();
  app.add_option("--progress", flags.progress, "progress line on stderr this often; 0 = none")
      ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return Usage(e.what());
  }
  return Run(flags);
}
